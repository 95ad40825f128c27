"""Credit balances are listed until someone resolves them: a payer's credit on a
claim by a refund recorded on the claim (or a recoupment), a patient's by a refund
or by their next charges; never dropped."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from decimal import Decimal

import pytest

from schemas.patient_ledger import CreditRefund, PatientPayment
from schemas.reconciliation import ClaimLedger, RefundCommand
from tests.unit.test_provider_adjustments import NOW, Reconcile
from tests.unit.test_reconcile import ledger_with, payment, submitted
from workers.remits import balances, patient_ledger, reconcile
from workers.remits.reports import credits_report

D = Decimal


def refund(pcn: str | None, amount: str, reference: str = "CHK1001", to: str = "payer",
           patient: str | None = None) -> CreditRefund:  # fmt: skip
    return CreditRefund.new(
        clinic_id="c1",
        to=to,
        patient_id=patient,
        patient_control_number=pcn,
        amount=amount,
        refunded_on=date(2026, 4, 10),
        reference=reference,
        reason="paid twice by the payer",
        recorded_by="ops1",
        recorded_at=NOW,
    )


def command(pcn: str, amount: str, reference: str = "CHK1001") -> RefundCommand:
    return RefundCommand.new(
        action="refund",
        patient_control_number=pcn,
        refund=refund(pcn, amount, reference),
        requested_by="ops1",
        requested_at=NOW,
    )


def paid_twice() -> ClaimLedger:
    """130.00 paid twice on a 170.00 claim (its contractual 40.00 twice): credit 170.00."""
    sub = submitted()
    pcn = sub.patient_control_number
    ledger = reconcile.on_claim_payment(ledger_with(sub), payment(pcn), NOW).ledger
    return reconcile.on_claim_payment(ledger, payment(pcn, trace="T7"), NOW).ledger


def test_a_payer_refund_settles_the_credit_and_insurance_paid_is_net_of_it() -> None:
    ledger = paid_twice()
    pcn = ledger.patient_control_number
    step = reconcile.refund(ledger, command(pcn, "170.00"))
    assert [type(o) for o in step.outputs] == [CreditRefund]
    row = balances.claim_balance(step.ledger, None, NOW)
    assert row.problem() is None
    assert (row.credit, row.refunded, row.paid) == (0, D("170.00"), D("90.00"))
    assert reconcile.refund(step.ledger, command(pcn, "170.00")).duplicate


def test_a_refund_of_more_than_the_credit_is_refused() -> None:
    ledger = paid_twice()
    pcn = ledger.patient_control_number
    with pytest.raises(reconcile.Refused) as refused:
        reconcile.refund(ledger, command(pcn, "170.01"))
    assert refused.value.reason == "more-than-credit"
    part = reconcile.refund(ledger, command(pcn, "100.00")).ledger
    with pytest.raises(reconcile.Refused):
        reconcile.refund(part, command(pcn, "70.01", reference="CHK1002"))


def test_the_credits_report_lists_payers_and_patients_until_refunded() -> None:
    ledger = paid_twice()
    pcn = ledger.patient_control_number
    pay = PatientPayment.new(
        clinic_id="c1", patient_id="pt9", amount="40.00", paid_on=date(2026, 4, 1),
        method="card", reference="RCPT-1",
    )  # fmt: skip
    accounts = patient_ledger.accounts([], [], [pay])
    rows, headers = credits_report([ledger], date(2026, 4, 20), accounts.values())
    table = [dict(zip(headers, r, strict=True)) for r in rows]
    assert [(r["kind"], r["claim or patient"], r["credit"]) for r in table] == [
        ("insurance", pcn, "170.00"),
        ("patient", "pt9", "40.00"),
    ]
    refunded = reconcile.refund(ledger, command(pcn, "170.00")).ledger
    back = refund(None, "40.00", reference="CHK2001", to="patient", patient="pt9")
    accounts = patient_ledger.accounts([], [], [pay], [back])
    rows, _ = credits_report([refunded], date(2026, 4, 20), accounts.values())
    assert rows == []


def test_the_reconciliation_records_a_payer_refund_and_publishes_it() -> None:
    recon = Reconcile()
    sub = submitted()
    pcn = sub.patient_control_number
    recon.run("claims.submitted", pcn, sub)
    for trace in ("T1", "T7"):
        recon.run("remits.835.inbound", pcn, payment(pcn, trace=trace))
    recon.run("remits.commands", pcn, command(pcn, "50.00"))
    [published] = [o for o in recon.sink.sent if o.topic == "ledger.refunds"]
    assert published.key == b"c1:CHK1001"
    assert json.loads(published.value or b"{}")["amount"] == "50.00"
    assert [r.amount for r in recon.ledger(pcn).refunds] == [D("50.00")]


def test_a_refused_refund_is_a_dead_letter_naming_the_rule() -> None:
    recon = Reconcile()
    sub = submitted()
    pcn = sub.patient_control_number
    recon.run("claims.submitted", pcn, sub)
    with pytest.raises(AssertionError, match="more-than-credit"):
        body = command(pcn, "5.00").model_dump_json().encode()
        asyncio.run(recon.send("remits.commands", pcn.encode(), body))
    assert recon.ledger(pcn).refunds == []
    assert not [o for o in recon.sink.sent if o.topic == "ledger.refunds"]


def test_a_patient_credit_applies_to_their_next_charge() -> None:
    """Paid 40.00 ahead; a 25.00 share arrives: 15.00 left in credit, nothing owed."""
    sub = submitted()
    pcn = sub.patient_control_number
    answer = payment(pcn, paid="105.00", adjustments=(("CO", "45", "40.00"), ("PR", "2", "25.00")))
    ledger = reconcile.on_claim_payment(ledger_with(sub), answer, NOW).ledger
    row = balances.claim_balance(ledger, None, NOW)
    assert row.patient_id is not None
    pay = PatientPayment.new(
        clinic_id=row.clinic_id, patient_id=row.patient_id, amount="40.00",
        paid_on=date(2026, 4, 1), method="card", reference="RCPT-1",
    )  # fmt: skip
    [account] = patient_ledger.accounts([row], [], [pay]).values()
    assert (account.charged, account.paid, account.outstanding, account.credit) == (
        D("25.00"),
        D("40.00"),
        0,
        D("15.00"),
    )
