"""Reference data on log-compacted topics: who the clinics, therapists, payers,
patients and prescriptions are.  The billing company maintains these; the latest
record per key wins, and a tombstone (null value) deletes the key."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo

from pydantic import Field, StringConstraints, field_validator, model_validator

from schemas.base import PHI, Contract, Identifier, NpiText, Versioned
from schemas.calendar import state_zone, zone_named
from schemas.common import (
    Address,
    BodyRegion,
    EffectiveDated,
    Modifier,
    Money,
    PersonName,
    ProcedureCode,
    Sex,
    StateCode,
    Technique,
)
from schemas.eligibility import ServiceTypeCode

TaxId = Annotated[str, StringConstraints(pattern=r"^[0-9]{9}$")]
TaxonomyCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{3}[0-9A-Z]{6}X$")]
OrgName = Annotated[str, StringConstraints(min_length=1, max_length=60, pattern=r"^[^\x00-\x1f]+$")]
ExternalId = Annotated[
    str, StringConstraints(min_length=1, max_length=30, pattern=r"^[^\x00-\x1f]+$")
]
#: ICD-10-CM code as the prescriber wrote it (format checked by enrichment rules).
DiagnosisText = Annotated[str, StringConstraints(min_length=1, max_length=10)]
#: 837 SBR09 claim filing indicator code.
FilingIndicator = Literal[
    "09",
    "11",
    "12",
    "13",
    "14",
    "15",
    "16",
    "17",
    "AM",
    "BL",
    "CH",
    "CI",
    "DS",
    "FI",
    "HM",
    "LM",
    "MA",
    "MB",
    "MC",
    "OF",
    "TV",
    "VA",
    "WC",
    "ZZ",
]


class PriceEntry(EffectiveDated):
    """The clinic's charge for one unit of a code."""

    code: ProcedureCode
    amount: Money


class FeeEntry(EffectiveDated):
    """The payer's contracted allowed amount for one unit of a code."""

    code: ProcedureCode
    amount: Money


class CodeMapEntry(EffectiveDated):
    """Technique -> procedure code; ``code`` null means the technique is not billed."""

    technique: Technique
    code: ProcedureCode | None


class CodePairRule(EffectiveDated):
    """NCCI-style procedure-to-procedure edit between two codes on one date of service.

    ``modifier_indicator`` 0: never billable together, the column-2 code is dropped;
    1: the column-2 code may be billed with a distinct-service modifier when the
    services were truly separate (different body regions).
    """

    rule_id: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    column1: ProcedureCode
    column2: ProcedureCode
    modifier_indicator: Literal[0, 1]


class ModifierRule(EffectiveDated):
    """A modifier the payer requires on some codes (all codes when ``codes`` is null)."""

    rule_id: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    modifier: Modifier
    codes: list[ProcedureCode] | None = None


class Clinic(Versioned):
    """A clinic: the billing provider (organisation) and its price list."""

    clinic_id: Identifier
    name: OrgName
    npi: NpiText
    tax_id: TaxId
    taxonomy_code: TaxonomyCode = "225700000X"
    address: Address
    phone: Annotated[str, StringConstraints(pattern=r"^[0-9]{10}$")] | None = None
    claim_prefix: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{2,5}$")] | None = Field(
        default=None, description="Short prefix of this clinic's claim numbers (CLM01)."
    )
    price_list: list[PriceEntry] = Field(default_factory=list, max_length=500)
    time_zone: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None,
        description="IANA time zone of the clinic (its days of service close at its "
        "midnight); default: the usual zone of the clinic's state.",
    )

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None and zone_named(value) is None:
            raise ValueError("must be an IANA time zone name, e.g. America/Chicago")
        return value

    @property
    def key(self) -> str:
        return self.clinic_id

    @property
    def zone(self) -> ZoneInfo:
        """The clinic's time zone: its own, else its state's, else UTC."""
        found = zone_named(self.time_zone) if self.time_zone else None
        return found or zone_named(state_zone(self.address.state) or "UTC") or ZoneInfo("UTC")


class Therapist(Versioned):
    """A therapist of a clinic: the rendering provider."""

    clinic_id: Identifier
    therapist_id: Identifier
    name: PersonName
    npi: NpiText
    taxonomy_code: TaxonomyCode = "225700000X"
    license_number: ExternalId | None = None

    @property
    def key(self) -> str:
        return f"{self.clinic_id}:{self.therapist_id}"


PayerKind = Literal[
    "commercial",
    "bcbs",
    "medicare",
    "medicare_advantage",
    "medicaid",
    "tricare",
    "auto",
    "workers_comp",
    "other",
]


class UnitLimit(Contract):
    code: ProcedureCode
    units: int = Field(ge=1, le=96)


class AttachmentRule(Contract):
    """A document the payer wants with every claim (2300 PWK), e.g. the physician's
    order (B3) by fax (FX).  Each claim then raises an "attachment to send" work item
    naming the attachment control number to print on the document."""

    report_type: Literal[
        "B2", "B3", "B4", "06", "07", "08", "09", "10", "03", "PN", "PZ", "OZ", "M1"
    ] = Field(description="PWK01: B2 prescription, B3 physician order, PN therapy notes ...")
    transmission: Literal["AA", "BM", "FX", "FT", "EM", "EL"] = Field(
        description="PWK02: AA on request, BM mail, FX fax, FT file transfer, EM e-mail."
    )

    @model_validator(mode="after")
    def _no_275(self) -> Self:
        if self.transmission == "EL":
            raise ValueError("transmission EL needs a 275 transaction, which is not sent")
        return self


class AttentionPolicy(Contract):
    """When the prescribing physician must hear back (per payer; defaults otherwise)."""

    report_every_visits: int = Field(default=6, ge=1, le=100)
    report_every_days: int = Field(default=30, ge=1, le=365)
    renew_when_visits_left: int = Field(default=2, ge=0, le=50)
    renew_days_before_expiry: int = Field(default=14, ge=0, le=365)


class Payer(Versioned):
    """A payer and the rules of its contract with the billing company's clinics."""

    payer_id: Identifier
    name: OrgName
    kind: PayerKind
    edi_payer_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{2,80}$")]
    receiver_id: Identifier = Field(description="Trading partner the claims are sent to.")
    unit_policy: Literal["cms", "ama"]
    pays_massage: bool = True
    answers_claim_status: bool = Field(
        default=True,
        description="Whether the payer answers 276 claim status inquiries (no: none is sent).",
    )
    requires_prescription: bool = True
    timely_filing_days: int = Field(ge=1, le=3650)
    max_units_per_visit: int | None = Field(
        default=None,
        ge=1,
        le=96,
        description="Most units the payer pays for one day of service (all visits of the "
        "day together).",
    )
    unit_pool: Literal["billing-provider", "rendering-provider"] = Field(
        default="billing-provider",
        description="Whose minutes of a day are counted together: every visit of the "
        "patient at the billing provider (default), or each rendering therapist's "
        "visits apart (one claim per therapist and day), where the contract says so.",
    )
    default_filing_indicator: FilingIndicator = "CI"
    code_map: list[CodeMapEntry] = Field(default_factory=list, max_length=200)
    allowed_codes: list[ProcedureCode] | None = None
    untimed_codes: list[ProcedureCode] | None = None
    code_pair_rules: list[CodePairRule] = Field(default_factory=list, max_length=2000)
    distinct_service_modifier: Literal["59", "XS"] = Field(
        default="XS", description="Added to a column-2 code done on a different body region."
    )
    modifier_rules: list[ModifierRule] = Field(default_factory=list, max_length=100)
    fee_schedule: list[FeeEntry] = Field(default_factory=list, max_length=2000)
    sends_initial_treatment_date: bool = False
    authorization_required: Literal["never", "always", "after-visits"] = Field(
        default="never",
        description="Whether massage needs the payer's prior authorization: never, always, "
        "or once the patient had ``authorization_after_visits`` days of service with this "
        "payer in the calendar year.",
    )
    authorization_after_visits: int | None = Field(default=None, ge=1, le=365)
    sends_rendering_license: bool = Field(
        default=False,
        description="The therapist's state licence in 2310B REF*0B (many WC and auto payers).",
    )
    sends_billing_taxonomy: bool = Field(
        default=False, description="PRV*BI in 2000A (payers whose adjudication needs it)."
    )
    attachment: AttachmentRule | None = None
    bundled_codes: list[ProcedureCode] = Field(
        default_factory=list,
        max_length=200,
        description="Never paid separately (e.g. 97010, CMS status B): not sent, not billed.",
    )
    non_covered_codes: list[ProcedureCode] = Field(
        default_factory=list,
        max_length=200,
        description="Not covered by the plan: not sent; billed to the patient only with "
        "their signed waiver on file, else written off.",
    )
    daily_unit_limits: list[UnitLimit] = Field(
        default_factory=list,
        max_length=200,
        description="Most units of a code per patient and day (MUE-style); the rest is "
        "dropped with reason mue.",
    )
    hold_initial_encounter_injury: bool = Field(
        default=False,
        description="Hold a visit whose injury diagnosis is for the initial encounter (7th "
        "character A) instead of warning.",
    )
    eligibility_service_types: list[ServiceTypeCode] | None = Field(
        default=None,
        min_length=1,
        max_length=99,
        description="Service type codes a 270 to this payer asks about (EQ01); "
        "default: 30, AE, BE, PT.",
    )
    prescriber_attention: AttentionPolicy = Field(
        default_factory=AttentionPolicy,
        description="Progress reports and renewals due to the prescriber.",
    )

    @property
    def key(self) -> str:
        return self.payer_id


Relationship = Literal["self", "spouse", "child", "employee", "other"]


class Subscriber(Contract):
    """The insured when it is not the patient (a person, or an employer for workers' comp)."""

    organisation_name: OrgName | None = None
    name: Annotated[PersonName | None, PHI] = None
    member_id: Annotated[ExternalId | None, PHI] = None
    birth_date: Annotated[date | None, PHI] = None
    sex: Annotated[Sex | None, PHI] = None
    address: Annotated[Address | None, PHI] = None

    @model_validator(mode="after")
    def _one_name(self) -> Self:
        if (self.organisation_name is None) == (self.name is None):
            raise ValueError("exactly one of organisation_name and name is required")
        return self


class RelatedCause(Contract):
    """Auto accident, employment or other accident behind the treatment."""

    cause: Literal["auto_accident", "employment", "other_accident"]
    accident_date: Annotated[date | None, PHI] = None
    accident_state: Annotated[StateCode | None, PHI] = None
    claim_number: Annotated[ExternalId | None, PHI] = Field(
        default=None, description="Property-and-casualty claim number (REF*Y4)."
    )

    @model_validator(mode="after")
    def _needs(self) -> Self:
        if self.cause == "auto_accident" and self.accident_state is None:
            raise ValueError("auto_accident needs accident_state")
        if self.cause in ("auto_accident", "other_accident") and self.accident_date is None:
            raise ValueError(f"{self.cause} needs accident_date")
        return self


class Coverage(EffectiveDated):
    """How a patient's sessions are paid: an insurance plan, self-pay, or HSA."""

    coverage_id: Identifier
    kind: Literal["insurance", "self_pay", "hsa"]
    payer_id: Identifier | None = None
    member_id: Annotated[ExternalId | None, PHI] = None
    group_number: ExternalId | None = None
    priority: int = Field(default=1, ge=1, le=3)
    relationship: Relationship = "self"
    subscriber: Annotated[Subscriber | None, PHI] = None
    filing_indicator: FilingIndicator | None = None
    related_cause: RelatedCause | None = None

    @model_validator(mode="after")
    def _insurance_fields(self) -> Self:
        if self.kind == "insurance":
            if self.payer_id is None:
                raise ValueError("insurance coverage needs payer_id")
            if self.relationship == "self" and self.member_id is None:
                raise ValueError("insurance coverage of the subscriber needs member_id")
            if self.relationship != "self" and self.subscriber is None:
                raise ValueError("relationship other than self needs subscriber")
        return self


class Patient(Versioned):
    """A patient of a clinic, with demographics and coverages."""

    clinic_id: Identifier
    patient_id: Identifier
    name: Annotated[PersonName, PHI]
    birth_date: Annotated[date, PHI]
    sex: Annotated[Sex, PHI]
    address: Annotated[Address, PHI]
    phone: Annotated[Annotated[str, StringConstraints(pattern=r"^[0-9]{10}$")] | None, PHI] = None
    coverages: list[Coverage] = Field(default_factory=list, max_length=10)

    @property
    def key(self) -> str:
        return f"{self.clinic_id}:{self.patient_id}"


class Authorization(Versioned):
    """A payer's prior authorization of a patient's massage (``ref.authorizations``,
    key ``<clinic_id>:<authorization_id>``): visits and/or units in a date span.  Its
    number goes in the claim's 2300 ``REF*G1`` for that payer (in 2330B on a claim to
    the next payer)."""

    clinic_id: Identifier
    authorization_id: Identifier
    payer_id: Identifier = Field(description="Our id of the payer that issued it.")
    patient_id: Identifier
    number: Annotated[ExternalId, PHI] = Field(
        description="The payer's authorization number (REF*G1)."
    )
    valid_from: date
    valid_to: date
    visits_authorized: int | None = Field(
        default=None, ge=1, le=365, description="Dates of service it covers (a day counts once)."
    )
    units_authorized: int | None = Field(default=None, ge=1, le=9999)

    @model_validator(mode="after")
    def _span(self) -> Self:
        if self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        if self.visits_authorized is None and self.units_authorized is None:
            raise ValueError("visits_authorized or units_authorized is required")
        return self

    @property
    def key(self) -> str:
        return f"{self.clinic_id}:{self.authorization_id}"

    @property
    def patient_key(self) -> str:
        return f"{self.clinic_id}:{self.patient_id}"


class Prescriber(Contract):
    name: PersonName
    npi: NpiText


class Prescription(Versioned):
    """A physician's order for medical massage."""

    clinic_id: Identifier
    prescription_id: Identifier
    patient_id: Identifier
    prescriber: Prescriber
    issued_on: date
    expires_on: date | None = None
    visits_authorized: int = Field(ge=1, le=365)
    frequency_per_week: int | None = Field(default=None, ge=1, le=14)
    duration_weeks: int | None = Field(default=None, ge=1, le=104)
    diagnosis_codes: Annotated[list[DiagnosisText], PHI] = Field(min_length=1, max_length=12)
    allowed_techniques: list[Technique] | None = None
    allowed_body_regions: list[BodyRegion] | None = None
    max_units_per_visit: int | None = Field(
        default=None,
        ge=1,
        le=96,
        description="Most units the prescriber orders for one day of service (all visits of "
        "the day together).",
    )
    prior_authorization: Annotated[ExternalId | None, PHI] = None
    referral_number: Annotated[ExternalId | None, PHI] = None
    diagnosis_regions: Annotated[dict[DiagnosisText, list[BodyRegion]] | None, PHI] = Field(
        default=None,
        description="Which body regions each diagnosis concerns (optional): a line's "
        "diagnosis pointers then name its own regions' diagnoses first.",
    )

    @model_validator(mode="after")
    def _dates(self) -> Self:
        if self.expires_on is not None and self.expires_on < self.issued_on:
            raise ValueError("expires_on is before issued_on")
        return self

    @property
    def key(self) -> str:
        return f"{self.clinic_id}:{self.prescription_id}"

    @property
    def patient_key(self) -> str:
        return f"{self.clinic_id}:{self.patient_id}"


def _partners() -> type[Versioned]:
    from schemas.claims import TradingPartner

    return TradingPartner


#: Each reference topic and the contract of its values.
REFERENCE_MODELS: dict[str, type[Versioned]] = {
    "clinics": Clinic,
    "therapists": Therapist,
    "payers": Payer,
    "patients": Patient,
    "prescriptions": Prescription,
    "authorizations": Authorization,
    "partners": _partners(),
}
