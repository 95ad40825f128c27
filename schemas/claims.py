"""Professional claims ready to render as X12 837P, and the trading partners they go to.

A :class:`Claim` is self-contained: everything the 837P needs is in it (no
lookups at render time), so ``claims edi render-837 CLAIMS.jsonl`` renders offline.
Names and ids are stored as the payer should see them; the renderer only
formats, transliterates characters outside the X12 extended set, and refuses
values that contain the partner's delimiters.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal, Self

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from schemas.base import PHI, Contract, Identifier, NpiText, Versioned
from schemas.common import Address, Modifier, Money, ProcedureCode, Sex, StateCode
from schemas.derivation import Derivation, DroppedService

#: CLM01, at most 20 characters (receivers must keep 20).
PatientControlNumber = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,20}$")]
#: REF*6R line item control number (receivers must keep 30).
LineControlNumber = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9-]{1,30}$")]
X12Text = Annotated[str, StringConstraints(min_length=1, max_length=60)]
#: Claim frequency (CLM05-3): 1 original, 7 replacement, 8 void.
Frequency = Literal["1", "7", "8"]
#: X12 individual relationship code of the patient to the subscriber (SBR02 / PAT01).
RelationshipCode = Literal["18", "01", "19", "20", "G8", "21"]


class PersonOrOrganisation(Contract):
    """An NM1 name: a person (NM102 = 1) or an organisation (NM102 = 2)."""

    kind: Literal["person", "organisation"]
    last_or_organisation_name: Annotated[X12Text, PHI]
    first_name: Annotated[X12Text | None, PHI] = None
    middle_name: Annotated[X12Text | None, PHI] = None


class BillingProvider(Contract):
    """Loop 2010AA: the clinic (organisation NPI, tax id)."""

    name: X12Text
    npi: NpiText
    tax_id: Annotated[str, StringConstraints(pattern=r"^[0-9]{9}$")]
    taxonomy_code: Annotated[str, StringConstraints(pattern=r"^[0-9A-Z]{10}$")]
    address: Address
    contact_phone: Annotated[str, StringConstraints(pattern=r"^[0-9]{10}$")] | None = None


class Subscriber(Contract):
    """Loops 2000B/2010BA: the insured (the patient, a parent, or an employer)."""

    name: Annotated[PersonOrOrganisation, PHI]
    member_id: Annotated[X12Text | None, PHI] = Field(description="NM109 with qualifier MI.")
    group_number: X12Text | None = None
    payer_responsibility: Literal["P", "S", "T"] = "P"
    filing_indicator: Annotated[str, StringConstraints(pattern=r"^[0-9A-Z]{2}$")]
    relationship: RelationshipCode | None = Field(
        default=None, description="SBR02: 18 when the patient is the subscriber, else empty."
    )
    birth_date: Annotated[date | None, PHI] = None
    sex: Annotated[Sex | None, PHI] = None
    address: Annotated[Address | None, PHI] = None
    property_casualty_claim_number: X12Text | None = Field(
        default=None, description="REF*Y4 in 2010BA (patient = subscriber)."
    )


class PatientLoop(Contract):
    """Loops 2000C/2010CA: the patient when not the subscriber and without own member id."""

    relationship: RelationshipCode
    name: Annotated[PersonOrOrganisation, PHI]
    birth_date: Annotated[date, PHI]
    sex: Annotated[Sex, PHI]
    address: Annotated[Address, PHI]
    property_casualty_claim_number: X12Text | None = None


class PayerParty(Contract):
    """Loop 2010BB."""

    name: X12Text
    payer_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{2,80}$")]


class Provider(Contract):
    """A person provider: rendering (2310B, NM1*82) or referring (2310A, NM1*DN)."""

    name: PersonOrOrganisation
    npi: NpiText
    taxonomy_code: Annotated[str, StringConstraints(pattern=r"^[0-9A-Z]{10}$")] | None = None
    license_number: X12Text | None = Field(
        default=None, description="2310B REF*0B: the state licence, when the payer asks for it."
    )


class RelatedCauses(Contract):
    """CLM11: why the services were needed (auto accident with state, employment, other)."""

    codes: list[Literal["AA", "EM", "OA"]] = Field(min_length=1, max_length=3)
    state: StateCode | None = None
    accident_date: Annotated[date | None, PHI] = Field(default=None, description="DTP*439.")


class ServiceLine(Contract):
    """Loop 2400."""

    line_number: int = Field(ge=1, le=50)
    procedure: ProcedureCode
    modifiers: list[Modifier] = Field(default_factory=list, max_length=4)
    charge: Money
    units: int = Field(ge=1, le=9999)
    diagnosis_pointers: list[int] = Field(min_length=1, max_length=4)
    service_date: Annotated[date, PHI]
    line_control_number: LineControlNumber
    expected_allowed: Money | None = Field(default=None, description="Not rendered.")
    derivation: list[Derivation] = Field(
        default_factory=list,
        description="How the day's code, units, modifiers and amounts were derived (not rendered).",
    )


class CasAdjustment(Contract):
    """One adjustment another payer made (a CAS triple): group, reason, amount."""

    group: Literal["CO", "CR", "OA", "PI", "PR"]
    reason: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,5}$")]
    amount: Decimal = Field(max_digits=11, decimal_places=2)
    quantity: Decimal | None = None


class LineAdjudication(Contract):
    """Loop 2430: how another payer adjudicated one of our lines."""

    line_number: int = Field(ge=1, le=50)
    procedure: ProcedureCode = Field(description="SVD03-2, as the payer adjudicated it.")
    modifiers: list[Modifier] = Field(default_factory=list, max_length=4)
    paid: Money = Field(description="SVD02.")
    units: Decimal = Field(gt=0, description="SVD05.")
    adjustments: list[CasAdjustment] = Field(default_factory=list)
    adjudicated_on: date = Field(description="DTP*573.")


class OtherPayer(Contract):
    """Loops 2320/2330A/2330B: another payer of this claim, and what it did with it.

    On a primary claim: the secondary coverage (no adjudication).  On a secondary
    claim: the primary payer with its paid amount, claim-level adjustments and, per
    line, its 2430 adjudication -- each line balances: charge = paid + adjustments.
    """

    responsibility: Literal["P", "S", "T"] = Field(description="2320 SBR01.")
    relationship: RelationshipCode = Field(description="2320 SBR02: patient to the subscriber.")
    group_number: X12Text | None = None
    filing_indicator: Annotated[str, StringConstraints(pattern=r"^[0-9A-Z]{2}$")]
    subscriber_name: Annotated[PersonOrOrganisation, PHI] = Field(description="2330A NM1*IL.")
    member_id: Annotated[X12Text, PHI] = Field(description="2330A NM109 (MI).")
    payer_name: X12Text = Field(description="2330B NM103.")
    payer_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{2,80}$")] = Field(
        description="2330B NM109 (PI)."
    )
    payer_ref: Identifier | None = Field(default=None, description="Our payer id (not rendered).")
    receiver_id: Identifier | None = Field(
        default=None, description="Where a claim to this payer goes (not rendered)."
    )
    payer_claim_number: X12Text | None = Field(default=None, description="2330B REF*F8.")
    prior_authorization: Annotated[X12Text | None, PHI] = Field(
        default=None, description="2330B REF*G1: this payer's authorization (never in 2300)."
    )
    referral_number: Annotated[X12Text | None, PHI] = Field(
        default=None, description="2330B REF*9F."
    )
    paid: Money | None = Field(default=None, description="2320 AMT*D, once adjudicated.")
    claim_adjustments: list[CasAdjustment] = Field(default_factory=list, description="2320 CAS.")
    adjudicated_on: date | None = Field(default=None, description="2330B DTP*573 (no 2430).")
    lines: list[LineAdjudication] = Field(default_factory=list)

    @property
    def adjudicated(self) -> bool:
        return self.paid is not None


#: PWK01 report types a massage claim may need (X12 code list, 005010X222A1).
ReportType = Literal["B2", "B3", "B4", "06", "07", "08", "09", "10", "03", "PN", "PZ", "OZ", "M1"]
#: PWK02: how the attachment is sent.  ``EL`` (electronically, a 275) is not offered:
#: the engine sends no 275.
Transmission = Literal["AA", "BM", "FX", "FT", "EM"]


class ClaimAttachment(Contract):
    """One PWK of 2300: a document the payer wants with the claim."""

    report_type: ReportType = Field(description="PWK01.")
    transmission: Transmission = Field(description="PWK02.")
    control_number: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{1,50}$")] | None = (
        Field(default=None, description="PWK06 (with PWK05 AC); none when PWK02 is AA.")
    )

    @model_validator(mode="after")
    def _control(self) -> Self:
        if (self.transmission == "AA") != (self.control_number is None):
            raise ValueError("control_number: required unless the transmission is AA")
        return self


class Claim(Versioned):
    """One professional claim (one CLM and its lines) in one version."""

    claim_id: str = Field(description="<patient control number>-<version>: unique per version.")
    patient_control_number: PatientControlNumber
    version: int = Field(ge=1)
    frequency: Frequency
    replaces: str | None = Field(default=None, description="claim_id this version replaces.")
    payer_claim_number: X12Text | None = Field(default=None, description="REF*F8 (freq 7/8).")
    session_keys: list[str] = Field(min_length=1)
    clinic_id: Identifier
    patient_id: Identifier | None = Field(default=None, description="Not rendered.")
    receiver_id: Identifier
    payer_id: Identifier
    billing_provider: BillingProvider
    subscriber: Annotated[Subscriber, PHI]
    patient: Annotated[PatientLoop | None, PHI] = None
    payer: PayerParty
    rendering: Provider | None = None
    referring: Provider | None = None
    place_of_service: Annotated[str, StringConstraints(pattern=r"^[0-9]{2}$")]
    related_causes: RelatedCauses | None = None
    prior_authorization: Annotated[X12Text | None, PHI] = Field(default=None, description="REF*G1.")
    referral_number: Annotated[X12Text | None, PHI] = Field(default=None, description="REF*9F.")
    initial_treatment_date: date | None = Field(default=None, description="DTP*454.")
    payer_wants_initial_treatment_date: bool = Field(
        default=False, description="The payer's rule: send DTP*454 whatever the partner's guide."
    )
    payer_wants_billing_taxonomy: bool = Field(
        default=False, description="The payer's rule: send PRV*BI whatever the partner's guide."
    )
    attachments: list[ClaimAttachment] = Field(
        default_factory=list, max_length=10, description="2300 PWK."
    )
    diagnosis_codes: Annotated[
        list[Annotated[str, StringConstraints(pattern=r"^[A-Z][0-9A-Z]{2,6}$")]], PHI
    ] = Field(min_length=1, max_length=12, description="ICD-10-CM without the dot.")
    lines: list[ServiceLine] = Field(min_length=1, max_length=50)
    total_charge: Money
    expected_allowed_total: Money | None = None
    other_payers: list[OtherPayer] = Field(default_factory=list, max_length=10)
    primary_claim: PatientControlNumber | None = Field(
        default=None, description="The primary payer's claim this one follows (COB)."
    )
    dropped: list[DroppedService] = Field(
        default_factory=list,
        description="Services of the day that are not billed, and why (not rendered).",
    )


class Submitter(Contract):
    """Loop 1000A: the billing company sending the file."""

    name: X12Text
    id: X12Text = Field(description="NM109 (qualifier 46), the submitter id the receiver gave.")
    contact_name: X12Text
    contact_phone: Annotated[str, StringConstraints(pattern=r"^[0-9]{10}$")] | None = None
    contact_email: X12Text | None = None


#: An environment variable that may hold a mailbox secret: only ``CLAIMS_SFTP_*`` names,
#: so a partner record can never point the engine at another secret of the process
#: (the Kafka password, the dashboard token) and send it to a server.
SecretEnvName = Annotated[str, StringConstraints(pattern=r"^CLAIMS_SFTP_[A-Z0-9_]{1,64}$")]
#: A directory or file name on the partner's SFTP server (no control characters).
RemotePath = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f]+$")
]


class SecretReference(Contract):
    """Where a mailbox secret is kept: an environment variable's *name* or a file's path.

    The secret itself never travels on a topic; the mailbox worker reads it when it
    connects.  A relative file path is read under ``CLAIMS_MAILBOX_SECRETS_DIR``."""

    env: SecretEnvName | None = Field(default=None, description="Environment variable name.")
    file: RemotePath | None = Field(default=None, description="File holding the secret.")

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.env is None) == (self.file is None):
            raise ValueError("a secret reference names exactly one of env or file")
        return self


class SftpMailbox(Contract):
    """A trading partner's SFTP mailbox: where 837 files are uploaded and 999, TA1,
    277CA, 277, 271 and 835 files are picked up (``claims worker mailbox``)."""

    host: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.:\[\]-]{1,253}$")]
    port: int = Field(default=22, ge=1, le=65535)
    user: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._@-]{1,64}$")]
    private_key: SecretReference | None = Field(
        default=None, description="The client's private key (OpenSSH or PEM text)."
    )
    password: SecretReference | None = Field(
        default=None, description="A password, for servers that take no keys."
    )
    host_key: Annotated[str, StringConstraints(min_length=10, max_length=16_384)] = Field(
        description="The server's pinned host key: a known_hosts line (or just its "
        "`<type> <base64>` part) or a `SHA256:` fingerprint; any other key is refused."
    )
    upload_dir: RemotePath = Field(description="Where 837 files are put (e.g. `to-partner`).")
    download_dir: RemotePath = Field(
        description="Where the partner leaves 999, TA1, 277CA, 277, 271 and 835 files."
    )
    poll_interval_s: float = Field(default=300.0, gt=0, description="How often to look.")
    after_download: Literal["delete", "move"] = Field(
        default="delete",
        description="What happens to a downloaded file once it is safely in the inbox.",
    )
    archive_dir: RemotePath | None = Field(
        default=None, description="Where downloaded files are moved (`after_download: move`)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.private_key is None) == (self.password is None):
            raise ValueError(
                "an SFTP mailbox authenticates with exactly one of private_key or password"
            )
        if self.after_download == "move" and self.archive_dir is None:
            raise ValueError("after_download move needs archive_dir")
        return self


class TradingPartner(Versioned):
    """A receiver of 837 files (a clearinghouse or payer), on ``ref.partners``."""

    receiver_id: Identifier
    name: X12Text = Field(description="1000B NM103.")
    receiver_code: X12Text = Field(description="1000B NM109 (qualifier 46).")
    isa_sender_qualifier: Annotated[str, StringConstraints(pattern=r"^[0-9A-Z]{2}$")] = "ZZ"
    isa_sender_id: Annotated[str, StringConstraints(min_length=1, max_length=15)]
    isa_receiver_qualifier: Annotated[str, StringConstraints(pattern=r"^[0-9A-Z]{2}$")] = "ZZ"
    isa_receiver_id: Annotated[str, StringConstraints(min_length=1, max_length=15)]
    gs_sender_code: Annotated[str, StringConstraints(min_length=2, max_length=15)]
    gs_receiver_code: Annotated[str, StringConstraints(min_length=2, max_length=15)]
    usage: Literal["T", "P"] = Field(default="T", description="ISA15 test or production.")
    element_separator: Annotated[str, StringConstraints(min_length=1, max_length=1)] = "*"
    component_separator: Annotated[str, StringConstraints(min_length=1, max_length=1)] = ":"
    repetition_separator: Annotated[str, StringConstraints(min_length=1, max_length=1)] = "^"
    segment_terminator: Annotated[str, StringConstraints(min_length=1, max_length=1)] = "~"
    line_break_after_segment: bool = True
    batch_max_claims: int = Field(default=500, ge=1, le=5000)
    batch_max_age_s: float = Field(default=60.0, gt=0)
    submitter: Submitter
    send_billing_taxonomy: bool = Field(default=False, description="PRV*BI in 2000A.")
    send_initial_treatment_date: bool = Field(default=False, description="DTP*454 in 2300.")
    acknowledge_835: bool = Field(
        default=False, description="Answer this partner's 835 files with a 999."
    )
    sftp: SftpMailbox | None = Field(
        default=None, description="The partner's SFTP mailbox; none: files stay in the outbox."
    )

    @property
    def key(self) -> str:
        return self.receiver_id


class ControlNumbers(Contract):
    """The envelope numbers reserved for one file."""

    interchange: int = Field(ge=1, le=999_999_999, description="ISA13 / IEA02.")
    group: int = Field(ge=1, le=999_999_999, description="GS06 / GE02.")
    transaction: int = Field(ge=1, le=999_999_999, description="ST02 / SE02 (4-9 digits).")


class RenderedFile(Contract):
    """What rendering produced, and what it had to change."""

    text: str
    control_numbers: ControlNumbers
    claim_count: int
    segment_count: int
    transliterations: list[str] = Field(
        default_factory=list, description="Where characters outside the X12 set were replaced."
    )
    created_at: AwareDatetime
