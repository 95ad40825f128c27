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
Files leave from due batches through :mod:`workers.claims.release` (control
numbers on record first, the validation gate, the atomic write).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import datetime, timedelta

import structlog

from edi import x276
from schemas.acknowledgements import (
    ClaimFrontDoor,
    ClaimRejected,
    InterchangeAcknowledged,
    TransactionAcknowledged,
    parse_ack,
)
from schemas.billing import BillableSession, ChargesWithdrawn, parse_charges
from schemas.state import ClaimRecord, SourceRef
from schemas.submission import parse_claim_command
from workers.claims import batching, claim_status, filing, lifecycle
from workers.claims.release import Releaser
from workers.claims.state import ClaimsState, PartnerCatalog
from workers.claims.superbill_lane import SuperbillLane, is_self_pay, moved_to_self_pay
from workers.runtime.app import Wiring
from workers.runtime.atomic_files import write_atomically
from workers.runtime.codec import decode, encode
from workers.runtime.failures import InvalidInput
from workers.runtime.mirror import Mirror
from workers.runtime.partitioning import partition_for
from workers.runtime.processing import Scope
from workers.runtime.records import Incoming, Outgoing

log = structlog.stdlib.get_logger("claims.claims")

PROCESSOR = "claims"
#: how often a partition's waiting changes are checked for being overdue (days matter)
OVERDUE_CHECK_EVERY = timedelta(minutes=1)


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
        self.mirror = mirror
        settings = w.settings
        self.policy = lifecycle.Policy(
            day_grace=timedelta(hours=settings.claims_day_grace_h),
            replace_after=timedelta(days=settings.claims_replace_after_days),
            follow_up=timedelta(days=settings.claims_follow_up_days),
            status_every=timedelta(days=settings.claims_status_inquiry_every_days),
        )
        self.partners = partners
        self.outbox = settings.outbox_dir
        self.releaser = Releaser(w, state, partners, settings.outbox_dir)
        self.locks: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.overdue_checked: dict[int, datetime] = {}
        self.ticks = TickSchedule()

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
        out += [
            Outgoing("claims.changes-waiting", i.patient_control_number.encode(), encode(i))
            for i in step.overdue
        ]
        out += [Outgoing("claims.changes-waiting", p.encode(), None) for p in step.overdue_resolved]
        out += [
            Outgoing("claims.status-attention", i.patient_control_number.encode(), encode(i))
            for i in step.status_attention
        ]
        out += [Outgoing("claims.status-attention", p.encode(), None) for p in step.status_settled]
        return out

    @staticmethod
    def _announce(event: ClaimFrontDoor | ClaimRejected) -> Outgoing:
        topic = "claims.rejections" if isinstance(event, ClaimRejected) else "claims.acknowledged"
        headers = (("claims.event_type", type(event).__name__.encode()),)
        return Outgoing(topic, event.patient_control_number.encode(), encode(event), headers)

    async def inquire(self, records: list[ClaimRecord], now: datetime) -> list[Outgoing]:
        """Write a 276 per receiver asking about ``records`` (:mod:`edi.x276`), to
        ``<outbox>/276/`` (atomically, 0600), numbered from the receiver's sequence
        like its 837 files; then mark the records asked."""
        by_receiver: dict[str, list[ClaimRecord]] = defaultdict(list)
        for record in records:
            by_receiver[record.receiver_id].append(record)
        out: list[Outgoing] = []
        for receiver, group in sorted(by_receiver.items()):
            partner = self.partners.get(receiver)
            asked = lifecycle.Step()
            if partner is None:
                log.warning("no trading partner for a claim status inquiry", receiver=receiver)
                self.w.metrics.outcome(PROCESSOR, "status-inquiry-no-partner")
                continue
            plan = claim_status.plan_inquiries(group, now)
            for pcn, reason in plan.refused:
                log.warning("claim status inquiry refused", pcn=pcn, reason=reason)
                asked.outcomes.append("status-inquiry-refused")
            if plan.inquiries:
                numbers, last = batching.reserve(self.state.sequence(receiver))
                try:
                    rendered = x276.render_276(
                        plan.inquiries,
                        partner,
                        control_number=numbers.interchange,
                        created_at=now,
                    )
                except x276.X276RenderError as exc:  # the partner's delimiters, say
                    log.error(
                        "claim status inquiry refused",
                        receiver=receiver,
                        pcn=exc.patient_control_number,
                        reason=exc.reason,
                    )
                    asked.outcomes.append("status-inquiry-refused")
                    asked.records = [lifecycle.status_inquired(r, now) for r in group]
                    out += self.commit(asked)
                    continue
                await self.state.reserve_sequence(receiver, last)
                name = filing.file_name(partner, numbers, now)
                data = rendered.text.encode("ascii")
                path = await asyncio.to_thread(write_atomically, self.outbox / "276", name, data)
                log.info("claim status inquiry written", file=path.name, claims=rendered.inquiries)
                file = claim_status.released(partner, numbers, str(path), data, plan.inquiries, now)
                headers = (("claims.event_type", b"FileReleased"),)
                out.append(Outgoing("edi.outbound", receiver.encode(), encode(file), headers))
                asked.outcomes += ["status-inquiry-written"] * rendered.inquiries
            asked.records = [lifecycle.status_inquired(r, now) for r in group]
            out += self.commit(asked)
        return out

    async def release_after(self, step: lifecycle.Step, partition: int) -> list[Outgoing]:
        out = self.commit(step)
        if step.inquire:
            out += await self.inquire(step.inquire, self.w.now())
        now = self.w.now()
        batches = list(step.release)
        if step.release_receiver is not None:
            batches += [b for b in self.state.batches(partition) if b[0] == step.release_receiver]
        for receiver, batch_key in batches:
            out += await self.releaser.release_due(receiver, batch_key, now)
        return out

    # --- handlers --------------------------------------------------------------------
    def _receiver_key(self, msg: Incoming, topic: str) -> str:
        key = msg.key_text or ""
        if not key or partition_for(key, self.state.partitions) != msg.partition:
            raise InvalidInput(
                "misrouted", f"{topic} is keyed by receiver id with the default partitioner"
            )
        return key

    async def on_charges(self, msg: Incoming, scope: Scope) -> list[Outgoing]:
        if is_self_pay(msg.key):  # written before charges.self-pay existed
            return moved_to_self_pay(msg)
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
        where = lifecycle.placement(event)
        state = self.state
        seen = state.has_pending(where.entry_key) or bool(state.claim_of_session(event.session_key))
        return lifecycle.charges_arrived(
            event,
            _source(msg),
            record=state.record(where.pcn),
            seen=seen,
            policy=self.policy,
            now=now,
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
                elif isinstance(ack, InterchangeAcknowledged):
                    step = lifecycle.on_ta1(
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
                out += await self.releaser.release_due(receiver, batch_key, now, exact=True)
            checked = self.overdue_checked.get(msg.partition)
            if checked is None or now - checked >= OVERDUE_CHECK_EVERY:
                self.overdue_checked[msg.partition] = now
                for record in self.state.waiting_records(msg.partition):
                    out += self.commit(lifecycle.overdue_changes(record, self.policy, now))
                due = [
                    r
                    for r in self.state.follow_up_records(msg.partition)
                    if lifecycle.status_inquiry_due(
                        r, self.policy, now, payer_answers=self._answers(r)
                    )
                ]
                if due:
                    out += await self.inquire(due, now)
        return out

    def _answers(self, record: ClaimRecord) -> bool:
        """Whether the claim's payer answers 276s (its reference; default: yes)."""
        payer_id = claim_status.payer_of(record)
        return payer_id not in self.partners.silent_payers

    async def tick(self) -> None:
        """Tick the partitions with batches waiting (their age may have come), and
        every partition once per overdue-check period (changes waiting, 276s due):
        an idle engine writes one tick a partition a minute, not one a second."""
        value = b'{"tick": true}'
        for p in self.ticks.partitions(self.state, self.w.now()):
            await self.w.sink.send(Outgoing("state.claims.ticks", b"tick", value, partition=p))


class TickSchedule:
    """Which partitions a tick goes to: every partition once per overdue-check
    period (changes waiting, 276s due), else those with batches waiting in this
    worker's state (their age may have come)."""

    def __init__(self) -> None:
        self.last_all: datetime | None = None

    def partitions(self, state: ClaimsState, now: datetime) -> list[int]:
        if self.last_all is None or now - self.last_all >= OVERDUE_CHECK_EVERY:
            self.last_all = now
            return list(range(state.partitions))
        return [p for p in range(state.partitions) if state.batches(p)]


def register(w: Wiring) -> None:
    """Build the claims stage's state and handlers on ``w``."""
    partitions = w.catalogue.partitions("charges.billable")
    for name in ("claims.commands", "state.claims.ticks", "acks.inbound"):
        if w.catalogue.partitions(name) != partitions:
            raise RuntimeError(f"{name} must have as many partitions as charges.billable")
    partners = PartnerCatalog()
    mirror = w.mirror(["ref.partners", "ref.payers"], partners.apply, name="partner_mirror")
    state = ClaimsState(
        w.table("claims.pending", "state.claims.pending"),
        w.table("claims.records", "state.claims.records"),
        w.table("claims.sessions", "state.claims.sessions"),
        w.table("claims.sequences", "state.claims.sequences"),
        partitions,
        w.table("claims.transmissions", "state.claims.transmissions"),
        w.table("claims.sources", "state.claims.sources"),
        w.table("claims.references", "state.claims.references"),
    )
    # one rebuild after every table is recovered: what is pending depends on the records
    state.pending.on_recover(state.rebuild)
    claims = ClaimsProcessor(w, state, partners, mirror)
    # Claims read charges.billable; superbills (self-pay and HSA sessions) their own
    # topic: a superbill waits on the disk (its PDF is written and synced before its
    # offset may be committed) without holding up the claims.  A self-pay session
    # still on charges.billable (written before charges.self-pay existed) is moved.
    w.consume("charges.billable", PROCESSOR, claims.on_charges)
    superbills = SuperbillLane(w, w.settings.outbox_dir)
    w.consume("charges.self-pay", PROCESSOR, superbills.issue_superbill)
    w.consume("claims.commands", PROCESSOR, claims.on_command)
    w.consume("acks.inbound", PROCESSOR, claims.on_ack)
    w.consume("state.claims.ticks", PROCESSOR, claims.on_tick)
    w.timer(w.settings.claims_tick_interval_s, claims.tick, name="claims_batch_tick")
