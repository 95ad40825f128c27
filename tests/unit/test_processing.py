"""The shared per-message loop: routing, retries and dead letters, without Kafka."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from tests.fakes import FakeClock, FakeSink
from workers.runtime.dead_letters import dead_letter_info, original_headers
from workers.runtime.failures import InvalidInput, TransientFailure
from workers.runtime.processing import MessageRunner, RetryPolicy, Scope
from workers.runtime.records import Incoming, Outgoing

MSG = Incoming(
    topic="sessions.completed",
    partition=3,
    offset=41,
    timestamp_ms=1_700_000_000_000,
    key=b"c1:pt1",
    value=b'{"x":1}',
    headers=(("trace-id", b"abc"),),
)
WHEN = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def runner(sink: FakeSink, clock: FakeClock, attempts: int = 3) -> MessageRunner:
    return MessageRunner(
        processor="enrich",
        consumer_group="claims-enrich",
        sink=sink,
        retry=RetryPolicy(attempts=attempts, backoff_s=0.1, backoff_max_s=0.3),
        sleep=clock.sleep,
        clock=lambda: WHEN,
    )


def run(coro):
    return asyncio.run(coro)


def test_outputs_are_handed_to_the_sink() -> None:
    sink, clock = FakeSink(), FakeClock()

    async def handler(msg: Incoming, scope: Scope) -> list[Outgoing]:
        return [Outgoing("sessions.enriched", msg.key, b"{}")]

    result = run(runner(sink, clock).process(MSG, handler))
    assert result.status == "ok" and result.outputs == 1
    assert [r.topic for r in sink.sent] == ["sessions.enriched"]
    assert sink.delivered == []


def test_invalid_input_is_dead_lettered_at_once_with_headers() -> None:
    sink, clock = FakeSink(), FakeClock()
    calls = 0

    async def handler(msg: Incoming, scope: Scope) -> list[Outgoing]:
        nonlocal calls
        calls += 1
        scope.bind(clinic_id="c1")
        raise InvalidInput("schema-invalid", "techniques[0].minutes: too large")

    result = run(runner(sink, clock).process(MSG, handler))
    assert calls == 1 and clock.slept == []
    assert result.status == "dead-lettered" and result.reason == "schema-invalid"
    [dl] = sink.delivered
    assert dl.topic == "sessions.completed.dlq"
    assert dl.key == MSG.key and dl.value == MSG.value
    info = dead_letter_info(dl.headers)
    assert info == {
        "original.topic": "sessions.completed",
        "original.partition": "3",
        "original.offset": "41",
        "original.timestamp": "1700000000000",
        "processor": "enrich",
        "consumer_group": "claims-enrich",
        "error.kind": "invalid-input",
        "error.reason": "schema-invalid",
        "error.class": "workers.runtime.failures.InvalidInput",
        "error.message": "techniques[0].minutes: too large",
        "error.stacktrace": info["error.stacktrace"],
        "failed_at": "2026-05-01T12:00:00Z",
        "attempts": "1",
        "clinic_id": "c1",
    }
    assert "InvalidInput" in info["error.stacktrace"]
    assert original_headers(dl.headers) == [("trace-id", b"abc")]


def test_transient_failures_are_retried_with_backoff_then_succeed() -> None:
    sink, clock = FakeSink(), FakeClock()
    calls = 0

    async def handler(msg: Incoming, scope: Scope) -> list[Outgoing]:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise TimeoutError("slow")
        return [Outgoing("sessions.enriched", msg.key, b"{}")]

    result = run(runner(sink, clock, attempts=3).process(MSG, handler))
    assert result.status == "ok" and result.attempts == 3
    assert clock.slept == [0.1, 0.2]
    assert sink.delivered == []


def test_transient_failures_are_dead_lettered_after_the_last_attempt() -> None:
    sink, clock = FakeSink(), FakeClock()

    async def handler(msg: Incoming, scope: Scope) -> list[Outgoing]:
        raise TransientFailure("reference-not-ready", "mirror not ready")

    result = run(runner(sink, clock, attempts=4).process(MSG, handler))
    assert result.status == "dead-lettered" and result.attempts == 4
    assert clock.slept == [0.1, 0.2, 0.3]  # capped at backoff_max_s
    info = dead_letter_info(sink.delivered[0].headers)
    assert info["error.kind"] == "transient" and info["attempts"] == "4"


def test_a_defect_is_dead_lettered_without_retry_and_the_loop_survives() -> None:
    sink, clock = FakeSink(), FakeClock()

    async def handler(msg: Incoming, scope: Scope) -> list[Outgoing]:
        raise ZeroDivisionError("division by zero")

    r = runner(sink, clock)
    result = run(r.process(MSG, handler))
    assert result.status == "dead-lettered" and result.reason == "processing-error"
    info = dead_letter_info(sink.delivered[0].headers)
    assert info["error.kind"] == "unexpected"
    assert info["error.class"] == "builtins.ZeroDivisionError"
    assert r.metrics.dead_letters[("enrich", "sessions.completed", "processing-error")] == 1


def test_phi_values_are_masked_in_dead_letter_text() -> None:
    sink, clock = FakeSink(), FakeClock()

    async def handler(msg: Incoming, scope: Scope) -> list[Outgoing]:
        scope.add_phi("Zephyrine", "MBR-ZQX-4471")
        raise KeyError("Zephyrine MBR-ZQX-4471")

    run(runner(sink, clock).process(MSG, handler))
    info = dead_letter_info(sink.delivered[0].headers)
    assert "Zephyrine" not in info["error.message"] and "[redacted]" in info["error.message"]
    assert "MBR-ZQX-4471" not in info["error.stacktrace"]


def test_a_dead_letter_is_delivered_even_when_the_broker_refuses_at_first() -> None:
    sink, clock = FakeSink(fail_delivers=2), FakeClock()

    async def handler(msg: Incoming, scope: Scope) -> list[Outgoing]:
        raise InvalidInput("undecodable", "not JSON")

    result = run(runner(sink, clock).process(MSG, handler))
    assert result.status == "dead-lettered"
    assert len(sink.delivered) == 1 and len(clock.slept) == 2


def test_outputs_are_not_recomputed_when_the_producer_refuses() -> None:
    """A refused send is retried with the same records: the handler (which may
    have changed state) runs once."""
    sink, clock = FakeSink(fail_sends=2), FakeClock()
    calls = 0

    async def handler(msg: Incoming, scope: Scope) -> list[Outgoing]:
        nonlocal calls
        calls += 1
        return [Outgoing("sessions.enriched", msg.key, b"{}")]

    result = run(runner(sink, clock).process(MSG, handler))
    assert calls == 1 and result.status == "ok" and len(sink.sent) == 1


@pytest.mark.parametrize(("attempt", "delay"), [(1, 0.1), (2, 0.2), (3, 0.3), (10, 0.3)])
def test_backoff_is_exponential_and_capped(attempt: int, delay: float) -> None:
    assert RetryPolicy(attempts=5, backoff_s=0.1, backoff_max_s=0.3).delay(attempt) == delay
