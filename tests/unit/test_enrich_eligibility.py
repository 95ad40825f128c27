"""Eligibility in enrichment: advisory, except that the latest 271 saying a coverage
is inactive on the date of service holds the session ``coverage-inactive`` until a
newer active answer, or a changed coverage, releases it."""

from __future__ import annotations

from datetime import date
from typing import Any

from schemas.eligibility import CoverageKey, EligibilityResponse, Status
from schemas.outcomes import SessionEnriched, SessionHeld
from schemas.reference import Patient
from tests import factories as f
from tests.unit.test_enrich_rules import NOW, catalog, model, only, run, rx, session, state
from workers.enrich import rules
from workers.enrich.eligibility import with_eligibility

KEY = CoverageKey(clinic_id="c1", patient_id="pt1", payer_id="p1")


def answer(status: Status, asked: date = date(2026, 3, 1), **over: Any) -> EligibilityResponse:
    return EligibilityResponse(
        coverage=KEY,
        asked_on=asked,
        control_number="0001",
        level="subscriber",
        status=status,
        **over,
    )


def told(status: Status, **over: Any) -> Any:
    return with_eligibility(state(prescriptions=[rx()]), "p1", answer(status, **over))


def test_no_answer_never_holds_and_an_active_one_is_a_passed_check() -> None:
    assert isinstance(only(run(state(prescriptions=[rx()]), session())), SessionEnriched)
    out = only(run(told("active"), session()))
    assert isinstance(out, SessionEnriched) and "eligibility" in [c.check for c in out.checks]


def test_rejected_or_unknown_answers_are_advisory() -> None:
    for status in ("rejected", "unknown"):
        assert isinstance(only(run(told(status), session())), SessionEnriched)


def test_inactive_on_the_date_holds_and_a_newer_active_answer_releases() -> None:
    step = run(told("inactive"), session())
    held = only(step)
    assert isinstance(held, SessionHeld) and held.reason == "coverage-inactive"
    assert "p1" in held.message and "cov1" in held.message
    again = rules.reevaluate_held(step.state, catalog(), NOW)
    assert again.outcomes == []  # still waiting for the same thing
    newer = with_eligibility(step.state, "p1", answer("active", date(2026, 3, 5)))
    released = rules.reevaluate_held(newer, catalog(), NOW)
    out = only(released)
    assert isinstance(out, SessionEnriched) and out.decision == held.decision + 1


def test_an_answer_to_an_older_question_is_not_the_latest() -> None:
    s = told("active", asked=date(2026, 3, 5))
    s = with_eligibility(s, "p1", answer("inactive", date(2026, 2, 1)))
    assert isinstance(only(run(s, session())), SessionEnriched)


def test_active_but_outside_the_plan_dates_holds() -> None:
    s = told("active", plan_end=date(2026, 2, 28))
    assert only(run(s, session())).reason == "coverage-inactive"


def test_a_changed_coverage_releases_the_hold() -> None:
    step = run(told("inactive"), session())
    assert only(step).reason == "coverage-inactive"
    data = f.patient()
    data["coverages"][0]["member_id"] = "MBR-NEW-0001"
    changed = rules.with_patient(step.state, model(Patient, data))
    assert isinstance(only(rules.reevaluate_held(changed, catalog(), NOW)), SessionEnriched)


def test_the_processor_rekeys_answers_by_patient_and_refuses_bad_keys() -> None:
    import asyncio

    import pytest

    from schemas.state import PrescriptionChange
    from tests.fakes import FakeSink, FakeWiring
    from workers.enrich import processor as enrich_processor
    from workers.runtime.failures import InvalidInput
    from workers.runtime.processing import Scope
    from workers.runtime.records import Incoming

    wiring = FakeWiring(FakeSink(), now=NOW)
    enrich_processor.register(wiring)
    handler = wiring.handlers["eligibility.responses"]
    value = answer("inactive").model_dump_json().encode()
    msg = Incoming("eligibility.responses", 0, 1, 0, b"c1:pt1:p1", value, ())
    [out] = asyncio.run(handler(msg, Scope()))
    assert (out.topic, out.key) == ("state.enrich.prescriptions-by-patient", b"c1:pt1")
    body = PrescriptionChange.parse_json(out.value or b"")
    assert body.kind == "eligibility" and body.prescription_id == "p1"
    assert body.eligibility is not None and body.eligibility.status == "inactive"
    for key in (b"c1:pt1", b"c1:pt2:p1"):
        with pytest.raises(InvalidInput):
            asyncio.run(
                handler(Incoming("eligibility.responses", 0, 2, 0, key, value, ()), Scope())
            )
