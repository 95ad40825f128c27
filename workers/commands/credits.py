"""Credit balances: ``claims report credits`` lists them, ``claims credit refund``
resolves one by recording the refund.

* ``--to payer --claim PCN``: the refund goes to the reconciliation
  (``remits.commands``, keyed by the claim), which refuses more than the claim
  has in credit, keeps it on the claim's ledger (insurance paid is then net of
  it) and publishes it on ``ledger.refunds``;
* ``--to patient --clinic C --patient P``: checked against the patient's credit
  at that clinic (from the same sources as the statements) and published on
  ``ledger.refunds``; the next statement shows it.

A patient credit that is not refunded applies to the patient's next charges at
the clinic by itself (the patient's account is one running balance).  Every
refund is audited (``ops.audit``, action ``credit-refund``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Literal

from pydantic import ValidationError

from schemas.base import describe_errors
from schemas.patient_ledger import CreditRefund
from schemas.reconciliation import RefundCommand
from workers.ops.audit import audit, operator_name
from workers.remits import balances, patient_ledger
from workers.runtime import kafka_clients
from workers.runtime.settings import Settings


class RefundRefused(ValueError):
    """Bad input, or more than the credit: one line naming the field and the rule."""


def _amount(text: str) -> Decimal:
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise RefundRefused(f"--amount {text!r}: expected an amount like 25.00") from None
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise RefundRefused("--amount: a positive amount with at most 2 decimals")
    return amount


def build(
    settings: Settings,
    *,
    to: Literal["payer", "patient"],
    clinic_id: str,
    amount: str,
    reference: str,
    reason: str,
    refunded_on: date | None = None,
    patient_id: str | None = None,
    claim: str | None = None,
) -> CreditRefund:
    who = operator_name(settings)
    try:
        return CreditRefund.new(
            clinic_id=clinic_id,
            to=to,
            patient_id=patient_id if to == "patient" else None,
            patient_control_number=claim if to == "payer" else None,
            amount=_amount(amount),
            refunded_on=refunded_on or datetime.now(UTC).date(),
            reference=reference,
            reason=reason.strip(),
            recorded_by=who,
            recorded_at=datetime.now(UTC),
        )
    except ValidationError as exc:
        raise RefundRefused("; ".join(describe_errors(exc))) from None


def patient_credit(settings: Settings, clinic_id: str, patient_id: str) -> Decimal:
    from workers.commands.statements import load_sources

    sources = load_sources(settings, datetime.now(UTC))
    accounts = patient_ledger.accounts(
        sources.rows, sources.superbills, sources.payments, sources.refunds
    )
    account = accounts.get((clinic_id, patient_id))
    return account.credit if account is not None else Decimal("0.00")


def claim_credit(settings: Settings, pcn: str) -> tuple[str, Decimal]:
    """The claim's clinic and its insurance credit (its original claim's balance)."""
    from workers.remits.reports import load_ledgers

    ledgers = load_ledgers(settings)
    mine = next((ledger for ledger in ledgers if ledger.patient_control_number == pcn), None)
    if mine is None or not mine.submitted:
        raise RefundRefused(f"--claim {pcn}: no submitted claim has this number")
    original = mine.submitted[-1].primary_claim or pcn
    now = datetime.now(UTC)
    row = next(
        (r for r in balances.balances(ledgers, now) if r.patient_control_number == original),
        None,
    )
    return mine.submitted[-1].clinic_id, (row.credit if row is not None else Decimal("0.00"))


def send(settings: Settings, refund: CreditRefund) -> None:
    """Publish the refund (a payer's through the reconciliation), then audit it."""
    producer = kafka_clients.producer(settings)
    try:
        if refund.to == "payer":
            assert refund.patient_control_number is not None
            command = RefundCommand.new(
                action="refund",
                patient_control_number=refund.patient_control_number,
                refund=refund,
                requested_by=refund.recorded_by,
                requested_at=refund.recorded_at,
            )
            producer.send(
                settings.topic("remits.commands"),
                key=refund.patient_control_number.encode(),
                value=command.model_dump_json().encode(),
            ).get(timeout=30)
            target = refund.patient_control_number
        else:
            producer.send(
                settings.topic("ledger.refunds"),
                key=refund.key.encode(),
                value=refund.model_dump_json().encode(),
            ).get(timeout=30)
            target = f"{refund.clinic_id}:{refund.patient_id}"
        audit(
            settings,
            "credit-refund",
            1,
            targets=[target, refund.key],
            note=f"refund to {refund.to}: {refund.amount:.2f}; {refund.reason}"[:300],
            producer=producer,
        )
    finally:
        producer.close()
