"""The audit trail of operators' actions (``ops.audit``): who did what, when, to how many.

Replays, purges, retries and every view of unmasked patient data write one
event before the command reports success; the topic is kept for years (see the
topic catalogue).

``operator`` is who the command says ran it (``CLAIMS_OPERATOR``, else the OS
user): a name the client chooses, not an identity anyone checked.  With SASL,
``principal`` is the user the client authenticated to the brokers as -- the
identity the brokers' ACLs judged, and the one the event itself was written
with.  Access control is the brokers' (docs/security.md).
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
    "remittance-reviewed",
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
    principal: str | None = Field(
        default=None,
        description="The SASL user name the command authenticated to the brokers with "
        "(None without SASL).",
    )


def operator_name(settings: Settings) -> str:
    return settings.operator or getpass.getuser()


def sasl_principal(settings: Settings) -> str | None:
    """The SASL user the clients authenticate as (SASL_PLAINTEXT, SASL_SSL), else None.

    The settings refuse SASL without a user name, and the audit event is written by
    a producer built from the same settings: the brokers authenticated this user
    before they accepted the event.
    """
    if settings.kafka_security_protocol.startswith("SASL"):
        return settings.kafka_sasl_username
    return None


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
        principal=sasl_principal(settings),
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
