"""Input size limits: the largest event a processor or ``claims ingest`` accepts, and
the largest EDI file the inbox and the ``claims edi`` tools read.

Oversized input is refused with a message that gives the size, the limit and the
setting that changes it; never its content.

Files are read through :func:`open_limited` (or :func:`read_limited`): only a
regular file is read (a device such as ``/dev/zero``, a FIFO or a socket is
refused without blocking on it), and the bytes are counted as they are read, so
the limit holds even for a file that grows after its size was checked.
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import BinaryIO

from workers.runtime.failures import InvalidInput

EVENT_SETTING = "CLAIMS_MAX_EVENT_BYTES"
EDI_FILE_SETTING = "CLAIMS_MAX_EDI_FILE_BYTES"
#: The largest file given to pyx12 (``claims edi validate``, ``claims edi ack-835``):
#: pyx12 holds the whole document, about 10 MB of memory and 10 s per MB of input.
VALIDATE_FILE_BYTES = 10_000_000
_BUFFER = 1 << 16


class FileRefused(ValueError):
    """An input file that is not read: too large, or not a regular file (bad input)."""


class FileTooLarge(FileRefused):
    """An input file is over the configured limit (a ``ValueError``: bad input)."""


class NotARegularFile(FileRefused):
    """A device, FIFO or socket where a file was expected: never read (it may not end)."""


def _not_regular(path: str | Path) -> NotARegularFile:
    return NotARegularFile(
        f"{Path(path).name} is not a regular file (a device, a FIFO or a socket): "
        "only regular files are read"
    )


def _refuse_special(path: str | Path, mode: int) -> None:
    """Refuse what is neither a regular file nor a directory (a directory is left to
    the caller's read, which reports it in its usual words)."""
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        raise _not_regular(path)


def _too_large(path: str | Path, size: int, limit: int, *, grew: bool = False) -> FileTooLarge:
    what = "grew past the limit while it was read" if grew else f"is {size:,} bytes"
    return FileTooLarge(
        f"{Path(path).name} {what}; the limit for an EDI file is {limit:,} bytes "
        f"({EDI_FILE_SETTING})"
    )


def event_too_large(size: int, limit: int, what: str = "value") -> str | None:
    """The refusal for an event of ``size`` bytes, or None when it fits."""
    if size <= limit:
        return None
    return f"{what} is {size:,} bytes; the limit for one event is {limit:,} bytes ({EVENT_SETTING})"


def check_event_size(raw: bytes | None, limit: int | None, what: str = "value") -> None:
    """Raise :class:`InvalidInput` (reason ``too-large``) for an oversized message."""
    if raw is None or limit is None:
        return
    problem = event_too_large(len(raw), limit, what)
    if problem:
        raise InvalidInput("too-large", problem)


def check_file_size(path: str | Path, limit: int | None) -> None:
    """Raise :class:`FileTooLarge` when the file at ``path`` is over ``limit`` bytes, and
    :class:`NotARegularFile` when it is a device, a FIFO or a socket.

    A file that cannot be examined is left to the caller's own read, which reports
    it in its usual words."""
    try:
        info = os.stat(path)
    except OSError:
        return
    _refuse_special(path, info.st_mode)
    if limit is not None and stat.S_ISREG(info.st_mode) and info.st_size > limit:
        raise _too_large(path, info.st_size, limit)


class _Counted(io.RawIOBase):
    """A file descriptor read with its bytes counted: past ``limit``, :class:`FileTooLarge`."""

    def __init__(self, fd: int, path: str | Path, limit: int | None) -> None:
        super().__init__()
        self._file = io.FileIO(fd, "rb", closefd=True)
        self._path = path
        self._limit = limit
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]  # io's signature takes any writable buffer; these are the two used
        n = self._file.readinto(buffer)
        if n:
            self.count += n
            if self._limit is not None and self.count > self._limit:
                raise _too_large(self._path, self.count, self._limit, grew=True)
        return n or 0

    def close(self) -> None:
        self._file.close()
        super().close()


def open_limited(path: str | Path, limit: int | None) -> BinaryIO:
    """Open the regular file at ``path`` for reading, at most ``limit`` bytes of it.

    Raises :class:`NotARegularFile` for a device, FIFO or socket (opened without
    blocking, then refused), :class:`FileTooLarge` when it is over ``limit`` bytes
    now or grows past it while it is read, and ``OSError`` when it cannot be
    opened."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        _refuse_special(path, info.st_mode)
        if limit is not None and stat.S_ISREG(info.st_mode) and info.st_size > limit:
            raise _too_large(path, info.st_size, limit)
        os.set_blocking(fd, True)
        raw = _Counted(fd, path, limit)
    except BaseException:
        os.close(fd)
        raise
    return io.BufferedReader(raw, buffer_size=_BUFFER)


def read_limited(path: str | Path, limit: int | None) -> bytes:
    """The bytes of the regular file at ``path`` (see :func:`open_limited`)."""
    with open_limited(path, limit) as stream:
        return stream.read()
