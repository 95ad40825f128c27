"""The one loop body every processor shares: decode, call the core, route, fail safely.

``MessageRunner.process`` is what a faust agent calls for each message.  It
knows nothing about faust: it takes an :class:`Incoming`, a handler (the
processor's thin adapter over its pure core) and a :class:`Sink`.  Its contract:

* the handler's outputs are handed to the sink (faust flushes the producer
  before it commits the source offset, so outputs are never behind a commit);
* a failure is classified (:mod:`workers.runtime.failures`): transient errors
  are retried with bounded exponential back-off; invalid input and defects go
  to the dead-letter topic at once; after the retries a transient failure is
  dead-lettered too;
* a dead letter is *delivered* (the broker acknowledged it) before ``process``
  returns, i.e. before the source offset can be committed; if even the
  dead-letter topic refuses it, ``process`` keeps trying (the partition waits,
  nothing is skipped);
* it never raises for a bad message: the agent moves on to the next one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import structlog

from workers.runtime import logging as claims_logging
from workers.runtime.dead_letters import dead_letter, describe_failure
from workers.runtime.failures import classify
from workers.runtime.limits import check_event_size
from workers.runtime.metrics import Metrics
from workers.runtime.records import Incoming, Outgoing

log = structlog.stdlib.get_logger("claims.processing")


class Sink(Protocol):
    """Where processors' outputs go (faust topics in production, a list in tests)."""

    async def send(self, record: Outgoing) -> None:
        """Hand the record to the producer (buffered)."""

    async def deliver(self, record: Outgoing) -> None:
        """Send the record and wait until the broker acknowledged it."""


class Scope:
    """What a handler learns about the message it processes.

    ``bind`` adds log context (clinic, session, claim ids) for every later log
    line of this message and records the clinic for the dead-letter headers;
    ``add_phi`` registers PHI values so no log line or error header shows them.
    """

    def __init__(self) -> None:
        self.context: dict[str, Any] = {}

    def bind(self, **context: Any) -> None:
        clean = {k: v for k, v in context.items() if v is not None}
        self.context.update(clean)
        structlog.contextvars.bind_contextvars(**clean)

    def add_phi(self, *values: str | None) -> None:
        claims_logging.add_phi(values)

    @property
    def clinic_id(self) -> str | None:
        value = self.context.get("clinic_id")
        return str(value) if value is not None else None


Handler = Callable[[Incoming, Scope], Awaitable[Sequence[Outgoing]]]


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    backoff_s: float = 0.2
    backoff_max_s: float = 5.0

    def delay(self, attempt: int) -> float:
        """Back-off before attempt ``attempt + 1`` (attempt counts from 1)."""
        return float(min(self.backoff_max_s, self.backoff_s * (2 ** (attempt - 1))))


@dataclass(frozen=True)
class Result:
    status: Literal["ok", "dead-lettered"]
    outputs: int
    attempts: int
    reason: str | None = None


@dataclass
class MessageRunner:
    processor: str
    consumer_group: str
    sink: Sink
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    stack_limit: int = 4000
    metrics: Metrics = field(default_factory=Metrics)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    max_value_bytes: int | None = None

    async def process(self, msg: Incoming, handler: Handler) -> Result:
        scope = Scope()
        started = time.perf_counter()
        with (
            claims_logging.phi_scope(),
            claims_logging.message_context(
                processor=self.processor,
                topic=msg.topic,
                partition=msg.partition,
                offset=msg.offset,
            ),
        ):
            try:
                result = await self._process(msg, handler, scope)
            finally:
                structlog.contextvars.unbind_contextvars(*scope.context)
            self.metrics.observe(
                self.processor, msg.topic, result.status, time.perf_counter() - started
            )
            return result

    async def _process(self, msg: Incoming, handler: Handler, scope: Scope) -> Result:
        attempt = 0
        while True:
            attempt += 1
            try:
                check_event_size(msg.value, self.max_value_bytes)
                outputs = await handler(msg, scope)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                kind = classify(exc)
                self.metrics.failed(self.processor, msg.topic, kind)
                if kind == "transient" and attempt < self.retry.attempts:
                    delay = self.retry.delay(attempt)
                    log.warning(
                        "transient failure, retrying",
                        error_class=type(exc).__name__,
                        error=claims_logging.scrub(str(exc))[:300],
                        attempt=attempt,
                        retry_in_s=round(delay, 3),
                    )
                    await self.sleep(delay)
                    continue
                return await self._dead_letter(msg, exc, scope, attempt)
            await self._send_all(outputs)
            for record in outputs:
                self.metrics.produced(self.processor, record.topic)
            return Result("ok", len(outputs), attempt)

    async def _send_all(self, outputs: Sequence[Outgoing]) -> None:
        for record in outputs:
            attempt = 0
            while True:
                attempt += 1
                try:
                    await self.sink.send(record)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the producer refused: wait and try again
                    delay = self.retry.delay(min(attempt, 10))
                    log.error(
                        "cannot hand output to the producer, retrying",
                        output_topic=record.topic,
                        error_class=type(exc).__name__,
                        attempt=attempt,
                    )
                    await self.sleep(delay)

    async def _dead_letter(
        self, msg: Incoming, exc: BaseException, scope: Scope, attempts: int
    ) -> Result:
        failure = describe_failure(exc, stack_limit=self.stack_limit, scrub=claims_logging.scrub)
        record = dead_letter(
            msg,
            failure,
            processor=self.processor,
            consumer_group=self.consumer_group,
            attempts=attempts,
            failed_at=self.clock(),
            clinic_id=scope.clinic_id or getattr(exc, "clinic_id", None),
        )
        level = "error" if failure.kind == "unexpected" else "warning"
        getattr(log, level)(
            "message dead-lettered",
            dlq_topic=record.topic,
            error_kind=failure.kind,
            reason=failure.reason,
            error_class=failure.error_class,
            error=failure.message,
            attempts=attempts,
        )
        tries = 0
        while True:
            tries += 1
            try:
                await self.sink.deliver(record)
                break
            except asyncio.CancelledError:
                raise
            except Exception as send_exc:
                log.error(
                    "dead-letter topic refused the message; the partition waits",
                    dlq_topic=record.topic,
                    error_class=type(send_exc).__name__,
                    attempt=tries,
                )
                await self.sleep(self.retry.delay(min(tries, 10)))
        self.metrics.dead_lettered(self.processor, msg.topic, failure.reason)
        return Result("dead-lettered", 0, attempts, failure.reason)
