"""Progress reports and renewals due to prescribers (`workers.enrich.attention`), driven
through the enrichment rules exactly as the processor drives them."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from schemas.events import parse_session_event
from schemas.outcomes import PrescriptionAttention, SessionDuplicate, SessionEnriched
from schemas.reference import Clinic, Patient, Payer, Prescription, Therapist
from schemas.state import PatientState
from tests import factories as f
from tests.fakes import FakeCatalog
from workers.commands.prescriptions import rows
from workers.enrich import attention, rules

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
FIRST = date(2026, 1, 5)


def model(cls: Any, data: dict[str, Any]) -> Any:
    return cls.parse_json(json.dumps(data))


class Run:
    """One patient's enrichment state, sessions fed in order, attention collected."""

    def __init__(self, payer: dict[str, Any] | None = None, **rx: Any) -> None:
        self.catalog = FakeCatalog(
            [model(Clinic, f.clinic())],
            [model(Therapist, f.therapist())],
            [model(Payer, payer or f.payer())],
        )
        prescription = model(
            Prescription,
            f.prescription(issued_on="2026-01-01", **{"visits_authorized": 8, **rx}),
        )
        state = rules.with_patient(PatientState.new(), model(Patient, f.patient()))
        self.state = rules.with_prescription(state, prescription.prescription_id, prescription)
        self.raised: list[PrescriptionAttention] = []
        self.outcomes: list[Any] = []

    def visit(self, n: int, day: date, source: str | None = None) -> list[PrescriptionAttention]:
        event = parse_session_event(json.dumps(f.session(session_id=f"s{n}", dos=day.isoformat())))
        before = self.state
        step = rules.on_session_completed(
            before, event, self.catalog, NOW, source=source or f"sessions.completed:0:{n}"
        )
        state, raised = attention.after_visits(before, step.state, self.catalog, NOW)
        if step.redelivered is not None:
            raised = attention.raised_by(state, step.redelivered)
        self.outcomes = step.outcomes
        self.state = state
        self.raised += raised
        return raised


def kinds(events: list[PrescriptionAttention]) -> list[tuple[str, int]]:
    return [(e.kind, e.visits_used) for e in events]


def test_a_progress_report_is_due_every_six_visits_and_renewal_before_they_run_out() -> None:
    run = Run()  # 8 visits authorized, default policy: every 6 visits or 30 days
    for n in range(1, 8):
        run.visit(n, FIRST + timedelta(days=3 * (n - 1)))  # 18 days span: visits decide
        assert isinstance(run.outcomes[0], SessionEnriched)
    assert kinds(run.raised) == [
        ("progress-report-due", 6),
        ("visits-running-out", 6),  # 2 of 8 left
    ]
    report = run.raised[0]
    assert report.attention_id == "c1:rx1|progress-report-due|6"
    assert report.prescriber_npi == f.PRESCRIBER_NPI and report.payer_id == "p1"
    assert report.session_key == "c1:s6" and "6 visits since" in report.message


def test_a_month_without_a_report_makes_one_due_whichever_comes_first() -> None:
    run = Run(visits_authorized=20)
    for n in range(1, 8):
        run.visit(n, FIRST + timedelta(days=10 * (n - 1)))  # day 0, 10, 20, 30, ...
    assert kinds(run.raised) == [("progress-report-due", 4), ("progress-report-due", 7)]
    assert run.raised[0].message.startswith("30 days since the last progress report")
    assert run.raised[1].message.startswith("30 days since")  # counted from the last report


def test_the_prescription_running_out_of_dates_asks_for_renewal_once() -> None:
    run = Run(expires_on="2026-01-25", visits_authorized=20)
    for n, day in enumerate((5, 8, 12, 15), start=1):
        run.visit(n, date(2026, 1, day))
    expiring = [e for e in run.raised if e.kind == "prescription-expiring"]
    # 14 days before the end: the visit on the 12th (13 days left) is the first inside
    assert [(e.visits_used, e.date_of_service) for e in expiring] == [(3, date(2026, 1, 12))]
    assert expiring[0].valid_until == date(2026, 1, 25)


def test_thresholds_come_from_the_payer() -> None:
    strict = f.payer(
        prescriber_attention={
            "report_every_visits": 2,
            "report_every_days": 90,
            "renew_when_visits_left": 0,
            "renew_days_before_expiry": 0,
        }
    )
    run = Run(payer=strict)
    for n in range(1, 7):
        run.visit(n, FIRST + timedelta(days=n))
    assert kinds(run.raised) == [
        ("progress-report-due", 2),
        ("progress-report-due", 4),
        ("progress-report-due", 6),
    ]


def test_redelivery_re_sends_the_same_ids_and_a_duplicate_raises_nothing() -> None:
    run = Run()
    for n in range(1, 7):
        run.visit(n, FIRST + timedelta(days=n))
    first = [e.attention_id for e in run.raised]
    assert first  # the sixth visit raised the report and the renewal
    again = run.visit(6, FIRST + timedelta(days=6), source="sessions.completed:0:6")
    assert [e.attention_id for e in again] == first, "the same message: the same events"
    resent = run.visit(6, FIRST + timedelta(days=6), source="sessions.completed:0:99")
    assert resent == [], "the session sent again in a new message is a duplicate"
    assert isinstance(run.outcomes[0], SessionDuplicate)
    assert len(rows(run.raised)) == len(first), "the report lists each event once"
    stored = run.state.attention["rx1"]
    assert [e.attention_id for e in stored] == first


def test_the_report_rows_can_be_filtered_by_kind() -> None:
    run = Run()
    for n in range(1, 8):
        run.visit(n, FIRST + timedelta(days=n))
    table = rows(run.raised, "visits-running-out")
    assert [(r[1], r[4], r[5]) for r in table] == [("rx1", "visits-running-out", "6/8")]


def test_the_report_lists_payer_authorizations_and_visit_limits_too() -> None:
    """Authorizations running out and a 271's visit limits share the topic: the
    report lists them beside the prescriptions (each once), and reads each message by
    its event type."""
    from schemas.outcomes import AuthorizationAttention, CoverageAttention
    from workers.commands.prescriptions import parse

    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    limit = CoverageAttention(
        schema_version=1,
        attention_id="cov-1",
        clinic_id="c1",
        patient_id="pt1",
        payer_id="p1",
        limits=["20 visits a calendar year, 12 left"],
        visits_left=12,
        asked_on=date(2026, 3, 1),
        message="the payer pays 12 more visits this year",
        raised_at=now,
    )
    auth = AuthorizationAttention(
        schema_version=1,
        attention_id="auth-1",
        clinic_id="c1",
        patient_id="pt1",
        authorization_id="A77",
        payer_id="p1",
        visits_used=9,
        visits_authorized=10,
        valid_to=date(2026, 6, 30),
        session_key="c1:s9",
        date_of_service=date(2026, 3, 9),
        message="1 authorized visit left",
        raised_at=now,
    )
    table = rows([limit, auth, limit])
    assert [(r[1], r[4], r[5]) for r in table] == [
        ("authorization A77 (p1)", "authorization-running-out", "9/10"),
        ("coverage p1", "payer-visit-limit", "12 left"),
    ]
    assert rows([limit, auth], "payer-visit-limit")[0][8] == limit.message
    assert parse(limit.model_dump_json().encode()) == limit
    assert parse(auth.model_dump_json().encode()) == auth
    assert parse(b'{"event_type": "something.else"}') is None
