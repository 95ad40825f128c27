"""The audit trail of operators' actions (``ops.audit``): who did what, when, to how many.

Replays, purges, retries and every view of unmasked patient data write one
event before the command reports success; the topic is kept for years (see the
topic catalogue).
"""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, Field

from schemas.base import Versioned
from workers.runtime.settings import Settings

AuditAction = Literal[
    "dlq-replay",
    "dlq-purge",
    "dlq-reveal",
    "queue-retry",
    "queue-reveal",
    "dashboard-reveal",
    "claim-write-off",
    "plb-link",
    "plb-dismiss",
    "credit-refund",
    "attachment-sent",
]


class AuditEvent(Versioned):
    event_type: Literal["ops.audit"] = "ops.audit"
    action: AuditAction
    operator: str
    at: AwareDatetime
    count: int = Field(ge=0)
    targets: list[str] = Field(default_factory=list, description="Ids acted on (bounded).")
    filters: dict[str, str] = Field(default_factory=dict)
    note: str | None = None


def operator_name(settings: Settings) -> str:
    return settings.operator or getpass.getuser()


def audit(
    settings: Settings,
    action: AuditAction,
    count: int,
    targets: list[str] | None = None,
    filters: dict[str, str] | None = None,
    note: str | None = None,
    producer: Any = None,
) -> AuditEvent:
    """Write one audit event and wait until the broker has it."""
    event = AuditEvent.new(
        action=action,
        operator=operator_name(settings),
        at=datetime.now(UTC),
        count=count,
        targets=(targets or [])[:500],
        filters={k: v for k, v in (filters or {}).items() if v},
        note=note,
    )
    own = producer is None
    if own:
        from workers.runtime import kafka_clients

        producer = kafka_clients.producer(settings)
    try:
        producer.send(
            settings.topic("ops.audit"),
            key=event.operator.encode(),
            value=event.model_dump_json().encode(),
        ).get(timeout=30)
    finally:
        if own:
            producer.close()
    return event


def require_reveal(settings: Settings) -> str:
    """The operator, if allowed to see unmasked patient data; else PermissionError."""
    who = operator_name(settings)
    allowed = {o.strip() for o in settings.reveal_operators.split(",") if o.strip()}
    if who not in allowed:
        raise PermissionError(
            f"operator {who!r} may not reveal patient data (CLAIMS_REVEAL_OPERATORS)"
        )
    return who
