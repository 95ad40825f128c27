"""The life of a claim record after its sessions arrive (pure).

Each function takes what the claims stage knows about one claim (its record,
whether an entry is already pending) and one input -- a billable session, a
withdrawal, an operator's or the reconciliation's command, a 999 or a 277 --
and returns a :class:`Step`: the records to store, the pending entries to add
or drop, the session index, the commands and front-door events to send, and
the outcomes to count.  Nothing here reads a clock, a table or a topic; the
processor passes ``now`` and read-only lookups, applies the step and routes
what it produced.

An input that cannot apply raises :class:`Refused` (its reason and message name
the rule, never a value), which the processor dead-letters.

Changes to a claim already sent (a void, a correction, or a session added to
its date of service) need the payer's claim number for REF*F8: they wait on the
record, in order, until an 835 tells it (:func:`record_payer_claim_number`),
and then each becomes the claim's next version.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from schemas.acknowledgements import (
    ClaimFrontDoor,
    ClaimRejected,
    ClaimStatusAttention,
    ClaimStatusReceived,
    InterchangeAcknowledged,
    TransactionAcknowledged,
)
from schemas.billing import BillableSession, ChargesWithdrawn
from schemas.calendar import day_closes
from schemas.claims import Claim
from schemas.state import ClaimRecord, PendingChange, PendingEntry, SourceRef, Transmission
from schemas.submission import (
    ClaimChangesWaiting,
    ClaimCommand,
    CorrectClaim,
    InquireClaimStatus,
    RecordPayerClaimNumber,
    RequestSecondary,
    ResendClaim,
    SubmitClaim,
    VoidClaim,
    claim_command,
)
from workers.claims import front_door
from workers.claims.assemble import claim_identity, patient_control_number
from workers.claims.changes import ChangeRefused, apply_change, ready_changes, resend_version
from workers.claims.claimed import claimed_sessions
from workers.claims.secondary import SecondaryRefused, secondary_claim
from workers.runtime.codec import compact_json


@dataclass(frozen=True)
class Policy:
    """The claims stage's timing rules (from settings)."""

    #: how long a day of service stays open after the clinic's midnight
    day_grace: timedelta = timedelta(hours=72)
    #: how long a change may wait for the payer's claim number before it is a work item
    replace_after: timedelta = timedelta(days=30)
    #: a claim taken in with no 835 this long gets a 276 claim status inquiry ...
    follow_up: timedelta = timedelta(days=30)
    #: ... and another one this often while it still has none
    status_every: timedelta = timedelta(days=14)


class Refused(Exception):
    """The input cannot apply to the claim; ``reason`` is the dead letter's reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Note:
    """A line for the log (fields carry ids and counts, never PHI)."""

    level: Literal["info", "warning", "error"]
    event: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Source:
    """The message an input came in (kept on what it produces, to dead-letter it later)."""

    json: str | None
    ref: SourceRef | None


@dataclass
class Step:
    """What handling one input changes and produces."""

    records: list[ClaimRecord] = field(default_factory=list)
    pending: list[tuple[str, PendingEntry, BillableSession | None]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    sessions: dict[str, str] = field(default_factory=dict)
    commands: list[ClaimCommand] = field(default_factory=list)
    events: list[ClaimFrontDoor | ClaimRejected] = field(default_factory=list)
    #: rejected claims closed without sending (resolved on the rejections queue)
    closed: list[str] = field(default_factory=list)
    #: changes overdue for the payer's claim number (claims.changes-waiting) ...
    overdue: list[ClaimChangesWaiting] = field(default_factory=list)
    #: ... and claims whose overdue changes have now left (a tombstone there)
    overdue_resolved: list[str] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    #: 277 status responses someone must act on (claims.status-attention) ...
    status_attention: list[ClaimStatusAttention] = field(default_factory=list)
    #: ... and claims whose item a later 277 or an 835 settled (a tombstone there)
    status_settled: list[str] = field(default_factory=list)
    #: claims to ask their payer about now (a 276)
    inquire: list[ClaimRecord] = field(default_factory=list)
    #: batches (receiver, billing provider NPI) to check for release now
    release: list[tuple[str, str]] = field(default_factory=list)
    #: check every batch of this receiver for release now
    release_receiver: str | None = None

    def add(self, other: Step) -> Step:
        """Merge ``other`` (a step taken on the result of this one) into this one."""
        self.records += other.records
        self.pending += other.pending
        self.dropped += other.dropped
        self.sessions.update(other.sessions)
        self.commands += other.commands
        self.events += other.events
        self.closed += other.closed
        self.overdue += other.overdue
        self.overdue_resolved += other.overdue_resolved
        self.status_attention += other.status_attention
        self.status_settled += other.status_settled
        self.inquire += other.inquire
        self.outcomes += other.outcomes
        self.notes += other.notes
        self.release += other.release
        self.release_receiver = self.release_receiver or other.release_receiver
        return self


def pending_key(receiver_id: str, batch_key: str, entry_id: str) -> str:
    """Key of a pending entry: ``<receiver>|<billing provider NPI>|<session key or claim id>``."""
    return f"{receiver_id}|{batch_key}|{entry_id}"


@dataclass(frozen=True)
class Placement:
    """Where a billable session belongs: its claim and its pending entry."""

    identity: str
    pcn: str
    batch_key: str
    entry_key: str


def placement(billable: BillableSession) -> Placement:
    identity = claim_identity(billable)
    batch_key = billable.enriched.clinic.npi
    return Placement(
        identity=identity,
        pcn=patient_control_number(billable.enriched.clinic, identity),
        batch_key=batch_key,
        entry_key=pending_key(billable.receiver_id or "", batch_key, billable.session_key),
    )


# --- sessions --------------------------------------------------------------------


def kept_copy(billable: BillableSession) -> str:
    """The billable session as the stage keeps it (its pending entry, then its
    claim's source): without the units stage's lines and dropped services, since a
    claim prices its whole day again from the enriched sessions
    (:func:`workers.claims.assemble.price_claim_day`), and without the fields at
    their default.  Read back, it is the message with ``lines`` and ``dropped``
    empty; where it came from stays on the entry (``source_ref``)."""
    return compact_json(billable.model_copy(update={"lines": [], "dropped": []}))


def charges_arrived(
    billable: BillableSession,
    source: Source,
    *,
    record: ClaimRecord | None,
    seen: bool,
    policy: Policy,
    now: datetime,
) -> Step:
    """A billable session for a payer: a new pending entry of its day (released when
    the day closes), or, when the day's claim was already sent, a replacement of
    that claim with the day priced again.  ``seen``: the session is pending or
    claimed already (a redelivery or a re-sent session)."""
    if seen:
        ignored = Note("info", "duplicate billable session ignored")
        return Step(outcomes=["duplicate"], notes=[ignored])
    where = placement(billable)
    source = Source(kept_copy(billable), source.ref)
    if record is not None:  # a late visit: its day's claim was sent already
        record = record.model_copy(
            update={
                "sources_json": [*record.sources_json, source.json or ""],
                "session_keys": claimed_sessions(record, [billable.session_key]),
            }
        )
        change = PendingChange(
            action="correct",
            reassemble=True,
            reason="visit added to the claim's day of service",
            source_json=source.json,
            source_ref=source.ref,
            requested_at=now,
        )
        step = request_change(record, change, now)
        step.sessions[billable.session_key] = where.pcn
        step.outcomes.append("late-visit")
        late = Note("info", "late visit: the day's claim will be replaced", {"pcn": where.pcn})
        step.notes.append(late)
        return step
    assert billable.receiver_id is not None  # the processor routes only payer sessions here
    entry = PendingEntry.new(
        receiver_id=billable.receiver_id,
        batch_key=where.batch_key,
        claim_identity=where.identity,
        kind="session",
        source_json=source.json,
        source_ref=source.ref,
        received_at=now,
        release_at=day_closes(
            billable.date_of_service, billable.enriched.clinic.zone, policy.day_grace
        ),
    )
    return Step(
        pending=[(where.entry_key, entry, billable)],
        outcomes=["claim-pending"],
        release=[(billable.receiver_id, where.batch_key)],
    )


def charges_withdrawn(
    event: ChargesWithdrawn,
    source: Source,
    *,
    pending: str | None,
    record: ClaimRecord | None,
    now: datetime,
) -> Step:
    """A session withdrawn by its clinic: dropped while pending; once its day's claim
    was sent, the claim is replaced by the day without it (voided when nothing of
    the day is left)."""
    if pending is not None:
        return Step(
            dropped=[pending],
            outcomes=["withdrawn-before-claim"],
            notes=[Note("info", "session withdrawn before it was claimed")],
        )
    if record is None or record.status == "voided":
        return Step()
    keep = [s for s in record.sources_json if _session_key(s) != event.session_key]
    if keep and len(keep) < len(record.sources_json):
        record = record.model_copy(update={"sources_json": keep})
        change = PendingChange(
            action="correct",
            reassemble=True,
            reason="visit withdrawn by the clinic",
            source_json=source.json,
            source_ref=source.ref,
            requested_at=now,
        )
        outcome, note = "replacement-requested", "replacement requested without a withdrawn visit"
    else:
        change = PendingChange(
            action="void",
            reason="session cancelled by the clinic",
            source_json=source.json,
            source_ref=source.ref,
            requested_at=now,
        )
        outcome, note = "void-requested", "void requested for a claimed session"
    step = request_change(record, change, now)
    step.outcomes.append(outcome)
    step.notes.append(Note("info", note, {"pcn": record.patient_control_number}))
    return step


def _session_key(source_json: str) -> str | None:
    try:
        return BillableSession.parse_json(source_json).session_key
    except ValueError:
        return None


# --- changes to claims sent --------------------------------------------------------


def queue_changes(record: ClaimRecord, now: datetime) -> Step:
    """Turn the record's waiting changes that may go (:func:`ready_changes`) into
    pending versions (a change that cannot apply is refused with a warning)."""
    changes = ready_changes(record)
    if not changes:
        return Step(records=[record])
    assert record.payer_claim_number is not None
    current = Claim.parse_json(record.current_json)
    sources = [BillableSession.parse_json(s) for s in record.sources_json]
    step = Step()
    for change in changes:
        try:
            version = apply_change(current, change, record.payer_claim_number, sources)
        except ChangeRefused as exc:
            fields = {"pcn": record.patient_control_number, "reason": str(exc)}
            step.notes.append(Note("warning", "claim change refused", fields))
            continue
        entry = _version_entry(record, version, Source(change.source_json, change.source_ref), now)
        step.pending.append((_version_key(entry, version), entry, None))
        current = version
    left = record.waiting[len(changes) :]
    update: dict[str, object] = {"waiting": left}
    if not left and record.changes_overdue_at is not None:  # the overdue item is resolved
        step.overdue_resolved.append(record.patient_control_number)
        update["changes_overdue_at"] = None
    step.records.append(record.model_copy(update=update))
    return step


def overdue_changes(record: ClaimRecord, policy: Policy, now: datetime) -> Step:
    """Changes that have waited for the payer's claim number longer than the
    replacement period become one work item (once; resolved when they leave)."""
    if not record.waiting or record.remitted_at or record.changes_overdue_at:
        return Step()
    since = min(c.requested_at for c in record.waiting)
    if now - since < policy.replace_after:
        return Step()
    claim = Claim.parse_json(record.current_json)
    days = (now - since).days
    item = ClaimChangesWaiting.new(
        patient_control_number=record.patient_control_number,
        receiver_id=record.receiver_id,
        clinic_id=claim.clinic_id,
        payer_id=claim.payer_id,
        changes=[f"{c.action}: {c.reason or 'no reason given'}" for c in record.waiting],
        waiting_since=since,
        message=f"{len(record.waiting)} change(s) have waited {days} days for the payer's "
        "claim number (no 835 for the claim): find the claim at the payer (claim status, "
        "or a call), then enter its number with `claims claim payer-number`",
        raised_at=now,
    )
    return Step(
        records=[record.model_copy(update={"changes_overdue_at": now})],
        overdue=[item],
        outcomes=["changes-overdue"],
        notes=[Note("warning", "changes overdue for the payer's claim number",
                    {"pcn": record.patient_control_number, "days": days})],
    )


def request_change(record: ClaimRecord, change: PendingChange, now: datetime) -> Step:
    """Add a change to the record's queue (sent at once if the payer's number is known)."""
    waiting = record.model_copy(update={"waiting": [*record.waiting, change]})
    return queue_changes(waiting, now)


def record_payer_claim_number(
    record: ClaimRecord, command: RecordPayerClaimNumber, now: datetime
) -> Step:
    update: dict[str, object] = {
        "payer_claim_number": command.payer_claim_number,
        "remitted_at": record.remitted_at or now,
    }
    settled = record.status_attention_at is not None  # the 835 answers the status item
    if settled:
        update["status_attention_at"] = None
    step = queue_changes(record.model_copy(update=update), now)
    if settled:
        step.status_settled.append(record.patient_control_number)
        step.outcomes.append("status-attention-settled")
    return step


def _version_entry(
    record: ClaimRecord, version: Claim, source: Source, now: datetime
) -> PendingEntry:
    return PendingEntry.new(
        receiver_id=record.receiver_id,
        batch_key=version.billing_provider.npi,
        claim_identity=record.claim_identity,
        kind="version",
        claim_json=compact_json(version),
        source_json=source.json,
        source_ref=source.ref,
        received_at=now,
    )


def _version_key(entry: PendingEntry, version: Claim) -> str:
    return pending_key(entry.receiver_id, entry.batch_key, version.claim_id)


# --- commands ----------------------------------------------------------------------


def on_command(
    command: ClaimCommand,
    source: Source,
    *,
    record_of: Callable[[str], ClaimRecord | None],
    pending_exists: Callable[[str], bool],
    now: datetime,
) -> Step:
    """Apply an operator's or the reconciliation's command to its claim."""
    if isinstance(command, SubmitClaim):
        return submit(command, source, record_of=record_of, pending_exists=pending_exists, now=now)
    record = record_of(command.patient_control_number)
    if record is None:
        raise Refused(
            "unknown-claim",
            "no submitted claim has this patient control number in this receiver's partition",
        )
    if isinstance(command, RequestSecondary):
        return request_secondary(record, command, now)
    if isinstance(command, InquireClaimStatus):
        return inquire_on_demand(record)
    if isinstance(command, RecordPayerClaimNumber):
        step = record_payer_claim_number(record, command, now)
    elif isinstance(command, ResendClaim) or record.front_door == "rejected":
        step = resend_rejected(record, command, source, pending_exists=pending_exists, now=now)
        if step.closed:
            return step
    else:
        assert isinstance(command, VoidClaim | CorrectClaim)
        change = PendingChange(
            action=command.action,
            reason=command.reason,
            line_units=getattr(command, "line_units", None),
            diagnosis_codes=getattr(command, "diagnosis_codes", None),
            source_json=source.json,
            source_ref=source.ref,
            requested_at=now,
        )
        step = request_change(record, change, now)
    step.release_receiver = record.receiver_id
    return step


def submit(
    command: SubmitClaim,
    source: Source,
    *,
    record_of: Callable[[str], ClaimRecord | None],
    pending_exists: Callable[[str], bool],
    now: datetime,
) -> Step:
    """A claim built elsewhere (a secondary claim) joins its receiver's batch."""
    claim = command.claim
    if claim.receiver_id != command.receiver_id:
        raise Refused("schema-invalid", "claim: must be for the command's receiver")
    entry = PendingEntry.new(
        receiver_id=claim.receiver_id,
        batch_key=claim.billing_provider.npi,
        claim_identity=f"secondary:{claim.patient_control_number}",
        kind="version",
        claim_json=compact_json(claim),
        source_json=source.json,
        source_ref=source.ref,
        received_at=now,
    )
    key = _version_key(entry, claim)
    if record_of(claim.patient_control_number) is not None or pending_exists(key):
        return Step(outcomes=["duplicate"])
    return Step(
        pending=[(key, entry, None)],
        outcomes=["claim-pending"],
        release=[(claim.receiver_id, entry.batch_key)],
    )


def request_secondary(record: ClaimRecord, command: RequestSecondary, now: datetime) -> Step:
    """Build the secondary claim from the primary's answer; it goes to the partition
    of the next payer's receiver as a ``submit`` command."""
    if record.secondary_pcn is not None:
        return Step(outcomes=["duplicate"])  # built already
    primary = Claim.parse_json(record.current_json)
    sources = [BillableSession.parse_json(x) for x in record.sources_json]
    try:
        claim = secondary_claim(primary, sources, command.remittance, command.paid_on)
    except SecondaryRefused as exc:
        raise Refused("secondary-refused", str(exc)) from None
    submit_command = claim_command(
        action="submit",
        patient_control_number=claim.patient_control_number,
        receiver_id=claim.receiver_id,
        claim=claim,
        requested_by="claims",
        requested_at=now,
    )
    fields = {
        "pcn": claim.patient_control_number,
        "primary": record.patient_control_number,
        "receiver": claim.receiver_id,
    }
    return Step(
        records=[record.model_copy(update={"secondary_pcn": claim.patient_control_number})],
        commands=[submit_command],
        outcomes=["secondary-claim-built"],
        notes=[Note("info", "secondary claim built", fields)],
    )


def resend_rejected(
    record: ClaimRecord,
    command: ClaimCommand,
    source: Source,
    *,
    pending_exists: Callable[[str], bool],
    now: datetime,
) -> Step:
    """A claim the front door rejected goes again as a new original (frequency 1);
    voiding it only closes it here (the payer never took it in)."""
    pcn = record.patient_control_number
    if record.front_door != "rejected":
        raise Refused(
            "not-rejected",
            f"claim is {record.front_door} at the front door: only a rejected claim is "
            "resent (use correct or void for a claim the payer took in)",
        )
    if isinstance(command, VoidClaim):
        return Step(
            records=[record.model_copy(update={"status": "voided"})],
            closed=[pcn],
            outcomes=["rejected-claim-closed"],
            notes=[Note("info", "rejected claim closed without sending", {"pcn": pcn})],
        )
    current = Claim.parse_json(record.current_json)
    next_id = f"{current.patient_control_number}-{current.version + 1}"
    if pending_exists(pending_key(record.receiver_id, current.billing_provider.npi, next_id)):
        return Step(outcomes=["duplicate"])  # the resend is already waiting for its batch
    try:
        version = resend_version(
            current,
            getattr(command, "line_units", None),
            getattr(command, "diagnosis_codes", None),
        )
    except ChangeRefused as exc:
        raise Refused("change-refused", str(exc)) from None
    entry = _version_entry(record, version, source, now)
    return Step(
        pending=[(_version_key(entry, version), entry, None)],
        outcomes=["rejected-claim-resent"],
        notes=[Note("info", "rejected claim queued as a new original", {"pcn": pcn})],
    )


# --- the front door: 999 and 277 ---------------------------------------------------


def _apply(record: ClaimRecord, verdict: front_door.Verdict, now: datetime) -> Step:
    applied = front_door.apply_verdict(record, verdict, now)
    if applied.duplicate:
        return Step(outcomes=["acknowledgement-repeated"])
    outcomes = [f"front-door-{e.status}" for e in applied.events if isinstance(e, ClaimFrontDoor)]
    return Step(records=[applied.record], events=list(applied.events), outcomes=outcomes)


def on_999(
    ack: TransactionAcknowledged,
    *,
    transmission_of: Callable[[int], Transmission | None],
    record_of: Callable[[str], ClaimRecord | None],
    now: datetime,
) -> Step:
    """A 999's verdict applied to every claim of the 837 file it acknowledges."""
    if ack.functional_id != "HC":
        raise Refused(
            "not-a-claim-acknowledgement",
            f"the 999 acknowledges a functional group of type {ack.functional_id}, not 837 "
            "claims (HC)",
        )
    number = int(ack.group_control_number) if ack.group_control_number.isdigit() else None
    sent = transmission_of(number) if number is not None else None
    if sent is None:
        raise Refused(
            "unknown-transmission",
            "no 837 file sent to this receiver has the group control number the 999 names "
            "(AK102)",
        )
    response = ack.response
    if response is not None and (
        not response.control_number.isdigit() or int(response.control_number) != number
    ):
        raise Refused(
            "unknown-transmission",
            "the 999's AK202 is not the transaction set control number of the file its "
            "AK102 names",
        )
    return _to_every_claim(
        sent, "999", lambda claim_id: front_door.verdict_of_999(ack, claim_id), record_of, now
    )


def _to_every_claim(
    sent: Transmission,
    kind: str,
    verdict_of: Callable[[str], front_door.Verdict],
    record_of: Callable[[str], ClaimRecord | None],
    now: datetime,
) -> Step:
    """An acknowledgement of a whole 837 file (999, TA1) applied to each of its claims."""
    step = Step()
    for pcn, claim_id in sorted(sent.claims.items()):
        record = record_of(pcn)
        if record is None:  # written with the transmission; absent only if state was lost
            fields = {"pcn": pcn, "claim_id": claim_id}
            step.notes.append(Note("error", f"{kind} names a claim with no record", fields))
            step.outcomes.append(f"{kind.lower()}-claim-without-record")
            continue
        step.add(_apply(record, verdict_of(claim_id), now))
    step.outcomes.append(f"{kind.lower()}-applied")
    return step


def on_ta1(
    ack: InterchangeAcknowledged,
    *,
    transmission_of: Callable[[int], Transmission | None],
    record_of: Callable[[str], ClaimRecord | None],
    now: datetime,
) -> Step:
    """A TA1's verdict applied to every claim of the 837 interchange it names (TA101 is
    our ISA13, which is also the file's GS06 and ST02)."""
    number = int(ack.interchange_control_number)
    sent = transmission_of(number)
    if sent is None:
        raise Refused(
            "unknown-transmission",
            "no 837 file sent to this receiver has the interchange control number the TA1 "
            "names (TA101)",
        )
    return _to_every_claim(
        sent, "TA1", lambda claim_id: front_door.verdict_of_ta1(ack, claim_id), record_of, now
    )


def on_277(
    ack: ClaimStatusReceived,
    *,
    record_of: Callable[[str], ClaimRecord | None],
    now: datetime,
) -> Step:
    """A 277CA's (or 277's) verdict on the one claim it names."""
    pcn = ack.claim.patient_control_number
    if not pcn:
        raise Refused("no-claim-reference", "the claim status names no patient control number")
    record = record_of(pcn)
    if record is None:
        raise Refused(
            "unknown-claim",
            "no submitted claim has this patient control number in this receiver's partition",
        )
    claim_id = front_door.version_acknowledged(record, ack.batch_reference)
    step = _apply(record, front_door.verdict_of_277(ack, claim_id), now)
    step.outcomes.append(f"{ack.kind}-applied")
    if ack.kind == "277" and step.records:  # a status response (not a repeat): the answer
        current = step.records.pop()
        step.add(status_answered(current, ack, now))
    number = ack.payer_claim_number  # only the payer's own: a clearinghouse numbers its own
    if number and record.payer_claim_number is None:
        current = step.records[-1] if step.records else record
        learned = current.model_copy(update={"payer_claim_number": number})
        step.records = [r for r in step.records if r is not current]
        step.add(queue_changes(learned, now))
        step.outcomes.append("payer-claim-number-from-277")
    return step


# --- claim status: 277 answers to our 276 inquiries ---------------------------------

_ATTENTION: dict[str, str] = {
    "information-requested": "the payer asks for information before it decides: send what "
    "it asks (documentation, corrected data) and watch for the next answer",
    "rejected": "the payer did not find the claim, returned it or could not answer: check "
    "the payer, member id and claim at the payer, then resend or call",
}


def status_answered(record: ClaimRecord, ack: ClaimStatusReceived, now: datetime) -> Step:
    """A 277 status response's answer on the claim's record: its payer status in words;
    a work item (claims.status-attention) when someone must act, settled (a tombstone)
    by a later answer that does not need a person."""
    status = front_door.payer_status_of_277(ack, now)
    update: dict[str, Any] = {"payer_status": status}
    step = Step(outcomes=[f"payer-status-{status.state}"])
    fields = {"pcn": record.patient_control_number, "state": status.state}
    step.notes.append(Note("info", "claim status answered", fields))
    if status.needs_person:
        claim = Claim.parse_json(record.current_json)
        words = "; ".join(f"{c} {w}" for c, w in zip(status.codes, status.words, strict=True))
        step.status_attention.append(
            ClaimStatusAttention.new(
                patient_control_number=record.patient_control_number,
                receiver_id=record.receiver_id,
                clinic_id=claim.clinic_id,
                payer_id=claim.payer_id,
                state=status.state,
                codes=status.codes,
                message=f"{words or 'no status given'}: {_ATTENTION[status.state]}"[:500],
                ack_id=ack.ack_id,
                raised_at=now,
            )
        )
        update["status_attention_at"] = now
        step.outcomes.append("status-attention-raised")
    elif record.status_attention_at is not None:
        update["status_attention_at"] = None
        step.status_settled.append(record.patient_control_number)
        step.outcomes.append("status-attention-settled")
    step.records.append(record.model_copy(update=update))
    return step


def status_inquiry_due(
    record: ClaimRecord, policy: Policy, now: datetime, *, payer_answers: bool = True
) -> bool:
    """Whether the claims stage asks the payer about ``record`` now (a 276): taken in at
    the front door with no 835 for the follow-up period (:func:`front_door.needs_follow_up`),
    not asked within ``policy.status_every``, not on a person's desk (an open
    claims.status-attention item), and its payer answers 276s."""
    if not payer_answers or record.status_attention_at is not None:
        return False
    if not front_door.needs_follow_up(record, now, policy.follow_up.days):
        return False
    last = record.status_inquired_at
    return last is None or now - last >= policy.status_every


def inquire_on_demand(record: ClaimRecord) -> Step:
    """An operator's ``claims claim status``: ask about a claim that left (whatever its
    age); a claim voided, or never sent, has nothing to ask about."""
    if record.status != "submitted" or not record.versions:
        raise Refused(
            "not-inquirable", "only a submitted claim that was sent can be asked about (276)"
        )
    return Step(inquire=[record], outcomes=["status-inquiry-requested"])


def status_inquired(record: ClaimRecord, now: datetime) -> ClaimRecord:
    """The record once a 276 about it was written."""
    return record.model_copy(
        update={"status_inquired_at": now, "status_inquiries": record.status_inquiries + 1}
    )
