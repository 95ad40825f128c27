"""Fetched records are handed out or fetched again, never dropped.

faust-streaming's consumer fetches a batch of records per partition and hands
them to its fetch loop one by one (``Consumer.getmany``).  It stops handing them
out half-way when the flow stops or the consumer generation changes, and it
silently passes by the records of a partition that is not active at that moment
(paused during a recovery, say).  The Kafka client's position has already moved
past those records, so the next fetch starts after them; the fetch loop then
sees a jump in offsets, takes it for a compacted range and marks the missing
offsets as acknowledged -- they are committed without ever reaching an agent.
After a worker restart this lost whole runs of sessions (CI, and a loop of the
SIGKILL fault test with one core kept busy: 2 failures in 4 runs).

:func:`install` replaces ``getmany`` of faust's aiokafka consumer with
:func:`getmany` below: the same hand-out (round-robin over partitions, the same
checks), but a partition whose fetched records were not all handed out is sought
back to the first of them before the next fetch, so they come again, in order,
with no jump.  The recovery and rebalance paths of faust are untouched (after a
rebalance faust seeks every assigned partition to its committed offset anyway).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import structlog

log = structlog.stdlib.get_logger("claims.runtime")


def not_handed_out(records: dict[Any, list[Any]], handed: dict[Any, int]) -> dict[Any, int]:
    """Per partition, the first fetched offset that was not handed out (pure)."""
    out = {}
    for tp, batch in records.items():
        last = handed.get(tp)
        rest = [r.offset for r in batch if last is None or r.offset > last]
        if rest:
            out[tp] = min(rest)
    return out


async def getmany(self: Any, timeout: float) -> AsyncIterator[tuple[Any, Any]]:
    """faust's ``Consumer.getmany`` that never drops a fetched record (see module)."""
    records, active = await self._wait_next_records(timeout)
    generation = self.app.consumer_generation_id
    if records is None or self.should_stop:
        return
    if not self.flow_active:
        # as faust does: the flow stopped while waiting, back to the committed offsets
        try:
            await self.perform_seek()
        except Exception as exc:  # faust logs and goes on here too
            log.warning("seek to committed offsets failed", error=type(exc).__name__)
        return
    handed: dict[Any, int] = {}
    held_back: set[Any] = set()
    try:
        for tp, record in self.scheduler.iterate(records):
            if tp in held_back:
                continue  # one record held back: the later ones of its partition too
            if not self.flow_active or self.app.consumer_generation_id != generation:
                break
            if active is not None and tp not in active and tp not in self._buffered_partitions:
                held_back.add(tp)
                continue
            self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
            handed[tp] = record.offset
            yield tp, self._to_message(tp, record)
    finally:
        await _fetch_again(self, not_handed_out(records, handed))


async def _fetch_again(consumer: Any, first_offsets: dict[Any, int]) -> None:
    if not first_offsets or consumer.should_stop or consumer.app.should_stop:
        # a worker that is stopping hands its partitions over at the group's commit;
        # a seek now would fetch records no agent takes, and faust waits for them
        # until the stop times out
        return
    assigned = consumer.assignment()
    for tp, offset in sorted(first_offsets.items()):
        if tp not in assigned:
            continue  # revoked: its next owner starts at the group's commit
        try:
            await consumer.seek(tp, offset)
        except Exception as exc:  # a partition revoked meanwhile
            log.warning("fetching records again failed", topic=tp.topic,
                        partition=tp.partition, error=type(exc).__name__)  # fmt: skip
            continue
        log.info(
            "fetched records not handed out: fetching them again",
            topic=tp.topic,
            partition=tp.partition,
            offset=offset,
        )


def install() -> None:
    """Use :func:`getmany` in faust's aiokafka consumer (idempotent)."""
    from faust.transport.drivers import aiokafka as driver

    consumer_cls: Any = driver.Consumer
    if getattr(consumer_cls, "_claims_fetch_guard", False):
        return
    consumer_cls.getmany = getmany
    consumer_cls._claims_fetch_guard = True
