"""When the engine asks a payer about a coverage on its own (pure).

A health-plan coverage is asked about (a 270) when it is first seen, when it
changes (payer, member id, group, relationship, the subscriber's member id or its
dates), and for the first session of each calendar month on it.  What has been
asked is kept per patient (:class:`~schemas.state.EligibilityAsked`), so a
redelivered record or session asks nothing twice; a month asked because the
coverage was new or changed counts as asked for that month.

The decision is only *whether and for which date*; which coverages can be asked
at all (active on the date, a payer that answers 270s) is decided when the
inquiry is built (:func:`workers.eligibility.inquiries.inquiries_for`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from typing import Literal

from schemas.reference import Coverage, Patient
from schemas.state import AskedCoverage, EligibilityAsked
from workers.eligibility.inquiries import active_on

Reason = Literal["coverage-new", "coverage-changed", "first-session-of-month"]

#: months remembered per coverage (a year and a month: a late session of last
#: month never asks twice)
KEEP_MONTHS = 13


@dataclass(frozen=True)
class Ask:
    coverage_id: str
    day: date
    reason: Reason


def fingerprint(coverage: Coverage) -> str:
    """What makes a coverage a different question for the payer (hashed: the member
    ids are PHI and need not be kept twice)."""
    subscriber = coverage.subscriber.member_id if coverage.subscriber is not None else None
    parts = (
        coverage.payer_id,
        coverage.member_id,
        coverage.group_number,
        coverage.relationship,
        subscriber,
        coverage.effective_from.isoformat(),
        coverage.effective_to.isoformat() if coverage.effective_to else "",
    )
    return hashlib.sha256("\x1f".join(p or "" for p in parts).encode()).hexdigest()[:32]


def _month(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _with_month(entry: AskedCoverage, day: date) -> AskedCoverage:
    months = sorted({*entry.months, _month(day)})[-KEEP_MONTHS:]
    return entry.model_copy(update={"months": months})


def _insurance(patient: Patient) -> list[Coverage]:
    return [c for c in patient.coverages if c.kind == "insurance" and c.payer_id is not None]


def on_patient(
    state: EligibilityAsked | None, patient: Patient, today: date
) -> tuple[EligibilityAsked, list[Ask]]:
    """A patient record arrived: ask about each insurance coverage that is new or
    changed (as of ``today``); forget coverages the record no longer has."""
    before = state.coverages if state is not None else {}
    after: dict[str, AskedCoverage] = {}
    asks: list[Ask] = []
    for coverage in _insurance(patient):
        print_ = fingerprint(coverage)
        known = before.get(coverage.coverage_id)
        if known is not None and known.fingerprint == print_:
            after[coverage.coverage_id] = known
            continue
        reason: Reason = "coverage-new" if known is None else "coverage-changed"
        asks.append(Ask(coverage.coverage_id, today, reason))
        after[coverage.coverage_id] = _with_month(AskedCoverage(fingerprint=print_), today)
    return EligibilityAsked.new(coverages=after, patient=patient), asks


def on_session(state: EligibilityAsked, day: date) -> tuple[EligibilityAsked, list[Ask]]:
    """A session on ``day`` (of the patient the state holds): ask about each insurance
    coverage active that day whose month has not been asked yet."""
    if state.patient is None:
        return state, []  # the patient's record asks when it arrives
    coverages = dict(state.coverages)
    asks: list[Ask] = []
    for coverage in _insurance(state.patient):
        if not active_on(coverage, day):
            continue
        entry = coverages.get(coverage.coverage_id) or AskedCoverage(
            fingerprint=fingerprint(coverage)
        )
        if _month(day) in entry.months:
            continue
        coverages[coverage.coverage_id] = _with_month(entry, day)
        asks.append(Ask(coverage.coverage_id, day, "first-session-of-month"))
    if not asks:
        return state, []
    return state.model_copy(update={"coverages": coverages}), asks
