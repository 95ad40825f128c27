"""``claims superbill SESSION_ID [--out FILE]``: render one session's superbill on demand.

The session (``<clinic_id>:<session_id>``) is looked up on ``charges.self-pay``
(the self-pay and HSA sessions, keyed by clinic: only that key's partition is read),
then on ``charges.billable`` under ``self-pay:<clinic_id>`` (sessions priced before
that topic existed).  The PDF is written atomically with owner-only permissions
to ``--out`` or to ``<outbox>/superbills/<clinic_id>/``.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from schemas.billing import BillableSession, billing_key
from workers.runtime import kafka_clients


class NotFound(LookupError):
    pass


def find_billable(settings: Any, session_key: str, timeout_s: float = 10.0) -> BillableSession:
    """The session's billable message on ``charges.self-pay`` (keyed by clinic), else
    on ``charges.billable`` under ``self-pay:<clinic_id>``, where sessions priced
    before ``charges.self-pay`` existed are; a withdrawal after it means the visit was
    cancelled.  Only the clinic key's partition of each topic is read."""
    clinic_id = session_key.split(":", 1)[0]
    places = (
        ("charges.self-pay", clinic_id),
        ("charges.billable", billing_key(None, clinic_id, False)),
    )
    for topic, key in places:
        found, cancelled = _scan(settings, topic, key, session_key, timeout_s)
        if cancelled:
            raise NotFound(f"session {session_key} was cancelled: its superbill is void")
        if found is not None:
            return found
    raise NotFound(f"no self-pay or HSA session {session_key} on charges.self-pay")


def _scan(
    settings: Any, logical: str, key: str, session_key: str, timeout_s: float
) -> tuple[BillableSession | None, bool]:
    from kafka import TopicPartition

    from schemas.billing import parse_charges
    from workers.runtime.partitioning import partition_for
    from workers.runtime.topics import Catalogue

    topic = settings.topic(logical)
    tp = TopicPartition(topic, partition_for(key, Catalogue(settings).partitions(logical)))
    consumer = kafka_clients.reader(settings, consumer_timeout_ms=int(timeout_s * 1000))
    found: BillableSession | None = None
    cancelled = False
    try:
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        end = consumer.end_offsets([tp])[tp]
        while consumer.position(tp) < end:
            batch = consumer.poll(timeout_ms=1000)
            if not batch:
                break
            for records in batch.values():
                for r in records:
                    if r.key != key.encode() or not r.value or session_key.encode() not in r.value:
                        continue
                    try:
                        event = parse_charges(r.value)
                    except ValueError:
                        continue
                    if isinstance(event, BillableSession) and event.session_key == session_key:
                        found, cancelled = event, False
                    elif event.session_key == session_key:  # withdrawn: the visit was cancelled
                        cancelled = True
    finally:
        consumer.close()
    return found, cancelled


def paid_for(settings: Any, billable: BillableSession) -> Decimal:
    """What the patient paid for the visit: the front desk's payments that name it, else
    their payments on its date of service."""
    from schemas.patient_ledger import PatientPayment
    from workers.runtime.topic_scan import read_latest

    payments = []
    for raw in read_latest(settings, "payments.patient").values():
        try:
            payment = PatientPayment.parse_json(raw)
        except ValueError:
            continue
        if (payment.clinic_id, payment.patient_id) == (billable.clinic_id, billable.patient_id):
            payments.append(payment)
    named = [p for p in payments if p.session_id == billable.session_id]
    chosen = named or [
        p for p in payments if p.session_id is None and p.paid_on == billable.date_of_service
    ]
    return sum((p.amount for p in chosen), Decimal(0))


def superbill_main(settings: Any, session_key: str, out: str | None) -> int:
    from workers.documents.superbill import superbill
    from workers.runtime.atomic_files import DeliveryError, write_atomically

    if ":" not in session_key:
        print("claims superbill: SESSION_ID is <clinic_id>:<session_id>", file=sys.stderr)
        return 2
    try:
        billable = find_billable(settings, session_key)
    except NotFound as exc:
        print(f"claims superbill: {exc}", file=sys.stderr)
        return 1
    bill = superbill(billable, datetime.now(UTC).date(), paid_for(settings, billable))
    target = (
        Path(out)
        if out
        else settings.outbox_dir / "superbills" / billable.clinic_id / bill.file_name
    )
    try:
        path = write_atomically(target.parent, target.name, bill.pdf)
    except DeliveryError as exc:
        print(f"claims superbill: {exc}", file=sys.stderr)
        return 1
    print(
        f"{path} ({bill.coverage}, charges {bill.totals.charges:.2f}, paid {bill.totals.paid:.2f})"
    )
    return 0
