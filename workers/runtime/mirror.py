"""A per-process mirror of small compacted topics (clinics, therapists, payers).

Every worker process needs the whole catalogue, whatever partitions it owns,
so the mirror reads *all* partitions of its topics with its own consumer (no
consumer group, nothing committed), from the beginning, and keeps reading.
``ready`` is set once it has caught up with the end offsets it saw at start;
processors wait for it before evaluating anything.  Faust's GlobalTable does the
same job, but it cannot also be the source of an agent; this mirror can sit
beside the agents that consume the same topics.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import structlog

from workers.runtime import kafka_clients
from workers.runtime.settings import Settings

log = structlog.stdlib.get_logger("claims.mirror")

OnRecord = Callable[[str, bytes, bytes | None], None]


async def all_partitions(consumer: Any, topics: Sequence[str], wait_s: float = 30.0) -> list[Any]:
    """Every partition of the (physical) topics, waiting for metadata to know them."""
    from aiokafka import TopicPartition

    tps: list[TopicPartition] = []
    loop = asyncio.get_running_loop()
    for name in topics:
        deadline = loop.time() + wait_s
        parts = consumer.partitions_for_topic(name)
        while not parts and loop.time() < deadline:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(name)
            if not parts:
                await asyncio.sleep(0.5)
        tps.extend(TopicPartition(name, p) for p in sorted(parts or ()))
    return tps


class Mirror(Protocol):
    """What a processor needs of a mirror: whether it has caught up."""

    ready: asyncio.Event

    async def wait_ready(self, timeout: float) -> bool: ...

    async def run(self) -> None: ...


class TopicMirror:
    def __init__(self, settings: Settings, topics: Sequence[str], on_record: OnRecord) -> None:
        self.settings = settings
        self.topics = list(topics)  # logical names
        self.on_record = on_record
        self.ready = asyncio.Event()
        self.records = 0

    async def wait_ready(self, timeout: float) -> bool:
        if self.ready.is_set():
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.ready.wait(), timeout)
        return self.ready.is_set()

    async def run(self) -> None:
        """Mirror until cancelled (restarting the consumer after errors)."""
        while True:
            try:
                await self._run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("reference mirror failed; restarting", error=str(exc)[:300])
                await asyncio.sleep(1.0)

    async def _run_once(self) -> None:
        physical = {self.settings.topic(t): t for t in self.topics}
        consumer = kafka_clients.async_reader(self.settings, "claims-reference-mirror")
        await consumer.start()
        try:
            tps = await all_partitions(consumer, list(physical), wait_s=3600)
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            end = await consumer.end_offsets(tps)
            pending = {tp for tp in tps if end[tp] > 0}
            if not pending:
                self.ready.set()
            while True:
                batch = await consumer.getmany(timeout_ms=500, max_records=5000)
                for tp, messages in batch.items():
                    logical = physical[tp.topic]
                    for m in messages:
                        if m.key is not None:
                            self.on_record(logical, m.key, m.value)
                            self.records += 1
                if not self.ready.is_set():
                    for tp in list(pending):
                        if await consumer.position(tp) >= end[tp]:
                            pending.discard(tp)
                    if not pending:
                        self.ready.set()
                        log.info("reference mirror caught up", records=self.records)
        finally:
            await consumer.stop()
