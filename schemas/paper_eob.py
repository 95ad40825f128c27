"""A payment that arrived on paper: a check with an explanation of benefits, no 835.

Workers' compensation and auto insurers often pay this way.  A billing company
keys each claim of the EOB as one JSON line and posts it exactly like an 835
claim payment (``claims post eob FILE``): the same ledger, the same reports.  A
claim is posted once per payer, check number and claim, however often the file
is loaded.  Each claim and each line must balance: charge = paid + adjustments.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from schemas.base import Contract, Identifier, Versioned
from schemas.common import Money

CheckNumber = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,29}$")]
Signed = Annotated[Decimal, Field(max_digits=11, decimal_places=2)]


class EobAdjustment(Contract):
    group: Literal["CO", "PR", "OA", "PI"]
    reason: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,5}$")]
    amount: Signed


class EobLine(Contract):
    """One service line of the EOB, where the payer itemized it."""

    procedure: Annotated[str, StringConstraints(pattern=r"^[0-9A-Z]{5}$")]
    modifiers: list[Annotated[str, StringConstraints(pattern=r"^[0-9A-Z]{2}$")]] = Field(
        default_factory=list, max_length=4
    )
    units: int = Field(ge=1, le=9999)
    charge: Money
    paid: Signed
    adjustments: list[EobAdjustment] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _balances(self) -> EobLine:
        if self.charge != self.paid + sum((a.amount for a in self.adjustments), Decimal(0)):
            raise ValueError("charge must equal paid + adjustments")
        return self


class PaperEob(Versioned):
    """One claim of a paper EOB (a line of the file ``claims post eob`` reads)."""

    patient_control_number: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,20}$")]
    payer_id: Identifier = Field(description="Our id of the payer that sent the check.")
    payer_name: Annotated[str, StringConstraints(min_length=1, max_length=60)] | None = None
    check_number: CheckNumber
    check_date: date
    payer_claim_number: Annotated[str, StringConstraints(min_length=1, max_length=50)] | None = None
    charge: Money
    paid: Signed
    adjustments: list[EobAdjustment] = Field(
        default_factory=list, max_length=20, description="Claim-level adjustments."
    )
    lines: list[EobLine] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _balances(self) -> PaperEob:
        adjusted = sum((a.amount for a in self.adjustments), Decimal(0))
        adjusted += sum((a.amount for ln in self.lines for a in ln.adjustments), Decimal(0))
        if self.charge != self.paid + adjusted:
            raise ValueError("charge must equal paid + every adjustment (claim and lines)")
        if self.lines and self.paid != sum((ln.paid for ln in self.lines), Decimal(0)):
            raise ValueError("paid must equal the lines' paid amounts")
        return self
