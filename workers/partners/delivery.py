"""The pure core of partners' SFTP mailboxes: a transmission's delivery and what comes back.

No clock, no server, no file: every function takes ``now`` and what is known, and
returns the new record or the decision.

**Upload.**  A released 837 file becomes a ``pending`` :class:`FileDelivery`.  Before
a byte is sent it is recorded ``uploading`` with its final remote name; it becomes
``uploaded`` (with ``sent_at``) only once the complete file was renamed from its
temporary name and its size checked.  An attempt that fails counts against
:class:`RetryPolicy`: the next one waits ``first * 2**(n-1)`` seconds (at most
``longest``); after ``attempts`` failures -- or at once when the server refused us
(a changed host key, a wrong credential) -- the delivery is ``failed`` and one work
item is raised.  A failed delivery is still tried at the longest back-off, and an
upload that succeeds later closes the work item.

**Download.**  What a listing offers (:func:`offered`), what an X12 file is
(:func:`classify`: only 999, TA1, 277CA/277, 271 and 835 are taken) and the name a
file gets in the inbox (:func:`inbox_name`).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from schemas.claims import SftpMailbox
from schemas.submission import DeliveryFailed, FileDelivery, FileReleased

#: Names a writer uses while a file is incomplete (never taken, as in the inbox).
PARTIAL_SUFFIXES = (".part", ".partial", ".tmp")
#: Why a delivery was given up at once: the server or our configuration said no.
Refusal = Literal["host-key-changed", "refused"]
#: GS01 functional identifier -> what the file is.
KINDS = {"FA": "999", "HN": "277", "HB": "271", "HP": "835"}


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int
    first_s: float
    longest_s: float

    def backoff_s(self, failures: int) -> float:
        """The wait after the ``failures``-th failed attempt (1, 2, ...)."""
        if failures < 1:
            return 0.0
        return min(self.first_s * float(2 ** min(failures - 1, 30)), self.longest_s)


# --- upload -------------------------------------------------------------------------


def remote_names(mailbox: SftpMailbox, file_name: str) -> tuple[str, str]:
    """The temporary and the final path of a file in the partner's upload directory: a
    server that polls the directory does not take a dot name still being written."""
    return (
        posixpath.join(mailbox.upload_dir, f".{file_name}.part"),
        posixpath.join(mailbox.upload_dir, file_name),
    )


def new_delivery(released: FileReleased, now: datetime) -> FileDelivery:
    return FileDelivery(
        schema_version=FileDelivery.SCHEMA_VERSION,
        transaction=released.transaction,
        receiver_id=released.receiver_id,
        interchange=released.control_numbers.interchange,
        file_name=released.file_name,
        path=released.path,
        size_bytes=released.size_bytes,
        sha256=released.sha256,
        status="pending",
        released_at=released.released_at,
        updated_at=now,
    )


def too_old(released: FileReleased, now: datetime, max_age_h: float) -> bool:
    """A file released long before the worker saw it is not sent by itself: it may have
    reached the partner another way meanwhile."""
    return now - released.released_at > timedelta(hours=max_age_h)


def too_old_item(released: FileReleased, now: datetime, max_age_h: float) -> DeliveryFailed:
    return DeliveryFailed(
        schema_version=DeliveryFailed.SCHEMA_VERSION,
        transaction=released.transaction,
        receiver_id=released.receiver_id,
        interchange=released.control_numbers.interchange,
        file_name=released.file_name,
        reason="too-old",
        message=f"released more than {max_age_h:g} h before the mailbox worker saw it; not "
        "uploaded by itself: send it by hand if the partner does not have it",
        attempts=0,
        raised_at=now,
    )


def uploading(delivery: FileDelivery, remote_name: str, now: datetime) -> FileDelivery:
    """Recorded (durably) before the upload starts."""
    return delivery.model_copy(
        update={"status": "uploading", "remote_name": remote_name, "updated_at": now}
    )


def uploaded(delivery: FileDelivery, remote_name: str, now: datetime) -> FileDelivery:
    """The file has its final name on the server and its size is right."""
    return delivery.model_copy(
        update={
            "status": "uploaded",
            "remote_name": remote_name,
            "sent_at": now,
            "next_attempt_at": None,
            "last_error": None,
            "updated_at": now,
        }
    )


def attempt_failed(
    delivery: FileDelivery,
    error: str,
    now: datetime,
    policy: RetryPolicy,
    refused: Refusal | None = None,
) -> tuple[FileDelivery, DeliveryFailed | None]:
    """The record after a failed attempt, and the work item to raise (only when the
    delivery *becomes* failed: after the last retry, or at once when ``refused`` names
    why the server or the configuration said no: ``host-key-changed``, ``refused``)."""
    failures = delivery.attempts + 1
    give_up = refused is not None or failures >= policy.attempts
    status = "failed" if give_up else delivery.status
    if status == "uploaded":  # cannot happen: an uploaded file is never tried again
        status = "failed"
    wait = policy.longest_s if give_up else policy.backoff_s(failures)
    record = delivery.model_copy(
        update={
            "status": status,
            "attempts": failures,
            "last_error": error[:500],
            "next_attempt_at": now + timedelta(seconds=wait),
            "updated_at": now,
        }
    )
    item = None
    if give_up and delivery.status != "failed":
        reason: Literal["retries-exhausted", "host-key-changed", "refused"] = (
            refused or "retries-exhausted"
        )
        item = DeliveryFailed(
            schema_version=DeliveryFailed.SCHEMA_VERSION,
            transaction=delivery.transaction,
            receiver_id=delivery.receiver_id,
            interchange=delivery.interchange,
            file_name=delivery.file_name,
            reason=reason,
            message=f"{error[:300]} (after {failures} attempt(s); retried every "
            f"{policy.longest_s:g} s)",
            attempts=failures,
            raised_at=now,
        )
    return record, item


def due(deliveries: Iterable[FileDelivery], now: datetime) -> list[FileDelivery]:
    """What to try now, oldest release first: every delivery not yet uploaded whose next
    attempt has come (an interrupted ``uploading`` one too: its retry looks first)."""
    ready = [
        d
        for d in deliveries
        if d.status != "uploaded" and (d.next_attempt_at is None or d.next_attempt_at <= now)
    ]
    return sorted(ready, key=lambda d: (d.released_at, d.receiver_id, d.transaction, d.interchange))


def next_wake(deliveries: Iterable[FileDelivery], now: datetime) -> datetime | None:
    """When the earliest waiting delivery is due (None: nothing waits)."""
    times = [d.next_attempt_at or now for d in deliveries if d.status != "uploaded"]
    return min(times, default=None)


# --- download -----------------------------------------------------------------------


@dataclass(frozen=True)
class Offered:
    name: str
    size: int


def offered(
    entries: Iterable[tuple[str, int, bool]], limit: int
) -> tuple[list[Offered], list[Offered]]:
    """What a listing of the download directory offers -- complete regular files, no dot
    or partial names -- and what is too large to take (``limit`` bytes)."""
    take: list[Offered] = []
    too_large: list[Offered] = []
    for name, size, regular in entries:
        if not regular or name.startswith(".") or name.endswith(PARTIAL_SUFFIXES):
            continue
        if "/" in name or name in (".", ".."):
            continue
        (too_large if size > limit else take).append(Offered(name, size))
    return take, too_large


def classify(head: bytes) -> str | None:
    """What an X12 file is, from its first bytes: ``999``, ``277`` (277CA too), ``271``,
    ``835`` by the first group's GS01, or ``TA1`` for an interchange that carries only a
    TA1; None for anything else (a proprietary report, a PDF)."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text.startswith(b"ISA") or len(text) < 106:
        return None
    separator = text[3:4]
    fields = text.split(separator, 16)
    if len(fields) < 17 or len(fields[16]) < 2:
        return None
    terminator = fields[16][1:2]  # ISA16 is one character, the terminator follows it
    ta1 = False
    for raw in text.split(terminator)[1:]:
        segment = raw.strip()
        ident = segment.split(separator, 1)[0]
        if ident == b"GS":
            parts = segment.split(separator)
            code = parts[1].decode("ascii", "replace") if len(parts) > 1 else ""
            return KINDS.get(code)
        if ident == b"TA1":
            ta1 = True
        elif ident == b"IEA":
            break
    return "TA1" if ta1 else None


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def inbox_name(
    receiver_id: str, remote_name: str, sha256: str, taken: Callable[[str], bool]
) -> str:
    """The file's name in the inbox: the partner's id and the remote name (characters
    outside ``A-Z a-z 0-9 . _ -`` replaced), with part of the content hash when that
    name is already taken."""
    base = _UNSAFE.sub("_", posixpath.basename(remote_name)).lstrip(".") or "file"
    if base.endswith(PARTIAL_SUFFIXES):
        base += ".x12"
    name = f"{receiver_id}_{base}"
    if not taken(name):
        return name
    stem, dot, suffix = name.rpartition(".")
    return f"{stem}.{sha256[:12]}.{suffix}" if dot else f"{name}.{sha256[:12]}"


def archive_path(mailbox: SftpMailbox, remote_name: str, now: datetime | None = None) -> str:
    """Where a downloaded file is moved (``after_download: move``); with a time stamp
    when ``now`` is given (the plain name was taken)."""
    assert mailbox.archive_dir is not None
    name = posixpath.basename(remote_name)
    if now is not None:
        name = f"{name}.{now.strftime('%Y%m%dT%H%M%S%fZ')}"
    return posixpath.join(mailbox.archive_dir, name)
