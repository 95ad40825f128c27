"""Releasing 837 files from due batches (faust edge of :mod:`workers.claims.filing`).

Control numbers are reserved (the changelog record is sent) before the file is
rendered, and *acknowledged by the broker* before anything is written; a claim
that cannot be rendered is dead-lettered alone; a file that fails validation is
not written and its claims go to ``charges.billable.dlq`` with the validator's
findings; a valid file is written atomically (mode 0600) to
``<outbox>/<receiver>/`` and announced on ``edi.outbound``, and each claim on
``claims.submitted``.  A day whose visits together earn no unit is not a claim:
its sessions are rejected ``no-billable-units`` on ``sessions.rejected``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import structlog

from schemas.claims import TradingPartner
from schemas.outcomes import SessionRejected
from schemas.state import PendingEntry
from workers.claims import batching, filing
from workers.claims.gate import Gate
from workers.claims.state import ClaimsState, PartnerCatalog
from workers.runtime.app import Wiring
from workers.runtime.atomic_files import sha256, write_atomically
from workers.runtime.codec import encode, encode_compact
from workers.runtime.dead_letters import stored_dead_letter
from workers.runtime.records import Outgoing

log = structlog.stdlib.get_logger("claims.claims")

PROCESSOR = "claims"
_ANNOUNCED = (("claims.event_type", b"ClaimSubmitted"),)


class Releaser:
    """Turns due batches into files (the partition's lock is held by the caller)."""

    def __init__(
        self, w: Wiring, state: ClaimsState, partners: PartnerCatalog, outbox: Path
    ) -> None:
        self.w = w
        self.state = state
        self.partners = partners
        self.outbox = outbox
        self.gate = Gate(w.settings.claims_validation_workers, enabled=w.settings.claims_validate)

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
            chosen = {id(e) for e in batching.take_batch([e for _, e in entries], partner, now)}
            batch = [(k, e) for k, e in entries if id(e) in chosen]
            out += await self.release_batch(batch, partner, now)
        return out

    async def release_batch(
        self, batch: list[filing.Entry], partner: TradingPartner, now: datetime
    ) -> list[Outgoing]:
        """One file from a due batch: assemble, reserve numbers, render, check, write."""
        assembled = filing.assemble(batch, self.state.billable_of)
        numbers, last = batching.reserve(self.state.sequence(partner.receiver_id))
        # The numbers are reserved at once; the broker's acknowledgement is awaited
        # only before the file is written, so it arrives while the file is rendered
        # and checked.  (A batch none of whose claims renders leaves its numbers
        # unused: interchange numbers must be unique, not unbroken.)
        reserved = None
        if assembled.candidates:
            reserved = self.state.reserve_sequence(partner.receiver_id, last)
        plan = filing.render(assembled, partner, numbers, now)
        rejected = self.reject_unbillable(assembled.unbillable, now)
        if reserved is not None and (plan.refused or not plan.whole):
            await reserved  # an unusual batch: its reservation is settled first
            reserved = None
        await self.refuse(plan.refused)
        if plan.file is None:
            return rejected
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
            return rejected
        return rejected + await self.write(plan, partner, now)

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
        # the claim as sent, without the fields at their default (as the hand-offs)
        out = [
            Outgoing(
                "claims.submitted", e.patient_control_number.encode(), encode_compact(e), _ANNOUNCED
            )
            for e in release.submitted
        ]
        out += [
            Outgoing("claims.attachments", due.control_number.encode(), encode(due))
            for due in filing.attachments_due(release.submitted, now)
        ]
        headers = (("claims.event_type", b"FileReleased"),)
        receiver = partner.receiver_id.encode()
        out.append(Outgoing("edi.outbound", receiver, encode(release.file), headers))
        self.w.metrics.outcome(PROCESSOR, "file-released")
        self.w.metrics.outcome(PROCESSOR, "claims-released", len(release.records))
        # pending entries the file took (a day's claim may hold several visits): with
        # "claim-pending" (one per entry), what is still waiting in batches
        self.w.metrics.outcome(PROCESSOR, "entries-released", len(release.released_keys))
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

    def reject_unbillable(self, days: list[filing.Unbillable], now: datetime) -> list[Outgoing]:
        """A day whose visits earn no unit together: each of its sessions is rejected."""
        out: list[Outgoing] = []
        for day in days:
            for key, entry in day.members:
                billable = self.state.billable_of(key, entry)
                rejected = SessionRejected.new(
                    session_key=billable.session_key,
                    session=billable.enriched.session,
                    reason="no-billable-units",
                    message=day.message,
                    rejected_at=now,
                    details={"stage": "claims", "date_of_service": str(billable.date_of_service)},
                )
                patient = f"{billable.clinic_id}:{billable.patient_id}".encode()
                headers = (("claims.event_type", b"SessionRejected"),)
                out.append(Outgoing("sessions.rejected", patient, encode(rejected), headers))
                self.state.drop_pending(key)
            self.w.metrics.outcome(PROCESSOR, "day-unbillable")
            log.info(
                "day of service earns no unit: its sessions are rejected",
                sessions=len(day.members),
            )
        return out
