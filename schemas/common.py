"""Small value types shared by the contracts."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal, Self, get_args

from pydantic import Field, StringConstraints, model_validator

from schemas.base import PHI, Contract, ShortText

#: CPT/HCPCS procedure code, e.g. ``97140``.
ProcedureCode = Annotated[str, StringConstraints(pattern=r"^[0-9A-Z]{5}$")]
#: Two-character procedure modifier, e.g. ``GP``, ``59``, ``XS``.
Modifier = Annotated[str, StringConstraints(pattern=r"^[0-9A-Z]{2}$")]
#: Money: non-negative, at most two decimals, never a float on the wire.
Money = Annotated[Decimal, Field(ge=0, max_digits=11, decimal_places=2)]
#: Two-letter US state or territory code.
StateCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
#: Body region of a technique (slug), e.g. ``neck``, ``lower_back``.
BodyRegion = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]

Technique = Literal[
    "swedish_massage",
    "myofascial_release",
    "trigger_point_therapy",
    "neuromuscular_therapy",
    "positional_release",
    "rehabilitative_stretching",
    "muscle_testing",
    "hot_cold_pack",
]
TECHNIQUES: tuple[str, ...] = get_args(Technique)

Sex = Literal["F", "M", "U"]


class Address(Contract):
    line1: Annotated[Annotated[str, StringConstraints(min_length=1, max_length=55)], PHI]
    line2: Annotated[Annotated[str, StringConstraints(min_length=1, max_length=55)] | None, PHI] = (
        None
    )
    city: Annotated[Annotated[str, StringConstraints(min_length=2, max_length=30)], PHI]
    state: StateCode
    postal_code: Annotated[Annotated[str, StringConstraints(pattern=r"^[0-9]{5}([0-9]{4})?$")], PHI]


class PersonName(Contract):
    first_name: Annotated[ShortText, PHI]
    last_name: Annotated[ShortText, PHI]
    middle_name: Annotated[ShortText | None, PHI] = None


class EffectiveDated(Contract):
    """A row valid from ``effective_from`` through ``effective_to`` (inclusive)."""

    effective_from: date
    effective_to: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise ValueError("effective_to is before effective_from")
        return self

    def covers(self, day: date) -> bool:
        return self.effective_from <= day and (
            self.effective_to is None or day <= self.effective_to
        )
