"""Reading topics once, from the beginning to their current end, outside any group.

For commands, reports and operator tools that need what the engine wrote
without a running worker: :func:`scan_topics` yields every record of some
topics (dead letters, work queues, submitted claims); :func:`read_latest`
keeps the latest value per key of a compacted topic (trading partners, claim
records, ledgers; a tombstone drops its key).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from workers.runtime import kafka_clients
from workers.runtime.settings import Settings


def scan_topics(settings: Settings, topics: Iterable[str]) -> Iterator[tuple[str, Any]]:
    """Every record of the given logical topics, from the beginning to the current end."""
    from kafka import TopicPartition

    consumer = kafka_clients.reader(settings)
    try:
        tps = []
        for name in topics:
            physical = settings.topic(name)
            for p in sorted(consumer.partitions_for_topic(physical) or ()):
                tps.append(TopicPartition(physical, p))
        if not tps:
            return
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        pending = {tp for tp in tps if end[tp] > 0}
        while pending:
            batch = consumer.poll(timeout_ms=1000)
            for tp, records in batch.items():
                name = tp.topic[len(settings.topic_prefix) :]
                for r in records:
                    yield name, r
                if consumer.position(tp) >= end[tp]:
                    pending.discard(tp)
            for tp in list(pending):
                if consumer.position(tp) >= end[tp]:
                    pending.discard(tp)
    finally:
        consumer.close()


def read_latest(settings: Settings, name: str, timeout_s: float = 10.0) -> dict[bytes, bytes]:
    """Every key of catalogue topic ``name`` with its latest (non-null) value."""
    from kafka import TopicPartition

    topic = settings.topic(name)
    consumer = kafka_clients.reader(settings, consumer_timeout_ms=int(timeout_s * 1000))
    latest: dict[bytes, bytes | None] = {}
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return {}
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        while any(consumer.position(tp) < end[tp] for tp in tps):
            batch = consumer.poll(timeout_ms=1000)
            if not batch:
                break
            for records in batch.values():
                for r in records:
                    if r.key is not None:
                        latest[r.key] = r.value
    finally:
        consumer.close()
    return {k: v for k, v in latest.items() if v}


def parse_each(raws: Iterable[bytes], model: Any) -> list[Any]:
    """Each value that reads as ``model`` (``model.parse_json``); the others (another
    event type on a shared topic, an older shape) are passed by."""
    out = []
    for raw in raws:
        try:
            out.append(model.parse_json(raw))
        except ValueError:
            continue
    return out
