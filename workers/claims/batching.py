"""Batches and control numbers (pure).

A batch is the pending claims of one (billing provider, receiver).  It closes
when it holds the partner's ``batch_max_claims`` claims or its oldest claim has
waited ``batch_max_age_s``, whichever comes first; a batch larger than the
maximum leaves in several files, oldest claims first.  In ``day`` mode the
sessions of one claim identity always travel together.

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


def is_due(entries: Sequence[PendingEntry], partner: TradingPartner, now: datetime) -> bool:
    if not entries:
        return False
    return closes(
        len({e.claim_identity for e in entries}),
        min(e.received_at for e in entries),
        partner,
        now,
    )


def closes(claims: int, oldest: datetime | None, partner: TradingPartner, now: datetime) -> bool:
    """The rule of :func:`is_due` over a batch's summary: how many claims (distinct
    claim identities) it holds and when its oldest entry arrived."""
    if not claims or oldest is None:
        return False
    if claims >= partner.batch_max_claims:
        return True
    return (now - oldest).total_seconds() >= partner.batch_max_age_s


class BatchSummary:
    """What :func:`closes` needs about one batch, kept up to date entry by entry,
    so that checking a batch on every arrival does not read the whole batch."""

    __slots__ = ("_entries", "_identities", "_oldest", "_stale")

    def __init__(self) -> None:
        self._entries: dict[str, tuple[str, datetime]] = {}
        self._identities: dict[str, int] = {}
        self._oldest: datetime | None = None
        self._stale = False

    def add(self, key: str, entry: PendingEntry) -> None:
        self.remove(key)
        self._entries[key] = (entry.claim_identity, entry.received_at)
        self._identities[entry.claim_identity] = self._identities.get(entry.claim_identity, 0) + 1
        if not self._stale and (self._oldest is None or entry.received_at < self._oldest):
            self._oldest = entry.received_at

    def remove(self, key: str) -> None:
        found = self._entries.pop(key, None)
        if found is None:
            return
        identity, received_at = found
        left = self._identities[identity] - 1
        if left:
            self._identities[identity] = left
        else:
            del self._identities[identity]
        if received_at == self._oldest:  # the oldest left (a release): found when asked
            self._stale = True

    @property
    def claims(self) -> int:
        return len(self._identities)

    @property
    def oldest(self) -> datetime | None:
        if self._stale:
            self._oldest = min((at for _, at in self._entries.values()), default=None)
            self._stale = False
        return self._oldest

    def __len__(self) -> int:
        return len(self._entries)

    def due(self, partner: TradingPartner, now: datetime) -> bool:
        return closes(self.claims, self.oldest, partner, now)


def take_batch(entries: Sequence[PendingEntry], partner: TradingPartner) -> list[PendingEntry]:
    """The oldest claims up to the partner's maximum, whole claim identities only."""
    by_identity: dict[str, list[PendingEntry]] = {}
    for e in sorted(entries, key=lambda e: (e.received_at, e.claim_identity)):
        by_identity.setdefault(e.claim_identity, []).append(e)
    chosen: list[PendingEntry] = []
    for group in list(by_identity.values())[: partner.batch_max_claims]:
        chosen.extend(group)
    return chosen


def reserve(last: int) -> tuple[ControlNumbers, int]:
    """The numbers for the next file after ``last``, and the new last value."""
    number = last + 1 if last < MAX_CONTROL_NUMBER else 1
    return ControlNumbers(interchange=number, group=number, transaction=number), number
