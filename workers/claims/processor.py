"""The claims processor: ``charges.billable`` -> validated 837P files (faust edge).

Partitioning
------------
``charges.billable`` and ``claims.commands`` are keyed by receiver, so one
partition owns a receiver's pending claims, its claim records and its
control-number sequence; all of them live in tables whose changelog partition is
that partition.  Batches are released when full (on arrival) or when old enough
(on a tick: a timer sends a tick to every partition of ``state.claims.ticks``,
and the owner of each partition releases its due batches), so every change to
state happens while processing a message of the partition that owns it.  One
lock per partition keeps a release (which waits for the validation gate) from
interleaving with new claims or withdrawals of the same partition.

Release
-------
Claims are assembled, each is trial-rendered (a claim whose data cannot be
rendered is dead-lettered alone), control numbers are reserved and *flushed to
the changelog* before anything is written, the file is rendered and validated;
a file that fails validation is not written and its claims go to
``charges.billable.dlq`` with the validator's findings; a valid file is written
atomically (mode 0600) to ``<outbox>/<receiver>/`` and announced on
``edi.outbound``, and each claim on ``claims.submitted``.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

import structlog

from edi.segments import X12Error
from edi.x837p import render_837p
from schemas.acknowledgements import (
    ClaimFrontDoor,
    ClaimRejected,
    ClaimStatusReceived,
    TransactionAcknowledged,
)
from schemas.billing import BillableSession, ChargesWithdrawn
from schemas.claims import Claim, TradingPartner
from schemas.documents import SuperbillIssued
from schemas.state import (
    ClaimRecord,
    ClaimVersionSent,
    PendingChange,
    PendingEntry,
    SourceRef,
    Transmission,
)
from schemas.submission import ClaimCommand, ClaimSubmitted, FileReleased
from workers.claims import batching, front_door
from workers.claims.assemble import (
    ClaimMode,
    assemble_claim,
    claim_identity,
    patient_control_number,
)
from workers.claims.changes import ChangeRefused, apply_change, ready_changes, resend_version
from workers.claims.delivery import DeliveryError, sha256, write_atomically
from workers.claims.gate import Gate
from workers.claims.secondary import SecondaryRefused, secondary_claim
from workers.documents.superbill import superbill
from workers.runtime.app import Wiring
from workers.runtime.codec import decode, encode
from workers.runtime.dead_letters import Failure, dead_letter
from workers.runtime.failures import InvalidInput
from workers.runtime.mirror import TopicMirror
from workers.runtime.partitioning import partition_for
from workers.runtime.processing import Scope
from workers.runtime.records import Incoming, Outgoing

log = structlog.stdlib.get_logger("claims.claims")

PROCESSOR = "claims"


def parse_charges(raw: bytes) -> BillableSession | ChargesWithdrawn:
    """A billable session or a withdrawal (told apart by ``event_type``).

    Only a value that mentions ``charges.withdrawn`` at all is decoded twice (once
    to read its ``event_type``): a billable session is several kilobytes.
    """
    if b"charges.withdrawn" in raw and raw.lstrip().startswith(b"{"):
        import json

        try:
            kind = json.loads(raw).get("event_type")
        except ValueError:  # not JSON: the contract's parser names the problem
            kind = None
        if kind == "charges.withdrawn":
            return ChargesWithdrawn.parse_json(raw)
    return BillableSession.parse_json(raw)


def parse_ack(raw: bytes) -> TransactionAcknowledged | ClaimStatusReceived:
    """A 999 transaction verdict or a 277 claim status (told apart by ``event_type``)."""
    if b'"ack.999-transaction"' in raw:
        return TransactionAcknowledged.parse_json(raw)
    return ClaimStatusReceived.parse_json(raw)


class PartnerCatalog:
    """Trading partners mirrored from ``ref.partners`` (invalid records are unknown)."""

    def __init__(self) -> None:
        self._raw: dict[str, bytes] = {}
        self._parsed: dict[str, TradingPartner | None] = {}

    def apply(self, _topic: str, key: bytes, value: bytes | None) -> None:
        k = key.decode("utf-8", errors="replace")
        self._parsed.pop(k, None)
        if value is None:
            self._raw.pop(k, None)
        else:
            self._raw[k] = value

    def get(self, receiver_id: str) -> TradingPartner | None:
        if receiver_id not in self._parsed:
            raw = self._raw.get(receiver_id)
            try:
                self._parsed[receiver_id] = TradingPartner.parse_json(raw) if raw else None
            except ValueError:
                self._parsed[receiver_id] = None
        return self._parsed[receiver_id]


class ClaimsState:
    """The claims tables as models, plus a derived index of pending batches."""

    def __init__(
        self,
        pending: Any,
        records: Any,
        sessions: Any,
        sequences: Any,
        parts: int,
        transmissions: Any = None,
    ):
        self.pending, self.records, self.sessions, self.sequences = (
            pending,
            records,
            sessions,
            sequences,
        )
        self.transmissions = transmissions if transmissions is not None else {}
        self.partitions = parts
        # partition -> (receiver, batch key) -> pending keys
        self._index: dict[int, dict[tuple[str, str], set[str]]] = defaultdict(dict)
        # pending key -> (the table's bytes, parsed): a batch is checked on every
        # arrival, so its entries are parsed once, not once per arrival
        self._parsed: dict[str, tuple[bytes, PendingEntry]] = {}
        # pending key -> the billable session it holds, as parsed when it arrived
        self._billable: dict[str, BillableSession] = {}
        # (receiver, batch key) -> its claim count and oldest arrival, so an arrival
        # checks its batch without reading it (built from the table when first asked)
        self._summaries: dict[tuple[str, str], batching.BatchSummary] = {}

    @staticmethod
    def pending_key(entry: PendingEntry, entry_id: str) -> str:
        return f"{entry.receiver_id}|{entry.batch_key}|{entry_id}"

    def add_pending(
        self, key: str, entry: PendingEntry, billable: BillableSession | None = None
    ) -> None:
        raw = encode(entry)
        self.pending[key.encode()] = raw
        self._parsed[key] = (raw, entry)
        if billable is not None:
            self._billable[key] = billable
        else:
            self._billable.pop(key, None)
        part = partition_for(entry.receiver_id, self.partitions)
        batch = (entry.receiver_id, entry.batch_key)
        self._index[part].setdefault(batch, set()).add(key)
        summary = self._summaries.get(batch)
        if summary is not None:
            summary.add(key, entry)

    def drop_pending(self, key: str) -> None:
        receiver, batch_key, _ = key.split("|", 2)
        self.pending.pop(key.encode(), None)
        self._parsed.pop(key, None)
        self._billable.pop(key, None)
        part = partition_for(receiver, self.partitions)
        keys = self._index[part].get((receiver, batch_key))
        summary = self._summaries.get((receiver, batch_key))
        if summary is not None:
            summary.remove(key)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._index[part][(receiver, batch_key)]
                self._summaries.pop((receiver, batch_key), None)

    def has_pending(self, key: str) -> bool:
        return self.pending.get(key.encode()) is not None

    def batches(self, partition: int) -> list[tuple[str, str]]:
        return sorted(self._index[partition])

    def pending_of(self, receiver: str, batch_key: str) -> list[tuple[str, PendingEntry]]:
        part = partition_for(receiver, self.partitions)
        out = []
        for key in sorted(self._index[part].get((receiver, batch_key), ())):
            raw = self.pending.get(key.encode())
            if raw is not None:
                out.append((key, self._entry(key, raw)))
        return out

    def is_due(
        self,
        receiver: str,
        batch_key: str,
        partner: TradingPartner,
        when: datetime,
        exact: bool = False,
    ) -> bool:
        """:func:`batching.is_due` for a pending batch, from its kept summary
        (``exact``: the summary is first built again from the table)."""
        summary = None if exact else self._summaries.get((receiver, batch_key))
        if summary is None:
            summary = batching.BatchSummary()
            for key, entry in self.pending_of(receiver, batch_key):
                summary.add(key, entry)
            if not len(summary):
                self._summaries.pop((receiver, batch_key), None)
                return False
            self._summaries[(receiver, batch_key)] = summary
        return summary.due(partner, when)

    def billable_of(self, key: str, entry: PendingEntry) -> BillableSession:
        """The billable session a pending entry holds (parsed once, when it arrived)."""
        cached = self._billable.get(key)
        if cached is not None:
            return cached
        billable = BillableSession.parse_json(entry.source_json or "")
        self._billable[key] = billable
        return billable

    def _entry(self, key: str, raw: bytes) -> PendingEntry:
        """The parsed entry, from the memo while the table holds the same bytes."""
        cached = self._parsed.get(key)
        if cached is not None and (cached[0] is raw or cached[0] == raw):
            return cached[1]
        entry = PendingEntry.parse_json(raw)
        self._parsed[key] = (raw, entry)
        return entry

    def pending_for_session(self, receiver: str, session_key: str) -> str | None:
        part = partition_for(receiver, self.partitions)
        for (rcv, _batch), keys in self._index[part].items():
            if rcv != receiver:
                continue
            for key in keys:
                if key.endswith("|" + session_key):
                    return key
        return None

    def record(self, pcn: str) -> ClaimRecord | None:
        raw = self.records.get(pcn.encode())
        return ClaimRecord.parse_json(raw) if raw else None

    def put_record(self, record: ClaimRecord) -> None:
        self.records[record.patient_control_number.encode()] = encode(record)

    def transmission(self, receiver: str, interchange: int) -> Transmission | None:
        raw = self.transmissions.get(Transmission.key_of(receiver, interchange).encode())
        return Transmission.parse_json(raw) if raw else None

    def put_transmission(self, sent: Transmission) -> None:
        key = Transmission.key_of(sent.receiver_id, sent.interchange).encode()
        self.transmissions[key] = encode(sent)

    def claim_of_session(self, session_key: str) -> str | None:
        raw = self.sessions.get(session_key.encode())
        return raw.decode() if raw else None

    def sequence(self, receiver: str) -> int:
        raw = self.sequences.get(receiver.encode())
        return int(raw) if raw else 0

    def reserve_sequence(self, receiver: str, last: int) -> Awaitable[Any]:
        """Record the last control number used for ``receiver``; what it returns
        completes when the broker has the record in the changelog.  A file is
        written only after that (no file exists with numbers a restart would hand
        out again); the file is rendered and checked meanwhile.

        Only this one changelog record is waited for (flushing the whole producer
        made every 837 file wait for every buffered output and table write).
        """
        key, value = receiver.encode(), str(last).encode()
        table = self.sequences
        send_changelog = getattr(table, "send_changelog", None)
        if send_changelog is None:  # a plain mapping (unit tests): nothing to wait for
            table[key] = value
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done
        # what ``table[key] = value`` does, keeping hold of the changelog record
        sent: Awaitable[Any] = send_changelog(table.partition_for_key(key), key, value)
        table.data[key] = value
        return sent

    async def rebuild_index(self) -> None:
        self._index.clear()
        self._summaries.clear()
        self._parsed.clear()
        self._billable.clear()
        for raw_key in list(self.pending.keys()):
            key = raw_key.decode()
            receiver, batch_key, _ = key.split("|", 2)
            part = partition_for(receiver, self.partitions)
            self._index[part].setdefault((receiver, batch_key), set()).add(key)


def _self_pay(key: bytes | None) -> bool:
    """A self-pay session's key on ``charges.billable`` (see :func:`billing_key`)."""
    return key is not None and key.startswith(b"self-pay:")


def _not_self_pay(key: bytes | None) -> bool:
    return not _self_pay(key)


def _ref(msg: Incoming) -> SourceRef:
    return SourceRef(
        topic=msg.topic,
        partition=msg.partition,
        offset=msg.offset,
        timestamp_ms=msg.timestamp_ms,
        key=msg.key_text,
    )


def register(w: Wiring) -> None:
    settings = w.settings
    mode: ClaimMode = settings.claims_mode
    partitions = w.catalogue.partitions("charges.billable")
    for name in ("claims.commands", "state.claims.ticks", "acks.inbound"):
        if w.catalogue.partitions(name) != partitions:
            raise RuntimeError(f"{name} must have as many partitions as charges.billable")
    partners = PartnerCatalog()
    mirror = TopicMirror(settings, ["ref.partners"], partners.apply)
    w.background(mirror.run, name="partner_mirror")
    w.ready_checks.append(mirror.ready.is_set)
    state = ClaimsState(
        w.table("claims.pending", "state.claims.pending"),
        w.table("claims.records", "state.claims.records"),
        w.table("claims.sessions", "state.claims.sessions"),
        w.table("claims.sequences", "state.claims.sequences"),
        partitions,
        w.table("claims.transmissions", "state.claims.transmissions"),
    )
    state.pending.on_recover(state.rebuild_index)
    gate = Gate(settings.claims_validation_workers, enabled=settings.claims_validate)
    locks: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
    outbox = settings.outbox_dir

    def now() -> datetime:
        return datetime.now(UTC)

    # --- dead letters of stored messages ---------------------------------------
    async def dead_letter_stored(
        source_json: str | None, ref: SourceRef | None, reason: str, message: str
    ) -> None:
        if source_json is None or ref is None:
            log.error("cannot dead-letter a claim without its source", reason=reason)
            return
        incoming = Incoming(
            topic=ref.topic,
            partition=ref.partition,
            offset=ref.offset,
            timestamp_ms=ref.timestamp_ms,
            key=ref.key.encode() if ref.key is not None else None,
            value=source_json.encode(),
        )
        failure = Failure(
            kind="invalid-input",
            reason=reason,
            error_class="workers.claims.processor.ClaimNotReleased",
            message=message[:2000],
            stacktrace="",
        )
        record = dead_letter(
            incoming, failure, processor=PROCESSOR, consumer_group=w.consumer_group, attempts=1
        )
        await w.sink.deliver(record)
        w.metrics.dead_lettered(PROCESSOR, ref.topic, reason)
        log.warning("claim dead-lettered", reason=reason, source_offset=ref.offset)

    # --- release -------------------------------------------------------------------
    def build_claims(
        entries: list[tuple[str, PendingEntry]],
    ) -> tuple[
        list[tuple[Claim, list[tuple[str, PendingEntry]]]], list[tuple[str, PendingEntry, str]]
    ]:
        groups: dict[str, list[tuple[str, PendingEntry]]] = {}
        for key, entry in entries:
            ident = entry.claim_identity if entry.kind == "session" else f"v:{key}"
            groups.setdefault(ident, []).append((key, entry))
        claims: list[tuple[Claim, list[tuple[str, PendingEntry]]]] = []
        failed: list[tuple[str, PendingEntry, str]] = []
        for members in groups.values():
            first = members[0][1]
            try:
                if first.kind == "version":
                    assert first.claim_json is not None
                    claim = Claim.parse_json(first.claim_json)
                else:
                    sources = [state.billable_of(k, e) for k, e in members]
                    claim = assemble_claim(sources, mode)
            except ValueError as exc:
                failed += [(k, e, f"claim cannot be assembled: {exc}") for k, e in members]
                continue
            claims.append((claim, members))
        return claims, failed

    async def release_batch(
        batch: list[tuple[str, PendingEntry]], partner: TradingPartner, when: datetime
    ) -> list[Outgoing]:
        claims, failed = build_claims(batch)
        candidates = []
        in_file: set[str] = set()
        for claim, members in claims:
            if claim.patient_control_number in in_file:
                continue  # a later version of a claim in this file waits for the next file
            in_file.add(claim.patient_control_number)
            candidates.append((claim, members))
        numbers, last = batching.reserve(state.sequence(partner.receiver_id))
        # The numbers are reserved at once; the broker's acknowledgement is awaited
        # only before the file is written, so it arrives while the file is rendered
        # and checked.  (A batch none of whose claims renders leaves its numbers
        # unused: interchange numbers must be unique, not unbroken.)
        reserved = state.reserve_sequence(partner.receiver_id, last) if candidates else None
        # The file is rendered once; only when that fails is each claim rendered
        # alone, to dead-letter the ones that cannot be rendered and keep the rest.
        rendered = None
        if candidates:
            try:
                rendered = render_837p([c for c, _ in candidates], partner, numbers, when)
            except (X12Error, ValueError):
                rendered = None
        renderable = candidates if rendered is not None else []
        if rendered is None:
            for claim, members in candidates:
                try:
                    render_837p([claim], partner, batching.reserve(0)[0], when)
                except (X12Error, ValueError) as exc:
                    failed += [
                        (k, e, f"claim {claim.claim_id} cannot be rendered: {exc}")
                        for k, e in members
                    ]
                    continue
                renderable.append((claim, members))
        if reserved is not None and (failed or rendered is None):
            await reserved  # an unusual batch: its reservation is settled first
            reserved = None
        for key, entry, why in failed:
            await dead_letter_stored(entry.source_json, entry.source_ref, "render-failed", why)
            state.drop_pending(key)
        if not renderable:
            return []
        if rendered is None:
            try:
                rendered = render_837p([c for c, _ in renderable], partner, numbers, when)
            except (X12Error, ValueError) as exc:  # each claim rendered alone: a defect if here
                for _claim, members in renderable:
                    for key, entry in members:
                        await dead_letter_stored(
                            entry.source_json,
                            entry.source_ref,
                            "render-failed",
                            f"file cannot be rendered: {exc}",
                        )
                        state.drop_pending(key)
                return []
        verdict = await gate.check(rendered.text)
        if reserved is not None:
            await reserved  # a file is written only once its numbers are on record
        if not verdict.ok:
            why = "837P validation failed: " + "; ".join(verdict.findings[:10])
            for _claim, members in renderable:
                for key, entry in members:
                    await dead_letter_stored(
                        entry.source_json, entry.source_ref, "validation-failed", why
                    )
                    state.drop_pending(key)
            w.metrics.outcome(PROCESSOR, "file-refused")
            log.error(
                "837 file refused by the validation gate",
                receiver=partner.receiver_id,
                interchange=numbers.interchange,
                findings=len(verdict.findings),
            )
            return []
        data = rendered.text.encode("utf-8")
        stamp = when.strftime("%Y%m%dT%H%M%SZ")
        name = (
            f"{partner.isa_sender_id.strip()}_{partner.isa_receiver_id.strip()}_"
            f"{numbers.interchange:09d}_{stamp}.x12"
        ).replace(" ", "")
        # fsync waits on the disk: in a thread, so the other partitions and stages
        # go on meanwhile (this partition's lock is still held)
        path = await asyncio.to_thread(write_atomically, outbox / partner.receiver_id, name, data)
        out: list[Outgoing] = []
        billing_npi = renderable[0][0].billing_provider.npi
        for claim, members in renderable:
            for key, _entry in members:
                state.drop_pending(key)
            sent = ClaimVersionSent(
                claim_id=claim.claim_id,
                frequency=claim.frequency,
                file_name=name,
                interchange=numbers.interchange,
                sent_at=when,
            )
            record = state.record(claim.patient_control_number)
            sources = [e.source_json for _, e in members if e.source_json and e.kind == "session"]
            if record is None:
                record = ClaimRecord.new(
                    patient_control_number=claim.patient_control_number,
                    receiver_id=claim.receiver_id,
                    claim_identity=members[0][1].claim_identity,
                    status="submitted",
                    current_json=claim.model_dump_json(),
                    sources_json=sources,
                    versions=[sent],
                    front_door_at=when,
                )
            else:
                record = record.model_copy(
                    update={
                        "current_json": claim.model_dump_json(),
                        "versions": [*record.versions, sent],
                        "status": "voided" if claim.frequency == "8" else "submitted",
                        "front_door": "sent",
                        "front_door_at": when,
                    }
                )
            state.put_record(record)
            for session_key in claim.session_keys:
                state.sessions[session_key.encode()] = claim.patient_control_number.encode()
            event = ClaimSubmitted.of(
                claim,
                file_name=name,
                control_numbers=numbers,
                submitted_at=when,
            )
            out.append(
                Outgoing(
                    "claims.submitted",
                    claim.patient_control_number.encode(),
                    encode(event),
                    (("claims.event_type", b"ClaimSubmitted"),),
                )
            )
        state.put_transmission(
            Transmission.new(
                receiver_id=partner.receiver_id,
                file_name=name,
                interchange=numbers.interchange,
                claims={c.patient_control_number: c.claim_id for c, _ in renderable},
                sent_at=when,
            )
        )
        released = FileReleased.new(
            file_name=name,
            path=str(path),
            receiver_id=partner.receiver_id,
            billing_provider_npi=billing_npi,
            usage=partner.usage,
            control_numbers=numbers,
            claim_count=len(renderable),
            claim_ids=[c.claim_id for c, _ in renderable],
            size_bytes=len(data),
            sha256=sha256(data),
            validated=gate.enabled,
            transliterations=rendered.transliterations,
            released_at=when,
        )
        out.append(
            Outgoing(
                "edi.outbound",
                partner.receiver_id.encode(),
                encode(released),
                (("claims.event_type", b"FileReleased"),),
            )
        )
        w.metrics.outcome(PROCESSOR, "file-released")
        w.metrics.outcome(PROCESSOR, "claims-released", len(renderable))
        log.info(
            "837 file released",
            file=name,
            receiver=partner.receiver_id,
            claims=len(renderable),
            interchange=numbers.interchange,
        )
        return out

    async def release_due(
        receiver: str, batch_key: str, when: datetime, exact: bool = False
    ) -> list[Outgoing]:
        """Release the batch's due files.  An arrival asks the batch's kept summary
        (no read of the batch); a tick asks the table (``exact``), and every release
        is confirmed from the table, so a summary that drifted from the table can
        neither hold a batch past the next tick nor release what is not there."""
        partner = partners.get(receiver)
        if partner is None:
            log.warning("claims wait: no trading partner configured", receiver=receiver)
            return []
        out: list[Outgoing] = []
        while state.is_due(receiver, batch_key, partner, when, exact=exact):
            entries = state.pending_of(receiver, batch_key)
            if not batching.is_due([e for _, e in entries], partner, when):
                state.is_due(receiver, batch_key, partner, when, exact=True)  # the table wins
                w.metrics.outcome(PROCESSOR, "batch-summary-resynced")
                break
            chosen = batching.take_batch([e for _, e in entries], partner)
            ids = {id(e) for e in chosen}
            out += await release_batch([(k, e) for k, e in entries if id(e) in ids], partner, when)
        return out

    # --- changes to submitted claims -----------------------------------------------
    def queue_changes(record: ClaimRecord, when: datetime) -> ClaimRecord:
        """Turn waiting changes into pending versions once the payer's number is known."""
        changes = ready_changes(record)
        if not changes:
            return record
        current = Claim.parse_json(record.current_json)
        sources = [BillableSession.parse_json(s) for s in record.sources_json]
        for change in changes:
            assert record.payer_claim_number is not None
            try:
                version = apply_change(current, change, record.payer_claim_number, sources, mode)
            except ChangeRefused as exc:
                log.warning(
                    "claim change refused", pcn=record.patient_control_number, reason=str(exc)
                )
                continue
            entry = PendingEntry.new(
                receiver_id=record.receiver_id,
                batch_key=version.billing_provider.npi,
                claim_identity=record.claim_identity,
                kind="version",
                claim_json=version.model_dump_json(),
                source_json=change.source_json,
                source_ref=change.source_ref,
                received_at=when,
            )
            state.add_pending(ClaimsState.pending_key(entry, version.claim_id), entry)
            current = version
        return record.model_copy(update={"waiting": []})

    def request_change(record: ClaimRecord, change: PendingChange, when: datetime) -> None:
        record = record.model_copy(update={"waiting": [*record.waiting, change]})
        state.put_record(queue_changes(record, when))

    # --- superbills (self-pay and HSA sessions) -------------------------------------
    async def issue_superbill(msg: Incoming, scope: Scope) -> list[Outgoing]:
        event = decode(parse_charges, msg.value)
        if isinstance(event, ChargesWithdrawn) or event.billed_to_payer:
            return []
        scope.bind(clinic_id=event.clinic_id, session_key=event.session_key)
        when = now()
        bill = superbill(event, when.date())
        directory = outbox / "superbills" / event.clinic_id
        try:
            path = await asyncio.to_thread(write_atomically, directory, bill.file_name, bill.pdf)
            digest = sha256(bill.pdf)
        except DeliveryError:  # issued before (a redelivery): announce the file there is
            path = directory / bill.file_name
            digest = sha256(path.read_bytes())
        issued = SuperbillIssued.new(
            session_key=event.session_key,
            clinic_id=event.clinic_id,
            patient_id=event.patient_id,
            coverage=bill.coverage,
            file_name=bill.file_name,
            path=str(path),
            sha256=digest,
            total_charge=bill.totals.charges,
            amount_paid=bill.totals.paid,
            balance=bill.totals.balance,
            issued_at=when,
        )
        w.metrics.outcome(PROCESSOR, "superbill-issued")
        log.info("superbill issued", file=bill.file_name)
        return [
            Outgoing(
                "documents.issued",
                event.session_key.encode(),
                encode(issued),
                (("claims.event_type", b"SuperbillIssued"),),
            )
        ]

    # --- handlers ------------------------------------------------------------------
    async def on_charges(msg: Incoming, scope: Scope) -> list[Outgoing]:
        key = msg.key_text or ""
        if not key or partition_for(key, partitions) != msg.partition:
            raise InvalidInput(
                "misrouted", "charges.billable is keyed by receiver id with the default partitioner"
            )
        event = decode(parse_charges, msg.value)
        when = now()
        async with locks[msg.partition]:
            if isinstance(event, ChargesWithdrawn):
                return await on_withdrawn(event, msg, scope, when)
            b = event
            scope.bind(clinic_id=b.clinic_id, session_key=b.session_key)
            if not b.billed_to_payer or b.receiver_id is None:
                return []
            if b.receiver_id != key:
                raise InvalidInput("key-mismatch", "message key is not the session's receiver")
            identity = claim_identity(b, mode)
            pcn = patient_control_number(b.enriched.clinic, identity)
            batch_key = b.enriched.clinic.npi
            entry_key = f"{b.receiver_id}|{batch_key}|{b.session_key}"
            record = state.record(pcn)
            if state.has_pending(entry_key) or state.claim_of_session(b.session_key):
                w.metrics.outcome(PROCESSOR, "duplicate")
                log.info("duplicate billable session ignored")
                return []
            if record is not None:  # day mode: a session joins a claim already sent
                record = record.model_copy(
                    update={"sources_json": [*record.sources_json, msg.value.decode()]}  # type: ignore[union-attr]
                )
                change = PendingChange(
                    action="correct",
                    reassemble=True,
                    reason="session added to the claim's date of service",
                    source_json=msg.value.decode(),  # type: ignore[union-attr]
                    source_ref=_ref(msg),
                    requested_at=when,
                )
                request_change(record, change, when)
                state.sessions[b.session_key.encode()] = pcn.encode()
                return []
            entry = PendingEntry.new(
                receiver_id=b.receiver_id,
                batch_key=batch_key,
                claim_identity=identity,
                kind="session",
                source_json=msg.value.decode(),  # type: ignore[union-attr]
                source_ref=_ref(msg),
                received_at=when,
            )
            state.add_pending(entry_key, entry, b)
            w.metrics.outcome(PROCESSOR, "claim-pending")
            return await release_due(b.receiver_id, batch_key, when)

    async def on_withdrawn(
        event: ChargesWithdrawn, msg: Incoming, scope: Scope, when: datetime
    ) -> list[Outgoing]:
        scope.bind(session_key=event.session_key)
        receiver = event.receiver_id or (msg.key_text or "")
        pending = state.pending_for_session(receiver, event.session_key)
        if pending is not None:
            state.drop_pending(pending)
            w.metrics.outcome(PROCESSOR, "withdrawn-before-claim")
            log.info("session withdrawn before it was claimed")
            return []
        pcn = state.claim_of_session(event.session_key)
        record = state.record(pcn) if pcn else None
        if record is None or record.status == "voided":
            return []
        change = PendingChange(
            action="void",
            reason="session cancelled by the clinic",
            source_json=msg.value.decode() if msg.value else None,
            source_ref=_ref(msg),
            requested_at=when,
        )
        request_change(record, change, when)
        w.metrics.outcome(PROCESSOR, "void-requested")
        log.info("void requested for a claimed session", pcn=record.patient_control_number)
        return []

    # Two lanes over charges.billable: claims (keyed by receiver) and superbills
    # (self-pay, keyed by clinic).  A superbill waits on the disk (its PDF is
    # written and synced before its offset may be committed); in its own lane
    # that wait does not hold up the claims behind it.
    w.consume("charges.billable", PROCESSOR, on_charges, accepts=_not_self_pay)
    w.consume("charges.billable", PROCESSOR, issue_superbill, lane="superbills", accepts=_self_pay)

    async def on_command(msg: Incoming, scope: Scope) -> list[Outgoing]:
        command = decode(ClaimCommand, msg.value)
        scope.bind(pcn=command.patient_control_number)
        when = now()
        async with locks[msg.partition]:
            if command.action == "submit":
                return await submit_claim(command, msg, when)
            record = state.record(command.patient_control_number)
            if record is None:
                raise InvalidInput(
                    "unknown-claim",
                    "no submitted claim has this patient "
                    "control number in this receiver's partition",
                )
            if command.action == "secondary":
                return request_secondary(record, command, when)
            if command.action == "payer-claim-number":
                if not command.payer_claim_number:
                    raise InvalidInput("schema-invalid", "payer_claim_number: required")
                record = record.model_copy(
                    update={
                        "payer_claim_number": command.payer_claim_number,
                        "remitted_at": record.remitted_at or when,
                    }
                )
                state.put_record(queue_changes(record, when))
            elif command.action == "resend" or record.front_door == "rejected":
                closed = resend_rejected(record, command, msg, when)
                if closed:
                    return closed
            else:
                assert command.action in ("void", "correct")
                change = PendingChange(
                    action=command.action,
                    reason=command.reason,
                    line_units=command.line_units,
                    diagnosis_codes=command.diagnosis_codes,
                    source_json=msg.value.decode() if msg.value else None,
                    source_ref=_ref(msg),
                    requested_at=when,
                )
                request_change(record, change, when)
            out: list[Outgoing] = []
            for receiver, batch_key in state.batches(msg.partition):
                if receiver == record.receiver_id:
                    out += await release_due(receiver, batch_key, when)
            return out

    w.consume("claims.commands", PROCESSOR, on_command)

    # --- coordination of benefits -----------------------------------------------------
    def request_secondary(
        record: ClaimRecord, command: ClaimCommand, when: datetime
    ) -> list[Outgoing]:
        """Build the secondary claim from the primary's answer and send it to the
        partition of the next payer's receiver (a ``submit`` command)."""
        if record.secondary_pcn is not None:
            w.metrics.outcome(PROCESSOR, "duplicate")
            return []  # built already
        if command.remittance is None or command.paid_on is None:
            raise InvalidInput("schema-invalid", "remittance and paid_on: required")
        primary = Claim.parse_json(record.current_json)
        sources = [BillableSession.parse_json(x) for x in record.sources_json]
        try:
            claim = secondary_claim(primary, sources, command.remittance, command.paid_on)
        except SecondaryRefused as exc:
            raise InvalidInput("secondary-refused", str(exc)) from None
        state.put_record(record.model_copy(update={"secondary_pcn": claim.patient_control_number}))
        submit = ClaimCommand.new(
            action="submit",
            patient_control_number=claim.patient_control_number,
            receiver_id=claim.receiver_id,
            claim=claim,
            requested_by="claims",
            requested_at=when,
        )
        w.metrics.outcome(PROCESSOR, "secondary-claim-built")
        log.info(
            "secondary claim built",
            pcn=claim.patient_control_number,
            primary=record.patient_control_number,
            receiver=claim.receiver_id,
        )
        return [Outgoing("claims.commands", claim.receiver_id.encode(), encode(submit))]

    async def submit_claim(command: ClaimCommand, msg: Incoming, when: datetime) -> list[Outgoing]:
        """A claim built elsewhere (a secondary claim) joins its receiver's batch."""
        claim = command.claim
        if claim is None or claim.receiver_id != command.receiver_id:
            raise InvalidInput("schema-invalid", "claim: required, for the command's receiver")
        if msg.key_text != claim.receiver_id:
            raise InvalidInput("key-mismatch", "message key is not the claim's receiver")
        entry = PendingEntry.new(
            receiver_id=claim.receiver_id,
            batch_key=claim.billing_provider.npi,
            claim_identity=f"secondary:{claim.patient_control_number}",
            kind="version",
            claim_json=claim.model_dump_json(),
            source_json=msg.value.decode() if msg.value else None,
            source_ref=_ref(msg),
            received_at=when,
        )
        key = ClaimsState.pending_key(entry, claim.claim_id)
        if state.record(claim.patient_control_number) is not None or state.has_pending(key):
            w.metrics.outcome(PROCESSOR, "duplicate")
            return []
        state.add_pending(key, entry)
        w.metrics.outcome(PROCESSOR, "claim-pending")
        return await release_due(claim.receiver_id, entry.batch_key, when)

    # --- the front door: rejected claims and acknowledgements --------------------------
    def resend_rejected(
        record: ClaimRecord, command: ClaimCommand, msg: Incoming, when: datetime
    ) -> list[Outgoing]:
        """A claim the front door rejected goes again as a new original (frequency 1);
        voiding it only closes it here (the payer never took it in)."""
        if record.front_door != "rejected":
            raise InvalidInput(
                "not-rejected",
                f"claim is {record.front_door} at the front door: only a rejected claim is "
                "resent (use correct or void for a claim the payer took in)",
            )
        if command.action == "void":
            state.put_record(record.model_copy(update={"status": "voided"}))
            w.metrics.outcome(PROCESSOR, "rejected-claim-closed")
            log.info("rejected claim closed without sending", pcn=record.patient_control_number)
            # a tombstone on the rejections queue: resolved, nothing to resend
            return [Outgoing("claims.rejections", record.patient_control_number.encode(), None)]
        current = Claim.parse_json(record.current_json)
        if state.has_pending(
            ClaimsState.pending_key(
                PendingEntry.new(
                    receiver_id=record.receiver_id,
                    batch_key=current.billing_provider.npi,
                    claim_identity=record.claim_identity,
                    kind="version",
                    received_at=when,
                ),
                f"{current.patient_control_number}-{current.version + 1}",
            )
        ):
            w.metrics.outcome(PROCESSOR, "duplicate")
            return []  # the resend is already waiting for its batch
        try:
            version = resend_version(current, command.line_units, command.diagnosis_codes)
        except ChangeRefused as exc:
            raise InvalidInput("change-refused", str(exc)) from None
        entry = PendingEntry.new(
            receiver_id=record.receiver_id,
            batch_key=version.billing_provider.npi,
            claim_identity=record.claim_identity,
            kind="version",
            claim_json=version.model_dump_json(),
            source_json=msg.value.decode() if msg.value else None,
            source_ref=_ref(msg),
            received_at=when,
        )
        state.add_pending(ClaimsState.pending_key(entry, version.claim_id), entry)
        w.metrics.outcome(PROCESSOR, "rejected-claim-resent")
        log.info("rejected claim queued as a new original", pcn=record.patient_control_number)
        return []

    def announce(events: list[ClaimFrontDoor | ClaimRejected]) -> list[Outgoing]:
        out = []
        for event in events:
            topic = (
                "claims.rejections" if isinstance(event, ClaimRejected) else "claims.acknowledged"
            )
            out.append(
                Outgoing(
                    topic,
                    event.patient_control_number.encode(),
                    encode(event),
                    (("claims.event_type", type(event).__name__.encode()),),
                )
            )
            if isinstance(event, ClaimFrontDoor):
                w.metrics.outcome(PROCESSOR, f"front-door-{event.status}")
        return out

    def apply(record: ClaimRecord, verdict: front_door.Verdict, when: datetime) -> list[Outgoing]:
        applied = front_door.apply_verdict(record, verdict, when)
        if applied.duplicate:
            w.metrics.outcome(PROCESSOR, "acknowledgement-repeated")
            return []
        state.put_record(applied.record)
        return announce(applied.events)

    async def on_ack(msg: Incoming, scope: Scope) -> list[Outgoing]:
        key = msg.key_text or ""
        if not key or partition_for(key, partitions) != msg.partition:
            raise InvalidInput(
                "misrouted", "acks.inbound is keyed by receiver id with the default partitioner"
            )
        ack = decode(parse_ack, msg.value)
        if ack.receiver_id != key:
            raise InvalidInput("key-mismatch", "message key is not the acknowledgement's receiver")
        when = now()
        async with locks[msg.partition]:
            if isinstance(ack, TransactionAcknowledged):
                return on_999(ack, when)
            return on_277(ack, scope, when)

    def on_999(ack: TransactionAcknowledged, when: datetime) -> list[Outgoing]:
        if ack.functional_id != "HC":
            raise InvalidInput(
                "not-a-claim-acknowledgement",
                f"the 999 acknowledges a functional group of type {ack.functional_id}, not 837 "
                "claims (HC)",
            )
        number = int(ack.group_control_number) if ack.group_control_number.isdigit() else None
        sent = state.transmission(ack.receiver_id, number) if number is not None else None
        if sent is None:
            raise InvalidInput(
                "unknown-transmission",
                "no 837 file sent to this receiver has the group control number the 999 names "
                "(AK102)",
            )
        response = ack.response
        if response is not None and (
            not response.control_number.isdigit() or int(response.control_number) != number
        ):
            raise InvalidInput(
                "unknown-transmission",
                "the 999's AK202 is not the transaction set control number of the file its "
                "AK102 names",
            )
        out: list[Outgoing] = []
        for pcn, claim_id in sorted(sent.claims.items()):
            record = state.record(pcn)
            if record is None:  # written with the transmission; absent only if state was lost
                log.error("999 names a claim with no record", pcn=pcn, claim_id=claim_id)
                w.metrics.outcome(PROCESSOR, "999-claim-without-record")
                continue
            out += apply(record, front_door.verdict_of_999(ack, claim_id), when)
        w.metrics.outcome(PROCESSOR, "999-applied")
        return out

    def on_277(ack: ClaimStatusReceived, scope: Scope, when: datetime) -> list[Outgoing]:
        pcn = ack.claim.patient_control_number
        if not pcn:
            raise InvalidInput(
                "no-claim-reference", "the claim status names no patient control number"
            )
        scope.bind(pcn=pcn)
        record = state.record(pcn)
        if record is None:
            raise InvalidInput(
                "unknown-claim",
                "no submitted claim has this patient control number in this receiver's partition",
            )
        claim_id = front_door.version_acknowledged(record, ack.batch_reference)
        out = apply(record, front_door.verdict_of_277(ack, claim_id), when)
        w.metrics.outcome(PROCESSOR, f"{ack.kind}-applied")
        return out

    w.consume("acks.inbound", PROCESSOR, on_ack)

    async def on_tick(msg: Incoming, scope: Scope) -> list[Outgoing]:
        await mirror.wait_ready(settings.reference_ready_timeout_s)
        when = now()
        out: list[Outgoing] = []
        async with locks[msg.partition]:
            for receiver, batch_key in state.batches(msg.partition):
                out += await release_due(receiver, batch_key, when, exact=True)
        return out

    w.consume("state.claims.ticks", PROCESSOR, on_tick)

    async def tick() -> None:
        value = b'{"tick": true}'
        for p in range(partitions):
            await w.sink.send(Outgoing("state.claims.ticks", b"tick", value, partition=p))

    w.timer(settings.claims_tick_interval_s, tick, name="claims_batch_tick")
