"""Batches and control numbers (pure).

A batch is the pending claims of one (billing provider, receiver).  A claim of a
day of service may leave only once its day has closed (``release_at``: the
clinic's midnight plus the grace period).  The batch closes when it holds the
partner's ``batch_max_claims`` claims that may leave, or the oldest of them has
waited ``batch_max_age_s`` since its day closed, whichever comes first; a batch
larger than the maximum leaves in several files, oldest claims first.  The
visits of one day (one claim identity) always travel together.

Control numbers come from one durable sequence per receiver (one trading
partner per ISA sender/receiver pair): ISA13 = GS06 = ST02 = the next number.
The caller persists the reservation before writing the file, so a number is
never used twice (gaps are allowed: a file refused by the validation gate
burns its number).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from schemas.claims import ControlNumbers, TradingPartner
from schemas.state import PendingEntry

MAX_CONTROL_NUMBER = 999_999_999


def eligible(entry: PendingEntry, now: datetime) -> bool:
    """Whether an entry may leave now: its day of service has closed (versions and
    entries without a day always may)."""
    return entry.release_at is None or entry.release_at <= now


def waiting_since(entry: PendingEntry) -> datetime:
    """When an entry began to wait for its batch: when it arrived, or when its day
    closed if that is later."""
    if entry.release_at is None or entry.release_at < entry.received_at:
        return entry.received_at
    return entry.release_at


def is_due(entries: Sequence[PendingEntry], partner: TradingPartner, now: datetime) -> bool:
    ready = [e for e in entries if eligible(e, now)]
    if not ready:
        return False
    return closes(
        len({e.claim_identity for e in ready}),
        min(waiting_since(e) for e in ready),
        partner,
        now,
    )


def closes(claims: int, oldest: datetime | None, partner: TradingPartner, now: datetime) -> bool:
    """The rule of :func:`is_due` over a batch's summary: how many claims (distinct
    claim identities) may leave and since when the oldest of them waits."""
    if not claims or oldest is None:
        return False
    if claims >= partner.batch_max_claims:
        return True
    return (now - oldest).total_seconds() >= partner.batch_max_age_s


class BatchSummary:
    """What :func:`closes` needs about one batch, kept up to date entry by entry, so
    that checking a batch on every arrival does not read the whole batch.

    Entries whose day has not closed are set aside with the time it closes; the
    summary is computed again only when an entry leaves, when one that may leave
    now arrives, or when the next day closes -- an arrival for a day still open
    (the usual case: a day's visits wait for it to close) costs nothing.
    """

    __slots__ = ("_at", "_claims", "_dirty", "_entries", "_next", "_oldest")

    def __init__(self) -> None:
        self._entries: dict[str, tuple[str, datetime | None, datetime]] = {}
        self._dirty = True
        self._at: datetime | None = None
        self._claims = 0
        self._oldest: datetime | None = None
        self._next: datetime | None = None

    def add(self, key: str, entry: PendingEntry) -> None:
        self.remove(key)
        self._entries[key] = (entry.claim_identity, entry.release_at, waiting_since(entry))
        release = entry.release_at
        if self._dirty or self._at is None or release is None or release <= self._at:
            self._dirty = True
        elif self._next is None or release < self._next:
            self._next = release

    def remove(self, key: str) -> None:
        if self._entries.pop(key, None) is not None:
            self._dirty = True

    def _compute(self, now: datetime) -> None:
        identities: set[str] = set()
        oldest: datetime | None = None
        upcoming: datetime | None = None
        for identity, release, since in self._entries.values():
            if release is not None and release > now:
                upcoming = release if upcoming is None or release < upcoming else upcoming
                continue
            identities.add(identity)
            oldest = since if oldest is None or since < oldest else oldest
        self._claims, self._oldest, self._next = len(identities), oldest, upcoming
        self._at, self._dirty = now, False

    def __len__(self) -> int:
        return len(self._entries)

    def due(self, partner: TradingPartner, now: datetime) -> bool:
        if self._dirty or self._at is None or now < self._at or (
            self._next is not None and now >= self._next
        ):
            self._compute(now)
        return closes(self._claims, self._oldest, partner, now)


def take_batch(
    entries: Sequence[PendingEntry], partner: TradingPartner, now: datetime
) -> list[PendingEntry]:
    """The oldest claims that may leave now, up to the partner's maximum, whole claim
    identities only."""
    by_identity: dict[str, list[PendingEntry]] = {}
    ready = [e for e in entries if eligible(e, now)]
    for e in sorted(ready, key=lambda e: (waiting_since(e), e.claim_identity)):
        by_identity.setdefault(e.claim_identity, []).append(e)
    chosen: list[PendingEntry] = []
    for group in list(by_identity.values())[: partner.batch_max_claims]:
        chosen.extend(group)
    return chosen


def reserve(last: int) -> tuple[ControlNumbers, int]:
    """The numbers for the next file after ``last``, and the new last value."""
    number = last + 1 if last < MAX_CONTROL_NUMBER else 1
    return ControlNumbers(interchange=number, group=number, transaction=number), number
