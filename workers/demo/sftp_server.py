"""A real SFTP server on loopback, for the demo's trading partners and the mailbox tests:
asyncssh on 127.0.0.1 (a free port), in a thread with its own event loop, a generated
ed25519 host key, one user with a generated client key, and every session chrooted
to one directory.

It can break an upload on purpose (``drop_after_bytes``: the connection is aborted
once that many bytes were written) and records what clients did (files opened for
writing, renames), so a test can tell how many times a file was really uploaded.
"""

from __future__ import annotations

import asyncio
import os
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

with warnings.catch_warnings():
    # asyncssh names DSA keys in its type aliases at import (cryptography deprecates
    # DSA); we never use DSA, and the warning would fill every worker's log
    warnings.filterwarnings("ignore", message="DSA is deprecated")
    import asyncssh

USER = "clinic"


@dataclass
class ServerLog:
    opened_for_write: list[str] = field(default_factory=list)
    renames: list[tuple[str, str]] = field(default_factory=list)
    bytes_written: int = 0
    drops: int = 0


class _Sftp(asyncssh.SFTPServer):
    def __init__(self, chan: Any, server: SftpServer) -> None:
        super().__init__(chan, chroot=os.fsencode(server.root))
        self.server = server

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        if pflags & asyncssh.FXF_WRITE:
            self.server.log.opened_for_write.append(os.fsdecode(path))
        if pflags & asyncssh.FXF_CREAT and attrs.permissions is None:
            attrs.permissions = 0o600  # what clients upload here names patients
        return super().open(path, pflags, attrs)

    def write(self, file_obj: object, offset: int, data: bytes) -> int:
        server = self.server
        server.log.bytes_written += len(data)
        limit = server.drop_after_bytes
        if limit is not None and server.log.bytes_written > limit:
            server.drop_after_bytes = None  # once
            server.log.drops += 1
            self.connection.abort()  # the line goes dead mid-upload
            raise asyncssh.SFTPConnectionLost("dropped by the test server")
        result = super().write(file_obj, offset, data)
        assert isinstance(result, int)
        return result

    def rename(self, oldpath: bytes, newpath: bytes) -> None:
        self.server.log.renames.append((os.fsdecode(oldpath), os.fsdecode(newpath)))
        super().rename(oldpath, newpath)


class SftpServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.client_key = asyncssh.generate_private_key("ssh-ed25519")
        self.log = ServerLog()
        self.drop_after_bytes: int | None = None
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._acceptor: Any = None

    # what a partner record needs
    @property
    def known_hosts_line(self) -> str:
        key = self.host_key.export_public_key("openssh").decode().strip()
        return f"[127.0.0.1]:{self.port} {key}"

    @property
    def fingerprint(self) -> str:
        return str(self.host_key.get_fingerprint("sha256"))

    def client_key_text(self) -> str:
        return bytes(self.client_key.export_private_key("openssh")).decode()

    def path(self, remote: str) -> Path:
        return self.root / remote.lstrip("/")

    def start(self) -> SftpServer:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        self._acceptor = future.result(10)
        self.port = self._acceptor.get_port()
        return self

    async def _listen(self) -> Any:
        authorized = asyncssh.import_authorized_keys(
            self.client_key.export_public_key("openssh").decode()
        )
        return await asyncssh.listen(
            "127.0.0.1",
            0,
            server_host_keys=[self.host_key],
            authorized_client_keys=authorized,
            sftp_factory=lambda chan: _Sftp(chan, self),
            allow_scp=False,
        )

    def stop(self) -> None:
        async def close() -> None:
            self._acceptor.close()
            await self._acceptor.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
