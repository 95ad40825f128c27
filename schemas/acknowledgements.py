"""Acknowledgements of the 837 files we send: 999 and 277CA, canonical and on the wire.

Two answers come back from a payer's front door before any 835:

* the **999** implementation acknowledgement (005010X231A1) says whether each
  transaction set of a functional group was syntactically accepted (``IK5``:
  ``A`` accepted, ``E`` accepted with errors, ``R``/``M``/``W``/``X``
  rejected), with the segment (``IK3``) and element (``IK4``) errors;
* the **277CA** claim acknowledgement (005010X214) says, claim by claim, whether
  the claim entered adjudication (status category ``A1``/``A2``) or was
  rejected (``A3``, ``A6``, ``A7``, ``A8``...), with status codes naming what is
  wrong and, where the payer says so, which service line.

A 277 claim *status response* (005010X212, the answer to a 276 inquiry) has the
same shape and is read by the same parser (``kind = "277"``); it reports
adjudication status, not front-door acceptance.

The parsed models (:class:`Ack999`, :class:`ClaimStatusReport`) are what
``claims edi parse-999`` / ``parse-277`` print with ``--json``; the wire events
(:class:`TransactionAcknowledged`, :class:`ClaimStatusReceived`) are what the
ingestion publishes on ``acks.inbound`` (key: the receiver id, so they meet the
claims they acknowledge in the claims processor's partition).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from schemas.base import PHI, Contract, Versioned
from schemas.remittance import Amount

__all__ = [
    "Ack277",
    "Ack999",
    "AckEnvelope",
    "AckKind",
    "AckNote",
    "AckOutcome",
    "AckSource",
    "ClaimFrontDoor",
    "ClaimRejected",
    "ClaimStatus",
    "ClaimStatusReceived",
    "ClaimStatusReport",
    "ElementError",
    "FrontDoorStatus",
    "GroupResponse",
    "LineStatus",
    "RejectionReason",
    "SegmentError",
    "StatusInfo",
    "TransactionAcknowledged",
    "TransactionResponse",
]

#: IK501: A accepted, E accepted but errors noted, M rejected (message authentication
#: code failed), R rejected, W rejected (assurance failed), X rejected (content
#: could not be analysed).
TransactionStatus = Literal["A", "E", "M", "R", "W", "X"]
#: AK901: A accepted, E accepted with errors, P partially accepted, R rejected.
GroupStatus = Literal["A", "E", "M", "P", "R", "W", "X"]
#: Where a claim stands at the payer's front door (for its latest version sent).
FrontDoorStatus = Literal["sent", "received", "accepted", "rejected"]


class AckEnvelope(Contract):
    """Who sent an acknowledgement (their ISA/GS ids are our 837's receiver ids)."""

    isa_sender_qualifier: str
    isa_sender_id: str
    isa_receiver_qualifier: str
    isa_receiver_id: str
    interchange_control_number: str
    gs_sender_code: str
    gs_receiver_code: str
    group_control_number: str
    version: str = Field(description="GS08, e.g. 005010X231A1 or 005010X214.")
    usage: str = Field(description="ISA15: P production, T test.")


class ElementError(Contract):
    """IK4: one element of a segment in error."""

    position: str = Field(description="IK401: element position, ``n`` or ``n:component``.")
    reference: str | None = Field(description="IK402: data element reference number.")
    code: str = Field(description="IK403: implementation data element syntax error code.")


class SegmentError(Contract):
    """IK3 and its IK4s: one segment of the acknowledged transaction set in error."""

    segment_id: str = Field(description="IK301.")
    position: int | None = Field(description="IK302: position in the transaction set (ST = 1).")
    loop_id: str | None = Field(description="IK303.")
    code: str | None = Field(description="IK304: implementation segment syntax error code.")
    elements: list[ElementError] = Field(default_factory=list)


class TransactionResponse(Contract):
    """AK2..IK5: the verdict on one transaction set we sent."""

    transaction_set_id: str = Field(description="AK201, e.g. 837.")
    control_number: str = Field(description="AK202: the ST02 we sent.")
    implementation: str | None = Field(description="AK203, e.g. 005010X222A1.")
    status: TransactionStatus = Field(description="IK501.")
    error_codes: list[str] = Field(default_factory=list, description="IK502..IK506.")
    segment_errors: list[SegmentError] = Field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.status in ("A", "E")


class GroupResponse(Contract):
    """One 999 transaction set: the verdict on one functional group we sent."""

    control_number: str = Field(description="ST02 of the 999.")
    functional_id: str = Field(description="AK101: HC for 837 claims, BE for 834...")
    group_control_number: str = Field(description="AK102: the GS06 we sent.")
    version: str | None = Field(description="AK103.")
    transactions: list[TransactionResponse] = Field(default_factory=list)
    status: GroupStatus = Field(description="AK901.")
    included: int = Field(description="AK902: transaction sets in the group.")
    received: int = Field(description="AK903.")
    accepted: int = Field(description="AK904.")
    error_codes: list[str] = Field(default_factory=list, description="AK905..AK909.")
    envelope: AckEnvelope


class Ack999(Contract):
    """Every 999 transaction set of a file, in file order."""

    groups: list[GroupResponse]
    warnings: list[str] = Field(
        default_factory=list, description="Envelope trailers that were wrong but readable."
    )


class StatusInfo(Contract):
    """One status composite of an STC segment (STC01, STC10 or STC11)."""

    category: str = Field(description="Claim status category code, e.g. A1, A7.")
    code: str | None = Field(description="Claim status code, e.g. 20, 562.")
    entity: str | None = Field(description="Entity identifier the status is about, e.g. 85.")
    effective_date: dt.date | None = Field(description="STC02.")
    action: str | None = Field(description="STC03: WQ accepted, U rejected (277CA).")
    amount: Amount | None = Field(description="STC04: total charge of what the status is about.")
    message: str | None = Field(default=None, description="STC12: free-form text, if any.")


class LineStatus(Contract):
    """2220D: the status of one service line."""

    line_control_number: str | None = Field(description="REF*FJ: our REF*6R.")
    procedure: str | None = Field(description="SVC01-2.")
    charge: Amount | None = Field(description="SVC02.")
    units: Decimal | None = Field(description="SVC07.")
    statuses: list[StatusInfo]
    service_date: Annotated[dt.date | None, PHI]


class ClaimStatus(Contract):
    """2200D: the status of one claim (patient level)."""

    patient_control_number: str | None = Field(
        description="Our CLM01: TRN02 in a 277CA, REF*EJ in a 277 status response."
    )
    trace_number: str | None = Field(description="TRN02 as sent.")
    payer_claim_number: str | None = Field(description="REF*1K.")
    clearinghouse_trace: str | None = Field(default=None, description="REF*D9.")
    billing_provider_npi: str | None = Field(description="2100C NM109 (qualifier XX).")
    statuses: list[StatusInfo]
    service_from: dt.date | None
    service_to: dt.date | None
    lines: list[LineStatus] = Field(default_factory=list)


class ClaimStatusReport(Contract):
    """One 277 transaction set (277CA or 277 status response)."""

    kind: Literal["277CA", "277"]
    control_number: str = Field(description="ST02.")
    implementation: str = Field(description="ST03 / GS08.")
    reference: str = Field(description="BHT03.")
    created: dt.date | None = Field(description="BHT04.")
    payer_name: str | None = Field(description="2100A NM103.")
    payer_id: str | None = Field(description="2100A NM109.")
    source_entity: str | None = Field(
        default=None,
        description="2100A NM101: PR when the payer itself answers, AY for a clearinghouse.",
    )
    receipt_date: dt.date | None = Field(description="2200A DTP*050.")
    process_date: dt.date | None = Field(description="2200A DTP*009.")
    batch_reference: str | None = Field(
        description="2200B TRN02: the BHT03 of the 837 this acknowledges."
    )
    batch_statuses: list[StatusInfo] = Field(default_factory=list, description="2200B STC.")
    provider_statuses: list[StatusInfo] = Field(default_factory=list, description="2200C STC.")
    claims: list[ClaimStatus]
    envelope: AckEnvelope


class Ack277(Contract):
    """Every 277 transaction set of a file, in file order."""

    reports: list[ClaimStatusReport]
    warnings: list[str] = Field(default_factory=list)


class AckSource(Contract):
    file_name: str
    file_sha256: str
    transaction_control_number: str = Field(description="ST02 of the acknowledgement.")
    ingested_at: AwareDatetime


class TransactionAcknowledged(Versioned):
    """One transaction set of ours, as a 999 judged it (``acks.inbound``, key: receiver)."""

    event_type: Literal["ack.999-transaction"] = "ack.999-transaction"
    ack_id: str = Field(description="Stable id: the same 999 delivered twice has the same id.")
    receiver_id: str
    group_control_number: str = Field(description="AK102: our GS06.")
    functional_id: str
    group_status: GroupStatus
    group_error_codes: list[str] = Field(default_factory=list)
    response: TransactionResponse | None = Field(
        description="The AK2 loop; null when the 999 judged only the whole group (AK9)."
    )
    envelope: AckEnvelope
    source: AckSource


class InterchangeAcknowledged(Versioned):
    """One interchange of ours, as a TA1 judged its envelope (``acks.inbound``, key:
    receiver).  ``R`` means the receiver took in nothing of the file."""

    event_type: Literal["ack.ta1-interchange"] = "ack.ta1-interchange"
    ack_id: str
    receiver_id: str
    interchange_control_number: str = Field(description="TA101: our ISA13.")
    status: Literal["A", "E", "R"] = Field(description="TA104.")
    note_code: str = Field(description="TA105, e.g. 000 (no error), 022.")
    envelope: AckEnvelope
    source: AckSource


class ClaimStatusReceived(Versioned):
    """One claim's status from a 277CA or 277 (``acks.inbound``, key: receiver)."""

    event_type: Literal["ack.277-claim"] = "ack.277-claim"
    ack_id: str
    receiver_id: str
    kind: Literal["277CA", "277"]
    batch_reference: str | None
    payer_name: str | None
    payer_id: str | None
    source_entity: str | None = Field(
        default=None,
        description="Who answered (2100A NM101): PR the payer, AY a clearinghouse; a "
        "clearinghouse's REF*1K is its own number, not the payer's claim number.",
    )
    claim: ClaimStatus
    envelope: AckEnvelope
    source: AckSource

    @property
    def payer_claim_number(self) -> str | None:
        """REF*1K when it is the payer's own claim number (the payer answered)."""
        return self.claim.payer_claim_number if self.source_entity == "PR" else None


AckKind = Literal["999", "277CA", "277", "TA1"]
#: What one acknowledgement says of one claim version: received (999 A/E),
#: accepted (277CA A0/A1/A2/A5), rejected, or only a status (277 responses,
#: pending/finalized categories, E-categories).
AckOutcome = Literal["received", "accepted", "rejected", "status"]


class RejectionReason(Contract):
    """Why the front door refused a claim, in words an operator can act on."""

    source: AckKind
    level: Literal["interchange", "group", "transaction", "segment", "claim", "line"]
    code: str = Field(description="e.g. ``A7:562:85`` (277CA) or ``IK3-8/IK4-7`` (999).")
    text: str
    segment_id: str | None = None
    position: int | None = Field(default=None, description="Segment position in our ST..SE.")
    element: str | None = None
    line_control_number: str | None = None
    line_number: int | None = Field(
        default=None, description="Our line the REF*FJ names (null: not a line of this claim)."
    )


class AckNote(Contract):
    """One acknowledgement as applied to a claim record (kept for idempotence and audit)."""

    ack_id: str
    kind: AckKind
    claim_id: str = Field(description="The claim version it acknowledges.")
    outcome: AckOutcome
    reasons: list[RejectionReason] = Field(default_factory=list)
    payer_claim_number: str | None = None
    file_name: str
    received_at: AwareDatetime


class ClaimFrontDoor(Versioned):
    """A claim's front-door status changed (``claims.acknowledged``, key: CLM01)."""

    event_type: Literal["claim.front-door"] = "claim.front-door"
    patient_control_number: str
    claim_id: str
    version: int
    receiver_id: str
    clinic_id: str
    payer_id: str
    status: FrontDoorStatus
    previous: FrontDoorStatus
    by: AckKind
    ack_id: str
    payer_claim_number: str | None = None
    changed_at: AwareDatetime


class ClaimRejected(Versioned):
    """A claim the front door rejected (``claims.rejections``, a work queue; key: CLM01).

    Fix the cause, then ``claims claim resend PCN`` sends it again as a new
    original (frequency 1) with the same CLM01.
    """

    event_type: Literal["claim.rejected"] = "claim.rejected"
    patient_control_number: str
    claim_id: str
    version: int
    receiver_id: str
    clinic_id: str
    payer_id: str
    by: AckKind
    ack_id: str
    reasons: list[RejectionReason]
    message: str = Field(description="The reasons in one line.")
    file_name: str = Field(description="The acknowledgement file.")
    rejected_at: AwareDatetime


def parse_ack(
    raw: bytes,
) -> TransactionAcknowledged | ClaimStatusReceived | InterchangeAcknowledged:
    """A message of ``acks.inbound``: a 999 transaction verdict, a 277 claim status or
    a TA1 interchange verdict (told apart by ``event_type``)."""
    if b'"ack.999-transaction"' in raw:
        return TransactionAcknowledged.parse_json(raw)
    if b'"ack.ta1-interchange"' in raw:
        return InterchangeAcknowledged.parse_json(raw)
    return ClaimStatusReceived.parse_json(raw)


#: Where a claim stands at the payer, by the latest 277 status response: still
#: being processed (P, and A0/A1/A2/A5), finished (F), waiting for us (R: a request
#: for information), or refused (A3/A4/A6/A7/A8 returned, not found or rejected;
#: E and D0: the payer could not answer the inquiry).
PayerClaimState = Literal["pending", "finalized", "information-requested", "rejected"]


class PayerStatus(Contract):
    """What the latest 277 status response said of a claim, in words."""

    state: PayerClaimState
    codes: list[str] = Field(description="Each STC as category:status[:entity], claim first.")
    words: list[str] = Field(description="The same statuses in words, in the same order.")
    needs_person: bool = Field(description="Whether someone must act (claims.status-attention).")
    ack_id: str
    trace_number: str | None = Field(default=None, description="TRN02: our 276's trace.")
    answered_at: AwareDatetime


class ClaimStatusAttention(Versioned):
    """A 277 status response someone must act on: the payer asks for information, did
    not find the claim, or rejected it (``claims.status-attention``, key: CLM01; a
    tombstone when a later 277 or an 835 settles it)."""

    event_type: Literal["claim.status-attention"] = "claim.status-attention"
    patient_control_number: str
    receiver_id: str
    clinic_id: str
    payer_id: str
    state: PayerClaimState
    codes: list[str]
    message: str
    ack_id: str
    raised_at: AwareDatetime
