"""Writing EDI files: atomically, owner-only, never overwriting.

The text goes to a temporary file in the target directory (mode 0600), is
fsynced, then hard-linked to its final name -- which fails if the name exists,
so a file is never replaced or appended to -- and the temporary name removed;
the directory is fsynced so the new entry survives a crash.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


class DeliveryError(OSError):
    """The file could not be written (the message names the path, never content)."""


def make_private_dirs(directory: Path) -> None:
    """Create ``directory`` and any missing parent, each owner-only (``mkdir -p`` would
    give the parents the default mode)."""
    missing = []
    current = directory
    while not current.exists():
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        path.mkdir(mode=0o700, exist_ok=True)


def write_atomically(directory: Path, name: str, data: bytes) -> Path:
    if "/" in name or name.startswith("."):
        raise DeliveryError(f"refusing file name {name!r}")
    make_private_dirs(directory)
    final = directory / name
    tmp = directory / f".{name}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, final)
        except FileExistsError:
            raise DeliveryError(
                f"{final} already exists; EDI files are never overwritten"
            ) from None
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return final


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def replace_atomically(directory: Path, name: str, data: bytes) -> Path:
    """Write a small state file that may replace its previous version: to a temporary
    name (0600, fsynced), renamed over ``name``, then the directory fsynced.  A reader
    sees the old or the new content, never a mix, even after a crash."""
    if "/" in name or name.startswith("."):
        raise DeliveryError(f"refusing file name {name!r}")
    make_private_dirs(directory)
    final = directory / name
    tmp = directory / f".{name}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_directory(directory)
    return final


def fsync_directory(directory: Path) -> None:
    """Make a directory's entries (a rename, a new name) survive a crash."""
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
