"""Eligibility: the 270 inquiries we send and the 271 answers payers return (005010X279A1).

An inquiry asks about one coverage of one patient on one date (or range); its
trace number (``TRN02``) names the coverage so that the payer's answer, which
echoes it, can be filed under the same key without any stored lookup
(:func:`inquiry_trace`, :func:`parse_trace`).

An answer is what one 271 says about one subscriber or dependent: active or not,
the plan's dates, copays, deductibles, visit limits, and the payer's ``AAA``
rejections in words.  Eligibility is advisory: it never blocks a session on its
own, except that enrichment holds a session on a coverage the latest answer says
is inactive on the session's date (``coverage-inactive``).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Final, Literal

from pydantic import Field, StringConstraints

from schemas.base import PHI, Contract, Identifier, Versioned
from schemas.common import PersonName

#: A service type code (EQ01, EB03): one or two upper-case letters or digits.
ServiceTypeCode = Annotated[str, StringConstraints(pattern=r"^[0-9A-Z]{1,2}$")]
#: What a 270 asks about when the payer's reference data says nothing else: health
#: benefit plan coverage (30), physical medicine (AE), massage therapy (BE) and
#: physical therapy (PT).
DEFAULT_SERVICE_TYPES: Final[tuple[str, ...]] = ("30", "AE", "BE", "PT")
#: Payer kinds that do not answer 270s (property and casualty: verified by claim number).
NO_ELIGIBILITY_KINDS: Final = frozenset({"auto", "workers_comp"})
#: TRN02 holds at most 50 characters.
MAX_TRACE_CHARS: Final = 50
_TRACE_SEPARATOR: Final = "/"

Status = Literal["active", "inactive", "unknown", "rejected"]
Level = Literal["source", "receiver", "subscriber", "dependent"]
Loop = Literal["2100A", "2100B", "2100C", "2110C", "2100D", "2110D"]


class CoverageKey(Contract):
    """The coverage an inquiry is about (``<clinic_id>:<patient_id>:<payer_id>``)."""

    clinic_id: Identifier
    patient_id: Identifier
    payer_id: Identifier

    @property
    def key(self) -> str:
        return f"{self.clinic_id}:{self.patient_id}:{self.payer_id}"


def inquiry_trace(key: CoverageKey, asked_on: date) -> str:
    """``TRN02`` of a 270: the coverage and the date asked, ``/``-separated.

    Identifiers never hold ``/``, so :func:`parse_trace` reads it back.  Raises
    ``ValueError`` when the ids are too long for TRN02's 50 characters."""
    trace = _TRACE_SEPARATOR.join(
        (key.clinic_id, key.patient_id, key.payer_id, f"{asked_on:%Y%m%d}")
    )
    if len(trace) > MAX_TRACE_CHARS:
        raise ValueError(
            f"clinic, patient and payer ids together are too long for TRN02 "
            f"({len(trace)} > {MAX_TRACE_CHARS} characters)"
        )
    return trace


def parse_trace(trace: str) -> tuple[CoverageKey, date] | None:
    """The coverage and date of one of our traces; ``None`` for anyone else's."""
    parts = trace.split(_TRACE_SEPARATOR)
    if len(parts) != 4:
        return None
    clinic, patient, payer, day = parts
    try:
        key = CoverageKey(clinic_id=clinic, patient_id=patient, payer_id=payer)
        if len(day) != 8 or not day.isascii() or not day.isdigit():
            return None
        return key, date(int(day[:4]), int(day[4:6]), int(day[6:]))
    except ValueError:
        return None


class InquiryPerson(Contract):
    """The subscriber or dependent a 270 asks about."""

    name: Annotated[PersonName, PHI]
    birth_date: Annotated[date | None, PHI] = None
    member_id: Annotated[
        Annotated[str, StringConstraints(min_length=1, max_length=80)] | None, PHI
    ] = None


class EligibilityInquiry(Contract):
    """One 270 question: one coverage, one date (or range), the service types asked."""

    coverage: CoverageKey
    coverage_id: Identifier
    asked_from: date
    asked_to: date | None = None
    payer_name: Annotated[str, StringConstraints(min_length=1, max_length=60)]
    payer_edi_id: Annotated[str, StringConstraints(min_length=2, max_length=80)]
    provider_name: Annotated[str, StringConstraints(min_length=1, max_length=60)]
    provider_npi: Annotated[str, StringConstraints(pattern=r"^[0-9]{10}$")]
    provider_tax_id: Annotated[str, StringConstraints(pattern=r"^[0-9]{9}$")]
    subscriber: Annotated[InquiryPerson, PHI]
    dependent: Annotated[InquiryPerson | None, PHI] = Field(
        default=None, description="The patient when not the subscriber (loop 2000D)."
    )
    service_types: list[ServiceTypeCode] = Field(min_length=1, max_length=99)

    @property
    def trace(self) -> str:
        return inquiry_trace(self.coverage, self.asked_from)


class CostShare(Contract):
    """A copay or deductible amount (EB07) and what it applies to."""

    service_types: list[str] = Field(default_factory=list, max_length=99)
    amount: Decimal
    period: str | None = Field(default=None, description="EB06 time period code.")
    period_words: str | None = None
    coverage_level: str | None = Field(default=None, description="EB02 (IND, FAM, ...).")
    in_network: Literal["Y", "N", "U", "W"] | None = None


class VisitLimit(Contract):
    """A visit limit (EB01 F with EB09/EB10 or HSD), or visits used (quantity ``99``)."""

    service_types: list[str] = Field(default_factory=list, max_length=99)
    quantity: Decimal
    qualifier: str = Field(description="EB09 or HSD01: VS visits, P6 services, 99 used, ...")
    period: str | None = Field(default=None, description="EB06 or HSD05/HSD03 time period.")
    period_words: str | None = None
    remaining: bool = Field(default=False, description="EB06 29: the quantity left.")
    used: bool = Field(default=False, description="EB09 99: the quantity already used.")


class Rejection(Contract):
    """An AAA segment: the payer could not answer (AAA03 reason, AAA04 follow-up)."""

    loop: Loop
    valid_request: bool
    code: str
    reason: str
    follow_up: str | None = None
    follow_up_words: str | None = None


class EligibilityResponse(Versioned):
    """What one 271 says about one subscriber or dependent (or, when the payer
    rejected the whole inquiry, about nobody: ``level`` ``source``/``receiver``)."""

    schema_version: Literal[1] = 1
    coverage: CoverageKey | None = Field(
        default=None, description="From our TRN02 echoed by the payer; None: not ours."
    )
    trace: str | None = None
    asked_on: date | None = None
    control_number: str = Field(description="ST02 of the 271.")
    payer_edi_id: str | None = None
    provider_npi: str | None = None
    level: Level
    member_id: Annotated[str | None, PHI] = None
    status: Status
    plan_name: str | None = None
    plan_begin: date | None = None
    plan_end: date | None = None
    eligibility_begin: date | None = None
    eligibility_end: date | None = None
    copays: list[CostShare] = Field(default_factory=list, max_length=1000)
    coinsurance_percent: list[Decimal] = Field(default_factory=list, max_length=1000)
    deductibles: list[CostShare] = Field(default_factory=list, max_length=1000)
    visit_limits: list[VisitLimit] = Field(default_factory=list, max_length=1000)
    rejections: list[Rejection] = Field(default_factory=list, max_length=1000)
    file_sha256: str | None = None

    @property
    def key(self) -> str | None:
        return self.coverage.key if self.coverage is not None else None

    def active_on(self, day: date) -> bool | None:
        """Whether the answer says the coverage is active on ``day``; ``None``: it does not say."""
        if self.status == "inactive":
            return False
        if self.status != "active":
            return None
        begin = self.eligibility_begin or self.plan_begin
        end = self.eligibility_end or self.plan_end
        if begin is not None and day < begin:
            return False
        return not (end is not None and day > end)
