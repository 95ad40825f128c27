"""What the claims stage announces, and the commands it accepts."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, cast

from pydantic import (
    AwareDatetime,
    Discriminator,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from schemas.base import PHI, Identifier, Versioned
from schemas.claims import Claim, ControlNumbers
from schemas.remittance import ClaimPayment


class AttachmentDue(Versioned):
    """A document a sent claim announced in its PWK and the payer now waits for
    (``claims.attachments``, a work queue; key: the attachment control number; a
    tombstone once ``claims attachment sent`` recorded it)."""

    event_type: Literal["claim.attachment-due"] = "claim.attachment-due"
    control_number: str = Field(description="PWK06: print it on the document or its cover.")
    patient_control_number: str
    claim_id: str
    clinic_id: Identifier
    payer_id: Identifier
    report_type: str = Field(description="PWK01, e.g. B3 physician order.")
    transmission: str = Field(description="PWK02: BM mail, FX fax, FT file transfer, EM e-mail.")
    raised_at: AwareDatetime


class ClaimSubmitted(Versioned):
    """One claim version released in a validated 837P file (``claims.submitted``,
    key: the patient control number)."""

    event_type: Literal["claim.submitted"] = "claim.submitted"
    claim_id: str
    patient_control_number: str
    version: int
    frequency: Literal["1", "7", "8"]
    replaces: str | None
    session_keys: list[str]
    line_control_numbers: list[str]
    clinic_id: Identifier
    payer_id: Identifier
    receiver_id: Identifier
    billing_provider_npi: str
    charge_total: Decimal
    expected_allowed_total: Decimal | None
    file_name: str
    control_numbers: ControlNumbers
    submitted_at: AwareDatetime
    claim: Claim = Field(description="The claim exactly as sent.")

    @classmethod
    def of(
        cls,
        claim: Claim,
        *,
        file_name: str,
        control_numbers: ControlNumbers,
        submitted_at: datetime,
    ) -> ClaimSubmitted:
        """The event for ``claim`` sent in the file ``file_name`` (the rest is the claim's)."""
        return cls.new(
            claim_id=claim.claim_id,
            patient_control_number=claim.patient_control_number,
            version=claim.version,
            frequency=claim.frequency,
            replaces=claim.replaces,
            session_keys=claim.session_keys,
            line_control_numbers=[ln.line_control_number for ln in claim.lines],
            clinic_id=claim.clinic_id,
            payer_id=claim.payer_id,
            receiver_id=claim.receiver_id,
            billing_provider_npi=claim.billing_provider.npi,
            charge_total=claim.total_charge,
            expected_allowed_total=claim.expected_allowed_total,
            file_name=file_name,
            control_numbers=control_numbers,
            submitted_at=submitted_at,
            claim=claim,
        )


#: What a transmission to a trading partner carries: claims (837P), eligibility
#: inquiries (270) or claim status inquiries (276).
Transmission = Literal["837", "270", "276"]


def transmission_key(receiver_id: str, transaction: str, interchange: int) -> str:
    """The key of a transmission's delivery record and work item: an 837's is
    ``<receiver>|<interchange>`` (as it always was); a 270's or 276's carries the
    transaction too (``<receiver>|270|<interchange>``), since eligibility inquiries are
    numbered from a sequence of their own and may share an 837's ISA13."""
    if transaction == "837":
        return f"{receiver_id}|{interchange}"
    return f"{receiver_id}|{transaction}|{interchange}"


class FileReleased(Versioned):
    """One file for a trading partner written to the outbox (``edi.outbound``, key: the
    receiver): an 837P, or a 270 or 276 inquiry (``transaction``).  For an inquiry,
    ``claim_count`` counts its inquiries, ``claim_ids`` holds the patient control
    numbers asked about (none for a 270) and ``billing_provider_npi`` is the provider
    of its first inquiry."""

    event_type: Literal["edi.file-released"] = "edi.file-released"
    transaction: Transmission = Field(default="837", description="What the file carries.")
    file_name: str
    path: str
    receiver_id: Identifier
    billing_provider_npi: str
    usage: Literal["T", "P"]
    control_numbers: ControlNumbers
    claim_count: int
    claim_ids: list[str]
    size_bytes: int
    sha256: str
    validated: bool
    transliterations: list[str] = Field(default_factory=list)
    released_at: AwareDatetime


#: Where a transmission's delivery to its partner's SFTP mailbox stands.
DeliveryStatus = Literal["pending", "uploading", "uploaded", "failed"]


class FileDelivery(Versioned):
    """The delivery record of one transmission (an 837, 270 or 276 file) to its
    partner's SFTP mailbox (``edi.deliveries``, compacted; key
    ``<receiver_id>|<interchange>`` for an 837, ``<receiver_id>|<transaction>|<interchange>``
    for a 270 or 276: :func:`transmission_key`).

    ``uploading`` is recorded before a byte is sent and ``uploaded`` only after the
    temporary remote name was renamed to ``remote_name`` and its size checked; a retry
    of an ``uploading`` delivery first looks for ``remote_name`` on the server, so a
    transmission is uploaded at most once."""

    event_type: Literal["edi.file-delivery"] = "edi.file-delivery"
    transaction: Transmission = Field(default="837", description="What the file carries.")
    receiver_id: Identifier
    interchange: int = Field(ge=1, description="ISA13 of the file (the transmission's key).")
    file_name: str
    path: str = Field(description="The file in the outbox.")
    size_bytes: int = Field(ge=0)
    sha256: str
    status: DeliveryStatus
    remote_name: str | None = Field(
        default=None, description="The file's final path in the partner's upload directory."
    )
    attempts: int = Field(default=0, ge=0, description="Upload attempts that failed so far.")
    next_attempt_at: AwareDatetime | None = Field(
        default=None, description="When the next attempt is due (pending, uploading, failed)."
    )
    last_error: str | None = Field(
        default=None, description="Why the last attempt failed (never the file's content)."
    )
    sent_at: AwareDatetime | None = Field(
        default=None, description="When the complete file got its final remote name."
    )
    released_at: AwareDatetime
    updated_at: AwareDatetime

    @property
    def key(self) -> str:
        return transmission_key(self.receiver_id, self.transaction, self.interchange)


class DeliveryFailed(Versioned):
    """A transmission that could not be put into its partner's mailbox after its
    retries, or was refused outright (a changed host key, a wrong credential, a remote
    name taken by another file): work queue ``partners.delivery-failed`` (key
    ``<receiver_id>|<interchange>``, ``<receiver_id>|270|<interchange>`` for a 270;
    a tombstone once the file was uploaded).  The mailbox worker keeps trying at the
    longest back-off meanwhile."""

    event_type: Literal["partner.delivery-failed"] = "partner.delivery-failed"
    transaction: Transmission = Field(default="837", description="What the file carries.")
    receiver_id: Identifier
    interchange: int = Field(ge=1)
    file_name: str
    reason: Literal["retries-exhausted", "host-key-changed", "refused", "too-old"]
    message: str
    attempts: int = Field(ge=0)
    raised_at: AwareDatetime


class ClaimChangesWaiting(Versioned):
    """Changes to a sent claim (a late visit, a correction, a void) that still wait for
    the payer's claim number after ``CLAIMS_CLAIMS_REPLACE_AFTER_DAYS``: someone must
    find the claim at the payer (``claims.changes-waiting``, key: the patient control
    number; a tombstone when they were sent)."""

    event_type: Literal["claim.changes-waiting"] = "claim.changes-waiting"
    patient_control_number: str
    receiver_id: Identifier
    clinic_id: Identifier
    payer_id: Identifier
    changes: list[str] = Field(description="What waits: each change's action and reason.")
    waiting_since: AwareDatetime
    message: str
    raised_at: AwareDatetime


class _ClaimCommandBase(Versioned):
    """What every instruction about a claim carries (``claims.commands``, key: the
    receiver).  One model per ``action`` (:data:`ClaimCommand`), so a command that
    lacks what its action needs is refused by the contract, naming the field.

    Messages written before the split carried every field of every action, unused
    ones as ``null``; :func:`parse_claim_command` still reads them (a value in a
    field the action does not have is refused).
    """

    event_type: Literal["claim.command"] = "claim.command"
    patient_control_number: str
    receiver_id: Identifier
    reason: str | None = None
    requested_by: str | None = None
    requested_at: AwareDatetime


class VoidClaim(_ClaimCommandBase):
    """Void a submitted claim (frequency 8), or close a rejected one without sending."""

    action: Literal["void"]


class _LineEdits(_ClaimCommandBase):
    line_units: dict[int, int] | None = Field(
        default=None, description="New units per line number (0 removes the line)."
    )
    diagnosis_codes: Annotated[list[str] | None, PHI] = Field(
        default=None, description="New diagnoses."
    )


class CorrectClaim(_LineEdits):
    """Replace a submitted claim (frequency 7) with edited units or diagnoses; for a
    claim the front door rejected, resend it as a new original with the edits."""

    action: Literal["correct"]


class ResendClaim(_LineEdits):
    """Send again, as a new original, a claim the payer's front door rejected."""

    action: Literal["resend"]


class RecordPayerClaimNumber(_ClaimCommandBase):
    """The payer's claim number (CLP07) learned from an 835: waiting changes may go."""

    action: Literal["payer-claim-number"]
    payer_claim_number: Annotated[str, StringConstraints(min_length=1, max_length=50)]


class RequestSecondary(_ClaimCommandBase):
    """Build the secondary claim from the primary payer's answer."""

    action: Literal["secondary"]
    remittance: ClaimPayment = Field(description="The primary payer's answer (835 claim payment).")
    paid_on: date = Field(description="The payment date.")


class SubmitClaim(_ClaimCommandBase):
    """A claim built elsewhere (a secondary claim) joins its receiver's batch."""

    action: Literal["submit"]
    claim: Claim


class InquireClaimStatus(_ClaimCommandBase):
    """Ask the payer where a sent claim stands: a 276 for it, written by the claims
    stage to ``<outbox>/276/`` (``claims claim status PCN``)."""

    action: Literal["status"]


#: An instruction about a claim, one model per action.
ClaimCommand = Annotated[
    VoidClaim
    | CorrectClaim
    | ResendClaim
    | RecordPayerClaimNumber
    | RequestSecondary
    | SubmitClaim
    | InquireClaimStatus,
    Discriminator("action"),
]
CLAIM_COMMAND: TypeAdapter[ClaimCommand] = TypeAdapter(ClaimCommand)
_BY_ACTION: dict[str, type[_ClaimCommandBase]] = {
    "void": VoidClaim,
    "correct": CorrectClaim,
    "resend": ResendClaim,
    "payer-claim-number": RecordPayerClaimNumber,
    "secondary": RequestSecondary,
    "submit": SubmitClaim,
    "status": InquireClaimStatus,
}


def parse_claim_command(raw: bytes | str) -> ClaimCommand:
    """Validate a claim command.

    Errors of a known action come from its own model, so field paths read
    ``payer_claim_number`` rather than carrying the union's tag.  A command written
    before the split (every action's fields present, the unused ones ``null``) is
    read by dropping those nulls first.
    """
    try:
        return CLAIM_COMMAND.validate_json(raw)
    except ValidationError as exc:
        first = exc
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON: pydantic's error names it
        raise first from None
    action = data.get("action") if isinstance(data, dict) else None
    model = _BY_ACTION.get(action) if isinstance(action, str) else None
    if model is None:
        raise first
    known = model.model_fields
    cleaned = {k: v for k, v in data.items() if v is not None or k in known}
    return cast(ClaimCommand, model.parse_json(json.dumps(cleaned)))


def claim_command(**fields: Any) -> ClaimCommand:
    """Build the current version of the command for ``fields['action']``."""
    model = _BY_ACTION.get(str(fields.get("action")))
    if model is None:
        raise ValueError(f"action: must be one of {sorted(_BY_ACTION)}")
    return cast(ClaimCommand, model.new(**fields))
