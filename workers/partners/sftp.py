"""The SFTP side of a partner's mailbox (asyncssh): connect with a pinned host key, put a
file under a temporary name and rename it, list, fetch, delete and move.

This module only talks to the server; what to send, when to retry and what to record
is decided by :mod:`workers.partners.delivery` and done by
:mod:`workers.partners.mailbox`.  Failures come out as three exceptions:

* :class:`HostKeyChanged` -- the server offered a key other than the pinned one
  (nothing is sent, no password or key signature leaves);
* :class:`MailboxRefused` -- the server or our configuration says no (a wrong
  credential, a secret that cannot be read, a directory that does not exist);
* :class:`MailboxUnavailable` -- anything that may pass (unreachable, time-out, the
  connection dropped).
"""

from __future__ import annotations

import contextlib
import posixpath
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

with warnings.catch_warnings():
    # asyncssh names DSA keys in its type aliases at import (cryptography deprecates
    # DSA); we never use DSA, and the warning would fill every worker's log
    warnings.filterwarnings("ignore", message="DSA is deprecated")
    import asyncssh

from schemas.claims import SftpMailbox
from workers.runtime.settings import SecretUnavailable, Settings, read_secret

#: The chunk size of uploads and downloads.
BLOCK = 64 * 1024


class MailboxError(Exception):
    """A mailbox operation failed (the message names the mailbox and the step)."""


class HostKeyChanged(MailboxError):
    """The server's host key is not the pinned one: refused before authenticating."""


class MailboxRefused(MailboxError):
    """Refused by the server or by our own configuration: retrying will not help until
    someone changes something."""


class MailboxUnavailable(MailboxError):
    """The server could not be reached or the connection broke: worth retrying."""


@dataclass(frozen=True)
class RemoteEntry:
    name: str
    size: int
    regular: bool


@dataclass(frozen=True)
class HostKeyPin:
    """A pinned host key: the key itself (from a known_hosts line) or its SHA256
    fingerprint."""

    fingerprint: str
    key: asyncssh.SSHKey | None = None

    @staticmethod
    def parse(text: str) -> HostKeyPin:
        """A ``SHA256:`` fingerprint, a known_hosts line (``[markers] hosts type base64
        [comment]``) or just ``type base64``."""
        text = text.strip()
        if text.startswith("SHA256:"):
            return HostKeyPin(fingerprint=text.split()[0])
        tokens = text.split()
        for i, token in enumerate(tokens[:-1]):
            if token.startswith(("ssh-", "ecdsa-", "sk-")):
                try:
                    key = asyncssh.import_public_key(f"{token} {tokens[i + 1]}")
                except (asyncssh.KeyImportError, ValueError):
                    break
                return HostKeyPin(fingerprint=key.get_fingerprint("sha256"), key=key)
        raise MailboxRefused(
            "host_key is neither a SHA256: fingerprint nor a known_hosts line with a key "
            "(`host ssh-ed25519 AAAA...`)"
        )


class _PinnedClient(asyncssh.SSHClient):
    """Accepts exactly the pinned key and remembers what the server offered."""

    def __init__(self, pin: HostKeyPin) -> None:
        self.pin = pin
        self.offered: str | None = None

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        self.offered = key.get_fingerprint("sha256")
        return self.offered == self.pin.fingerprint


def where(mailbox: SftpMailbox) -> str:
    return f"{mailbox.user}@{mailbox.host}:{mailbox.port}"


def _credentials(mailbox: SftpMailbox, settings: Settings) -> dict[str, Any]:
    try:
        if mailbox.private_key is not None:
            ref = mailbox.private_key
            text = read_secret(settings, ref.env, ref.file).get_secret_value()
            try:
                key = asyncssh.import_private_key(text)
            except (asyncssh.KeyImportError, ValueError):
                raise MailboxRefused(
                    f"{where(mailbox)}: the private key ({ref.env or ref.file}) is not an "
                    "unencrypted OpenSSH or PEM private key"
                ) from None
            return {"client_keys": [key], "password": None, "preferred_auth": "publickey"}
        assert mailbox.password is not None
        ref = mailbox.password
        password = read_secret(settings, ref.env, ref.file).get_secret_value()
        return {
            "client_keys": None,
            "password": password,
            "preferred_auth": "password,keyboard-interactive",
        }
    except SecretUnavailable as exc:
        raise MailboxRefused(f"{where(mailbox)}: {exc}") from None


@contextlib.asynccontextmanager
async def open_mailbox(mailbox: SftpMailbox, settings: Settings) -> AsyncIterator[Mailbox]:
    """An SFTP session on the partner's server, the host key checked against the pin
    before anything else happens."""
    pin = HostKeyPin.parse(mailbox.host_key)
    client = _PinnedClient(pin)
    trusted = [pin.key] if pin.key is not None else []
    options: dict[str, Any] = {
        "port": mailbox.port,
        "username": mailbox.user,
        "known_hosts": (trusted, [], []),
        "agent_path": None,
        "config": None,
        "client_factory": lambda: client,
        "connect_timeout": settings.mailbox_connect_timeout_s,
        "login_timeout": settings.mailbox_connect_timeout_s,
        **_credentials(mailbox, settings),
    }
    try:
        conn = await asyncssh.connect(mailbox.host, **options)
    except asyncssh.HostKeyNotVerifiable:
        raise HostKeyChanged(
            f"{where(mailbox)}: the server's host key changed: it offered "
            f"{client.offered or 'a key that could not be checked'}, the partner record pins "
            f"{pin.fingerprint}; refusing to connect (if the partner announced a new key, put "
            "it in the partner's sftp.host_key)"
        ) from None
    except asyncssh.PermissionDenied:
        raise MailboxRefused(f"{where(mailbox)}: authentication refused") from None
    except (OSError, asyncssh.Error, TimeoutError) as exc:
        raise MailboxUnavailable(f"{where(mailbox)}: cannot connect: {_why(exc)}") from None
    try:
        async with conn, conn.start_sftp_client() as sftp:
            yield Mailbox(sftp, where(mailbox))
    except (asyncssh.ConnectionLost, asyncssh.DisconnectError, ConnectionError) as exc:
        raise MailboxUnavailable(f"{where(mailbox)}: connection lost: {_why(exc)}") from None
    except asyncssh.ChannelOpenError as exc:
        raise MailboxRefused(f"{where(mailbox)}: no SFTP service: {_why(exc)}") from None


def _why(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:200]


class Mailbox:
    """An open SFTP session (paths are the server's, POSIX style)."""

    def __init__(self, sftp: asyncssh.SFTPClient, label: str) -> None:
        self.sftp = sftp
        self.label = label

    def _fail(self, step: str, path: str, exc: BaseException) -> MailboxError:
        if isinstance(exc, asyncssh.SFTPError) and exc.code in (
            asyncssh.FX_PERMISSION_DENIED,
            asyncssh.FX_NO_SUCH_FILE,
            asyncssh.FX_NO_SUCH_PATH,
        ):
            return MailboxRefused(f"{self.label}: {step} {path}: {exc.reason}")
        if isinstance(exc, asyncssh.SFTPError):
            return MailboxUnavailable(f"{self.label}: {step} {path}: {exc.reason}")
        return MailboxUnavailable(f"{self.label}: {step} {path}: {_why(exc)}")

    async def stat(self, path: str) -> RemoteEntry | None:
        """The entry at ``path`` (not following links), or None when there is none."""
        try:
            attrs = await self.sftp.lstat(path)
        except asyncssh.SFTPNoSuchFile:
            return None
        except (asyncssh.SFTPError, OSError) as exc:
            raise self._fail("stat", path, exc) from None
        regular = attrs.type == asyncssh.FILEXFER_TYPE_REGULAR
        return RemoteEntry(posixpath.basename(path), attrs.size or 0, regular)

    async def listdir(self, directory: str) -> list[RemoteEntry]:
        try:
            names = await self.sftp.readdir(directory)
        except (asyncssh.SFTPError, OSError) as exc:
            raise self._fail("list", directory, exc) from None
        return sorted(
            (
                RemoteEntry(
                    str(n.filename),
                    n.attrs.size or 0,
                    n.attrs.type == asyncssh.FILEXFER_TYPE_REGULAR,
                )
                for n in names
                if str(n.filename) not in (".", "..")
            ),
            key=lambda e: e.name,
        )

    async def put(self, local: Path, remote: str) -> int:
        """Write ``local`` to ``remote`` (created or truncated); returns the bytes sent."""
        sent = 0
        try:
            async with self.sftp.open(remote, "wb") as out:
                with local.open("rb") as src:
                    while block := src.read(BLOCK):
                        await out.write(block)
                        sent += len(block)
        except (asyncssh.SFTPError, OSError) as exc:
            raise self._fail("upload", remote, exc) from None
        return sent

    async def fetch(self, remote: str, fh: Any, limit: int) -> int:
        """Copy ``remote`` into the open binary file ``fh``; refuses past ``limit`` bytes."""
        got = 0
        try:
            async with self.sftp.open(remote, "rb") as src:
                while block := await src.read(BLOCK):
                    got += len(block)
                    if got > limit:
                        raise MailboxRefused(
                            f"{self.label}: {remote} is larger than {limit} bytes "
                            "(CLAIMS_MAX_EDI_FILE_BYTES): left on the server"
                        )
                    fh.write(block)
        except (asyncssh.SFTPError, OSError) as exc:
            raise self._fail("download", remote, exc) from None
        return got

    async def rename(self, old: str, new: str) -> None:
        """Give ``old`` the name ``new``; never replaces an existing ``new`` (SFTP's own
        rename fails when the target exists)."""
        try:
            await self.sftp.rename(old, new)
        except (asyncssh.SFTPError, OSError) as exc:
            raise self._fail("rename", f"{old} -> {new}", exc) from None

    async def remove(self, path: str) -> None:
        try:
            await self.sftp.remove(path)
        except asyncssh.SFTPNoSuchFile:
            return
        except (asyncssh.SFTPError, OSError) as exc:
            raise self._fail("remove", path, exc) from None
