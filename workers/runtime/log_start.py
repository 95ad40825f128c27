"""Where a partition starts, asked on a Kafka client of the worker's own.

The stream gap guard needs a partition's first offset, and the worker group's
committed offset, while an agent holds a message
(:meth:`workers.runtime.gap_guard.GapGuard.admit`).  Asking faust's consumer then
can hang the worker: its calls run on the consumer's thread, and during a
rebalance that thread waits for every agent to finish its message.  A separate
client answers regardless: it carries the group's id to read its commits, but
never subscribes, so it never joins the group nor commits.  It is started on
first use and closed with the guard.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from workers.runtime import kafka_clients
from workers.runtime.settings import Settings

log = structlog.stdlib.get_logger("claims.runtime")


class LogStart:
    """``await log_start.first(tp)``: the partition's first offset;
    ``await log_start.committed(tp)``: the group's committed offset.  ``None``
    when there is none, or the broker did not answer in time (the guard then
    knows nothing more than before)."""

    def __init__(
        self, settings: Settings, group: str, client_id: str, timeout_s: float = 10.0
    ) -> None:
        self._settings = settings
        self._group = group
        self._client_id = client_id
        self._timeout_s = timeout_s
        self._client: Any = None
        self._lock = asyncio.Lock()
        self._closed = False

    async def first(self, tp: Any) -> int | None:
        async def ask(client: Any, wanted: Any) -> Any:
            return (await client.beginning_offsets([wanted])).get(wanted)

        return await self._ask(tp, ask, "first offset of a partition not known")

    async def committed(self, tp: Any) -> int | None:
        async def ask(client: Any, wanted: Any) -> Any:
            return await client.committed(wanted)

        return await self._ask(tp, ask, "committed offset of a partition not known")

    async def _ask(self, tp: Any, ask: Any, failure: str) -> int | None:
        from aiokafka import TopicPartition

        if self._closed:
            return None
        wanted = TopicPartition(tp.topic, tp.partition)
        try:
            client = await self._started()
            offset = await asyncio.wait_for(ask(client, wanted), timeout=self._timeout_s)
        except Exception as exc:  # no answer: the caller goes on knowing nothing
            log.warning(failure, topic=tp.topic, partition=tp.partition, error=type(exc).__name__)
            return None
        return int(offset) if offset is not None else None

    async def _started(self) -> Any:
        async with self._lock:
            if self._client is None:
                client = kafka_clients.async_group_consumer(
                    self._settings, self._group, self._client_id
                )
                await asyncio.wait_for(client.start(), timeout=self._timeout_s)
                self._client = client
            return self._client

    async def close(self) -> None:
        self._closed = True
        async with self._lock:
            if self._client is not None:
                client, self._client = self._client, None
                try:
                    await asyncio.wait_for(client.stop(), timeout=self._timeout_s)
                except Exception as exc:  # a worker's stop must not hang on it
                    log.warning("log-start client did not stop", error=type(exc).__name__)
