"""Copays to collect at the front desk, from the payers' 271s (workers.eligibility.copays)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from schemas.eligibility import CostShare, CoverageKey, EligibilityResponse, Status
from schemas.outcomes import SessionEnriched, SessionWithdrawn
from schemas.patient_ledger import PatientPayment
from tests import factories as f
from tests.pipeline import enriched
from workers.eligibility.copays import front_desk, insured_visits, totals, visit_copay

DOS = date(2026, 3, 2)


def visit(session_id: str = "s1", dos: str = "2026-03-02", **kw: Any) -> SessionEnriched:
    return enriched(session=f.session(session_id=session_id, dos=dos), **kw)


def answer(
    status: Status = "active",
    copays: list[CostShare] | None = None,
    asked: date = date(2026, 3, 1),
    **over: Any,
) -> EligibilityResponse:
    return EligibilityResponse(
        coverage=CoverageKey(clinic_id="c1", patient_id="pt1", payer_id="p1"),
        asked_on=asked,
        control_number="0001",
        level="subscriber",
        status=status,
        copays=copays if copays is not None else [copay("25", "AE")],
        **over,
    )


def copay(amount: str, *types: str, period: str | None = "27", network: Any = "Y") -> CostShare:
    return CostShare(
        service_types=list(types), amount=Decimal(amount), period=period, in_network=network
    )


def paid(amount: str, session_id: str | None = "s1", on: date = DOS, ref: str = "r1") -> PatientPayment:
    return PatientPayment(
        schema_version=1,
        clinic_id="c1",
        patient_id="pt1",
        amount=Decimal(amount),
        paid_on=on,
        method="card",
        reference=ref,
        session_id=session_id,
    )


def test_a_copay_taken_for_the_visit_leaves_nothing_to_collect() -> None:
    [line] = front_desk(insured_visits([visit()]), [answer()], [paid("25.00")])
    assert (line.copay, line.collected, line.to_collect) == (
        Decimal("25"),
        Decimal("25.00"),
        Decimal("0.00"),
    )
    assert line.status == "collected"


def test_nothing_taken_yet_is_to_collect_and_a_same_day_payment_counts_once() -> None:
    """Two visits the same day; one unassigned $10 payment that day pays toward the
    first visit's copay only."""
    visits = insured_visits([visit("s1"), visit("s2")])
    lines = front_desk(visits, [answer()], [paid("10.00", session_id=None)])
    assert [(x.visit.session_id, x.status, x.to_collect) for x in lines] == [
        ("s1", "partly collected", Decimal("15.00")),
        ("s2", "to collect", Decimal("25")),
    ]
    assert totals(lines) == {
        "copays": Decimal("50.00"),
        "collected": Decimal("10.00"),
        "to_collect": Decimal("40.00"),
    }


def test_the_massage_copay_wins_over_the_plan_copay_and_in_network_over_out() -> None:
    shares = [copay("40", "30"), copay("60", "AE", network="N"), copay("20", "PT", network="Y")]
    assert visit_copay(answer(copays=shares), DOS) == (Decimal("20"), "from the 271")
    assert visit_copay(answer(copays=[copay("40", "30")]), DOS)[0] == Decimal("40")
    # a copay per day or per year is not what the front desk takes at a visit
    assert visit_copay(answer(copays=[copay("40", "AE", period="23")]), DOS) == (
        Decimal("0.00"),
        "no per-visit copay in the 271",
    )


def test_no_answer_an_inactive_coverage_or_a_rejection_give_nothing_to_collect() -> None:
    visits = insured_visits([visit()])
    [none] = front_desk(visits, [], [])
    assert (none.copay, none.status, none.to_collect) == (
        None,
        "no 271 answer for the coverage",
        Decimal("0.00"),
    )
    [inactive] = front_desk(visits, [answer("inactive")], [])
    assert inactive.status == "coverage inactive on the date of service"
    ended = answer(plan_end=date(2026, 2, 28))
    assert front_desk(visits, [ended], [])[0].status == "coverage inactive on the date of service"
    assert front_desk(visits, [answer("unknown")], [])[0].copay is None


def test_the_latest_answer_about_the_coverage_is_used() -> None:
    older = answer(copays=[copay("25", "AE")], asked=date(2026, 1, 5))
    newer = answer(copays=[copay("35", "AE")], asked=date(2026, 3, 1))
    [line] = front_desk(insured_visits([visit()]), [newer, older], [])
    assert line.copay == Decimal("35")


def test_self_pay_withdrawn_and_redelivered_visits() -> None:
    """Only visits billed to a payer are listed, each once; a withdrawn one is not."""
    self_pay = enriched(
        session=f.session(session_id="s9", patient_id="pt9", dos="2026-03-02"),
        patient=f.patient(
            patient_id="pt9",
            payer_id=None,
            coverages=[{"coverage_id": "own", "kind": "self_pay", "effective_from": "2020-01-01"}],
        ),
    )
    insured = visit("s1")
    gone = visit("s2")
    withdrawn = SessionWithdrawn(
        schema_version=1,
        session_key=gone.session_key,
        clinic_id="c1",
        session_id="s2",
        patient_id="pt1",
        cancel_event_id="e-cancel",
        state_at_cancel="enriched",
        withdrawn_at=datetime(2026, 3, 3, tzinfo=UTC),
    )
    visits = insured_visits([self_pay, insured, gone, insured, withdrawn])
    assert [v.session_id for v in visits] == ["s1"]

