"""What patients pay, and what is given back: the patient side of the ledger.

Front desks record copays and payments (``claims ingest payments FILE``), one JSON
line each; a payment is identified by its clinic and the front desk's reference
(a receipt number), so loading the same file twice records each payment once
(``payments.patient`` is compacted by that key).  Refunds of credit balances,
to a patient or to a payer, are recorded the same way (``ledger.refunds``).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints, field_validator

from schemas.base import Identifier, Versioned
from schemas.common import Money

Reference = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,39}$")]
PaymentMethod = Literal["cash", "card", "check", "hsa", "other"]


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError("must be more than 0.00")
    return value


class PatientPayment(Versioned):
    """A payment a patient made to a clinic (``payments.patient``, key
    ``<clinic_id>:<reference>``)."""

    event_type: Literal["patient.payment"] = "patient.payment"
    clinic_id: Identifier
    patient_id: Identifier
    amount: Money = Field(description="What the patient paid (2-decimal string on the wire).")
    paid_on: date
    method: PaymentMethod
    reference: Reference = Field(description="The front desk's receipt or transaction number.")
    session_id: Identifier | None = Field(
        default=None, description="The visit it paid for, when the front desk knows it."
    )

    _positive_amount = field_validator("amount")(_positive)

    @property
    def key(self) -> str:
        return f"{self.clinic_id}:{self.reference}"


class CreditRefund(Versioned):
    """A credit balance given back (``ledger.refunds``, key ``<clinic_id>:<reference>``):
    to the patient, or to the payer that paid too much on a claim."""

    event_type: Literal["credit.refund"] = "credit.refund"
    clinic_id: Identifier
    to: Literal["patient", "payer"]
    patient_id: Identifier | None = Field(default=None, description="A patient's refund.")
    patient_control_number: str | None = Field(default=None, description="A payer's refund.")
    amount: Money
    refunded_on: date
    reference: Reference = Field(description="The check or transfer number.")
    reason: Annotated[str, StringConstraints(min_length=3, max_length=200)]
    recorded_by: str
    recorded_at: AwareDatetime

    _positive_amount = field_validator("amount")(_positive)

    @property
    def key(self) -> str:
        return f"{self.clinic_id}:{self.reference}"
