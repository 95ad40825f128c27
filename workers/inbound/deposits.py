"""Deposit files onto ``deposits.inbound``: read, check, then publish.

A file is BAI2 when its first record is a file header (``01,``), else a deposit
CSV (:mod:`edi.deposit_csv`).  Two passes, both streaming: the first reads the
whole file and checks it (a BAI2 whose control totals do not add up, or a CSV
line that cannot be read, refuses the file and nothing is published); the
second publishes one :class:`~schemas.deposits.Deposit` per credit (key: its
deposit id).  Debits and transactions whose type code is unknown are counted,
not published.  Every message carries the file's name and sha256 in headers.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from edi.bai2 import Bai2Warning, iter_bai2, reassociation_trace
from edi.deposit_csv import iter_deposit_csv
from schemas.deposits import Deposit, DepositFormat, DepositSource, deposit_id
from workers.runtime.limits import check_file_size
from workers.runtime.records import Outgoing

INBOUND = "deposits.inbound"
H_FILE = "claims.source.file"
H_SHA = "claims.source.sha256"
_CENT = Decimal("0.01")


@dataclass
class DepositFileReport:
    file_name: str
    sha256: str
    format: DepositFormat
    deposits: int = 0
    amount: Decimal = Decimal("0.00")
    debits: int = 0
    unknown: int = 0
    warnings: list[Bai2Warning] = field(default_factory=list)


def file_format(path: Path) -> DepositFormat:
    with path.open("rb") as fh:
        head = fh.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    return "bai2" if head.startswith(b"01,") else "csv"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _money(minor: int) -> Decimal:
    return (Decimal(minor) / 100).quantize(_CENT)


def _deposits(path: Path, report: DepositFileReport, when: datetime) -> Iterator[Deposit]:
    """Every credit of the file as a deposit (counting the rest in ``report``)."""
    occurrences: Counter[tuple[object, ...]] = Counter()

    def build(source_record: int, **fields: Any) -> Deposit:
        identity = tuple(sorted(fields.items()))
        occurrences[identity] += 1
        return Deposit.new(
            deposit_id=deposit_id(occurrence=occurrences[identity], **fields),
            currency=currency,
            source=DepositSource(
                file_name=path.name,
                file_sha256=report.sha256,
                format=report.format,
                record=source_record,
                ingested_at=when,
            ),
            **fields,
        )

    currency: str | None = None
    with path.open("rb") as fh:
        if report.format == "bai2":
            for tx in iter_bai2(fh, warnings=report.warnings):
                if tx.kind == "debit":
                    report.debits += 1
                    continue
                if tx.kind == "unknown":
                    report.unknown += 1
                    continue
                if tx.amount_minor <= 0:
                    continue
                trace, payer_trace = reassociation_trace(tx.text)
                currency = tx.currency
                yield build(
                    tx.record,
                    account_ending=tx.account[-4:] if tx.account else None,
                    deposited_on=tx.as_of,
                    amount=_money(tx.amount_minor),
                    type_code=tx.type_code,
                    bank_reference=tx.bank_reference,
                    customer_reference=tx.customer_reference,
                    trace_number=trace,
                    payer_trace_id=payer_trace,
                    payer_id=None,
                )
        else:
            for line in iter_deposit_csv(fh):
                yield build(
                    line.line,
                    account_ending=None,
                    deposited_on=line.deposited_on,
                    amount=_money(line.amount_minor),
                    type_code=None,
                    bank_reference=None,
                    customer_reference=None,
                    trace_number=line.trace_number,
                    payer_trace_id=None,
                    payer_id=line.payer_id,
                )


def messages(
    path: Path, now: datetime | None = None, max_bytes: int | None = None
) -> tuple[DepositFileReport, Iterator[Outgoing]]:
    """The report (after pass 1, which raises :class:`edi.bai2.Bai2Error` or
    :class:`edi.deposit_csv.DepositCsvError` for a file it refuses) and the messages
    to publish (pass 2, lazily)."""
    check_file_size(path, max_bytes)
    when = now or datetime.now(UTC)
    report = DepositFileReport(path.name, _sha256(path), file_format(path))
    for deposit in _deposits(path, report, when):
        report.deposits += 1
        report.amount += deposit.amount
    headers = ((H_FILE, path.name.encode()), (H_SHA, report.sha256.encode()))

    def generate() -> Iterator[Outgoing]:
        again = DepositFileReport(report.file_name, report.sha256, report.format)
        for deposit in _deposits(path, again, when):
            yield Outgoing(
                INBOUND,
                deposit.deposit_id.encode(),
                deposit.model_dump_json().encode(),
                headers,
            )

    return report, generate()


Send = Callable[[str, bytes | None, bytes | None, list[tuple[str, bytes]]], Any]


def ingest_file(
    path: Path, send: Send, topic_name: Callable[[str], str], max_bytes: int | None = None
) -> DepositFileReport:
    """Read, check and publish one deposit file with ``send(topic, key, value, headers)``."""
    report, records = messages(path, max_bytes=max_bytes)
    for r in records:
        send(topic_name(r.topic), r.key, r.value, list(r.headers))
    return report
