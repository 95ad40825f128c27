"""``claims ingest deposits`` and ``claims report deposits``.

The report reads the topics themselves (no worker needed): the 835 transaction
summaries on ``remits.835.inbound``, the deposits on ``deposits.inbound``, what
the reconciliation decided on ``deposits.reconciled`` and the open items of the
two work queues.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from edi.bai2 import Bai2Error
from edi.deposit_csv import DepositCsvError
from schemas.deposits import (
    DEPOSIT_RECONCILED,
    Deposit,
    DepositMatched,
    DepositNotFromPayer,
    RemittanceToFund,
)
from schemas.reconciliation import RemittanceTransaction
from workers.deposits import matching, report
from workers.inbound.deposits import ingest_file
from workers.runtime import kafka_clients
from workers.runtime.limits import FileTooLarge
from workers.runtime.settings import Settings
from workers.runtime.topic_scan import scan_topics


def ingest_main(settings: Settings, files: Sequence[str]) -> int:
    """Publish each file's deposits; exit 1 when a file was refused, 2 when unreadable."""
    producer = kafka_clients.producer(settings, client_id="claims-ingest-deposits")
    status = 0
    try:
        for name in files:
            path = Path(name)
            if not path.is_file():
                print(f"{name}: cannot read: no such file", file=sys.stderr)
                status = max(status, 2)
                continue

            def send(
                topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
            ) -> None:
                producer.send(topic, key=key, value=value, headers=headers)

            try:
                done = ingest_file(path, send, settings.topic, settings.max_edi_file_bytes)
                producer.flush()
            except (Bai2Error, DepositCsvError, FileTooLarge) as exc:
                print(f"{name}: not ingested: {exc}", file=sys.stderr)
                status = max(status, 1)
                continue
            skipped = []
            if done.debits:
                skipped.append(f"{done.debits} debit(s)")
            if done.unknown:
                skipped.append(f"{done.unknown} of unknown type")
            print(
                f"{name}: {done.format}, {done.deposits} deposit(s) of {done.amount:.2f} published"
                + (f"; skipped {', '.join(skipped)}" if skipped else "")
            )
            for warning in done.warnings:
                print(f"{name}: warning: {warning}", file=sys.stderr)
    finally:
        producer.close()
    return status


@dataclass
class Sources:
    remittances: list[RemittanceToFund] = field(default_factory=list)
    deposits: list[Deposit] = field(default_factory=list)
    decided: list[DepositMatched | DepositNotFromPayer] = field(default_factory=list)
    unfunded: set[str] = field(default_factory=set)
    unremitted: set[str] = field(default_factory=set)


TOPICS = (
    "remits.835.inbound",
    "deposits.inbound",
    "deposits.reconciled",
    "deposits.unfunded",
    "deposits.unremitted",
)


def load(settings: Settings) -> Sources:
    now = datetime.now(UTC)
    out = Sources()
    seen_remittances: set[str] = set()
    for name, r in scan_topics(settings, TOPICS):
        value = r.value
        key = r.key.decode() if r.key is not None else ""
        if name in ("deposits.unfunded", "deposits.unremitted"):
            target = out.unfunded if name == "deposits.unfunded" else out.unremitted
            if value is None:
                target.discard(key)
            else:
                target.add(key)
            continue
        if value is None:
            continue
        try:
            if name == "remits.835.inbound":
                if b'"remit.transaction"' not in value:
                    continue
                tx = RemittanceTransaction.parse_json(value)
                if tx.remittance_id in seen_remittances:
                    continue
                seen_remittances.add(tx.remittance_id)
                funding = matching.funding_of(tx, now)
                if not isinstance(funding, str):
                    out.remittances.append(funding)
            elif name == "deposits.inbound":
                out.deposits.append(Deposit.parse_json(value))
            else:
                out.decided.append(DEPOSIT_RECONCILED.validate_json(value))
        except (ValidationError, ValueError):
            continue  # dead-lettered by the processors, not money of the report
    return out


def report_table(settings: Settings, month: str | None) -> list[report.Row]:
    sources = load(settings)
    return report.rows(
        sources.remittances,
        sources.deposits,
        sources.decided,
        month,
        unfunded=sources.unfunded,
        unremitted=sources.unremitted,
    )


def as_json(table: list[report.Row], month: str | None) -> str:
    body = {"month": month, "rows": [r.as_json() for r in table], "total": report.totals(table)}
    return json.dumps(body, indent=2)
