"""Business work queues: held and rejected sessions, denied claims, claims rejected at
the payer's front door, unmatched payments, provider-level adjustments that name no
claim, 835 files posted despite envelope faults, 835s without their deposit and deposits
without their 835, 837 files not delivered to a partner's SFTP mailbox.

An item is a message of the queue topic (id ``<topic>:<partition>:<offset>``) that
still needs someone: a held session not enriched, rejected or withdrawn since; a
rejected session not enriched since; a denied claim with no later payment; a
claim rejected at the front door and not resent (a later version submitted) or
closed since; an unmatched payment not posted since.  Only the latest message of a session or
claim counts.  Computed from the topics themselves (no worker needed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schemas.events import SessionRetry
from workers.ops.audit import audit, operator_name
from workers.ops.dead_letter_review import masked
from workers.ops.overview import TOPICS, WORK_QUEUES, Overview
from workers.runtime import kafka_clients
from workers.runtime.settings import Settings
from workers.runtime.topic_scan import scan_topics

QUEUES = WORK_QUEUES


@dataclass
class QueueItem:
    id: str
    topic: str
    key: bytes | None
    body: dict[str, Any]

    def row(self) -> dict[str, Any]:
        b = self.body
        if self.topic.startswith("sessions."):
            return {
                "id": self.id,
                "session": b.get("session_key"),
                "reason": b.get("reason"),
                "message": b.get("message", ""),
                "since": b.get("held_since") or b.get("rejected_at"),
            }
        if self.topic == "claims.rejections":
            return {
                "id": self.id,
                "claim": b.get("patient_control_number"),
                "reason": ",".join(r["code"] for r in b.get("reasons", []))[:60],
                "message": b.get("message", "")[:120],
                "since": b.get("rejected_at"),
            }
        if self.topic == "claims.cob-review":
            return {
                "id": self.id,
                "claim": b.get("patient_control_number"),
                "reason": ",".join(f"{r['group']}-{r['code']}" for r in b.get("reasons", [])),
                "message": b.get("message", "")[:120],
                "since": b.get("raised_at"),
            }
        if self.topic == "claims.status-attention":
            return {
                "id": self.id,
                "claim": b.get("patient_control_number"),
                "reason": ",".join(b.get("codes", []))[:60] or b.get("state"),
                "message": b.get("message", "")[:120],
                "since": b.get("raised_at"),
            }
        if self.topic == "claims.changes-waiting":
            return {
                "id": self.id,
                "claim": b.get("patient_control_number"),
                "reason": "no-payer-claim-number",
                "message": b.get("message", "")[:120],
                "since": b.get("waiting_since"),
            }
        if self.topic == "claims.attachments":
            return {
                "id": self.id,
                "claim": b.get("patient_control_number"),
                "reason": f"{b.get('report_type')} by {b.get('transmission')}",
                "message": f"send it marked {b.get('control_number')} to payer "
                f"{b.get('payer_id')}",
                "since": b.get("raised_at"),
            }
        if self.topic == "partners.delivery-failed":
            return {
                "id": self.id,
                "file": b.get("file_name"),
                "reason": b.get("reason"),
                "message": f"to {b.get('receiver_id')}: {b.get('message', '')}"[:160],
                "since": b.get("raised_at"),
            }
        if self.topic == "remits.review":
            rules = sorted({w["rule"] for w in b.get("warnings", [])})
            return {
                "id": self.id,
                "file": b.get("file_name"),
                "reason": ",".join(rules)[:60],
                "message": f"{len(b.get('warnings', []))} envelope fault(s) forgiven, "
                f"{sum(t.get('claims', 0) for t in b.get('transactions', []))} claim payment(s) "
                f"posted; sha256 {b.get('file_sha256')}",
                "since": b.get("received_at"),
            }
        if self.topic == "remits.provider-adjustments":
            item, adjustment = b.get("item", {}), b.get("item", {}).get("adjustment", {})
            return {
                "id": self.id,
                "claim": adjustment.get("reference") or "",
                "reason": f"{adjustment.get('reason')} {b.get('reason_text', '')}".strip(),
                "message": f"{adjustment.get('amount')} in {item.get('file_name')} "
                f"({item.get('payer_id')}, {item.get('plb_id')}): {b.get('message', '')}"[:160],
                "since": b.get("raised_at"),
            }
        if self.topic == "deposits.unfunded":
            r = b.get("remittance", {})
            return {
                "id": self.id,
                "remittance": r.get("remittance_id"),
                "reason": f"no deposit in {b.get('business_days')} business day(s)",
                "message": f"{r.get('amount')} from {r.get('payer_id')} trace "
                f"{r.get('trace_number')} paid {r.get('payment_date')} ({r.get('file_name')})",
                "since": b.get("raised_at"),
            }
        if self.topic == "deposits.unremitted":
            d = b.get("deposit", {})
            return {
                "id": self.id,
                "deposit": d.get("deposit_id"),
                "reason": f"no 835 in {b.get('business_days')} business day(s)",
                "message": f"{d.get('amount')} deposited {d.get('deposited_on')} trace "
                f"{d.get('trace_number')} ({d.get('source', {}).get('file_name')} record "
                f"{d.get('source', {}).get('record')})",
                "since": b.get("raised_at"),
            }
        if self.topic == "claims.denied":
            reasons = ",".join(f"{r['group']}-{r['code']}" for r in b.get("reasons", []))
            return {
                "id": self.id,
                "claim": b.get("patient_control_number"),
                "reason": reasons,
                "message": "; ".join(r["text"] for r in b.get("reasons", []))[:120],
                "since": b.get("denied_at"),
            }
        return {
            "id": self.id,
            "claim": b.get("patient_control_number"),
            "reason": b.get("reason"),
            "message": b.get("message", ""),
            "since": b.get("reported_at"),
        }


def current_items(settings: Settings, queue: str) -> list[QueueItem]:
    if queue not in QUEUES:
        raise KeyError(f"{queue!r} is not a work queue; queues: {', '.join(QUEUES)}")
    overview = Overview()
    for name, r in scan_topics(settings, TOPICS):
        overview.apply(
            name, r.partition, r.offset, r.key, r.value, list(r.headers or []), r.timestamp
        )
    return [QueueItem(i.id, i.topic, None, i.body) for i in overview.queue(queue)]


def shown(item: QueueItem, reveal: bool) -> dict[str, Any]:
    return {"id": item.id, "topic": item.topic, "item": item.body if reveal else masked(item.body)}


def retry_rejected(
    settings: Settings, items: list[QueueItem], reason: str | None = None
) -> tuple[list[str], list[str]]:
    """Ask the enrichment processor to check rejected sessions again (audited)."""
    who = operator_name(settings)
    sent, skipped = [], []
    producer = kafka_clients.producer(settings)
    try:
        for item in items:
            body = item.body
            session = body.get("session")
            if body.get("reason") == "conflicting-duplicate" or not session:
                skipped.append(item.id)
                continue
            import uuid

            retry = SessionRetry.new(
                event_id=uuid.uuid4(),
                event_type="session.retry",
                occurred_at=datetime.now(UTC),
                clinic_id=session["clinic_id"],
                session_id=session["session_id"],
                patient_id=session["patient_id"],
                session=session,
                requested_by=who,
            )
            producer.send(
                settings.topic("sessions.completed"),
                key=retry.patient_key.encode(),
                value=retry.model_dump_json().encode(),
            )
            sent.append(item.id)
        producer.flush()
        audit(
            settings,
            "queue-retry",
            len(sent),
            sent,
            {"queue": "sessions.rejected", "reason": reason or ""},
            producer=producer,
        )
    finally:
        producer.close()
    return sent, skipped
