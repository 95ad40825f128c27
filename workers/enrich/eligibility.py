"""Eligibility in enrichment (pure): the latest 271 answer per coverage, advisory.

A session is held ``coverage-inactive`` only when the latest answer about its
coverage says the coverage is not active on the session's date
(:meth:`~schemas.eligibility.EligibilityResponse.active_on` is ``False``: ``EB``
6..8, or active but outside the plan's or the eligibility's dates).  A missing,
rejected or silent answer never holds.  The hold is released by a newer answer
that says active, or by a changed coverage: an answer recorded for the coverage
as it was before (another member id, dates, payer) no longer applies.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime

from schemas.eligibility import EligibilityResponse, VisitLimit
from schemas.outcomes import CoverageAttention
from schemas.reference import Coverage
from schemas.state import EligibilityRecord, PatientState


def coverage_fingerprint(coverage: Coverage) -> str:
    """What identifies the coverage a 271 was about: a change makes its answer stale."""
    fields = {"coverage_id", "payer_id", "member_id", "effective_from", "effective_to"}
    text = coverage.model_dump_json(include=fields | {"relationship"})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _coverage_for(state: PatientState, payer_id: str) -> Coverage | None:
    patient = state.patient
    if patient is None:
        return None
    found = [c for c in patient.coverages if c.payer_id == payer_id]
    return found[0] if len(found) == 1 else None


def with_eligibility(
    state: PatientState, payer_id: str, response: EligibilityResponse | None
) -> PatientState:
    """The state with ``response`` as the latest answer for the payer (None: forget it).

    An answer to an older question than the one recorded (``asked_on`` earlier)
    is not the latest and is ignored."""
    records = dict(state.eligibility)
    if response is None:
        records.pop(payer_id, None)
        return state.model_copy(update={"eligibility": records})
    previous = records.get(payer_id)
    if previous is not None:
        then, now = previous.response.asked_on, response.asked_on
        if then is not None and now is not None and now < then:
            return state
    coverage = _coverage_for(state, payer_id)
    records[payer_id] = EligibilityRecord(
        response=response,
        coverage_fingerprint=coverage_fingerprint(coverage) if coverage is not None else None,
    )
    return state.model_copy(update={"eligibility": records})


def inactive_answer(
    state: PatientState, coverage: Coverage, day: date
) -> EligibilityResponse | None:
    """The latest answer when it says ``coverage`` is not active on ``day``; else None."""
    if coverage.payer_id is None:
        return None
    record = state.eligibility.get(coverage.payer_id)
    if record is None:
        return None
    then = record.coverage_fingerprint
    if then is not None and then != coverage_fingerprint(coverage):
        return None  # the coverage changed since: the answer is about another one
    return record.response if record.response.active_on(day) is False else None


#: HSD01 / EB09 quantity qualifiers, in words
_QUANTITY_WORDS = {"VS": "visits", "99": "visits used", "P6": "services", "DY": "days"}
#: the service types the engine asks about (schemas.eligibility.DEFAULT_SERVICE_TYPES)
_SERVICE_WORDS = {
    "30": "the plan",
    "AE": "physical medicine",
    "BE": "massage therapy",
    "PT": "physical therapy",
}


def _limit_words(limit: VisitLimit) -> str:
    quantity = limit.quantity.normalize()
    what = (
        "visits used" if limit.used else _QUANTITY_WORDS.get(limit.qualifier, "(quantity)")
    )
    words = f"{quantity:f} {what}"
    if limit.remaining:
        words += " left"
    elif limit.period_words and not limit.used:
        words += f" per {limit.period_words}"
    if limit.service_types:
        kinds = [_SERVICE_WORDS.get(t, f"service type {t}") for t in limit.service_types]
        words += f" ({', '.join(kinds)})"
    return words


def visit_limit_attention(
    response: EligibilityResponse, now: datetime
) -> CoverageAttention | None:
    """The attention event for a 271 that states visit limits (None when it states
    none, or names no coverage of ours).  Its id is stable per answer."""
    if response.coverage is None or not response.visit_limits:
        return None
    key = response.coverage
    left = [
        v.quantity
        for v in response.visit_limits
        if v.remaining and not v.used and v.quantity == v.quantity.to_integral_value()
    ]
    fewest = int(min(left)) if left else None
    limits = [_limit_words(v) for v in response.visit_limits]
    asked = response.asked_on
    answer = response.file_sha256 or (asked.isoformat() if asked else "")
    head = (
        f"payer {key.payer_id}: {fewest} visit(s) left"
        if fewest is not None
        else f"payer {key.payer_id} limits visits"
    )
    return CoverageAttention.new(
        attention_id=f"{key.clinic_id}:{key.patient_id}:{key.payer_id}|visit-limit|{answer}",
        clinic_id=key.clinic_id,
        patient_id=key.patient_id,
        payer_id=key.payer_id,
        limits=limits,
        visits_left=fewest,
        asked_on=asked,
        message=f"{head} ({'; '.join(limits)}): plan the visits, or ask for more",
        raised_at=now,
    )
