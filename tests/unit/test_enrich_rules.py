"""Prescription and coverage checks: every reason code, and the order between them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.events import SessionCancelled, SessionCompleted, parse_session_event
from schemas.outcomes import (
    SessionDuplicate,
    SessionEnriched,
    SessionHeld,
    SessionRejected,
    SessionWithdrawn,
)
from schemas.reference import Clinic, Patient, Payer, Prescription, Therapist
from schemas.state import PatientState
from tests import factories as f
from tests.fakes import FakeCatalog
from workers.enrich import rules

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
DOS = "2026-03-02"  # a Monday (ISO week 2026-W10)


def model(cls: Any, data: dict[str, Any]) -> Any:
    return cls.parse_json(json.dumps(data))


def session(**over: Any) -> SessionCompleted:
    ev = parse_session_event(json.dumps(f.session(dos=over.pop("dos", DOS), **over)))
    assert isinstance(ev, SessionCompleted)
    return ev


def cancel(**over: Any) -> SessionCancelled:
    ev = parse_session_event(json.dumps(f.cancel(**over)))
    assert isinstance(ev, SessionCancelled)
    return ev


def catalog(
    payer_data: dict[str, Any] | None = None,
    *,
    clinic: bool = True,
    therapist: bool = True,
    payer: bool = True,
) -> FakeCatalog:
    return FakeCatalog(
        clinics=[model(Clinic, f.clinic())] if clinic else [],
        therapists=[model(Therapist, f.therapist())] if therapist else [],
        payers=[model(Payer, payer_data or f.payer())] if payer else [],
    )


def rx(**over: Any) -> Prescription:
    return model(Prescription, f.prescription(**{"issued_on": "2026-01-01", **over}))


def state(
    patient: dict[str, Any] | None = None, prescriptions: list[Prescription] = ()
) -> PatientState:
    s = PatientState.new()
    if patient is not False:
        s = rules.with_patient(s, model(Patient, patient or f.patient()))
    for p in prescriptions:
        s = rules.with_prescription(s, p.prescription_id, p)
    return s


def run(s: PatientState, ev: SessionCompleted, cat: FakeCatalog | None = None) -> rules.Step:
    return rules.on_session_completed(s, ev, cat or catalog(), NOW)


def only(step: rules.Step) -> Any:
    assert len(step.outcomes) == 1, step.outcomes
    return step.outcomes[0]


# --- the happy path ------------------------------------------------------------------


def test_a_covered_session_is_enriched_with_a_snapshot_and_visit_number() -> None:
    step = run(state(prescriptions=[rx()]), session(notes="patient felt better"))
    out = only(step)
    assert isinstance(out, SessionEnriched)
    assert out.session_key == "c1:s1" and out.visit_number == 1 and out.billed_to_payer
    assert out.prescription is not None and out.prescription.prescription_id == "rx1"
    assert out.payer is not None and out.payer.payer_id == "p1"
    assert out.session.notes is None, "notes are never passed on"
    assert [c.check for c in out.checks] == [
        "reference-data",
        "coverage",
        "timely-filing",
        "billing-address",
        "prescription",
    ]
    assert step.state.visits["rx1"][0].session_id == "s1"
    assert step.state.sessions["s1"].status == "enriched"


def test_the_snapshot_keeps_only_rows_effective_on_the_date_of_service() -> None:
    payer = f.payer(
        fee_schedule=[
            {
                "code": "97140",
                "amount": "30.00",
                "effective_from": "2020-01-01",
                "effective_to": "2025-12-31",
            },
            {"code": "97140", "amount": "35.00", "effective_from": "2026-01-01"},
        ]
    )
    out = only(run(state(prescriptions=[rx()]), session(), catalog(payer)))
    assert [str(r.amount) for r in out.payer.fee_schedule] == ["35.00"]


def test_visit_numbers_count_distinct_sessions() -> None:
    s = state(prescriptions=[rx()])
    for n in (1, 2, 3):
        step = run(s, session(session_id=f"s{n}", dos=f"2026-03-0{n + 1}"))
        s = step.state
        assert only(step).visit_number == n


# --- 2: duplicates ---------------------------------------------------------------------


def test_same_content_with_a_new_event_id_is_a_duplicate_not_a_second_visit() -> None:
    s = run(
        state(prescriptions=[rx()]), session(event_id="11111111-1111-4111-8111-111111111111")
    ).state
    step = run(
        s,
        session(
            event_id="22222222-2222-4222-8222-222222222222",
            notes="different notes",
            occurred_at="2026-03-09T10:00:00Z",
        ),
    )
    dup = only(step)
    assert isinstance(dup, SessionDuplicate) and step.duplicates == 1
    assert dup.first_event_id == "11111111-1111-4111-8111-111111111111"
    assert len(step.state.visits["rx1"]) == 1


def test_same_identity_with_different_content_is_a_conflicting_duplicate() -> None:
    s = run(state(prescriptions=[rx()]), session()).state
    changed = session(techniques=[{"technique": "swedish_massage", "minutes": 60}])
    out = only(run(s, changed))
    assert isinstance(out, SessionRejected) and out.reason == "conflicting-duplicate"
    assert out.details == {"first_status": "enriched"}


def test_technique_order_does_not_make_a_session_different() -> None:
    s = run(state(prescriptions=[rx()]), session()).state
    ev = f.session(dos=DOS)
    ev["techniques"].reverse()
    out = only(run(s, parse_session_event(json.dumps(ev))))
    assert isinstance(out, SessionDuplicate)


def test_a_redelivered_message_repeats_its_outcome_without_counting_again() -> None:
    ev = session()
    first = rules.on_session_completed(
        state(prescriptions=[rx()]), ev, catalog(), NOW, source="sessions.completed:2:10"
    )
    again = rules.on_session_completed(
        first.state, ev, catalog(), NOW, source="sessions.completed:2:10"
    )
    out = only(again)
    assert isinstance(out, SessionEnriched) and out.visit_number == 1
    assert again.duplicates == 0
    assert len(again.state.visits["rx1"]) == 1


def test_the_same_event_sent_again_in_a_new_message_is_a_duplicate() -> None:
    ev = session()
    first = rules.on_session_completed(
        state(prescriptions=[rx()]), ev, catalog(), NOW, source="sessions.completed:2:10"
    )
    resent = rules.on_session_completed(
        first.state, ev, catalog(), NOW, source="sessions.completed:2:11"
    )
    dup = only(resent)
    assert isinstance(dup, SessionDuplicate) and resent.duplicates == 1
    assert dup.source == "sessions.completed:2:11"
    # a redelivery of that duplicate message repeats the notice, counts nothing new
    again = rules.on_session_completed(
        resent.state, ev, catalog(), NOW, source="sessions.completed:2:11"
    )
    assert isinstance(only(again), SessionDuplicate) and again.duplicates == 0


def test_a_redelivered_cancel_repeats_the_withdrawal() -> None:
    s = run(state(prescriptions=[rx()]), session()).state
    c = cancel()
    first = rules.on_session_cancelled(s, c, NOW, source="sessions.completed:2:20")
    again = rules.on_session_cancelled(first.state, c, NOW, source="sessions.completed:2:20")
    assert only(again) == only(first) and again.state == first.state


# --- 3: reference data -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("missing", "reason"),
    [("clinic", "unknown-clinic"), ("therapist", "unknown-therapist"), ("payer", "unknown-payer")],
)
def test_unknown_reference_data_holds_the_session(missing: str, reason: str) -> None:
    out = only(run(state(prescriptions=[rx()]), session(), catalog(**{missing: False})))
    assert isinstance(out, SessionHeld) and out.reason == reason


def test_unknown_patient_holds_then_the_patient_releases_it() -> None:
    s = state(patient=False, prescriptions=[rx()])
    step = run(s, session())
    assert only(step).reason == "unknown-patient"
    released = rules.reevaluate_held(
        rules.with_patient(step.state, model(Patient, f.patient())), catalog(), NOW
    )
    assert isinstance(only(released), SessionEnriched)
    assert released.state.sessions["s1"].hold is None


def test_clinic_is_checked_before_therapist_before_patient() -> None:
    s = state(patient=False)
    assert (
        only(run(s, session(), catalog(clinic=False, therapist=False))).reason == "unknown-clinic"
    )
    assert only(run(s, session(), catalog(therapist=False))).reason == "unknown-therapist"


# --- 4: coverage ----------------------------------------------------------------------------


def test_no_active_coverage_is_rejected() -> None:
    p = f.patient()
    p["coverages"][0]["effective_to"] = "2026-02-28"
    out = only(run(state(patient=p, prescriptions=[rx()]), session()))
    assert isinstance(out, SessionRejected) and out.reason == "no-active-coverage"


def test_a_named_coverage_must_be_the_active_one() -> None:
    out = only(run(state(prescriptions=[rx()]), session(coverage_id="other")))
    assert out.reason == "no-active-coverage"


def test_primary_coverage_is_chosen_by_priority() -> None:
    p = f.patient()
    p["coverages"].append(
        {
            "coverage_id": "cov0",
            "kind": "insurance",
            "payer_id": "p1",
            "member_id": "M0",
            "priority": 2,
            "effective_from": "2020-01-01",
        }
    )
    out = only(run(state(patient=p, prescriptions=[rx()]), session()))
    assert out.coverage.coverage_id == "cov1"


def test_a_payer_that_does_not_pay_massage_rejects_before_anything_else() -> None:
    medicare = f.payer(kind="medicare", pays_massage=False, unit_policy="cms")
    out = only(run(state(), session(), catalog(medicare)))  # no prescription either
    assert isinstance(out, SessionRejected) and out.reason == "payer-excludes-massage"


def test_self_pay_is_enriched_without_a_payer_or_a_prescription() -> None:
    p = f.patient(
        payer_id=None,
        coverages=[{"coverage_id": "own", "kind": "self_pay", "effective_from": "2020-01-01"}],
    )
    out = only(run(state(patient=p), session()))
    assert isinstance(out, SessionEnriched)
    assert out.billed_to_payer is False and out.payer is None and out.prescription is None


def test_an_hsa_session_waits_for_its_prescription_like_an_insured_one() -> None:
    """HSA/FSA administrators reimburse massage only under a physician's order."""
    p = f.patient(
        payer_id=None,
        coverages=[{"coverage_id": "own", "kind": "hsa", "effective_from": "2020-01-01"}],
    )
    step = run(state(patient=p), session())
    held = only(step)
    assert isinstance(held, SessionHeld) and held.reason == "rx-missing"
    s = rules.with_prescription(step.state, "rx1", rx())
    out = only(rules.reevaluate_held(s, catalog(), NOW))
    assert isinstance(out, SessionEnriched) and out.billed_to_payer is False
    assert out.prescription is not None and out.prescription.prescription_id == "rx1"


def test_hsa_sessions_carry_the_covering_prescription_for_the_superbill() -> None:
    p = f.patient(
        payer_id=None,
        coverages=[{"coverage_id": "own", "kind": "hsa", "effective_from": "2020-01-01"}],
    )
    out = only(run(state(patient=p, prescriptions=[rx()]), session()))
    assert out.prescription.prescription_id == "rx1" and out.visit_number == 1


# --- 5: timely filing -------------------------------------------------------------------------


def test_timely_filing_window_is_the_payers() -> None:
    payer = f.payer(timely_filing_days=5)
    out = only(run(state(prescriptions=[rx()]), session(dos="2026-03-04"), catalog(payer)))
    assert isinstance(out, SessionRejected) and out.reason == "timely-filing-expired"
    ok = only(run(state(prescriptions=[rx()]), session(dos="2026-03-05"), catalog(payer)))
    assert isinstance(ok, SessionEnriched)


def test_timely_filing_is_checked_before_the_prescription() -> None:
    out = only(run(state(), session(dos="2025-01-02"), catalog(f.payer(timely_filing_days=30))))
    assert out.reason == "timely-filing-expired"


def test_a_date_of_service_in_the_future_is_rejected() -> None:
    out = only(run(state(prescriptions=[rx()]), session(dos="2026-03-20")))
    assert out.reason == "date-of-service-in-future"


# --- 6: prescriptions ----------------------------------------------------------------------------


def test_rx_missing() -> None:
    out = only(run(state(), session()))
    assert isinstance(out, SessionHeld) and out.reason == "rx-missing"


def test_a_named_prescription_must_exist() -> None:
    out = only(run(state(prescriptions=[rx()]), session(prescription_id="rx9")))
    assert out.reason == "rx-missing" and "rx9" in out.message


def test_rx_not_yet_valid() -> None:
    out = only(run(state(prescriptions=[rx(issued_on="2026-03-05")]), session()))
    assert out.reason == "rx-not-yet-valid"


@pytest.mark.parametrize(
    "over", [{"expires_on": "2026-03-01"}, {"issued_on": "2026-01-01", "duration_weeks": 8}]
)
def test_rx_expired_by_date_or_by_duration(over: dict[str, Any]) -> None:
    out = only(run(state(prescriptions=[rx(**over)]), session()))
    assert out.reason == "rx-expired"


def test_rx_visits_exhausted() -> None:
    s = state(prescriptions=[rx(visits_authorized=1)])
    s = run(s, session(session_id="s0", dos="2026-02-20")).state
    out = only(run(s, session()))
    assert out.reason == "rx-visits-exhausted"


def test_rx_frequency_is_per_iso_week() -> None:
    s = state(prescriptions=[rx(frequency_per_week=1)])
    s = run(s, session(session_id="s0", dos="2026-03-01")).state  # Sunday: ISO week 9
    assert isinstance(only(run(s, session())), SessionEnriched)  # Monday: week 10
    s = run(s, session()).state
    out = only(run(s, session(session_id="s2", dos="2026-03-08")))  # Sunday of week 10
    assert out.reason == "rx-frequency-exceeded" and "2026-W10" in out.message


def test_rx_technique_and_body_region_limits() -> None:
    out = only(run(state(prescriptions=[rx(allowed_techniques=["swedish_massage"])]), session()))
    assert out.reason == "rx-technique-not-allowed" and "myofascial_release" in out.message
    out = only(run(state(prescriptions=[rx(allowed_body_regions=["back"])]), session()))
    assert out.reason == "rx-technique-not-allowed" and "neck" in out.message


def test_the_most_specific_reason_wins_across_prescriptions() -> None:
    expired = rx(prescription_id="rxA", expires_on="2026-02-01")
    exhausted = rx(prescription_id="rxB", visits_authorized=1)
    s = state(prescriptions=[expired, exhausted])
    s = run(s, session(session_id="s0", dos="2026-02-20", prescription_id="rxB")).state
    out = only(run(s, session()))
    assert out.reason == "rx-visits-exhausted"


def test_the_prescription_ending_first_is_used_first() -> None:
    short = rx(prescription_id="rxS", expires_on="2026-04-01")
    long = rx(prescription_id="rxL")
    out = only(run(state(prescriptions=[long, short]), session()))
    assert out.prescription.prescription_id == "rxS"


def test_a_payer_without_prescription_requirement_does_not_hold() -> None:
    payer = f.payer(requires_prescription=False)
    out = only(run(state(), session(), catalog(payer)))
    assert isinstance(out, SessionEnriched) and out.prescription is None


def test_a_held_session_is_released_when_a_covering_prescription_arrives() -> None:
    step = run(state(), session())
    assert only(step).reason == "rx-missing"
    s = rules.with_prescription(step.state, "rx1", rx())
    released = rules.reevaluate_held(s, catalog(), NOW)
    out = only(released)
    assert isinstance(out, SessionEnriched) and out.visit_number == 1
    assert rules.reevaluate_held(released.state, catalog(), NOW).outcomes == []


def test_held_sessions_use_up_visits_oldest_first() -> None:
    s = state()
    for sid, dos in (("late", "2026-03-06"), ("early", "2026-03-02")):
        s = run(s, session(session_id=sid, dos=dos)).state
    s = rules.with_prescription(s, "rx1", rx(visits_authorized=1))
    step = rules.reevaluate_held(s, catalog(), NOW)
    kinds = {o.session_key: type(o).__name__ for o in step.outcomes}
    assert kinds == {"c1:early": "SessionEnriched", "c1:late": "SessionHeld"}
    assert step.state.sessions["late"].reason == "rx-visits-exhausted"


def test_a_session_held_for_the_same_reason_says_nothing_new() -> None:
    s = run(state(), session()).state
    assert rules.reevaluate_held(s, catalog(), NOW + timedelta(hours=1)).outcomes == []


def test_holds_expire_with_the_reason_they_were_held_for() -> None:
    s = run(state(), session()).state
    later = NOW + timedelta(days=31)
    out = only(rules.reevaluate_held(s, catalog(), later))
    assert isinstance(out, SessionRejected) and out.reason == "hold-expired"
    assert out.held_reason == "rx-missing"


# --- cancellations -------------------------------------------------------------------------------


def test_cancelling_an_enriched_session_releases_its_visit() -> None:
    s = run(state(prescriptions=[rx()]), session()).state
    step = rules.on_session_cancelled(s, cancel(), NOW)
    out = only(step)
    assert isinstance(out, SessionWithdrawn)
    assert out.state_at_cancel == "enriched" and out.visit_released and out.prescription_id == "rx1"
    assert step.state.visits["rx1"] == []


def test_the_enriched_topic_tells_withdrawals_from_enriched_sessions() -> None:
    """``sessions.enriched`` carries both; an enriched session whose free text
    mentions the withdrawal's event type is still read as an enriched session, and a
    broken withdrawal is refused naming its field."""
    from schemas.outcomes import SessionEnriched, parse_enriched_topic

    s = run(state(prescriptions=[rx()]), session()).state
    enriched = only(run(state(prescriptions=[rx()]), session()))
    assert isinstance(enriched, SessionEnriched)
    withdrawn = only(rules.on_session_cancelled(s, cancel(), NOW))
    for model in (enriched, withdrawn):
        raw = model.model_dump_json()
        assert parse_enriched_topic(raw.encode()) == model
        assert parse_enriched_topic(raw) == model
    mentioned = enriched.model_copy(update={"session_key": "c1:session.withdrawn"})
    assert parse_enriched_topic(mentioned.model_dump_json().encode()) == mentioned
    broken = json.loads(withdrawn.model_dump_json())
    del broken["state_at_cancel"]
    with pytest.raises(ValueError, match="state_at_cancel"):
        parse_enriched_topic(json.dumps(broken).encode())


def test_cancelling_a_held_session_withdraws_it_and_it_stays_withdrawn() -> None:
    s = run(state(), session()).state
    step = rules.on_session_cancelled(s, cancel(), NOW)
    assert only(step).state_at_cancel == "held"
    s = rules.with_prescription(step.state, "rx1", rx())
    assert rules.reevaluate_held(s, catalog(), NOW).outcomes == []


def test_a_cancel_that_overtakes_its_session_withdraws_it_on_arrival() -> None:
    step = rules.on_session_cancelled(state(prescriptions=[rx()]), cancel(), NOW)
    assert only(step).state_at_cancel == "not-received"
    after = run(step.state, session())
    assert after.outcomes == [] and "rx1" not in after.state.visits


def test_a_repeated_cancel_is_a_duplicate() -> None:
    s = rules.on_session_cancelled(run(state(prescriptions=[rx()]), session()).state, cancel(), NOW)
    again = rules.on_session_cancelled(s.state, cancel(), NOW)
    assert isinstance(only(again), SessionDuplicate) and again.duplicates == 1


# --- reference record checks ---------------------------------------------------------------------


def test_prescriptions_with_malformed_diagnoses_or_bad_npi_are_refused() -> None:
    assert rules.prescription_problem(rx()) is None
    bad_dx = rx(diagnosis_codes=["M54.50", "54.5X"])
    assert rules.prescription_problem(bad_dx) == (
        "rx-bad-diagnosis",
        "diagnosis_codes[1]: not an ICD-10-CM code (letter, digit, 1-5 more)",
    )
    bad_npi = rx(prescriber={"name": {"first_name": "A", "last_name": "B"}, "npi": f.BAD_NPI})
    assert rules.prescription_problem(bad_npi)[0] == "rx-bad-prescriber-npi"


def test_providers_with_bad_npi_are_refused() -> None:
    assert rules.provider_problem(model(Clinic, f.clinic())) is None
    assert rules.provider_problem(model(Clinic, f.clinic(npi=f.BAD_NPI)))[0] == "ref-bad-npi"


# --- retries of rejected sessions -----------------------------------------------------------


def retry_of(ev: SessionCompleted) -> Any:
    from schemas.events import SessionRetry

    return SessionRetry.new(
        event_id="5a0d1c1e-1b8e-4c39-8d5a-2b1b6c7d8e9f",
        event_type="session.retry",
        occurred_at=NOW,
        clinic_id=ev.clinic_id,
        session_id=ev.session_id,
        patient_id=ev.patient_id,
        session=ev,
        requested_by="ops",
    )


def test_a_retry_re_judges_a_rejected_session_once_its_cause_is_fixed() -> None:
    p = f.patient()
    p["coverages"][0]["effective_to"] = "2026-02-28"
    ev = session()
    rejected = run(state(patient=p, prescriptions=[rx()]), ev)
    assert only(rejected).reason == "no-active-coverage"
    fixed = rules.with_patient(rejected.state, model(Patient, f.patient()))
    step = rules.on_session_retry(fixed, retry_of(ev), catalog(), NOW, source="sc:0:9")
    out = only(step)
    assert isinstance(out, SessionEnriched) and out.visit_number == 1
    assert step.state.sessions["s1"].status == "enriched"
    again = rules.on_session_retry(step.state, retry_of(ev), catalog(), NOW, source="sc:0:9")
    assert again.outcomes == [], "the same retry message redelivered does nothing"


def test_a_retry_of_an_enriched_session_re_emits_it_with_the_same_visit() -> None:
    ev = session()
    first = run(state(prescriptions=[rx()]), ev)
    step = rules.on_session_retry(first.state, retry_of(ev), catalog(), NOW, source="sc:0:2")
    out = only(step)
    assert isinstance(out, SessionEnriched) and out.visit_number == 1
    assert len(step.state.visits["rx1"]) == 1


def test_a_retry_never_touches_a_conflicting_or_cancelled_session() -> None:
    ev = session()
    first = run(state(prescriptions=[rx()]), ev)
    other = session(techniques=[{"technique": "swedish_massage", "minutes": 60}])
    assert rules.on_session_retry(first.state, retry_of(other), catalog(), NOW).outcomes == []
    cancelled = rules.on_session_cancelled(first.state, cancel(), NOW).state
    assert rules.on_session_retry(cancelled, retry_of(ev), catalog(), NOW).outcomes == []


# --- billing provider address (2010AA) ---------------------------------------------------


@pytest.mark.parametrize(
    ("address", "rule"),
    [
        ({"postal_code": "62701"}, "address.postal_code: a 9-digit ZIP code (ZIP+4) is required"),
        ({"line1": "PO Box 77"}, "address.line1: a street address is required"),
        ({"line1": "P.O. BOX 12"}, "address.line1: a street address is required"),
        ({"line2": "Lock Box 9"}, "address.line2: a street address is required"),
    ],
)
def test_a_clinic_without_a_street_address_and_zip4_holds_its_insured_sessions(
    address: dict[str, str], rule: str
) -> None:
    """A clearinghouse rejects a billing provider with a PO box or a 5-digit ZIP; the
    session waits (the message names the field and the rule, never the value) and is
    released once the clinic is corrected."""
    bad = model(Clinic, f.clinic(address={**f.CLINIC_ADDRESS, **address}))
    cat = catalog()
    cat.clinics["c1"] = bad
    step = run(state(prescriptions=[rx()]), session(), cat)
    held = only(step)
    assert isinstance(held, SessionHeld) and held.reason == "billing-address-invalid"
    assert rule in held.message
    for value in address.values():
        assert value not in held.message
    assert rules.billing_address_problems(model(Clinic, f.clinic())) == []
    released = only(rules.reevaluate_held(step.state, catalog(), NOW))
    assert isinstance(released, SessionEnriched)


def test_self_pay_sessions_need_no_billing_address() -> None:
    p = f.patient(
        payer_id=None,
        coverages=[{"coverage_id": "own", "kind": "self_pay", "effective_from": "2020-01-01"}],
    )
    cat = catalog()
    cat.clinics["c1"] = model(Clinic, f.clinic(address={**f.CLINIC_ADDRESS, "postal_code": "62701"}))
    assert isinstance(only(run(state(patient=p), session(), cat)), SessionEnriched)


def test_a_clinic_without_a_billing_address_is_accepted_with_a_warning() -> None:
    """The enrichment processor's handler of ``ref.clinics``: the record is used (held
    sessions are woken) and a warning on ``ref.rejected`` names the field and the rule."""
    import asyncio

    from tests.fakes import FakeSink, FakeWiring
    from workers.enrich import processor as enrich_processor
    from workers.runtime.processing import Scope
    from workers.runtime.records import Incoming

    wiring = FakeWiring(FakeSink(), now=NOW)
    enrich_processor.register(wiring)
    clinic = f.clinic(address={**f.CLINIC_ADDRESS, "postal_code": "62701"})
    msg = Incoming("ref.clinics", 0, 1, 0, b"c1", json.dumps(clinic).encode(), ())
    out = asyncio.run(wiring.handlers["ref.clinics"](msg, Scope()))
    warnings = [json.loads(o.value or b"{}") for o in out if o.topic == "ref.rejected"]
    assert [(w["reason"], w["severity"]) for w in warnings] == [
        ("clinic-billing-address", "warning")
    ]
    assert "address.postal_code" in warnings[0]["message"] and "62701" not in warnings[0]["message"]
    assert any(o.topic == "state.enrich.wakeups" for o in out)


def test_each_decision_on_a_session_carries_a_higher_number() -> None:
    """Held before the patient is known, held for the prescription once the patient
    arrives, then enriched: 1, 2, 3 -- so readers can keep the latest."""
    step = run(state(patient=False), session())  # type: ignore[arg-type]  # no patient yet
    first = only(step)
    assert (first.reason, first.decision) == ("unknown-patient", 1)
    known = rules.with_patient(step.state, model(Patient, f.patient()))
    second = only(rules.reevaluate_held(known, catalog(), NOW))
    assert (second.reason, second.decision) == ("rx-missing", 2)
    s = rules.reevaluate_held(known, catalog(), NOW).state
    s = rules.with_prescription(s, "rx1", rx())
    third = only(rules.reevaluate_held(s, catalog(), NOW))
    assert isinstance(third, SessionEnriched) and third.decision == 3
