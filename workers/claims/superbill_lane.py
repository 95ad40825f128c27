"""The superbill lane of ``charges.billable``: self-pay and HSA sessions (faust edge).

A session the patient pays (self-pay, HSA) gets no claim but a superbill: a PDF
the patient can send to an HSA administrator or a payer, written atomically
(mode 0600) under ``<outbox>/superbills/<clinic>/`` and announced on
``documents.issued``.  The PDF is written and synced before the message's offset
may be committed; in a lane of its own that wait does not hold up the claims.
A redelivered session finds its file there and announces it again.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import structlog

from schemas.billing import ChargesWithdrawn, parse_charges
from schemas.documents import SuperbillIssued
from workers.documents.superbill import superbill
from workers.runtime.app import Wiring
from workers.runtime.atomic_files import DeliveryError, sha256, write_atomically
from workers.runtime.codec import decode, encode
from workers.runtime.processing import Scope
from workers.runtime.records import Incoming, Outgoing

log = structlog.stdlib.get_logger("claims.claims")

PROCESSOR = "claims"


def is_self_pay(key: bytes | None) -> bool:
    """A self-pay session's key on ``charges.billable`` (see :func:`billing_key`)."""
    return key is not None and key.startswith(b"self-pay:")


class SuperbillLane:
    def __init__(self, w: Wiring, outbox: Path) -> None:
        self.w = w
        self.outbox = outbox

    async def issue_superbill(self, msg: Incoming, scope: Scope) -> list[Outgoing]:
        event = decode(parse_charges, msg.value)
        if isinstance(event, ChargesWithdrawn) or event.billed_to_payer:
            return []
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
