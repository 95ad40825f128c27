"""Engine state kept in changelog-backed tables (versioned like the contracts,
because a changelog written by an older engine must stay readable)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field

from schemas.acknowledgements import AckNote, FrontDoorStatus, PayerStatus
from schemas.base import PHI, Contract, Identifier, Versioned
from schemas.eligibility import EligibilityResponse
from schemas.events import SessionCompleted
from schemas.outcomes import HoldReason, PrescriptionAttention
from schemas.reference import Authorization, Patient, Prescription


class Visit(Contract):
    """A session counted against a prescription."""

    session_id: Identifier
    date_of_service: Annotated[date, PHI]


class Hold(Contract):
    reason: HoldReason
    message: str
    since: AwareDatetime
    event: SessionCompleted


SessionStatus = Literal["enriched", "held", "rejected", "cancelled"]


class SessionRecord(Contract):
    """What happened to one session of the patient (by session id)."""

    fingerprint: str | None = Field(description="Content hash; null when only a cancel was seen.")
    event_ids: list[str] = Field(default_factory=list, max_length=8)
    sources: list[str] = Field(
        default_factory=list,
        max_length=16,
        description="topic:partition:offset of the messages handled for this session, to tell "
        "a redelivery (the same message again) from a duplicate (a new message).",
    )
    withdrawal: str | None = Field(default=None, description="The SessionWithdrawn sent (JSON).")
    status: SessionStatus
    reason: str | None = None
    message: str | None = None
    prescription_id: Identifier | None = None
    authorization_id: Identifier | None = None
    visit_number: int | None = None
    billed_to_payer: bool | None = None
    payer_id: Identifier | None = None
    receiver_id: Identifier | None = None
    decided_at: AwareDatetime
    hold: Hold | None = None
    decisions: int = Field(
        default=0, ge=0, description="How many outcomes were decided for the session so far."
    )


class EligibilityRecord(Contract):
    """The latest 271 answer about one of the patient's coverages, and the coverage as it
    was when the answer arrived (a changed coverage makes the answer stale)."""

    response: EligibilityResponse
    coverage_fingerprint: str | None = Field(
        default=None, description="The coverage's fingerprint then; None: not known then."
    )


class PatientState(Versioned):
    """Everything the enrichment processor knows about one patient of one clinic."""

    patient: Annotated[Patient | None, PHI] = None
    prescriptions: dict[str, Prescription] = Field(default_factory=dict)
    authorizations: dict[str, Authorization] = Field(default_factory=dict)
    visits: dict[str, list[Visit]] = Field(
        default_factory=dict,
        description="Per prescription id, and per ``auth:<authorization id>``: the visits "
        "counted against it.",
    )
    sessions: dict[str, SessionRecord] = Field(default_factory=dict)
    attention: dict[str, list[PrescriptionAttention]] = Field(
        default_factory=dict,
        description="Per prescription: what the prescriber was told is due (the latest 20).",
    )
    eligibility: dict[str, EligibilityRecord] = Field(
        default_factory=dict, description="Per payer id: the latest 271 answer (advisory)."
    )


class Wakeup(Versioned):
    """Re-evaluate held sessions of a partition: reference data arrived, or a sweep."""

    kind: Literal["reference", "sweep"]
    topic: Literal["ref.clinics", "ref.therapists", "ref.payers"] | None = Field(
        default=None, description="The catalogue topic the record came from."
    )
    key: str | None = None
    record: dict[str, Any] | None = Field(
        default=None, description="The new reference record (read before the mirror has it)."
    )
    issued_at: AwareDatetime


class PrescriptionChange(Versioned):
    """A prescription -- or, with ``kind`` authorization, a payer's authorization --
    accepted (or withdrawn) for a patient: the by-patient repartition."""

    clinic_id: Identifier
    patient_id: Identifier
    prescription_id: Identifier = Field(
        description="The record's id (prescription or authorization)."
    )
    prescription: Prescription | None = Field(
        default=None, description="Null: no longer usable for this patient."
    )
    kind: Literal["prescription", "authorization", "eligibility"] = "prescription"
    authorization: Authorization | None = None
    eligibility: EligibilityResponse | None = Field(
        default=None, description="With kind eligibility (prescription_id: the payer id)."
    )


class AskedCoverage(Contract):
    """What the eligibility stage asked a payer about one coverage."""

    fingerprint: str = Field(
        pattern=r"^[0-9a-f]{32}$",
        description="Hash of what makes the coverage a different question (payer, member "
        "ids, group, relationship, dates): a change asks again.",
    )
    months: list[str] = Field(
        default_factory=list,
        max_length=13,
        description="Months asked (YYYY-MM, oldest first): the first session of a month asks.",
    )


class EligibilityAsked(Versioned):
    """The eligibility stage's state for one patient: what was asked, and the latest
    record (a session does not carry the patient's coverages)."""

    coverages: dict[str, AskedCoverage] = Field(default_factory=dict, description="By coverage id.")
    patient: Annotated[Patient | None, PHI] = None


class SourceRef(Contract):
    """Where a stored message came from (to dead-letter it later with its origin)."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: str | None


class PendingEntry(Versioned):
    """A billable session waiting for its batch (table ``claims.sources``, by session
    key; it stays there as its claim's source once a claim takes it), or a new version
    of a claim sent waiting for its batch (table ``claims.pending``)."""

    receiver_id: Identifier
    batch_key: str = Field(description="Billing provider NPI: files are per provider and receiver.")
    claim_identity: str
    kind: Literal["session", "version"]
    source_json: str | None = Field(default=None, description="The charges.billable message.")
    source_ref: SourceRef | None = None
    claim_json: str | None = Field(default=None, description="kind version: the claim to send.")
    received_at: AwareDatetime
    release_at: AwareDatetime | None = Field(
        default=None,
        description="kind session: when its day of service closes (the end of the clinic's "
        "day plus the grace period); its claim waits until then.",
    )


class ClaimVersionSent(Contract):
    claim_id: str
    frequency: Literal["1", "7", "8"]
    file_name: str
    interchange: int
    sent_at: AwareDatetime


class Transmission(Versioned):
    """One 837 file sent to a receiver (table ``claims.transmissions``, key
    ``<receiver_id>|<interchange number>``): which claim versions it carried, so
    a 999 naming the file's group control number reaches each of them."""

    receiver_id: Identifier
    file_name: str
    interchange: int = Field(description="ISA13 = GS06 = ST02 of the file.")
    claims: dict[str, str] = Field(description="patient control number -> claim_id sent.")
    sent_at: AwareDatetime

    @staticmethod
    def key_of(receiver_id: str, interchange: int) -> str:
        return f"{receiver_id}|{interchange}"


class MailboxFetch(Versioned):
    """A file the mailbox worker took from a partner's download directory (its ledger,
    ``<state_dir>/mailboxes/<receiver>/fetched/<sha256>.json``): the content hash is what
    makes a file listed again, or delivered again under another name, known."""

    receiver_id: Identifier
    sha256: str
    remote_name: str
    size_bytes: int = Field(ge=0)
    kind: str = Field(description="999, TA1, 277, 271 or 835 (277CA is a 277).")
    inbox_name: str = Field(description="The name it was given in the inbox.")
    status: Literal["fetched", "cleaned"] = Field(
        description="fetched: in the inbox; cleaned: also deleted or moved on the server."
    )
    fetched_at: AwareDatetime
    cleaned_at: AwareDatetime | None = None


class PendingChange(Contract):
    """A void or correction waiting until the payer's claim number is known."""

    action: Literal["void", "correct"]
    reason: str | None = None
    line_units: dict[int, int] | None = None
    diagnosis_codes: Annotated[list[str] | None, PHI] = None
    reassemble: bool = Field(default=False, description="Rebuild from sources (day mode).")
    source_json: str | None = None
    source_ref: SourceRef | None = None
    requested_at: AwareDatetime


class ClaimRecord(Versioned):
    """A submitted claim and its versions (table ``claims.records``, key: CLM01)."""

    patient_control_number: str
    receiver_id: Identifier
    claim_identity: str
    status: Literal["submitted", "voided"]
    current_json: str = Field(description="The latest version sent (Claim JSON).")
    sources_json: list[str] = Field(description="The billable sessions it was built from.")
    source_keys: list[str] = Field(
        default_factory=list,
        description="Sessions whose billable message is kept in the claims stage's sources "
        "table (``claims.sources``, by session key) instead of being copied here; the record "
        "is built from them first, then from ``sources_json`` (visits added after the claim "
        "left, records written before 2026-12).",
    )
    session_keys: list[str] = Field(
        default_factory=list,
        description="Every session placed on the claim (its sources, visits added later): "
        "the claims stage's index of claimed sessions is built from these. Empty on records "
        "written before 2026-12: their sessions are read from the claim and its sources.",
    )
    versions: list[ClaimVersionSent] = Field(default_factory=list)
    payer_claim_number: str | None = None
    waiting: list[PendingChange] = Field(default_factory=list)
    front_door: FrontDoorStatus = Field(
        default="sent", description="Where the latest version stands at the payer's front door."
    )
    front_door_at: AwareDatetime | None = Field(
        default=None, description="When the front-door status last changed (or the version left)."
    )
    acknowledgements: list[AckNote] = Field(default_factory=list)
    remitted_at: AwareDatetime | None = Field(
        default=None, description="When the first 835 answer for the claim was posted."
    )
    secondary_pcn: str | None = Field(
        default=None, description="The secondary claim built after this one's 835 (COB)."
    )
    changes_overdue_at: AwareDatetime | None = Field(
        default=None,
        description="When waiting changes were reported overdue (claims.changes-waiting); "
        "cleared when they leave.",
    )
    payer_status: PayerStatus | None = Field(
        default=None, description="Where the claim stands at the payer (latest 277 response)."
    )
    status_attention_at: AwareDatetime | None = Field(
        default=None,
        description="When a 277 put the claim on claims.status-attention; cleared when a later "
        "277 or an 835 settles it.",
    )
    status_inquired_at: AwareDatetime | None = Field(
        default=None, description="When the latest 276 status inquiry about the claim was written."
    )
    status_inquiries: int = Field(default=0, ge=0, description="276 inquiries written so far.")
