"""What goes into one 837 file, and what releasing it changes (pure).

A due batch (the pending entries of one billing provider and receiver) becomes
a file in three pure steps around the two things only the processor can do
(wait for the validation gate, write the file):

1. :func:`assemble`: entries are grouped into claims -- the sessions of one
   claim identity together, each new version (a replacement, void, resend or
   secondary claim) alone -- and a claim whose data cannot be assembled is
   refused.  Only one version of a patient control number goes in a file: a
   later version waits for the next file.
2. :func:`render`: the file is rendered once with the reserved control numbers;
   only when that fails is each claim rendered alone, so a claim that cannot be
   rendered is refused on its own and the others still go.
3. :func:`released`: after the gate passed and the file is written, the claim
   records, the session index, the transmission and the announcements.

A refused entry is dead-lettered by the processor with the reason given here
(``render-failed``, ``validation-failed``) and leaves the pending table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from edi.segments import X12Error
from edi.x837p import render_837p
from schemas.billing import BillableSession
from schemas.claims import Claim, ControlNumbers, RenderedFile, TradingPartner
from schemas.state import ClaimRecord, ClaimVersionSent, PendingEntry, Transmission
from schemas.submission import AttachmentDue, ClaimSubmitted, FileReleased
from workers.claims import batching
from workers.claims.assemble import UnbillableDay, assemble_claim
from workers.claims.claimed import claimed_sessions
from workers.runtime.codec import compact_json

Entry = tuple[str, PendingEntry]
#: The dummy numbers a claim is trial-rendered with (the file's are reserved once).
_TRIAL_NUMBERS = batching.reserve(0)[0]


@dataclass(frozen=True)
class Candidate:
    """One claim for the file and the pending entries it is made of."""

    claim: Claim
    members: list[Entry]


@dataclass(frozen=True)
class Refusal:
    """A pending entry that will not be sent, and why (for its dead letter)."""

    key: str
    entry: PendingEntry
    reason: str
    message: str


@dataclass(frozen=True)
class Unbillable:
    """The pending entries of a day whose visits together earn no billable unit:
    their sessions are rejected ``no-billable-units``."""

    members: list[Entry]
    message: str


@dataclass
class Assembled:
    candidates: list[Candidate] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    unbillable: list[Unbillable] = field(default_factory=list)


@dataclass
class FilePlan:
    """The file to check and write (``file`` None: nothing left to send)."""

    numbers: ControlNumbers
    file: RenderedFile | None
    claims: list[Candidate]
    refused: list[Refusal]
    #: False when the whole batch did not render at once (some claim was isolated)
    whole: bool


@dataclass
class Release:
    """What a written file changes: records to store, the session index, the
    transmission, and what to announce."""

    file_name: str
    records: list[ClaimRecord]
    sessions: dict[str, str]
    transmission: Transmission
    submitted: list[ClaimSubmitted]
    file: FileReleased
    released_keys: list[str]


def _refuse(members: Iterable[Entry], reason: str, message: str) -> list[Refusal]:
    return [Refusal(key, entry, reason, message) for key, entry in members]


def assemble(
    entries: Sequence[Entry],
    billable_of: Callable[[str, PendingEntry], BillableSession],
) -> Assembled:
    """Group a batch's entries into claims (see the module's step 1)."""
    groups: dict[str, list[Entry]] = {}
    for key, entry in entries:
        ident = entry.claim_identity if entry.kind == "session" else f"v:{key}"
        groups.setdefault(ident, []).append((key, entry))
    out = Assembled()
    in_file: set[str] = set()
    for members in groups.values():
        first = members[0][1]
        try:
            if first.kind == "version":
                claim = Claim.parse_json(first.claim_json or "")
            else:
                claim = assemble_claim([billable_of(k, e) for k, e in members])
        except UnbillableDay as exc:
            out.unbillable.append(Unbillable(members, str(exc)))
            continue
        except ValueError as exc:
            out.refused += _refuse(members, "render-failed", f"claim cannot be assembled: {exc}")
            continue
        if claim.patient_control_number in in_file:
            continue  # a later version of a claim in this file waits for the next file
        in_file.add(claim.patient_control_number)
        out.candidates.append(Candidate(claim, members))
    return out


def render(
    assembled: Assembled, partner: TradingPartner, numbers: ControlNumbers, now: datetime
) -> FilePlan:
    """Render the file (see the module's step 2)."""
    refused = list(assembled.refused)
    candidates = assembled.candidates
    if not candidates:
        return FilePlan(numbers, None, [], refused, whole=True)
    try:
        whole = render_837p([c.claim for c in candidates], partner, numbers, now)
        return FilePlan(numbers, whole, list(candidates), refused, whole=True)
    except (X12Error, ValueError):
        pass
    renderable: list[Candidate] = []
    for candidate in candidates:
        try:
            render_837p([candidate.claim], partner, _TRIAL_NUMBERS, now)
        except (X12Error, ValueError) as exc:
            why = f"claim {candidate.claim.claim_id} cannot be rendered: {exc}"
            refused += _refuse(candidate.members, "render-failed", why)
            continue
        renderable.append(candidate)
    if not renderable:
        return FilePlan(numbers, None, [], refused, whole=False)
    try:
        rendered = render_837p([c.claim for c in renderable], partner, numbers, now)
    except (X12Error, ValueError) as exc:  # each rendered alone: a defect if it happens
        for candidate in renderable:
            why = f"file cannot be rendered: {exc}"
            refused += _refuse(candidate.members, "render-failed", why)
        return FilePlan(numbers, None, [], refused, whole=False)
    return FilePlan(numbers, rendered, renderable, refused, whole=False)


def refused_by_gate(plan: FilePlan, findings: Sequence[str]) -> list[Refusal]:
    """Every entry of a file the validation gate refused (nothing of it is written)."""
    why = "837P validation failed: " + "; ".join(findings[:10])
    return [r for c in plan.claims for r in _refuse(c.members, "validation-failed", why)]


def file_name(partner: TradingPartner, numbers: ControlNumbers, now: datetime) -> str:
    """``<ISA sender>_<ISA receiver>_<interchange>_<UTC stamp>.x12``, without blanks."""
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    name = (
        f"{partner.isa_sender_id.strip()}_{partner.isa_receiver_id.strip()}_"
        f"{numbers.interchange:09d}_{stamp}.x12"
    )
    return name.replace(" ", "")


def _record_after(
    record: ClaimRecord | None, candidate: Candidate, sent: ClaimVersionSent, now: datetime
) -> ClaimRecord:
    claim = candidate.claim
    if record is None:
        return ClaimRecord.new(
            patient_control_number=claim.patient_control_number,
            receiver_id=claim.receiver_id,
            claim_identity=candidate.members[0][1].claim_identity,
            status="submitted",
            current_json=compact_json(claim),
            sources_json=[
                e.source_json for _, e in candidate.members if e.source_json and e.kind == "session"
            ],
            session_keys=list(claim.session_keys),
            versions=[sent],
            front_door_at=now,
        )
    return record.model_copy(
        update={
            "current_json": compact_json(claim),
            "session_keys": claimed_sessions(record, claim.session_keys),
            "versions": [*record.versions, sent],
            "status": "voided" if claim.frequency == "8" else "submitted",
            "front_door": "sent",
            "front_door_at": now,
        }
    )


def released(
    plan: FilePlan,
    partner: TradingPartner,
    *,
    name: str,
    path: Path,
    data: bytes,
    digest: str,
    validated: bool,
    record_of: Callable[[str], ClaimRecord | None],
    now: datetime,
) -> Release:
    """What the written file ``name`` changes (see the module's step 3)."""
    assert plan.file is not None
    numbers = plan.numbers
    records: list[ClaimRecord] = []
    sessions: dict[str, str] = {}
    submitted: list[ClaimSubmitted] = []
    for candidate in plan.claims:
        claim = candidate.claim
        sent = ClaimVersionSent(
            claim_id=claim.claim_id,
            frequency=claim.frequency,
            file_name=name,
            interchange=numbers.interchange,
            sent_at=now,
        )
        records.append(_record_after(record_of(claim.patient_control_number), candidate, sent, now))
        if claim.primary_claim is None:  # a secondary follows its primary's sessions
            sessions.update(dict.fromkeys(claim.session_keys, claim.patient_control_number))
        submitted.append(
            ClaimSubmitted.of(claim, file_name=name, control_numbers=numbers, submitted_at=now)
        )
    claims = [c.claim for c in plan.claims]
    return Release(
        file_name=name,
        records=records,
        sessions=sessions,
        transmission=Transmission.new(
            receiver_id=partner.receiver_id,
            file_name=name,
            interchange=numbers.interchange,
            claims={c.patient_control_number: c.claim_id for c in claims},
            sent_at=now,
        ),
        submitted=submitted,
        file=FileReleased.new(
            file_name=name,
            path=str(path),
            receiver_id=partner.receiver_id,
            billing_provider_npi=claims[0].billing_provider.npi,
            usage=partner.usage,
            control_numbers=numbers,
            claim_count=len(claims),
            claim_ids=[c.claim_id for c in claims],
            size_bytes=len(data),
            sha256=digest,
            validated=validated,
            transliterations=plan.file.transliterations,
            released_at=now,
        ),
        released_keys=[k for c in plan.claims for k, _ in c.members],
    )


def attachments_due(submitted: list[ClaimSubmitted], now: datetime) -> list[AttachmentDue]:
    """The documents the sent claims announced (PWK with a control number): each is a
    work item until someone records that it was sent."""
    return [
        AttachmentDue.new(
            control_number=a.control_number,
            patient_control_number=e.patient_control_number,
            claim_id=e.claim_id,
            clinic_id=e.clinic_id,
            payer_id=e.payer_id,
            report_type=a.report_type,
            transmission=a.transmission,
            raised_at=now,
        )
        for e in submitted
        for a in e.claim.attachments
        if a.control_number is not None
    ]
