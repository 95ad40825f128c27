"""835 files onto ``remits.835.inbound``: parse, balance, then publish.

Two passes over the file, both streaming: the first parses and balances every
transaction set (nothing is published if the file does not parse); the second
publishes each balanced transaction as one message per claim payment (key: the
CLP01) plus one summary (key: the remittance id).  An out-of-balance
transaction is not posted: its messages go to ``remits.835.inbound.dlq`` with
the failing equations, to be reviewed and replayed.  Every message carries the
source file's name and sha256 in headers.

Envelope faults that leave the money intact (the tolerance policy of
:mod:`edi.tolerance`: wrong trailer counts or control numbers, an ISA not padded,
a garbled segment id outside the claims) do not stop a file: it is posted when
every transaction balances, and a :class:`~schemas.reconciliation.RemittanceReview`
with its warnings goes to the ``remits.review`` work queue.  A file with such
faults and a transaction that does not balance is refused whole
(:class:`ToleratedFileUnbalanced`), since both together make it doubtful.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edi.tolerance import Warnings
from edi.x835 import X835Error, iter_835_events
from schemas.reconciliation import (
    ClaimReference,
    FileWarning,
    RemittanceClaim,
    RemittanceReview,
    RemittanceSource,
    RemittanceTransaction,
    ReviewedTransaction,
    remittance_id,
)
from schemas.remittance import ClaimPayment, RemittanceHeader, RemittanceSummary
from workers.runtime.dead_letters import Failure, dead_letter
from workers.runtime.limits import check_file_size, open_limited
from workers.runtime.records import Incoming, Outgoing

INBOUND = "remits.835.inbound"
REVIEW = "remits.review"
H_FILE = "claims.source.file"
H_SHA = "claims.source.sha256"


@dataclass
class TransactionReport:
    control_number: str
    remittance_id: str
    claims: int
    balanced: bool
    problems: list[str]


@dataclass
class FileReport:
    file_name: str
    sha256: str
    transactions: list[TransactionReport] = field(default_factory=list)
    warnings: Warnings = field(default_factory=Warnings)

    @property
    def posted_claims(self) -> int:
        return sum(t.claims for t in self.transactions if t.balanced)

    @property
    def unbalanced(self) -> list[TransactionReport]:
        return [t for t in self.transactions if not t.balanced]


def file_sha256(path: Path, max_bytes: int | None = None) -> str:
    digest = hashlib.sha256()
    with open_limited(path, max_bytes) as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _equations(summary: RemittanceSummary) -> list[str]:
    return [
        f"{e.level} {e.reference}: expected {e.expected}, file says {e.actual}"
        for e in summary.balance.errors
    ]


class ToleratedFileUnbalanced(X835Error):
    """The file has envelope faults and a transaction that does not balance: not posted."""


def _transactions(
    path: Path, max_bytes: int | None, warnings: Warnings
) -> Iterator[TransactionReport]:
    """Pass 1: parse everything; what each transaction set comes to."""
    header: RemittanceHeader | None = None
    with open_limited(path, max_bytes) as fh:
        for event in iter_835_events(fh, warnings=warnings):
            if isinstance(event, RemittanceHeader):
                header = event
            elif isinstance(event, RemittanceSummary):
                assert header is not None
                yield TransactionReport(
                    control_number=header.control_number,
                    remittance_id=remittance_id(header.payer, header.payment),
                    claims=event.claim_count,
                    balanced=event.balance.ok,
                    problems=_equations(event),
                )


def messages(
    path: Path, now: datetime | None = None, max_bytes: int | None = None
) -> tuple[FileReport, Iterator[Outgoing]]:
    """The report (after pass 1) and the messages to publish (pass 2, lazily).

    Raises :class:`~workers.runtime.limits.FileTooLarge` for a file over ``max_bytes``
    (also one that grows past it while it is read) and
    :class:`~workers.runtime.limits.NotARegularFile` for a device or FIFO."""
    check_file_size(path, max_bytes)
    when = now or datetime.now(UTC)
    sha = file_sha256(path, max_bytes)
    report = FileReport(path.name, sha)
    report.transactions.extend(_transactions(path, max_bytes, report.warnings))
    if report.warnings and report.unbalanced:
        first = report.warnings[0]
        raise ToleratedFileUnbalanced(
            f"{len(report.warnings)} envelope fault(s) ({first.rule} first) and transaction "
            f"{report.unbalanced[0].control_number} does not balance: the file is not posted",
            ordinal=first.segment,
            offset=first.offset,
        )
    headers = ((H_FILE, path.name.encode()), (H_SHA, sha.encode()))

    def generate() -> Iterator[Outgoing]:
        tx_index = -1
        index = 0
        header: RemittanceHeader | None = None
        paid_claims: list[ClaimReference] = []
        with open_limited(path, max_bytes) as fh:
            for event in iter_835_events(fh, warnings=Warnings()):
                if isinstance(event, RemittanceHeader):
                    tx_index += 1
                    index = 0
                    header = event
                    paid_claims = []
                    continue
                assert header is not None
                tx = report.transactions[tx_index]
                source = RemittanceSource(
                    file_name=path.name,
                    file_sha256=sha,
                    transaction_control_number=header.control_number,
                    ingested_at=when,
                )
                if isinstance(event, ClaimPayment):
                    index += 1
                    paid_claims.append(
                        ClaimReference(
                            patient_control_number=event.patient_control_number,
                            payer_claim_number=event.payer_claim_control_number,
                        )
                    )
                    body = RemittanceClaim.new(
                        remittance_id=tx.remittance_id,
                        index=index,
                        payer=header.payer,
                        payee=header.payee,
                        payment=header.payment,
                        claim=event,
                        source=source,
                    )
                    record = Outgoing(
                        INBOUND,
                        event.patient_control_number.encode(),
                        body.model_dump_json().encode(),
                        headers,
                    )
                else:
                    summary = RemittanceTransaction.new(
                        remittance_id=tx.remittance_id,
                        payer=header.payer,
                        payee=header.payee,
                        payment=header.payment,
                        claim_count=event.claim_count,
                        paid_total=event.paid_total,
                        provider_adjustments=list(event.provider_adjustments),
                        claims=paid_claims,
                        balance=event.balance,
                        source=source,
                    )
                    record = Outgoing(
                        INBOUND,
                        tx.remittance_id.encode(),
                        summary.model_dump_json().encode(),
                        headers,
                    )
                yield record if tx.balanced else _unbalanced(record, tx, when)
        if report.warnings:
            yield _review(report, when, headers)

    return report, generate()


def _review(
    report: FileReport, when: datetime, headers: tuple[tuple[str, bytes], ...]
) -> Outgoing:
    """The file's item on the ``remits.review`` work queue."""
    review = RemittanceReview.new(
        file_name=report.file_name,
        file_sha256=report.sha256,
        warnings=[FileWarning.model_validate(w.as_json()) for w in report.warnings],
        transactions=[
            ReviewedTransaction(
                control_number=t.control_number, remittance_id=t.remittance_id, claims=t.claims
            )
            for t in report.transactions
        ],
        received_at=when,
    )
    return Outgoing(REVIEW, report.sha256.encode(), review.model_dump_json().encode(), headers)


def _unbalanced(record: Outgoing, tx: TransactionReport, when: datetime) -> Outgoing:
    """The message as a dead letter of ``remits.835.inbound`` (not posted)."""
    incoming = Incoming(
        INBOUND, -1, -1, int(when.timestamp() * 1000), record.key, record.value, record.headers
    )
    failure = Failure(
        kind="invalid-input",
        reason="unbalanced",
        error_class="workers.inbound.remittances.Unbalanced",
        message=(
            "835 transaction " + tx.control_number + " does not balance: " + "; ".join(tx.problems)
        )[:2000],
        stacktrace="",
    )
    return dead_letter(
        incoming,
        failure,
        processor="ingest-835",
        consumer_group="claims-ingest",
        attempts=1,
        failed_at=when,
    )


Send = Callable[[str, bytes | None, bytes | None, list[tuple[str, bytes]]], Any]


def ingest_file(
    path: Path, send: Send, topic_name: Callable[[str], str], max_bytes: int | None = None
) -> FileReport:
    """Parse, balance and publish one file with ``send(topic, key, value, headers)``."""
    report, records = messages(path, max_bytes=max_bytes)
    for r in records:
        send(topic_name(r.topic), r.key, r.value, list(r.headers))
    return report
