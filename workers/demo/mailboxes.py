"""The demo's trading partners' SFTP mailboxes: one loopback SFTP server, the payers' side.

The engine exchanges every payer file through its partners' mailboxes, as it would
with a clearinghouse: ``claims worker mailbox`` uploads the 837s, 270s and 276s the
stages announce on ``edi.outbound`` and fetches what the payers leave in their
download directories into the inbox, where ``claims worker inbox`` takes them in.
This module plays the other side: it starts a real SFTP server on 127.0.0.1
(:mod:`workers.demo.sftp_server`, a generated host key pinned in each partner
record, a generated client key the mailbox worker reads from its secrets directory),
gives every partner record a mailbox on it (``<receiver>/to-payer`` and
``<receiver>/from-payer``), reads what the engine uploaded, and leaves the payers'
answers under a dot name made final when complete (the mailbox worker never takes
a dot name).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workers.demo.sftp_server import USER, SftpServer
from workers.runtime.atomic_files import write_atomically

#: the client key's file name in the mailbox worker's secrets directory
KEY_FILE = "demo-mailbox.key"
UPLOAD = "to-payer"
DOWNLOAD = "from-payer"


class DemoMailboxes:
    def __init__(self, root: Path, secrets_dir: Path) -> None:
        self.root = root
        self.secrets_dir = secrets_dir
        self.server = SftpServer(root)
        self.started = False
        #: files the payers left in the download directories
        self.left = 0

    def start(self) -> None:
        self.server.start()
        self.started = True
        write_atomically(self.secrets_dir, KEY_FILE, self.server.client_key_text().encode())

    def stop(self) -> None:
        if self.started:
            self.server.stop()
            self.started = False

    def attach(self, partners: list[dict[str, Any]], poll_interval_s: float) -> None:
        """Give every partner record a mailbox on the server."""
        for partner in partners:
            receiver = partner["receiver_id"]
            for folder in (UPLOAD, DOWNLOAD):
                (self.root / receiver / folder).mkdir(parents=True, exist_ok=True, mode=0o700)
            partner["sftp"] = {
                "host": "127.0.0.1",
                "port": self.server.port,
                "user": USER,
                "private_key": {"file": KEY_FILE},
                "host_key": self.server.known_hosts_line,
                "upload_dir": f"{receiver}/{UPLOAD}",
                "download_dir": f"{receiver}/{DOWNLOAD}",
                "poll_interval_s": poll_interval_s,
                "after_download": "delete",
            }

    def uploaded(self, receiver_id: str, file_name: str) -> Path | None:
        """The file the engine uploaded under its final name, once it is there."""
        path = self.root / receiver_id / UPLOAD / file_name
        return path if path.is_file() else None

    def arrived(self, released: list[dict[str, Any]]) -> list[tuple[str, Path]]:
        """(receiver, remote file) of each announced file (its ``edi.outbound`` record)
        already in its partner's mailbox."""
        found = []
        for record in released:
            path = self.uploaded(record["receiver_id"], record["file_name"])
            if path is not None:
                found.append((record["receiver_id"], path))
        return found

    @staticmethod
    def keep(path: Path, directory: Path) -> Path:
        """A private copy (0600) of an uploaded file in the demo's output: the server
        made it with its own mode, and these files name (synthetic) patients."""
        return write_atomically(directory, path.name, path.read_bytes())

    def leave(self, receiver_id: str, name: str, data: bytes) -> None:
        """A payer's file put into the partner's download directory: written under a
        dot name and linked to ``name`` when complete (never over another file)."""
        write_atomically(self.root / receiver_id / DOWNLOAD, name, data)
        self.left += 1

    def waiting(self) -> int:
        """Payer files not fetched yet (the mailbox worker removes what it took)."""
        return sum(
            1
            for folder in self.root.glob(f"*/{DOWNLOAD}")
            for p in folder.iterdir()
            if not p.name.startswith(".")
        )
