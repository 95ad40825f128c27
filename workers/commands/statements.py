"""``claims statements --period YYYY-MM``: issue the patient statements of a period.

A statement run, as billing companies do them once a cycle: the reconciliation
ledgers (``state.reconcile.claims``) say what each payer's 835 left to the
patient; ``claims.submitted`` says who the patient is.  Each patient with a
share posted in the period gets a PDF in ``<outbox>/statements/<clinic_id>/``
(atomic, owner-only) and a :class:`~schemas.documents.PatientStatement` on
``documents.issued``.  Running it again issues nothing new unless the period's
postings changed (then the statement is issued again under the next number).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schemas.claims import Claim
from schemas.documents import PatientStatement
from workers.documents.statement import StatementDraft, statements


def load_claims(settings: Any) -> dict[str, Claim]:
    """The latest submitted version of every claim (from ``claims.submitted``)."""
    from workers.runtime.topic_scan import scan_topics

    latest: dict[str, tuple[int, Claim]] = {}
    for _name, record in scan_topics(settings, ("claims.submitted",)):
        if not record.value:
            continue
        try:
            body = json.loads(record.value)
            claim = Claim.parse_json(json.dumps(body["claim"]))
        except (ValueError, KeyError, TypeError):
            continue
        known = latest.get(claim.patient_control_number)
        if known is None or claim.version >= known[0]:
            latest[claim.patient_control_number] = (claim.version, claim)
    return {pcn: claim for pcn, (_, claim) in latest.items()}


def _write(directory: Path, draft: StatementDraft) -> tuple[Path, bool]:
    """The file of the statement, and whether it is new (same bytes: issued before)."""
    from workers.runtime.atomic_files import write_atomically

    stem = draft.file_name.removesuffix(".pdf")
    for n in range(1, 100):
        name = draft.file_name if n == 1 else f"{stem}-{n}.pdf"
        path = directory / name
        if path.exists():
            if path.read_bytes() == draft.pdf:
                return path, False
            continue
        return write_atomically(directory, name, draft.pdf), True
    raise RuntimeError(f"too many versions of {draft.file_name}")


def issue(settings: Any, period: str, producer: Any | None = None) -> list[dict[str, str]]:
    from workers.remits.reports import load_ledgers

    now = datetime.now(UTC)
    drafts = statements(load_ledgers(settings), load_claims(settings), period, now.date())
    rows = []
    owned = producer is None
    if producer is None:
        from workers.runtime import kafka_clients

        producer = kafka_clients.producer(settings)
    try:
        for draft in drafts:
            directory = settings.outbox_dir / "statements" / draft.patient.clinic_id
            path, new = _write(directory, draft)
            if new:
                event = PatientStatement.new(
                    statement_id=draft.statement_id,
                    clinic_id=draft.patient.clinic_id,
                    patient_id=draft.patient.patient_id,
                    period=period,
                    lines=draft.lines,
                    total_due=draft.total_due,
                    file_name=path.name,
                    path=str(path),
                    sha256=hashlib.sha256(draft.pdf).hexdigest(),
                    issued_at=now,
                )
                producer.send(
                    settings.topic("documents.issued"),
                    key=f"{draft.patient.clinic_id}:{draft.patient.patient_id}".encode(),
                    value=event.model_dump_json().encode(),
                    headers=[("claims.event_type", b"PatientStatement")],
                )
            rows.append(
                {
                    "statement": draft.statement_id,
                    "claims": str(len(draft.lines)),
                    "total due": f"{draft.total_due:.2f}",
                    "file": path.name,
                    "status": "issued" if new else "issued before",
                }
            )
        producer.flush()
    finally:
        if owned:
            producer.close()
    return rows
