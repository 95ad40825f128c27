"""The claims processor: ``charges.billable`` -> validated 837P files (faust edge).

Partitioning
------------
``charges.billable``, ``claims.commands``, ``acks.inbound`` and
``state.claims.ticks`` are keyed by receiver, so one partition owns a receiver's
pending claims, its claim records and its control-number sequence; all of them
live in tables whose changelog partition is that partition
(:mod:`workers.claims.state`).  Batches are released when full (on arrival) or
when old enough (on a tick: a timer sends a tick to every partition of
``state.claims.ticks``, and the owner of each partition releases its due
batches), so every change to state happens while processing a message of the
partition that owns it.  One lock per partition keeps a release (which waits
for the validation gate) from interleaving with new claims or withdrawals of the
same partition.

What to do is decided by the pure cores -- :mod:`workers.claims.lifecycle` (a
claim record's life) and :mod:`workers.claims.filing` (what goes in a file);
this module decodes, calls them, applies their steps to the tables and routes
what they produced.

Release
-------
Control numbers are reserved (the changelog record is sent) before the file is
rendered, and *acknowledged by the broker* before anything is written; a claim
that cannot be rendered is dead-lettered alone; a file that fails validation is
not written and its claims go to ``charges.billable.dlq`` with the validator's
findings; a valid file is written atomically (mode 0600) to
``<outbox>/<receiver>/`` and announced on ``edi.outbound``, and each claim on
``claims.submitted``.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import datetime

import structlog

from schemas.acknowledgements import (
    ClaimFrontDoor,
    ClaimRejected,
    TransactionAcknowledged,
    parse_ack,
)
from schemas.billing import BillableSession, ChargesWithdrawn, parse_charges
from schemas.claims import TradingPartner
from schemas.state import PendingEntry, SourceRef
from schemas.submission import parse_claim_command
from workers.claims import batching, filing, lifecycle
from workers.claims.assemble import ClaimMode
from workers.claims.gate import Gate
from workers.claims.state import ClaimsState, PartnerCatalog
from workers.claims.superbill_lane import SuperbillLane, is_self_pay
from workers.runtime.app import Wiring
from workers.runtime.atomic_files import sha256, write_atomically
from workers.runtime.codec import decode, encode
from workers.runtime.dead_letters import stored_dead_letter
from workers.runtime.failures import InvalidInput
from workers.runtime.mirror import Mirror
from workers.runtime.partitioning import partition_for
from workers.runtime.processing import Scope
from workers.runtime.records import Incoming, Outgoing

log = structlog.stdlib.get_logger("claims.claims")

PROCESSOR = "claims"
_ANNOUNCED = (("claims.event_type", b"ClaimSubmitted"),)


def _not_self_pay(key: bytes | None) -> bool:
    return not is_self_pay(key)


def _source(msg: Incoming) -> lifecycle.Source:
    ref = SourceRef(
        topic=msg.topic,
        partition=msg.partition,
        offset=msg.offset,
        timestamp_ms=msg.timestamp_ms,
        key=msg.key_text,
    )
    return lifecycle.Source(msg.value.decode() if msg.value is not None else None, ref)


class ClaimsProcessor:
    """The claims stage's handlers over one :class:`Wiring` (see the module's text)."""

    def __init__(self, w: Wiring, state: ClaimsState, partners: PartnerCatalog, mirror: Mirror):
        self.w = w
        self.state = state
        self.partners = partners
        self.mirror = mirror
        self.mode: ClaimMode = w.settings.claims_mode
        self.gate = Gate(w.settings.claims_validation_workers, enabled=w.settings.claims_validate)
        self.locks: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.outbox = w.settings.outbox_dir

    # --- applying what the cores decided -------------------------------------------
    def commit(self, step: lifecycle.Step) -> list[Outgoing]:
        """Store what ``step`` changed and route what it produced."""
        self.state.apply(step)
        for outcome in step.outcomes:
            self.w.metrics.outcome(PROCESSOR, outcome)
        for note in step.notes:
            getattr(log, note.level)(note.event, **note.fields)
        out = [
            Outgoing("claims.commands", c.receiver_id.encode(), encode(c)) for c in step.commands
        ]
        out += [self._announce(event) for event in step.events]
        # a tombstone on the rejections queue: resolved, nothing to resend
        out += [Outgoing("claims.rejections", pcn.encode(), None) for pcn in step.closed]
        return out

    @staticmethod
    def _announce(event: ClaimFrontDoor | ClaimRejected) -> Outgoing:
        topic = "claims.rejections" if isinstance(event, ClaimRejected) else "claims.acknowledged"
        headers = (("claims.event_type", type(event).__name__.encode()),)
        return Outgoing(topic, event.patient_control_number.encode(), encode(event), headers)

    async def release_after(self, step: lifecycle.Step, partition: int) -> list[Outgoing]:
        out = self.commit(step)
        now = self.w.now()
        batches = list(step.release)
        if step.release_receiver is not None:
            batches += [b for b in self.state.batches(partition) if b[0] == step.release_receiver]
        for receiver, batch_key in batches:
            out += await self.release_due(receiver, batch_key, now)
        return out

    # --- release ---------------------------------------------------------------------
    async def release_due(
        self, receiver: str, batch_key: str, now: datetime, exact: bool = False
    ) -> list[Outgoing]:
        """Release the batch's due files.  An arrival asks the batch's kept summary
        (no read of the batch); a tick asks the table (``exact``), and every release
        is confirmed from the table, so a summary that drifted from the table can
        neither hold a batch past the next tick nor release what is not there."""
        partner = self.partners.get(receiver)
        if partner is None:
            log.warning("claims wait: no trading partner configured", receiver=receiver)
            return []
        state, out = self.state, []
        while state.is_due(receiver, batch_key, partner, now, exact=exact):
            entries = state.pending_of(receiver, batch_key)
            if not batching.is_due([e for _, e in entries], partner, now):
                state.is_due(receiver, batch_key, partner, now, exact=True)  # the table wins
                self.w.metrics.outcome(PROCESSOR, "batch-summary-resynced")
                break
            chosen = {id(e) for e in batching.take_batch([e for _, e in entries], partner)}
            batch = [(k, e) for k, e in entries if id(e) in chosen]
            out += await self.release_batch(batch, partner, now)
        return out

    async def release_batch(
        self, batch: list[filing.Entry], partner: TradingPartner, now: datetime
    ) -> list[Outgoing]:
        """One file from a due batch: assemble, reserve numbers, render, check, write."""
        assembled = filing.assemble(batch, self.state.billable_of, self.mode)
        numbers, last = batching.reserve(self.state.sequence(partner.receiver_id))
        # The numbers are reserved at once; the broker's acknowledgement is awaited
        # only before the file is written, so it arrives while the file is rendered
        # and checked.  (A batch none of whose claims renders leaves its numbers
        # unused: interchange numbers must be unique, not unbroken.)
        reserved = None
        if assembled.candidates:
            reserved = self.state.reserve_sequence(partner.receiver_id, last)
        plan = filing.render(assembled, partner, numbers, now)
        if reserved is not None and (plan.refused or not plan.whole):
            await reserved  # an unusual batch: its reservation is settled first
            reserved = None
        await self.refuse(plan.refused)
        if plan.file is None:
            return []
        verdict = await self.gate.check(plan.file.text)
        if reserved is not None:
            await reserved  # a file is written only once its numbers are on record
        if not verdict.ok:
            await self.refuse(filing.refused_by_gate(plan, verdict.findings))
            self.w.metrics.outcome(PROCESSOR, "file-refused")
            log.error(
                "837 file refused by the validation gate",
                receiver=partner.receiver_id,
                interchange=numbers.interchange,
                findings=len(verdict.findings),
            )
            return []
        return await self.write(plan, partner, now)

    async def write(
        self, plan: filing.FilePlan, partner: TradingPartner, now: datetime
    ) -> list[Outgoing]:
        assert plan.file is not None
        data = plan.file.text.encode("utf-8")
        name = filing.file_name(partner, plan.numbers, now)
        # fsync waits on the disk: in a thread, so the other partitions and stages
        # go on meanwhile (this partition's lock is still held)
        directory = self.outbox / partner.receiver_id
        path = await asyncio.to_thread(write_atomically, directory, name, data)
        release = filing.released(
            plan,
            partner,
            name=name,
            path=path,
            data=data,
            digest=sha256(data),
            validated=self.gate.enabled,
            record_of=self.state.record,
            now=now,
        )
        self.state.apply_release(release)
        out = [
            Outgoing("claims.submitted", e.patient_control_number.encode(), encode(e), _ANNOUNCED)
            for e in release.submitted
        ]
        headers = (("claims.event_type", b"FileReleased"),)
        receiver = partner.receiver_id.encode()
        out.append(Outgoing("edi.outbound", receiver, encode(release.file), headers))
        self.w.metrics.outcome(PROCESSOR, "file-released")
        self.w.metrics.outcome(PROCESSOR, "claims-released", len(release.records))
        log.info(
            "837 file released",
            file=name,
            receiver=partner.receiver_id,
            claims=len(release.records),
            interchange=plan.numbers.interchange,
        )
        return out

    async def refuse(self, refusals: list[filing.Refusal]) -> None:
        for refusal in refusals:
            entry = refusal.entry
            await self.dead_letter_stored(entry, refusal.reason, refusal.message)
            self.state.drop_pending(refusal.key)

    async def dead_letter_stored(self, entry: PendingEntry, reason: str, message: str) -> None:
        """Dead-letter the message a pending entry came from, with its origin."""
        w = self.w
        record = stored_dead_letter(
            entry.source_json,
            entry.source_ref,
            reason=reason,
            message=message,
            error_class="workers.claims.processor.ClaimNotReleased",
            processor=PROCESSOR,
            consumer_group=w.consumer_group,
        )
        if record is None:
            log.error("cannot dead-letter a claim without its source", reason=reason)
            return
        await w.sink.deliver(record)
        assert entry.source_ref is not None
        w.metrics.dead_lettered(PROCESSOR, entry.source_ref.topic, reason)
        log.warning("claim dead-lettered", reason=reason, source_offset=entry.source_ref.offset)

    # --- handlers --------------------------------------------------------------------
    def _receiver_key(self, msg: Incoming, topic: str) -> str:
        key = msg.key_text or ""
        if not key or partition_for(key, self.state.partitions) != msg.partition:
            raise InvalidInput(
                "misrouted", f"{topic} is keyed by receiver id with the default partitioner"
            )
        return key

    async def on_charges(self, msg: Incoming, scope: Scope) -> list[Outgoing]:
        key = self._receiver_key(msg, "charges.billable")
        event = decode(parse_charges, msg.value)
        now = self.w.now()
        async with self.locks[msg.partition]:
            if isinstance(event, ChargesWithdrawn):
                return self.on_withdrawn(event, msg, scope, now)
            scope.bind(clinic_id=event.clinic_id, session_key=event.session_key)
            if not event.billed_to_payer or event.receiver_id is None:
                return []
            if event.receiver_id != key:
                raise InvalidInput("key-mismatch", "message key is not the session's receiver")
            return await self.release_after(self._arrived(event, msg, now), msg.partition)

    def _arrived(self, event: BillableSession, msg: Incoming, now: datetime) -> lifecycle.Step:
        where = lifecycle.placement(event, self.mode)
        state = self.state
        seen = state.has_pending(where.entry_key) or bool(state.claim_of_session(event.session_key))
        return lifecycle.charges_arrived(
            event, _source(msg), record=state.record(where.pcn), seen=seen, mode=self.mode, now=now
        )

    def on_withdrawn(
        self, event: ChargesWithdrawn, msg: Incoming, scope: Scope, now: datetime
    ) -> list[Outgoing]:
        scope.bind(session_key=event.session_key)
        state = self.state
        receiver = event.receiver_id or (msg.key_text or "")
        pending = state.pending_for_session(receiver, event.session_key)
        pcn = state.claim_of_session(event.session_key) if pending is None else None
        step = lifecycle.charges_withdrawn(
            event,
            _source(msg),
            pending=pending,
            record=state.record(pcn) if pcn else None,
            mode=self.mode,
            now=now,
        )
        return self.commit(step)

    async def on_command(self, msg: Incoming, scope: Scope) -> list[Outgoing]:
        command = decode(parse_claim_command, msg.value)
        scope.bind(pcn=command.patient_control_number)
        if command.action == "submit" and msg.key_text != command.claim.receiver_id:
            raise InvalidInput("key-mismatch", "message key is not the claim's receiver")
        now = self.w.now()
        async with self.locks[msg.partition]:
            try:
                step = lifecycle.on_command(
                    command,
                    _source(msg),
                    record_of=self.state.record,
                    pending_exists=self.state.has_pending,
                    mode=self.mode,
                    now=now,
                )
            except lifecycle.Refused as exc:
                raise InvalidInput(exc.reason, exc.message) from None
            return await self.release_after(step, msg.partition)

    async def on_ack(self, msg: Incoming, scope: Scope) -> list[Outgoing]:
        key = self._receiver_key(msg, "acks.inbound")
        ack = decode(parse_ack, msg.value)
        if ack.receiver_id != key:
            raise InvalidInput("key-mismatch", "message key is not the acknowledgement's receiver")
        now = self.w.now()
        state = self.state
        async with self.locks[msg.partition]:
            try:
                if isinstance(ack, TransactionAcknowledged):
                    step = lifecycle.on_999(
                        ack,
                        transmission_of=lambda n: state.transmission(ack.receiver_id, n),
                        record_of=state.record,
                        now=now,
                    )
                else:
                    scope.bind(pcn=ack.claim.patient_control_number or None)
                    step = lifecycle.on_277(ack, record_of=state.record, now=now)
            except lifecycle.Refused as exc:
                raise InvalidInput(exc.reason, exc.message) from None
            return self.commit(step)

    async def on_tick(self, msg: Incoming, scope: Scope) -> list[Outgoing]:
        await self.mirror.wait_ready(self.w.settings.reference_ready_timeout_s)
        now = self.w.now()
        out: list[Outgoing] = []
        async with self.locks[msg.partition]:
            for receiver, batch_key in self.state.batches(msg.partition):
                out += await self.release_due(receiver, batch_key, now, exact=True)
        return out

    async def tick(self) -> None:
        value = b'{"tick": true}'
        for p in range(self.state.partitions):
            await self.w.sink.send(Outgoing("state.claims.ticks", b"tick", value, partition=p))


def register(w: Wiring) -> None:
    """Build the claims stage's state and handlers on ``w``."""
    partitions = w.catalogue.partitions("charges.billable")
    for name in ("claims.commands", "state.claims.ticks", "acks.inbound"):
        if w.catalogue.partitions(name) != partitions:
            raise RuntimeError(f"{name} must have as many partitions as charges.billable")
    partners = PartnerCatalog()
    mirror = w.mirror(["ref.partners"], partners.apply, name="partner_mirror")
    state = ClaimsState(
        w.table("claims.pending", "state.claims.pending"),
        w.table("claims.records", "state.claims.records"),
        w.table("claims.sessions", "state.claims.sessions"),
        w.table("claims.sequences", "state.claims.sequences"),
        partitions,
        w.table("claims.transmissions", "state.claims.transmissions"),
    )
    state.pending.on_recover(state.rebuild_index)
    claims = ClaimsProcessor(w, state, partners, mirror)
    # Two lanes over charges.billable: claims (keyed by receiver) and superbills
    # (self-pay, keyed by clinic).  A superbill waits on the disk (its PDF is
    # written and synced before its offset may be committed); in its own lane
    # that wait does not hold up the claims behind it.
    w.consume("charges.billable", PROCESSOR, claims.on_charges, accepts=_not_self_pay)
    superbills = SuperbillLane(w, w.settings.outbox_dir)
    w.consume(
        "charges.billable",
        PROCESSOR,
        superbills.issue_superbill,
        lane="superbills",
        accepts=is_self_pay,
    )
    w.consume("claims.commands", PROCESSOR, claims.on_command)
    w.consume("acks.inbound", PROCESSOR, claims.on_ack)
    w.consume("state.claims.ticks", PROCESSOR, claims.on_tick)
    w.timer(w.settings.claims_tick_interval_s, claims.tick, name="claims_batch_tick")
