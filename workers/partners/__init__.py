"""Trading partners' SFTP mailboxes: 837, 270 and 276 files up; 999, TA1, 277CA, 277,
271 and 835 files down."""
