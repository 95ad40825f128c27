"""Documents for patients: superbills (self-pay and HSA sessions) and statements."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, Field

from schemas.base import Contract, Identifier, Versioned


class SuperbillIssued(Versioned):
    """A superbill PDF written to the outbox (``documents.issued``, key: the session)."""

    event_type: Literal["superbill.issued"] = "superbill.issued"
    session_key: str
    clinic_id: Identifier
    patient_id: Identifier
    coverage: Literal["HSA", "Self-pay"]
    file_name: str
    path: str
    sha256: str
    total_charge: Decimal
    amount_paid: Decimal
    balance: Decimal
    issued_at: AwareDatetime


class StatementLine(Contract):
    """One claim's patient share on a statement."""

    patient_control_number: str
    date_of_service: str
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
    period: str = Field(description="YYYY-MM of the payments' posting.")
    lines: list[StatementLine]
    total_due: Decimal
    file_name: str
    path: str
    sha256: str
    issued_at: AwareDatetime
