"""Dead letters: the header scheme and the record sent to ``<topic>.dlq``.

A dead letter keeps the original key, the original value bytes and the original
headers untouched, and adds headers under one namespace, ``claims.dlq.``:

==============================  ===============================================
header                          value (UTF-8 text)
==============================  ===============================================
claims.dlq.original.topic       logical topic the message was read from
claims.dlq.original.partition   its partition
claims.dlq.original.offset      its offset
claims.dlq.original.timestamp   its timestamp, ms since the epoch
claims.dlq.processor            processor (worker) name, e.g. ``enrich``
claims.dlq.consumer_group       consumer group (faust app id) that failed
claims.dlq.error.kind           invalid-input | transient | unexpected
claims.dlq.error.reason         stable reason code, e.g. ``schema-invalid``
claims.dlq.error.class          exception class, fully qualified
claims.dlq.error.message        what failed: field and rule, never a value
claims.dlq.error.stacktrace     bounded stack trace (most recent calls last)
claims.dlq.failed_at            ISO-8601 UTC time of the final failure
claims.dlq.attempts             how many times processing was attempted
claims.dlq.clinic_id            tenant, when known
==============================  ===============================================

Replays add ``claims.replay.*`` headers (operations tooling); both namespaces are
stripped when a dead letter is sent back to its original topic.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from schemas.state import SourceRef
from workers.runtime.failures import classify, reason_of, safe_message
from workers.runtime.records import Incoming, Outgoing
from workers.runtime.topics import DLQ_SUFFIX

PREFIX = "claims.dlq."
REPLAY_PREFIX = "claims.replay."

H_TOPIC = PREFIX + "original.topic"
H_PARTITION = PREFIX + "original.partition"
H_OFFSET = PREFIX + "original.offset"
H_TIMESTAMP = PREFIX + "original.timestamp"
H_PROCESSOR = PREFIX + "processor"
H_GROUP = PREFIX + "consumer_group"
H_KIND = PREFIX + "error.kind"
H_REASON = PREFIX + "error.reason"
H_CLASS = PREFIX + "error.class"
H_MESSAGE = PREFIX + "error.message"
H_STACK = PREFIX + "error.stacktrace"
H_FAILED_AT = PREFIX + "failed_at"
H_ATTEMPTS = PREFIX + "attempts"
H_CLINIC = PREFIX + "clinic_id"


@dataclass(frozen=True)
class Failure:
    """What went wrong with one message, in header-safe form."""

    kind: str
    reason: str
    error_class: str
    message: str
    stacktrace: str


def describe_failure(exc: BaseException, *, stack_limit: int, scrub: object = None) -> Failure:
    """Turn an exception into header-safe text (``scrub`` masks PHI values)."""
    cls = type(exc)
    message = safe_message(exc)
    stack = "".join(traceback.format_exception(exc))
    if callable(scrub):
        message = scrub(message)
        stack = scrub(stack)
    if len(stack) > stack_limit:
        stack = "...\n" + stack[-stack_limit:]
    return Failure(
        kind=classify(exc),
        reason=reason_of(exc),
        error_class=f"{cls.__module__}.{cls.__qualname__}",
        message=message,
        stacktrace=stack,
    )


def dead_letter(
    msg: Incoming,
    failure: Failure,
    *,
    processor: str,
    consumer_group: str,
    attempts: int,
    failed_at: datetime | None = None,
    clinic_id: str | None = None,
) -> Outgoing:
    """The record to publish on ``<msg.topic>.dlq`` for a failed message."""
    when = (failed_at or datetime.now(UTC)).astimezone(UTC)
    added = {
        H_TOPIC: msg.topic,
        H_PARTITION: str(msg.partition),
        H_OFFSET: str(msg.offset),
        H_TIMESTAMP: str(msg.timestamp_ms),
        H_PROCESSOR: processor,
        H_GROUP: consumer_group,
        H_KIND: failure.kind,
        H_REASON: failure.reason,
        H_CLASS: failure.error_class,
        H_MESSAGE: failure.message,
        H_STACK: failure.stacktrace,
        H_FAILED_AT: when.isoformat().replace("+00:00", "Z"),
        H_ATTEMPTS: str(attempts),
    }
    if clinic_id:
        added[H_CLINIC] = clinic_id
    headers: list[tuple[str, bytes]] = [(k, v) for k, v in msg.headers if not k.startswith(PREFIX)]
    headers.extend((k, v.encode("utf-8")) for k, v in added.items())
    return Outgoing(
        topic=msg.topic + DLQ_SUFFIX,
        key=msg.key,
        value=msg.value,
        headers=tuple(headers),
    )


def dead_letter_info(headers: Iterable[tuple[str, bytes]]) -> dict[str, str]:
    """The ``claims.dlq.*`` headers of a dead letter, decoded, without the prefix."""
    return {
        k[len(PREFIX) :]: v.decode("utf-8", errors="replace")
        for k, v in headers
        if k.startswith(PREFIX)
    }


def original_headers(headers: Iterable[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Headers as they were on the original message (for replays)."""
    return [(k, v) for k, v in headers if not (k.startswith((PREFIX, REPLAY_PREFIX)))]


def header_map(headers: Iterable[tuple[str, bytes]] | Mapping[str, bytes]) -> dict[str, bytes]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    return dict(items)


def stored_dead_letter(
    source_json: str | None,
    ref: SourceRef | None,
    *,
    reason: str,
    message: str,
    error_class: str,
    processor: str,
    consumer_group: str,
) -> Outgoing | None:
    """The dead letter of a message a processor kept in its state and gives up on
    later (a claim a file could not carry): the message as it came, from where it
    came (None when the state did not keep it)."""
    if source_json is None or ref is None:
        return None
    incoming = Incoming(
        topic=ref.topic,
        partition=ref.partition,
        offset=ref.offset,
        timestamp_ms=ref.timestamp_ms,
        key=ref.key.encode() if ref.key is not None else None,
        value=source_json.encode(),
    )
    failure = Failure(
        kind="invalid-input",
        reason=reason,
        error_class=error_class,
        message=message[:2000],
        stacktrace="",
    )
    return dead_letter(
        incoming, failure, processor=processor, consumer_group=consumer_group, attempts=1
    )
