"""The patient's side of the money (`workers.remits.patient_ledger`): what a patient owes
from insured claims (only what the last payer left) and self-pay visits, what they
paid, and the month-to-month statement figures."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from schemas.documents import SuperbillIssued
from schemas.patient_ledger import CreditRefund, PatientPayment
from schemas.reconciliation import ClaimLedger
from tests.unit.test_reconcile import NOW, ledger_with, payment, submitted, with_secondary
from workers.remits import balances, patient_ledger, reconcile

D = Decimal


def pay(amount: str, on: date, reference: str, patient: str = "pt1") -> PatientPayment:
    return PatientPayment.new(
        clinic_id="c1",
        patient_id=patient,
        amount=amount,
        paid_on=on,
        method="card",
        reference=reference,
    )


def superbill(session: str, amount: str, issued: datetime) -> SuperbillIssued:
    return SuperbillIssued.new(
        session_key=f"c1:{session}",
        clinic_id="c1",
        patient_id="pt1",
        coverage="Self-pay",
        date_of_service=issued.date(),
        file_name="x.pdf",
        path="/x.pdf",
        sha256="0" * 64,
        total_charge=amount,
        amount_paid="0.00",
        balance=amount,
        issued_at=issued,
    )


def one_account(
    ledgers: list[ClaimLedger],
    superbills: list[SuperbillIssued] | None = None,
    payments: list[PatientPayment] | None = None,
    refunds: list[CreditRefund] | None = None,
) -> patient_ledger.PatientAccount:
    rows = balances.balances(ledgers, NOW)
    found = patient_ledger.accounts(rows, superbills or [], payments or [], refunds or [])
    assert list(found) == [("c1", "pt1")], list(found)
    return found[("c1", "pt1")]


def test_a_statement_never_bills_a_share_a_secondary_has_still_to_answer() -> None:
    """The primary leaves coinsurance (PR-2 20.00) and the secondary has not answered:
    the patient owes nothing yet (was: a statement of 20.00)."""
    event = with_secondary()
    pcn = event.patient_control_number
    primary = reconcile.on_claim_payment(
        reconcile.on_submitted(ClaimLedger.new(patient_control_number=pcn), event, NOW).ledger,
        payment(pcn, paid="110.00", adjustments=(("CO", "45", "40.00"), ("PR", "2", "20.00"))),
        NOW,
    ).ledger
    rows = balances.balances([primary], NOW)
    accounts = patient_ledger.accounts(rows, [], [])
    assert accounts == {}  # nothing is the patient's until the secondary answers
    assert rows[0].waiting_next_payer == D(20)


def test_the_balance_is_carried_from_month_to_month_and_payments_settle_it() -> None:
    sub = submitted()
    answered = reconcile.on_claim_payment(
        ledger_with(sub),
        payment(sub.patient_control_number, paid="110.00",
                adjustments=(("CO", "45", "40.00"), ("PR", "2", "20.00"))),
        NOW,
    ).ledger  # fmt: skip
    account = one_account(
        [answered],
        superbills=[superbill("s9", "60.00", datetime(2026, 4, 10, tzinfo=UTC))],
        payments=[pay("50.00", date(2026, 5, 3), "R1"), pay("50.00", date(2026, 5, 3), "R1")],
    )
    april = account.statement("2026-04")
    assert april.previous_balance == 0 and april.charges_total == D(80)  # 20 share + 60 visit
    assert april.insurance_payments == D(110) and april.balance_due == D(80)
    may = account.statement("2026-05")
    assert may.previous_balance == D(80) and may.new_charges == []
    assert may.payments_total == D(50)  # the same receipt loaded twice counts once
    assert may.balance_due == D(30)
    assert (account.outstanding, account.credit) == (D(30), D(0))


def test_paying_more_than_owed_is_a_credit_that_a_refund_resolves() -> None:
    account = one_account(
        [],
        superbills=[superbill("s1", "60.00", datetime(2026, 4, 10, tzinfo=UTC))],
        payments=[pay("100.00", date(2026, 4, 10), "R7")],
    )
    assert (account.outstanding, account.credit) == (D(0), D(40))
    assert account.statement("2026-04").balance_due == D(-40)  # shown as a credit
    refund = CreditRefund.new(
        clinic_id="c1",
        to="patient",
        patient_id="pt1",
        amount="40.00",
        refunded_on=date(2026, 5, 2),
        reference="CHK-55",
        reason="overpaid at the front desk",
        recorded_by="ops1",
        recorded_at=NOW,
    )
    refunded = one_account(
        [],
        superbills=[superbill("s1", "60.00", datetime(2026, 4, 10, tzinfo=UTC))],
        payments=[pay("100.00", date(2026, 4, 10), "R7")],
        refunds=[refund],
    )
    assert (refunded.outstanding, refunded.credit) == (D(0), D(0))
    assert refunded.statement("2026-05").balance_due == 0


def test_patient_money_adds_up() -> None:
    """final shares + self-pay charges = payments - refunds + outstanding - credit."""
    account = one_account(
        [],
        superbills=[
            superbill("s1", "60.00", datetime(2026, 4, 10, tzinfo=UTC)),
            superbill("s2", "45.00", datetime(2026, 4, 12, tzinfo=UTC)),
        ],
        payments=[pay("70.00", date(2026, 4, 10), "R1")],
    )
    left = account.paid - account.refunded + account.outstanding - account.credit
    assert account.charged == left == D(105)


def test_patient_ar_ages_from_the_first_statement_that_showed_it() -> None:
    account = one_account(
        [],
        superbills=[
            superbill("s1", "60.00", datetime(2026, 4, 10, tzinfo=UTC)),
            superbill("s2", "45.00", datetime(2026, 5, 12, tzinfo=UTC)),
        ],
        payments=[pay("20.00", date(2026, 5, 1), "R1")],
    )
    stated = {"c1:s1": date(2026, 4, 30)}
    aged = account.aging(stated, date(2026, 4, 30) + timedelta(days=40))
    assert aged["31-60"] == D(40)  # the older visit, less the payment (oldest first)
    assert aged[patient_ledger.NOT_BILLED] == D(45)  # never on a statement yet
