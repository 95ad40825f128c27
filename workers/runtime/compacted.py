"""Read a compacted topic once: the latest value per key (tombstones drop the key).

For commands and reports that need reference data or engine state without a
running worker (trading partners, claim records, ledgers)."""

from __future__ import annotations

from workers.runtime.settings import Settings


def read_latest(settings: Settings, name: str, timeout_s: float = 10.0) -> dict[bytes, bytes]:
    """Every key of catalogue topic ``name`` with its latest (non-null) value."""
    from kafka import KafkaConsumer, TopicPartition

    topic = settings.topic(name)
    consumer = KafkaConsumer(
        enable_auto_commit=False,
        group_id=None,
        consumer_timeout_ms=int(timeout_s * 1000),
        **settings.kafka_python_config(),
    )
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
