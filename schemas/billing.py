"""Billable service lines: what an enriched session is worth, and how each number was derived."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from schemas.base import PHI, Contract, Identifier, Versioned
from schemas.common import Modifier, Money, ProcedureCode
from schemas.derivation import Derivation, DroppedService, TechniqueMinutes
from schemas.outcomes import SessionEnriched, SessionWithdrawn

__all__ = [
    "BillableLine",
    "BillableSession",
    "ChargesWithdrawn",
    "Derivation",
    "DroppedService",
    "ScrubProblem",
    "TechniqueMinutes",
    "UnitPolicy",
    "billing_key",
    "charges_route",
    "money",
    "parse_charges",
]

UnitPolicy = Literal["cms", "ama"]


class BillableLine(Contract):
    """One procedure code of one date of service, ready for a claim line."""

    line_number: int = Field(ge=1, le=50)
    code: ProcedureCode
    modifiers: list[Modifier] = Field(default_factory=list, max_length=4)
    units: int = Field(ge=1)
    timed: bool
    minutes: int = Field(ge=0, description="Direct minutes of the techniques under this code.")
    techniques: list[TechniqueMinutes]
    diagnosis_pointers: list[int] = Field(
        max_length=4, description="1-based indexes into diagnosis_codes (empty: no diagnosis)."
    )
    unit_price: Money
    charge: Money
    expected_unit_allowed: Money | None = None
    expected_allowed: Money | None = None
    derivation: list[Derivation]


class ScrubProblem(Contract):
    check: str
    line_number: int | None = None
    message: str


class BillableSession(Versioned):
    """The billable lines of one enriched session (on ``charges.billable``)."""

    event_type: Literal["charges.billable"] = "charges.billable"
    session_key: str
    clinic_id: Identifier
    patient_id: Identifier
    session_id: Identifier
    date_of_service: Annotated[date, PHI]
    billed_to_payer: bool
    payer_id: Identifier | None
    receiver_id: Identifier | None
    policy: UnitPolicy
    total_timed_minutes: int
    total_units: int
    diagnosis_codes: Annotated[list[str], PHI] = Field(
        max_length=12, description="ICD-10-CM, no dot, in order."
    )
    lines: list[BillableLine]
    dropped: list[DroppedService] = Field(default_factory=list)
    charge_total: Money
    expected_total: Money | None
    rules_version: str = Field(description="Versions of the code lists used.")
    computed_at: AwareDatetime
    enriched: SessionEnriched = Field(description="The enriched session the lines came from.")


class ChargesWithdrawn(Versioned):
    """A session withdrawn after it was enriched: its lines must not be billed,
    or, if already claimed, the claim is voided (``charges.billable``)."""

    event_type: Literal["charges.withdrawn"] = "charges.withdrawn"
    session_key: str
    receiver_id: Identifier | None
    withdrawn: SessionWithdrawn


def billing_key(receiver_id: str | None, clinic_id: str, billed_to_payer: bool | None) -> str:
    """Kafka key on ``charges.billable``: the receiver, so that a receiver's claims,
    batches and control-number sequences live in one partition.  A self-pay or HSA
    session (no claim) goes to ``charges.self-pay``, keyed by its clinic (see
    :func:`charges_route`); ``self-pay:<clinic_id>`` is the key such sessions had on
    ``charges.billable`` before that topic existed."""
    if billed_to_payer and receiver_id:
        return receiver_id
    return f"{SELF_PAY_PREFIX}{clinic_id}"


#: the key prefix of self-pay sessions on ``charges.billable`` before 2026-12
SELF_PAY_PREFIX = "self-pay:"


def charges_route(
    receiver_id: str | None, clinic_id: str, billed_to_payer: bool | None
) -> tuple[str, str]:
    """Topic and key of a session's charges (or their withdrawal): a payer's session
    on ``charges.billable`` by receiver, a self-pay or HSA session on
    ``charges.self-pay`` by clinic."""
    if billed_to_payer and receiver_id:
        return "charges.billable", receiver_id
    return "charges.self-pay", clinic_id


def money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


def parse_charges(raw: bytes) -> BillableSession | ChargesWithdrawn:
    """A message of ``charges.billable``: a billable session or a withdrawal (told
    apart by ``event_type``).

    Only a value that mentions ``charges.withdrawn`` at all is decoded twice (once
    to read its ``event_type``): a billable session is several kilobytes.
    """
    if b"charges.withdrawn" in raw and raw.lstrip().startswith(b"{"):
        try:
            kind = json.loads(raw).get("event_type")
        except (ValueError, AttributeError):  # not a JSON object: the parser names it
            kind = None
        if kind == "charges.withdrawn":
            return ChargesWithdrawn.parse_json(raw)
    return BillableSession.parse_json(raw)
