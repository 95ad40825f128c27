"""Documents for patients: superbills (self-pay and HSA sessions) and statements."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from schemas.base import PHI, Contract, Identifier, Versioned


class SuperbillIssued(Versioned):
    """A superbill PDF written to the outbox (``documents.issued``, key: the session)."""

    event_type: Literal["superbill.issued"] = "superbill.issued"
    session_key: str
    clinic_id: Identifier
    patient_id: Identifier
    coverage: Literal["HSA", "Self-pay"]
    date_of_service: Annotated[date | None, PHI] = Field(
        default=None, description="The visit's date."
    )
    file_name: str
    path: str
    sha256: str
    total_charge: Decimal
    amount_paid: Decimal
    balance: Decimal
    issued_at: AwareDatetime


class SuperbillVoided(Versioned):
    """The superbill of a visit the clinic cancelled after it was issued
    (``documents.issued``, key: the session): the PDF is removed from the outbox and
    the visit charges the patient nothing."""

    event_type: Literal["superbill.voided"] = "superbill.voided"
    session_key: str
    clinic_id: Identifier
    patient_id: Identifier
    file_name: str
    cancel_event_id: str = Field(description="The clinic's cancellation.")
    voided_at: AwareDatetime


class StatementLine(Contract):
    """One claim's patient share on a statement."""

    patient_control_number: str
    date_of_service: Annotated[str, PHI]
    payer_id: str
    charge: Decimal
    paid_by_payer: Decimal
    deductible: Decimal = Field(description="PR-1.")
    coinsurance: Decimal = Field(description="PR-2.")
    copay: Decimal = Field(description="PR-3.")
    other_patient_share: Decimal = Field(description="Any other PR adjustment.")

    @property
    def patient_share(self) -> Decimal:
        return self.deductible + self.coinsurance + self.copay + self.other_patient_share


class PatientStatement(Versioned):
    """What a patient owes for one period (``documents.issued``, key: the patient)."""

    event_type: Literal["statement.issued"] = "statement.issued"
    statement_id: str = Field(description="<clinic>:<patient>:<period>")
    clinic_id: Identifier
    patient_id: Identifier
    period: str = Field(description="YYYY-MM: the month the statement covers.")
    lines: list[StatementLine] = Field(description="What became the patient's this month.")
    previous_balance: Decimal = Field(default=Decimal(0), description="Carried from before.")
    new_charges: Decimal = Field(default=Decimal(0), description="The lines' patient shares.")
    insurance_payments: Decimal = Field(
        default=Decimal(0), description="What insurance paid on the lines' claims."
    )
    patient_payments: Decimal = Field(default=Decimal(0), description="Paid this month.")
    refunds: Decimal = Field(default=Decimal(0), description="Given back this month.")
    total_due: Decimal = Field(description="The balance due (negative: a credit carried on).")
    file_name: str
    path: str
    sha256: str
    issued_at: AwareDatetime
