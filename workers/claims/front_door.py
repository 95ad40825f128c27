"""Acknowledgements applied to claim records (pure: no Kafka, no clock).

A 999 judges a transaction set we sent (so every claim in it); a 277CA judges
one claim.  Each becomes an :class:`~schemas.acknowledgements.AckNote` on the
claim's record, for the claim *version* it acknowledges, and the record's
front-door status is derived from the notes of its latest version:

    rejected  >  accepted (277CA)  >  received (999)  >  sent

The derivation is a maximum over a set, so it does not depend on the order
the acknowledgements arrive in, and a note whose ``ack_id`` the record already
holds changes nothing: repeated or out-of-order acknowledgements cannot
corrupt the state.  Acknowledgements of an older version are kept for the
record but do not move the latest version's status.

A transition into ``rejected`` produces a :class:`ClaimRejected` (the
rejections work queue); every transition produces a :class:`ClaimFrontDoor`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any

from schemas.acknowledgements import (
    AckKind,
    AckNote,
    AckOutcome,
    ClaimFrontDoor,
    ClaimRejected,
    ClaimStatusReceived,
    FrontDoorStatus,
    InterchangeAcknowledged,
    PayerClaimState,
    PayerStatus,
    RejectionReason,
    StatusInfo,
    TransactionAcknowledged,
)
from schemas.claims import Claim
from schemas.state import ClaimRecord

RANK: dict[FrontDoorStatus, int] = {"sent": 0, "received": 1, "accepted": 2, "rejected": 3}
#: At most this many notes are kept per record (the oldest go first).
MAX_NOTES = 50


@lru_cache(maxsize=1)
def codes() -> dict[str, Any]:
    raw = resources.files("workers.claims").joinpath("data", "acknowledgement_codes.json")
    loaded: dict[str, Any] = json.loads(raw.read_text())
    return loaded


def category_outcome(category: str) -> AckOutcome:
    """What a claim status category means at the front door (unknown: only a status)."""
    entry = codes()["status_categories"].get(category)
    if entry is None:
        return "rejected" if category.startswith("A") and category not in ("A0", "A1") else "status"
    outcome: AckOutcome = entry[0]
    return outcome


def describe_status(status: StatusInfo) -> str:
    table = codes()
    category = table["status_categories"].get(status.category, [None, status.category])[1]
    parts = [category]
    if status.code:
        parts.append(table["status_codes"].get(status.code, f"status code {status.code}"))
    if status.entity:
        parts.append(f"({table['entities'].get(status.entity, 'entity ' + status.entity)})")
    return " - ".join(parts[:2]) + (" " + parts[2] if len(parts) > 2 else "")


def _status_code(status: StatusInfo) -> str:
    return ":".join(p for p in (status.category, status.code, status.entity) if p)


@dataclass(frozen=True)
class Verdict:
    """One acknowledgement's verdict on one claim version."""

    kind: AckKind
    ack_id: str
    claim_id: str
    outcome: AckOutcome
    file_name: str
    received_at: datetime
    reasons: list[RejectionReason] = field(default_factory=list)
    payer_claim_number: str | None = None


def verdict_of_999(ack: TransactionAcknowledged, claim_id: str) -> Verdict:
    """A 999's verdict on a claim in the transaction set it judged (or the whole group)."""
    table = codes()
    reasons: list[RejectionReason] = []
    response = ack.response
    if response is None:
        accepted = ack.group_status in ("A", "E")
        for code in ack.group_error_codes:
            reasons.append(
                RejectionReason(
                    source="999",
                    level="group",
                    code=f"AK9-{code}",
                    text=table["group_errors"].get(code, f"group error {code}"),
                )
            )
    else:
        accepted = response.accepted
        for code in response.error_codes:
            reasons.append(
                RejectionReason(
                    source="999",
                    level="transaction",
                    code=f"IK5-{code}",
                    text=table["transaction_errors"].get(code, f"transaction error {code}"),
                )
            )
        for error in response.segment_errors:
            seg_text = table["segment_errors"].get(error.code or "", "segment error")
            if not error.elements:
                reasons.append(
                    RejectionReason(
                        source="999",
                        level="segment",
                        code=f"IK3-{error.code or '?'}",
                        text=f"{error.segment_id}: {seg_text}",
                        segment_id=error.segment_id,
                        position=error.position,
                    )
                )
            for element in error.elements:
                where = f"{error.segment_id}{element.position.split(':')[0].zfill(2)}"
                reasons.append(
                    RejectionReason(
                        source="999",
                        level="segment",
                        code=f"IK3-{error.code or '?'}/IK4-{element.code}",
                        text=f"{where}: "
                        + table["element_errors"].get(
                            element.code, f"element error {element.code}"
                        ),
                        segment_id=error.segment_id,
                        position=error.position,
                        element=where,
                    )
                )
    if not accepted and not reasons:
        reasons.append(
            RejectionReason(
                source="999",
                level="transaction" if response else "group",
                code=f"IK5-{response.status}" if response else f"AK9-{ack.group_status}",
                text="Rejected by the receiver's syntax check (no error detail given)",
            )
        )
    return Verdict(
        kind="999",
        ack_id=ack.ack_id,
        claim_id=claim_id,
        outcome="received" if accepted else "rejected",
        file_name=ack.source.file_name,
        received_at=ack.source.ingested_at,
        reasons=[] if accepted else reasons,
    )


def verdict_of_ta1(ack: InterchangeAcknowledged, claim_id: str) -> Verdict:
    """A TA1's verdict on a claim in the interchange it judged: ``R`` rejects every
    claim of the file (the receiver took in nothing); ``A``/``E`` only say the
    envelope arrived, which moves no claim's status (a 999 or 277CA will)."""
    if ack.status != "R":
        outcome: AckOutcome = "status"
        reasons: list[RejectionReason] = []
    else:
        outcome = "rejected"
        note = ack.note_code
        reasons = [
            RejectionReason(
                source="TA1",
                level="interchange",
                code=f"TA1-{note}",
                text=codes()["ta1_notes"].get(note, f"interchange note {note}"),
            )
        ]
    return Verdict(
        kind="TA1",
        ack_id=ack.ack_id,
        claim_id=claim_id,
        outcome=outcome,
        file_name=ack.source.file_name,
        received_at=ack.source.ingested_at,
        reasons=reasons,
    )


def verdict_of_277(status: ClaimStatusReceived, claim_id: str) -> Verdict:
    """A 277CA's (or 277's) verdict on one claim: claim-level and line-level statuses."""
    claim = status.claim
    outcomes = [category_outcome(s.category) for s in claim.statuses]
    reasons = [
        RejectionReason(
            source=status.kind,
            level="claim",
            code=_status_code(s),
            text=describe_status(s),
        )
        for s in claim.statuses
        if category_outcome(s.category) == "rejected"
    ]
    for line in claim.lines:
        for s in line.statuses:
            line_outcome = category_outcome(s.category)
            outcomes.append(line_outcome)
            if line_outcome == "rejected":
                reasons.append(
                    RejectionReason(
                        source=status.kind,
                        level="line",
                        code=_status_code(s),
                        text=describe_status(s),
                        line_control_number=line.line_control_number,
                    )
                )
    if status.kind == "277":
        outcome: AckOutcome = "status"  # a status response says nothing of the front door
    elif "rejected" in outcomes:
        outcome = "rejected"
    elif "accepted" in outcomes:
        outcome = "accepted"
    else:
        outcome = "status"
    return Verdict(
        kind=status.kind,
        ack_id=status.ack_id,
        claim_id=claim_id,
        outcome=outcome,
        file_name=status.source.file_name,
        received_at=status.source.ingested_at,
        reasons=reasons if outcome == "rejected" else [],
        payer_claim_number=claim.payer_claim_number,
    )


#: How much each state of a claim at the payer asks of us (the most wins).
_PAYER_STATE_RANK: dict[PayerClaimState, int] = {
    "finalized": 0,
    "pending": 1,
    "information-requested": 2,
    "rejected": 3,
}
#: Acknowledgement categories that return the claim: unprocessable, not found, rejected.
_RETURNED = frozenset({"A3", "A4", "A6", "A7", "A8"})


def payer_state(category: str) -> PayerClaimState:
    """What one status category says of a claim at the payer (005010X212 meanings):
    ``F`` finalized; ``R`` a request for information; ``A3``/``A4``/``A6``/``A7``/``A8``,
    ``E`` (the payer could not answer) and ``D0`` (data search unsuccessful) rejected;
    anything else (``P``, the other ``A`` codes, a category we do not know) pending."""
    if category in _RETURNED or category.startswith("E") or category == "D0":
        return "rejected"
    if category.startswith("R"):
        return "information-requested"
    if category.startswith("F"):
        return "finalized"
    return "pending"


def payer_status_of_277(status: ClaimStatusReceived, now: datetime) -> PayerStatus:
    """A 277 status response's answer about one claim, in words: the state the claim's
    and its lines' statuses say together (the one that asks most of us wins)."""
    claim = status.claim
    statuses = [*claim.statuses, *(s for line in claim.lines for s in line.statuses)]
    state: PayerClaimState = "pending"
    if statuses:
        state = max((payer_state(s.category) for s in statuses), key=_PAYER_STATE_RANK.__getitem__)
    return PayerStatus(
        state=state,
        codes=[_status_code(s) for s in statuses],
        words=[describe_status(s) for s in statuses],
        needs_person=state in ("information-requested", "rejected"),
        ack_id=status.ack_id,
        trace_number=claim.trace_number,
        answered_at=now,
    )


def version_acknowledged(record: ClaimRecord, batch_reference: str | None) -> str:
    """The claim version a 277 is about: the one sent in the file whose BHT03
    (9-digit interchange number + 4-digit transaction number, as the claims stage
    writes it) the 277 echoes in 2200B TRN02; else the latest version."""
    if batch_reference and len(batch_reference) == 13 and batch_reference.isdigit():
        interchange = int(batch_reference[:9])
        for sent in reversed(record.versions):
            if sent.interchange == interchange:
                return sent.claim_id
    return record.versions[-1].claim_id if record.versions else record.patient_control_number


def front_door_of(notes: Sequence[AckNote], claim_id: str) -> FrontDoorStatus:
    """The status of version ``claim_id``: the strongest outcome any note gives it."""
    best: FrontDoorStatus = "sent"
    for note in notes:
        if note.claim_id != claim_id or note.outcome == "status":
            continue
        outcome: FrontDoorStatus = note.outcome
        if RANK[outcome] > RANK[best]:
            best = outcome
    return best


@dataclass
class Applied:
    record: ClaimRecord
    events: list[ClaimFrontDoor | ClaimRejected] = field(default_factory=list)
    duplicate: bool = False


def current_claim(record: ClaimRecord) -> Claim:
    return Claim.parse_json(record.current_json)


def _with_line_numbers(verdict: Verdict, claim: Claim) -> Verdict:
    """Line reasons get our line number from their REF*FJ (REF*6R of the claim)."""
    numbers = {ln.line_control_number: ln.line_number for ln in claim.lines}
    reasons = []
    for reason in verdict.reasons:
        if reason.level == "line" and reason.line_control_number is not None:
            number = numbers.get(reason.line_control_number)
            text = reason.text + ("" if number is not None else " (not a line of this claim)")
            reason = reason.model_copy(update={"line_number": number, "text": text})  # noqa: PLW2901 -- the numbered copy is what gets appended
        reasons.append(reason)
    return replace(verdict, reasons=reasons)


def apply_verdict(record: ClaimRecord, verdict: Verdict, now: datetime) -> Applied:
    """The record after ``verdict``, and what to announce."""
    if any(
        n.ack_id == verdict.ack_id and n.claim_id == verdict.claim_id
        for n in record.acknowledgements
    ):
        return Applied(record, duplicate=True)
    claim = current_claim(record)
    if verdict.claim_id == claim.claim_id:
        verdict = _with_line_numbers(verdict, claim)
    note = AckNote(
        ack_id=verdict.ack_id,
        kind=verdict.kind,
        claim_id=verdict.claim_id,
        outcome=verdict.outcome,
        reasons=verdict.reasons,
        payer_claim_number=verdict.payer_claim_number,
        file_name=verdict.file_name,
        received_at=verdict.received_at,
    )
    notes = [*record.acknowledgements, note][-MAX_NOTES:]
    status = front_door_of(notes, claim.claim_id)
    update: dict[str, Any] = {"acknowledgements": notes}
    events: list[ClaimFrontDoor | ClaimRejected] = []
    if status != record.front_door:
        update["front_door"] = status
        update["front_door_at"] = now
        about = {
            "patient_control_number": record.patient_control_number,
            "claim_id": claim.claim_id,
            "version": claim.version,
            "receiver_id": record.receiver_id,
            "clinic_id": claim.clinic_id,
            "payer_id": claim.payer_id,
            "by": verdict.kind,
            "ack_id": verdict.ack_id,
        }
        events.append(
            ClaimFrontDoor.new(
                **about,
                status=status,
                previous=record.front_door,
                payer_claim_number=verdict.payer_claim_number,
                changed_at=now,
            )
        )
        if status == "rejected":
            reasons = [
                r
                for n in notes
                if n.claim_id == claim.claim_id and n.outcome == "rejected"
                for r in n.reasons
            ]
            events.append(
                ClaimRejected.new(
                    **about,
                    reasons=reasons,
                    message="; ".join(f"{r.code} {r.text}" for r in reasons)[:500],
                    file_name=verdict.file_name,
                    rejected_at=now,
                )
            )
    return Applied(record.model_copy(update=update), events)


def needs_follow_up(record: ClaimRecord, now: datetime, after_days: int) -> bool:
    """Taken in at the front door, no 835 yet, and quiet for ``after_days`` days."""
    if record.status != "submitted" or record.remitted_at is not None:
        return False
    if record.front_door not in ("received", "accepted") or record.front_door_at is None:
        return False
    return now - record.front_door_at >= timedelta(days=after_days)
