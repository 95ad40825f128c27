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
    if len({e.claim_identity for e in entries}) >= partner.batch_max_claims:
        return True
    oldest = min(e.received_at for e in entries)
    return (now - oldest).total_seconds() >= partner.batch_max_age_s


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
