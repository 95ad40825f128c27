"""The audit record names the SASL principal the command authenticated as, when it has one."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from workers.ops.audit import AuditEvent, audit
from workers.runtime.settings import Settings


class FakeProducer:
    """Records what ``audit`` sends; ``send(...).get()`` returns like kafka-python's."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, topic: str, *, key: bytes, value: bytes) -> FakeProducer:
        self.sent.append({"topic": topic, "key": key, "value": json.loads(value)})
        return self

    def get(self, timeout: float) -> None:
        return None


@pytest.fixture(autouse=True)
def no_claims_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("CLAIMS_"):
            monkeypatch.delenv(key)


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, operator="alice", topic_prefix="t1.", **values)


@pytest.mark.parametrize("protocol", ["SASL_SSL", "SASL_PLAINTEXT"])
def test_the_sasl_principal_is_recorded(protocol: str) -> None:
    producer = FakeProducer()
    event = audit(
        settings(
            kafka_security_protocol=protocol,
            kafka_sasl_mechanism="SCRAM-SHA-512",
            kafka_sasl_username="ops-alice",
            kafka_sasl_password="not-a-real-password",
        ),
        "dlq-reveal",
        1,
        ["sessions.completed.dlq:0:7"],
        producer=producer,
    )
    assert event.principal == "ops-alice"
    assert event.operator == "alice"  # the name the command gave, kept beside it
    (sent,) = producer.sent
    assert sent["topic"] == "t1.ops.audit"
    assert sent["key"] == b"alice"
    assert sent["value"]["principal"] == "ops-alice"
    assert AuditEvent.parse_json(json.dumps(sent["value"])) == event


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SSL"])
def test_no_principal_without_sasl(protocol: str) -> None:
    producer = FakeProducer()
    # a user name left in the settings is not an authenticated identity without SASL
    event = audit(
        settings(kafka_security_protocol=protocol, kafka_sasl_username="ops-alice"),
        "dlq-purge",
        2,
        producer=producer,
    )
    assert event.principal is None
    (sent,) = producer.sent
    assert sent["value"]["principal"] is None
    assert sent["value"]["operator"] == "alice"


def test_events_written_before_the_field_still_read() -> None:
    old = {
        "schema_version": 1,
        "event_type": "ops.audit",
        "action": "dlq-replay",
        "operator": "bob",
        "at": "2026-01-02T03:04:05Z",
        "count": 3,
    }
    assert AuditEvent.parse_json(json.dumps(old)).principal is None
