"""How a billed number came about: derivation steps and services left unbilled.

Kept apart from :mod:`schemas.billing` so that claims (:mod:`schemas.claims`) can
carry their lines' derivations without importing the enrichment contracts.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import Field

from schemas.base import Contract
from schemas.common import BodyRegion, ProcedureCode, Technique


class Derivation(Contract):
    """One step that produced or changed a line, with the rule that did it."""

    step: Literal[
        "code-map",
        "code-not-allowed",
        "not-billed",
        "units",
        "code-pair",
        "modifier",
        "cap",
        "charge",
        "expected-allowed",
        "diagnosis-pointers",
        "bundled",
        "not-covered",
        "mue",
    ]
    rule_id: str | None = None
    rule_version: str | None = Field(
        default=None, description="Version of the data the rule came from (effective date)."
    )
    detail: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


class TechniqueMinutes(Contract):
    technique: Technique
    minutes: int
    body_region: BodyRegion | None = None


class DroppedService(Contract):
    """A code that ends with no billable units, and why."""

    code: ProcedureCode | None
    techniques: list[TechniqueMinutes]
    reason: Literal[
        "not-billed",
        "code-not-allowed",
        "zero-units",
        "code-pair",
        "cap",
        "untimed-excluded",
        "bundled",
        "not-covered",
        "mue",
    ]
    minutes: int = Field(default=0, ge=0, description="Minutes of the day not billed.")
    units_lost: int = 0
    derivation: list[Derivation]
    patient_charge: Decimal | None = Field(
        default=None,
        description="A code the payer does not cover, with the patient's waiver on file: "
        "what the patient owes for it (none: written off).",
    )
