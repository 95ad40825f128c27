"""Superbills: self-pay and HSA sessions, read from ``charges.self-pay`` (faust edge).

A session the patient pays (self-pay, HSA) gets no claim but a superbill: a PDF
the patient can send to an HSA administrator or a payer, written atomically
(mode 0600) under ``<outbox>/superbills/<clinic>/`` and announced on
``documents.issued``.  The PDF is written and synced before the message's offset
may be committed; on a topic of its own that wait does not hold up the claims.
A redelivered session finds its file there and announces it again.  A visit the
clinic cancels afterwards has its superbill voided (the file removed, a
``SuperbillVoided`` announced), so it charges the patient nothing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import structlog

from schemas.billing import SELF_PAY_PREFIX, ChargesWithdrawn, parse_charges
from schemas.documents import SuperbillIssued, SuperbillVoided
from workers.documents.superbill import superbill
from workers.runtime.app import Wiring
from workers.runtime.atomic_files import DeliveryError, sha256, write_atomically
from workers.runtime.codec import decode, encode
from workers.runtime.dead_letters import original_headers
from workers.runtime.failures import InvalidInput
from workers.runtime.processing import Scope
from workers.runtime.records import Incoming, Outgoing

log = structlog.stdlib.get_logger("claims.claims")

PROCESSOR = "claims"


def is_self_pay(key: bytes | None) -> bool:
    """The key a self-pay or HSA session had on ``charges.billable`` before
    ``charges.self-pay`` existed (``self-pay:<clinic_id>``)."""
    return key is not None and key.startswith(SELF_PAY_PREFIX.encode())


def moved_to_self_pay(msg: Incoming) -> list[Outgoing]:
    """A self-pay session (or its withdrawal) still on ``charges.billable`` from before
    the upgrade goes on to ``charges.self-pay``, keyed by its clinic, as it came: its
    superbill is issued (or voided) there, nothing is left behind."""
    assert msg.key is not None
    clinic = msg.key[len(SELF_PAY_PREFIX) :]
    log.info("self-pay session moved to charges.self-pay", offset=msg.offset)
    headers = tuple(original_headers(msg.headers))  # not a replay's or dead letter's marks
    return [Outgoing("charges.self-pay", clinic, msg.value, headers)]


class SuperbillLane:
    def __init__(self, w: Wiring, outbox: Path) -> None:
        self.w = w
        self.outbox = outbox

    async def issue_superbill(self, msg: Incoming, scope: Scope) -> list[Outgoing]:
        event = decode(parse_charges, msg.value)
        if isinstance(event, ChargesWithdrawn):
            return await self.void_superbill(event, scope)
        if event.billed_to_payer:
            raise InvalidInput(
                "misrouted",
                "charges.self-pay carries self-pay and HSA sessions only "
                "(billed_to_payer: must be false); a payer's session goes on charges.billable",
            )
        scope.bind(clinic_id=event.clinic_id, session_key=event.session_key)
        now = self.w.now()
        bill = superbill(event, now.date())
        directory = self.outbox / "superbills" / event.clinic_id
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
            date_of_service=event.date_of_service,
            file_name=bill.file_name,
            path=str(path),
            sha256=digest,
            total_charge=bill.totals.charges,
            amount_paid=bill.totals.paid,
            balance=bill.totals.balance,
            issued_at=now,
        )
        self.w.metrics.outcome(PROCESSOR, "superbill-issued")
        log.info("superbill issued", file=bill.file_name)
        headers = (("claims.event_type", b"SuperbillIssued"),)
        return [Outgoing("documents.issued", event.session_key.encode(), encode(issued), headers)]

    async def void_superbill(self, event: ChargesWithdrawn, scope: Scope) -> list[Outgoing]:
        """A self-pay visit cancelled after its superbill was issued: the PDF leaves the
        outbox and the visit charges nothing (a redelivery finds nothing to remove)."""
        withdrawn = event.withdrawn
        scope.bind(clinic_id=withdrawn.clinic_id, session_key=event.session_key)
        name = f"superbill_{withdrawn.clinic_id}_{withdrawn.session_id}.pdf"
        path = self.outbox / "superbills" / withdrawn.clinic_id / name
        await asyncio.to_thread(path.unlink, missing_ok=True)
        voided = SuperbillVoided.new(
            session_key=event.session_key,
            clinic_id=withdrawn.clinic_id,
            patient_id=withdrawn.patient_id,
            file_name=name,
            cancel_event_id=withdrawn.cancel_event_id,
            voided_at=self.w.now(),
        )
        self.w.metrics.outcome(PROCESSOR, "superbill-voided")
        log.info("superbill voided: the visit was cancelled", file=name)
        headers = (("claims.event_type", b"SuperbillVoided"),)
        return [Outgoing("documents.issued", event.session_key.encode(), encode(voided), headers)]
