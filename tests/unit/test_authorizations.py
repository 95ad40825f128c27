"""Prior authorizations: a payer that requires one holds the visit until one covers
it (``auth-missing``, ``auth-expired``, ``auth-exhausted``), usage counts once per date
of service, and the number goes where X12 wants it (2300 ``REF*G1`` for the
destination payer, the other payer's 2330B on a secondary claim, never both)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from schemas.events import SessionCancelled, SessionCompleted, parse_session_event
from schemas.outcomes import SessionEnriched, SessionHeld
from schemas.reference import Authorization, Clinic, Patient, Payer, Prescription, Therapist
from schemas.state import PatientState
from tests import factories as f
from tests.fakes import FakeCatalog
from workers.enrich import authorizations, rules

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


def model(cls: Any, data: dict[str, Any]) -> Any:
    return cls.parse_json(json.dumps(data))


def catalog(**payer: Any) -> FakeCatalog:
    return FakeCatalog(
        [model(Clinic, f.clinic())],
        [model(Therapist, f.therapist())],
        [model(Payer, f.payer(**payer))],
    )


ALWAYS = {"kind": "workers_comp", "authorization_required": "always"}


def auth(**over: Any) -> Authorization:
    data = {
        "schema_version": 1,
        "clinic_id": "c1",
        "authorization_id": "a1",
        "payer_id": "p1",
        "patient_id": "pt1",
        "number": "WC-AUTH-5521",
        "valid_from": "2026-03-01",
        "valid_to": "2026-03-31",
        "visits_authorized": 2,
        **over,
    }
    return model(Authorization, data)


def state(*auths: Authorization) -> PatientState:
    s = rules.with_patient(PatientState.new(), model(Patient, f.patient()))
    rx = model(Prescription, f.prescription(issued_on="2026-01-01"))
    s = rules.with_prescription(s, rx.prescription_id, rx)
    for a in auths:
        s = authorizations.with_authorization(s, a.authorization_id, a)
    return s


def visit(session_id: str, dos: str) -> SessionCompleted:
    event = parse_session_event(json.dumps(f.session(session_id=session_id, dos=dos)))
    assert isinstance(event, SessionCompleted)
    return event


def run(s: PatientState, event: SessionCompleted, cat: FakeCatalog) -> rules.Step:
    return rules.on_session_completed(s, event, cat, NOW)


def only(step: rules.Step) -> Any:
    assert len(step.outcomes) == 1, step.outcomes
    return step.outcomes[0]


def test_a_payer_that_requires_one_holds_the_visit_until_the_authorization_arrives() -> None:
    step = run(state(), visit("s1", "2026-03-02"), catalog(**ALWAYS))
    held = only(step)
    assert isinstance(held, SessionHeld) and held.reason == "auth-missing"
    arrived = authorizations.with_authorization(step.state, "a1", auth())
    out = only(rules.reevaluate_held(arrived, catalog(**ALWAYS), NOW))
    assert isinstance(out, SessionEnriched)
    assert out.authorization is not None and out.authorization.number == "WC-AUTH-5521"
    assert "authorization" in [c.check for c in out.checks]


def test_an_authorization_outside_its_dates_is_expired() -> None:
    expired = auth(valid_from="2026-01-01", valid_to="2026-02-28")
    held = only(run(state(expired), visit("s1", "2026-03-02"), catalog(**ALWAYS)))
    assert held.reason == "auth-expired" and "2026-02-28" in held.message


def test_usage_counts_once_per_date_of_service_and_a_cancellation_gives_it_back() -> None:
    s = state(auth(visits_authorized=2))
    cat = catalog(**ALWAYS)
    for sid, dos in (("s1", "2026-03-02"), ("s2", "2026-03-02"), ("s3", "2026-03-04")):
        step = run(s, visit(sid, dos), cat)
        assert isinstance(only(step), SessionEnriched), sid  # two visits on one day: one use
        s = step.state
    assert authorizations.visits_left(s, auth()) == 0
    third_day = only(run(s, visit("s4", "2026-03-06"), cat))
    assert third_day.reason == "auth-exhausted" and "all 2 visits used" in third_day.message
    again = run(s, visit("s3", "2026-03-04"), cat)  # the same session again uses nothing
    assert authorizations.visits_left(again.state, auth()) == 0
    cancel = SessionCancelled.model_validate(f.cancel(session_id="s3"), strict=False)
    s = rules.on_session_cancelled(s, cancel, NOW).state
    assert authorizations.visits_left(s, auth()) == 1
    assert isinstance(only(run(s, visit("s4", "2026-03-06"), cat)), SessionEnriched)


def test_a_payer_may_require_one_only_after_some_visits_a_year() -> None:
    cat = catalog(authorization_required="after-visits", authorization_after_visits=2)
    s = state()
    for sid, dos in (("s1", "2026-03-02"), ("s2", "2026-03-04")):
        step = run(s, visit(sid, dos), cat)
        enriched = only(step)
        assert isinstance(enriched, SessionEnriched) and enriched.authorization is None
        s = step.state
    assert only(run(s, visit("s3", "2026-03-06"), cat)).reason == "auth-missing"


def test_the_destination_payers_number_is_in_2300_and_a_secondary_keeps_it_in_2330b() -> None:
    """Today's bug: a secondary claim repeated the primary's REF*G1 and REF*9F in 2300."""
    from edi.x837p import render_837p
    from tests.unit.test_secondary_claims import (
        NUMBERS,
        WHEN,
        commercial_then_secondary_plan,
        primary_payment,
    )
    from workers.claims.assemble import assemble_claim
    from workers.claims.secondary import secondary_claim
    from workers.commands.edi837 import builtin_test_partner

    source = commercial_then_secondary_plan()
    primary = assemble_claim([source]).model_copy(
        update={"prior_authorization": "PRI-AUTH-1", "referral_number": "PRI-REF-1"}
    )
    text = render_837p([primary], builtin_test_partner(primary.receiver_id), NUMBERS, WHEN).text
    assert "REF*G1*PRI-AUTH-1~" in text and "REF*9F*PRI-REF-1~" in text
    payment, paid_on = primary_payment(primary)
    secondary = secondary_claim(primary, [source], payment, paid_on)
    assert secondary.prior_authorization is None and secondary.referral_number is None
    out = render_837p([secondary], builtin_test_partner("rcv2"), NUMBERS, WHEN).text
    segments = [s.strip() for s in out.split("~")]
    clm = segments.index(next(s for s in segments if s.startswith("CLM*")))
    loop_2330b = next(n for n, s in enumerate(segments) if n > clm and s.startswith("NM1*PR*2"))
    g1 = [n for n, s in enumerate(segments) if s == "REF*G1*PRI-AUTH-1"]
    assert g1 and all(n > loop_2330b > clm for n in g1), "only in the other payer's 2330B"
    assert next(n for n, s in enumerate(segments) if s == "REF*9F*PRI-REF-1") > loop_2330b
    from edi.validate import validate_x12

    assert validate_x12(out).ok


def test_the_attention_stream_warns_when_an_authorization_is_about_to_run_out() -> None:
    from workers.enrich import attention

    s = state(auth(visits_authorized=3))
    cat = catalog(**ALWAYS)
    raised: list[Any] = []
    for sid, dos in (("s1", "2026-03-02"), ("s2", "2026-03-04"), ("s3", "2026-03-06")):
        step = run(s, visit(sid, dos), cat)
        raised += attention.authorization_events(s, step.state, NOW)
        s = step.state
    assert [(e.visits_used, e.attention_id) for e in raised] == [
        (2, "c1:a1|running-out|2"),
        (3, "c1:a1|running-out|3"),
    ]
    assert "1 of 3 authorized visits left" in raised[0].message
    again = attention.authorization_events(s, s, NOW, redelivered="c1:s3")
    assert [e.attention_id for e in again] == ["c1:a1|running-out|3"]
