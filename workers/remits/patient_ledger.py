"""The patient's side of the money, per patient of a clinic (pure).

What a patient owes comes from two places, each counted once:

* **their share of insured claims**: the final patient responsibility of each
  original claim (:mod:`workers.remits.balances`) -- never a share a secondary
  payer has still to answer -- due from the day the last payer's answer was
  posted;
* **self-pay and HSA visits**: the visit's charge (its superbill), due from the
  day it was issued;
* **codes the payer does not cover** when the patient signed a waiver: their
  charge, due from the date of service (without a waiver they are written off).

What they paid (front-desk payments, ``payments.patient``) and what was given
back to them (refunds of credits, ``ledger.refunds``) settle it.  So, for every
patient::

    final patient responsibility + self-pay charges + waived non-covered charges
        = patient payments - refunds + patient outstanding - patient credit

A statement for a month shows the balance carried from before it, the new
charges (with what insurance paid on them), the patient's payments and refunds,
and the balance due; a credit (paid more than owed) is shown as such and carried
to the next month, where it applies to the patient's next charges.  Patient A/R
ages from the first statement that showed the amount (payments settle the oldest
charges first); an amount never stated yet is "not yet billed".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from schemas.documents import SuperbillIssued, SuperbillVoided
from schemas.patient_ledger import CreditRefund, PatientPayment
from workers.remits.balances import BUCKETS, ClaimBalance, bucket

ZERO = Decimal("0.00")
NOT_BILLED = "not yet billed"


@dataclass(frozen=True)
class PatientCharge:
    """Something a patient owes: their share of a claim, or a self-pay visit."""

    reference: str  # the claim's patient control number, or the visit's session key
    kind: str  # "insurance", "self-pay" or "non-covered" (a waiver's patient charge)
    date_of_service: date | None
    due_from: date
    amount: Decimal
    payer_id: str | None = None
    charge: Decimal = ZERO
    insurance_paid: Decimal = ZERO
    shares: dict[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class StatementFigures:
    """One month of a patient's account."""

    period: str
    previous_balance: Decimal
    new_charges: list[PatientCharge]
    payments: list[PatientPayment]
    refunds: list[CreditRefund]

    @property
    def charges_total(self) -> Decimal:
        return sum((c.amount for c in self.new_charges), ZERO)

    @property
    def insurance_payments(self) -> Decimal:
        return sum((c.insurance_paid for c in self.new_charges), ZERO)

    @property
    def payments_total(self) -> Decimal:
        return sum((p.amount for p in self.payments), ZERO)

    @property
    def refunds_total(self) -> Decimal:
        return sum((r.amount for r in self.refunds), ZERO)

    @property
    def balance_due(self) -> Decimal:
        """Negative: a credit the patient has with the clinic."""
        return self.previous_balance + self.charges_total - self.payments_total + self.refunds_total

    @property
    def active(self) -> bool:
        """Worth a statement: something happened, or something is owed or credited."""
        return bool(self.new_charges or self.payments or self.refunds or self.balance_due)


def _month(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


@dataclass
class PatientAccount:
    clinic_id: str
    patient_id: str
    charges: list[PatientCharge] = field(default_factory=list)
    payments: list[PatientPayment] = field(default_factory=list)
    refunds: list[CreditRefund] = field(default_factory=list)

    @property
    def charged(self) -> Decimal:
        return sum((c.amount for c in self.charges), ZERO)

    @property
    def paid(self) -> Decimal:
        return sum((p.amount for p in self.payments), ZERO)

    @property
    def refunded(self) -> Decimal:
        return sum((r.amount for r in self.refunds), ZERO)

    @property
    def outstanding(self) -> Decimal:
        return max(self.charged - self.paid + self.refunded, ZERO)

    @property
    def credit(self) -> Decimal:
        return max(self.paid - self.refunded - self.charged, ZERO)

    def statement(self, period: str) -> StatementFigures:
        """The figures of month ``period`` (``YYYY-MM``), the balance carried from before."""
        before = (
            sum((c.amount for c in self.charges if _month(c.due_from) < period), ZERO)
            - sum((p.amount for p in self.payments if _month(p.paid_on) < period), ZERO)
            + sum((r.amount for r in self.refunds if _month(r.refunded_on) < period), ZERO)
        )
        return StatementFigures(
            period=period,
            previous_balance=before,
            new_charges=sorted(
                (c for c in self.charges if _month(c.due_from) == period),
                key=lambda c: (c.date_of_service or c.due_from, c.reference),
            ),
            payments=sorted(
                (p for p in self.payments if _month(p.paid_on) == period),
                key=lambda p: (p.paid_on, p.reference),
            ),
            refunds=[r for r in self.refunds if _month(r.refunded_on) == period],
        )

    def aging(self, first_stated: dict[str, date], today: date) -> dict[str, Decimal]:
        """What is outstanding, by days since the first statement that showed each
        charge (payments and refund-free credits settle the oldest charges first)."""
        left = self.paid - self.refunded
        out: dict[str, Decimal] = {name: ZERO for name, _, _ in BUCKETS}
        out[NOT_BILLED] = ZERO
        for charge in sorted(self.charges, key=lambda c: (c.due_from, c.reference)):
            owed = charge.amount
            settled = min(max(left, ZERO), owed)
            left -= settled
            owed -= settled
            if owed <= 0:
                continue
            stated = first_stated.get(charge.reference)
            name = bucket((today - stated).days) if stated else NOT_BILLED
            out[name] += owed
        return out


def standing(
    issued: Iterable[SuperbillIssued], voided: Iterable[SuperbillVoided]
) -> list[SuperbillIssued]:
    """The superbills still standing: a voided one (its visit cancelled) charges nothing."""
    gone = {v.session_key for v in voided}
    return [bill for bill in issued if bill.session_key not in gone]


def accounts(
    rows: Iterable[ClaimBalance],
    superbills: Iterable[SuperbillIssued],
    payments: Iterable[PatientPayment],
    refunds: Iterable[CreditRefund] = (),
    patient_of: dict[str, str] | None = None,
) -> dict[tuple[str, str], PatientAccount]:
    """Every patient's account.  ``patient_of`` names the patient of claims whose
    ledger does not (recorded by an older engine)."""
    out: dict[tuple[str, str], PatientAccount] = {}

    def account(clinic_id: str, patient_id: str) -> PatientAccount:
        return out.setdefault(
            (clinic_id, patient_id), PatientAccount(clinic_id, patient_id)
        )

    for row in rows:
        patient = row.patient_id or (patient_of or {}).get(row.patient_control_number)
        if patient is not None and row.non_covered_patient > 0:
            account(row.clinic_id, patient).charges.append(
                PatientCharge(
                    reference=f"{row.patient_control_number}:non-covered",
                    kind="non-covered",
                    date_of_service=row.date_of_service,
                    due_from=row.date_of_service or date.min,
                    amount=row.non_covered_patient,
                    payer_id=row.payer_id,
                    charge=row.non_covered_patient,
                )
            )
        if patient is None or row.patient_responsibility == 0 or row.patient_due_from is None:
            continue
        account(row.clinic_id, patient).charges.append(
            PatientCharge(
                reference=row.patient_control_number,
                kind="insurance",
                date_of_service=row.date_of_service,
                due_from=row.patient_due_from,
                amount=row.patient_responsibility,
                payer_id=row.payer_id,
                charge=row.charge,
                insurance_paid=row.paid,
                shares=row.patient_shares,
            )
        )
    seen: set[str] = set()
    for bill in superbills:
        if bill.session_key in seen:  # a superbill issued again is the same charge
            continue
        seen.add(bill.session_key)
        account(bill.clinic_id, bill.patient_id).charges.append(
            PatientCharge(
                reference=bill.session_key,
                kind="self-pay",
                date_of_service=bill.date_of_service,
                due_from=bill.issued_at.date(),
                amount=bill.total_charge,
                charge=bill.total_charge,
            )
        )
    for pay in {p.key: p for p in payments}.values():  # one per clinic and receipt
        account(pay.clinic_id, pay.patient_id).payments.append(pay)
    for refund in {r.key: r for r in refunds}.values():
        if refund.to == "patient" and refund.patient_id is not None:
            account(refund.clinic_id, refund.patient_id).refunds.append(refund)
    return out


def totals(accounts_: Sequence[PatientAccount]) -> dict[str, Decimal]:
    """The patient side over all accounts: what patients were charged (their final
    shares and self-pay visits), paid, were refunded, still owe, and have in credit."""
    return {
        "charged": sum((a.charged for a in accounts_), ZERO),
        "paid": sum((a.paid for a in accounts_), ZERO),
        "refunded": sum((a.refunded for a in accounts_), ZERO),
        "outstanding": sum((a.outstanding for a in accounts_), ZERO),
        "credits": sum((a.credit for a in accounts_), ZERO),
    }
