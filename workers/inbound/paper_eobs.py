"""``claims post eob FILE``: paper EOBs posted like 835 claim payments.

Each valid line becomes a :class:`~schemas.reconciliation.RemittanceClaim` on
``remits.835.inbound`` (key: the claim), so the reconciliation posts it with the
same rules as an 835: same ledger, same denials, same reports.  Its remittance
id is made of the payer, the check number and the claim, so the same EOB line
loaded again is the same posting and is posted once.  Bad lines are reported
with their line number, field and rule (never a value); the good ones are posted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from pydantic import ValidationError

from schemas.base import describe_errors
from schemas.paper_eob import PaperEob
from schemas.reconciliation import RemittanceClaim, RemittanceSource
from schemas.remittance import Adjustment, ClaimPayment, Payee, Payer, Payment, ServicePayment
from workers.runtime.records import Outgoing

INBOUND = "remits.835.inbound"


@dataclass
class EobReport:
    lines: int = 0
    posted: int = 0
    errors: list[tuple[int, list[str]]] = field(default_factory=list)


def remittance_of(eob: PaperEob) -> RemittanceClaim:
    """The EOB line as the claim payment an 835 would have carried (its lines match the
    claim's by procedure, modifiers and units)."""
    key = f"{eob.payer_id}|{eob.check_number}|{eob.patient_control_number}"
    rid = "EOB" + hashlib.sha256(key.encode()).hexdigest()[:18].upper()
    adjustments = tuple(Adjustment(group=a.group, reason=a.reason, amount=a.amount)
                        for a in eob.adjustments)  # fmt: skip
    services = tuple(
        ServicePayment(
            procedure=ln.procedure,
            modifiers=tuple(ln.modifiers),
            charge=ln.charge,
            paid=ln.paid,
            units=Decimal(ln.units),
            adjustments=tuple(
                Adjustment(group=a.group, reason=a.reason, amount=a.amount) for a in ln.adjustments
            ),
        )
        for ln in eob.lines
    )
    working = [a for a in (*adjustments, *(a for s in services for a in s.adjustments))
               if a.group != "PR"]  # fmt: skip
    status = "4" if eob.paid == 0 and working else "1"
    return RemittanceClaim.new(
        remittance_id=rid,
        index=1,
        payer=Payer(name=eob.payer_name, id=eob.payer_id),
        payee=Payee(),
        payment=Payment(
            amount=eob.paid,
            credit_debit="C",
            method="CHK",
            date=eob.check_date,
            trace_number=eob.check_number,
        ),
        claim=ClaimPayment(
            patient_control_number=eob.patient_control_number,
            status_code=status,
            charge=eob.charge,
            paid=eob.paid,
            payer_claim_control_number=eob.payer_claim_number,
            adjustments=adjustments,
            services=services,
        ),
        source=RemittanceSource(
            file_name="paper-eob",
            file_sha256="0" * 64,
            transaction_control_number=eob.check_number,
            ingested_at=datetime.now(UTC),
        ),
    )


def read(path: Path, report: EobReport) -> Iterator[Outgoing]:
    """The claim payments of a file of EOB lines (bad lines go to ``report.errors``)."""
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    with path.open(encoding="utf-8", errors="strict") as fh:
        for number, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            report.lines += 1
            try:
                eob = PaperEob.parse_json(text)
            except ValidationError as exc:
                report.errors.append((number, describe_errors(exc)))
                continue
            payment = remittance_of(eob)
            source = payment.source.model_copy(update={"file_name": path.name, "file_sha256": sha})
            payment = payment.model_copy(update={"source": source})
            report.posted += 1
            yield Outgoing(
                INBOUND,
                eob.patient_control_number.encode(),
                payment.model_dump_json().encode(),
                (("claims.source.file", path.name.encode()),),
            )
