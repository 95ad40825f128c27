"""The payer simulator's rules: a model of how each payer adjudicates, and how to load it.

A rules file is JSON (``data/default_rules.json`` is the default)::

    {
      "version": 1,
      "default": { ...PayerRules: every field... },
      "payers": { "<payer id, NM1*PR NM109>": { ...PayerRules fields to override... } }
    }

A payer's rules are the ``default`` object with the payer's fields laid over
it, one top-level field at a time (a payer that sets ``patient_share`` replaces
the whole default ``patient_share``).  Claims of a payer id not listed use
``default``.  Money and percentages are JSON strings (``"32.50"``, ``"20"``),
never JSON numbers: they become :class:`~decimal.Decimal` without passing
through a float.

Selecting claims (:class:`Selector`) is deterministic: a claim is picked by its
CLM01 (``claims``), by a prefix of the SHA-256 of its CLM01 in hex
(``claim_hashes``, see :func:`claim_hash`) or by a share of all claims
(``percent``: the claim's bucket, a hash of the rule id and CLM01, is below it);
any one of these picks the claim, and a selector without any picks every claim.
``without_prior_authorization`` narrows to claims without ``REF*G1``;
``procedures`` narrows a rule to the lines with those codes.  The same input
and rules therefore always give the same answer.

:func:`load_rules` reads a file or text and raises :class:`RulesError` whose
lines name the field path and the rule broken (never a value).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Final, Literal, Self

from pydantic import BeforeValidator, Field, StringConstraints, ValidationError, model_validator

from schemas.adjudication import BankDetails, PayerContact, PostalAddress
from schemas.base import Contract, describe_errors

__all__ = [
    "DENIAL_CODES",
    "Deductible",
    "DenialKind",
    "DenialRule",
    "InterestRule",
    "PatientShare",
    "PayerRules",
    "ReversalRule",
    "RulesError",
    "Selector",
    "SimulatorRules",
    "VoidRule",
    "bucket",
    "claim_hash",
    "default_rules",
    "load_rules",
    "load_rules_file",
]


class RulesError(ValueError):
    """A rules file that cannot be used; ``problems`` name field paths, never values."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{source}: invalid rules: " + "; ".join(problems))


def _decimal_text(value: object) -> object:
    """Money and percentages come as strings (or Decimals), never as floats."""
    if isinstance(value, bool | float):
        raise ValueError('write the number as a JSON string, e.g. "12.50"')
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        try:
            number = Decimal(value)
        except ArithmeticError:
            raise ValueError("not a decimal number") from None
        if not number.is_finite():
            raise ValueError("not a decimal number")
        return number
    return value


#: An amount of money in the rules: a string with at most two decimals, not negative.
RuleMoney = Annotated[
    Decimal, BeforeValidator(_decimal_text), Field(ge=0, max_digits=11, decimal_places=2)
]
#: A percentage, 0 to 100.
Percent = Annotated[Decimal, BeforeValidator(_decimal_text), Field(ge=0, le=100)]
ProcedureCode = Annotated[str, StringConstraints(pattern=r"^[0-9A-Z]{5}$")]
CarcCode = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,5}$")]
RarcCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{1,2}[0-9]{1,4}$")]
RuleId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")]

DenialKind = Literal[
    "not-covered",
    "not-medically-necessary",
    "prior-authorization-absent",
    "benefit-maximum",
    "bundled",
    "patient-not-recognised",
]

#: The CARC and the RARCs of each kind of denial, unless the rule says otherwise.
DENIAL_CODES: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    # 96 non-covered charge(s): needs a remark that is not an alert
    "not-covered": ("96", ("N130",)),
    # 50 not deemed a medical necessity; M127 missing patient medical record
    "not-medically-necessary": ("50", ("M127",)),
    # 197 precertification/authorization absent; M62 missing treatment authorization code
    "prior-authorization-absent": ("197", ("M62",)),
    # 119 benefit maximum for this time period reached; N362 units exceed our maximum
    "benefit-maximum": ("119", ("N362",)),
    # 97 included in the allowance for another service; M15 separately billed, bundled
    "bundled": ("97", ("M15",)),
    # 31 patient cannot be identified as our insured; N382 invalid patient identifier
    "patient-not-recognised": ("31", ("N382",)),
}


def claim_hash(patient_control_number: str) -> str:
    """SHA-256 of a CLM01 in hex: what ``claim_hashes`` prefixes are matched against."""
    return hashlib.sha256(patient_control_number.encode("utf-8")).hexdigest()


def bucket(salt: str, patient_control_number: str) -> int:
    """A claim's bucket for a rule, 0..9999 (a ``percent`` of 12.5 picks buckets below 1250)."""
    digest = hashlib.sha256(f"{salt}:{patient_control_number}".encode()).hexdigest()
    return int(digest[:8], 16) % 10_000


class Selector(Contract):
    """Which claims, and which of their lines, a rule applies to (see the module docstring)."""

    claims: tuple[Annotated[str, StringConstraints(min_length=1, max_length=38)], ...] = ()
    claim_hashes: tuple[Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{1,64}$")], ...] = ()
    percent: Percent | None = None
    without_prior_authorization: bool = False
    procedures: tuple[ProcedureCode, ...] = ()

    def picks(self, salt: str, pcn: str, prior_authorization: str | None) -> bool:
        """Whether the claim with CLM01 ``pcn`` is selected by the rule ``salt``."""
        if self.without_prior_authorization and prior_authorization:
            return False
        if not (self.claims or self.claim_hashes or self.percent is not None):
            return True
        if pcn in self.claims:
            return True
        if self.claim_hashes and claim_hash(pcn).startswith(self.claim_hashes):
            return True
        return self.percent is not None and bucket(salt, pcn) < self.percent * 100

    def covers_line(self, procedure: str) -> bool:
        """Whether a line with ``procedure`` is in scope (every line when no codes are given)."""
        return not self.procedures or procedure in self.procedures


class DenialRule(Contract):
    """Deny the selected claims (or lines): the whole charge as ``group``-``reason``, with remarks.

    ``patient-not-recognised`` denials are claim status 4 and cannot be limited
    to procedures; every other denial is status 1 (or 2/3 for a secondary or
    tertiary payer) with nothing paid on the denied lines.
    """

    id: RuleId
    kind: DenialKind
    group: Literal["CO", "PI", "OA"] = "CO"
    reason: CarcCode | None = Field(default=None, description="Default by kind, e.g. 96.")
    remarks: tuple[RarcCode, ...] | None = Field(default=None, description="Default by kind.")
    select: Selector = Selector()

    @model_validator(mode="after")
    def _whole_claim_when_unrecognised(self) -> Self:
        if self.kind == "patient-not-recognised" and self.select.procedures:
            raise ValueError("a patient-not-recognised denial covers whole claims (no procedures)")
        return self

    @property
    def carc(self) -> str:
        return self.reason or DENIAL_CODES[self.kind][0]

    @property
    def rarcs(self) -> tuple[str, ...]:
        return DENIAL_CODES[self.kind][1] if self.remarks is None else self.remarks


class Deductible(Contract):
    """PR-1: the selected claims (members still in their deductible) pay up to ``amount``."""

    amount: RuleMoney
    select: Selector = Selector()


class PatientShare(Contract):
    """What the patient owes, per claim: copay (PR-3), deductible (PR-1), coinsurance (PR-2).

    Applied to the allowed amount in that order: the copay and the deductible
    are taken from the claim's lines in line order, the coinsurance percentage
    from what is left of each line.
    """

    copay: RuleMoney = Decimal(0)
    coinsurance_percent: Percent = Decimal(0)
    deductible: Deductible | None = None


class ReversalRule(Contract):
    """Selected paid claims come back as a reversal (CLP02 22) and a corrected adjudication.

    The correction allows ``corrected_allowed_percent`` of the original allowed
    amount.  With ``include_original`` the original payment is in the same 835
    too (so the file is self-contained); otherwise the reversal refers to a
    payment the provider is assumed to have received before.
    """

    select: Selector
    corrected_allowed_percent: Percent = Decimal(90)
    include_original: bool = False


class VoidRule(Contract):
    """Voids (frequency 8): selected claims that the rules would have paid are reversed.

    The others (not selected, or denied by the rules) are acknowledged with zero.
    """

    reverse: Selector = Selector()


class InterestRule(Contract):
    """Prompt-pay interest on selected paid claims, as PLB L6 (negative: money added).

    Interest = paid x ``annual_percent`` / 100 x ``days_late`` / 365, to the cent.
    """

    select: Selector = Selector()
    annual_percent: Percent
    days_late: int = Field(ge=1, le=3650)
    reference: Literal["claim-number", "payer-claim-number"] = Field(
        default="claim-number",
        description="What PLB03-2 names: our claim number (CLP01) or the payer's (CLP07).",
    )


class PayerRules(Contract):
    """How one payer adjudicates and pays (see the module docstring for the file shape)."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=60)] | None = Field(
        default=None, description="N1*PR name; default: the 837's NM1*PR name."
    )
    isa_id: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,15}$")] | None = Field(
        default=None, description="ISA06/GS02 of the payer's 835s; default from the payer id."
    )
    company_id: Annotated[str, StringConstraints(pattern=r"^1[0-9]{9}$")] | None = Field(
        default=None, description="TRN03/BPR10: '1' + 9 digits; default from the payer id."
    )
    claim_number_prefix: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,10}$")] = "SIM"
    address: PostalAddress
    technical_contact: PayerContact
    payment_method: Literal["ACH", "CHK"] = "ACH"
    bank: BankDetails | None = None
    filing_indicators: dict[str, Annotated[str, StringConstraints(pattern=r"^[0-9A-Z]{2}$")]] = (
        Field(default_factory=dict, description="SBR09 -> CLP06 where the 835 list differs.")
    )
    fee_schedule: dict[ProcedureCode, RuleMoney] = Field(
        default_factory=dict, description="Allowed amount per unit, by procedure code."
    )
    percent_of_charge: Percent = Field(
        default=Decimal(100), description="Allowed for codes not on the fee schedule."
    )
    patient_share: PatientShare = PatientShare()
    denials: tuple[DenialRule, ...] = ()
    reversals: ReversalRule | None = None
    voids: VoidRule = VoidRule()
    interest: InterestRule | None = None
    fiscal_year_end: Annotated[str, StringConstraints(pattern=r"^[0-9]{2}-[0-9]{2}$")] = "12-31"

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if any(fee == 0 for fee in self.fee_schedule.values()):
            raise ValueError("fee_schedule: a fee must be positive (deny the code instead)")
        if self.percent_of_charge == 0:
            raise ValueError("percent_of_charge must be positive")
        month, day = (int(part) for part in self.fiscal_year_end.split("-"))
        try:
            dt.date(2001, month, day)  # not a leap year: 02-29 is refused
        except ValueError:
            raise ValueError("fiscal_year_end must be a month and day (MM-DD)") from None
        ids = [rule.id for rule in self.denials]
        if len(set(ids)) != len(ids):
            raise ValueError("denials: every rule needs its own id")
        return self

    def fiscal_period_date(self, today: dt.date) -> dt.date:
        """PLB02: the end of the fiscal year that ``today`` falls in."""
        month, day = (int(part) for part in self.fiscal_year_end.split("-"))
        end = dt.date(today.year, month, day)
        return end if end >= today else dt.date(today.year + 1, month, day)


class SimulatorRules(Contract):
    """Every payer's rules; ``payers`` are already merged with ``default`` (:func:`load_rules`)."""

    version: Literal[1]
    default: PayerRules
    payers: dict[str, PayerRules] = Field(default_factory=dict)

    def for_payer(self, payer_id: str) -> PayerRules:
        return self.payers.get(payer_id, self.default)


def _merged(data: Any) -> Any:
    """The payers' objects laid over the default one (field by field), before validation."""
    if not isinstance(data, dict):
        return data
    default, payers = data.get("default"), data.get("payers")
    if not isinstance(default, dict) or not isinstance(payers, dict):
        return data
    merged = {
        payer: {**default, **override} if isinstance(override, dict) else override
        for payer, override in payers.items()
    }
    return {**data, "payers": merged}


def load_rules(text: str | bytes, *, source: str = "rules") -> SimulatorRules:
    """Parse and validate a rules document; :class:`RulesError` names each problem's path."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        where = f" (line {line})" if line is not None else ""
        raise RulesError(source, [f"not JSON{where}"]) from None
    try:
        return SimulatorRules.model_validate_json(json.dumps(_merged(data)))
    except ValidationError as exc:
        raise RulesError(source, describe_errors(exc)) from None


def load_rules_file(path: str | Path) -> SimulatorRules:
    """:func:`load_rules` over a file (``OSError`` when it cannot be read)."""
    return load_rules(Path(path).read_bytes(), source=str(path))


def default_rules() -> SimulatorRules:
    """The rules shipped in ``workers/payer_sim/data/default_rules.json``."""
    text = resources.files("workers.payer_sim").joinpath("data", "default_rules.json").read_bytes()
    return load_rules(text, source="default_rules.json")
