"""Trading partners' SFTP mailboxes: 837 files up, 999/TA1/277CA/277/271/835 files down."""
