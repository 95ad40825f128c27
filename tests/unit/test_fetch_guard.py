"""Fetched records are handed out or fetched again (workers/runtime/fetch_guard.py),
checked on a fake of the faust consumer's parts that ``getmany`` uses."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from workers.runtime import fetch_guard


@dataclass(frozen=True, order=True)
class TP:
    topic: str
    partition: int


@dataclass(frozen=True)
class Record:
    offset: int


class RoundRobin:
    def iterate(self, records: dict[TP, list[Record]]) -> Iterator[tuple[TP, Record]]:
        iters = {tp: iter(rs) for tp, rs in records.items()}
        while iters:
            for tp in list(iters):
                try:
                    yield tp, next(iters[tp])
                except StopIteration:
                    del iters[tp]


@dataclass
class FakeApp:
    consumer_generation_id: int = 1
    should_stop: bool = False
    ends: list[Any] = field(default_factory=list)

    @property
    def monitor(self) -> Any:
        return self

    def track_tp_end_offset(self, tp: TP, offset: int) -> None:
        self.ends.append((tp, offset))


@dataclass
class FakeConsumer:
    records: dict[TP, list[Record]]
    active: set[TP] | None = None
    assigned: set[TP] = field(default_factory=set)
    flow_active: bool = True
    should_stop: bool = False
    app: FakeApp = field(default_factory=FakeApp)
    scheduler: RoundRobin = field(default_factory=RoundRobin)
    _buffered_partitions: set[TP] = field(default_factory=set)
    seeks: list[tuple[TP, int]] = field(default_factory=list)
    committed_seeks: int = 0

    async def _wait_next_records(self, timeout: float) -> tuple[Any, Any]:
        return self.records, self.active

    def highwater(self, tp: TP) -> int:
        return 100

    def _to_message(self, tp: TP, record: Record) -> tuple[TP, int]:
        return (tp, record.offset)

    def assignment(self) -> set[TP]:
        return self.assigned or set(self.records)

    async def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))

    async def perform_seek(self) -> None:
        self.committed_seeks += 1


A, B = TP("sessions.completed", 0), TP("sessions.completed", 1)


def batch(*offsets: int) -> list[Record]:
    return [Record(o) for o in offsets]


def drain(consumer: FakeConsumer, stop_after: int | None = None,
          on_each: Any = None) -> list[tuple[TP, int]]:  # fmt: skip
    """What faust's fetch loop receives from one ``getmany``."""

    async def run() -> list[tuple[TP, int]]:
        got: list[tuple[TP, int]] = []
        async for _tp, message in fetch_guard.getmany(consumer, 1.0):
            got.append(message)
            if on_each is not None:
                on_each(consumer, got)
        return got

    return asyncio.run(run())


def test_a_whole_batch_is_handed_out_in_round_robin_and_nothing_is_sought() -> None:
    consumer = FakeConsumer({A: batch(5, 6), B: batch(9)})
    assert drain(consumer) == [(A, 5), (B, 9), (A, 6)]
    assert consumer.seeks == []


def test_records_of_a_partition_not_active_are_fetched_again_not_dropped() -> None:
    """faust passes by the records of a paused partition; its client position has
    moved past them, so without a seek they would never come again."""
    consumer = FakeConsumer({A: batch(5, 6), B: batch(9, 10)}, active={A})
    assert drain(consumer) == [(A, 5), (A, 6)]
    assert consumer.seeks == [(B, 9)]


def test_a_buffered_partition_is_still_handed_out() -> None:
    consumer = FakeConsumer({A: batch(5), B: batch(9)}, active={A}, _buffered_partitions={B})
    assert drain(consumer) == [(A, 5), (B, 9)]
    assert consumer.seeks == []


def test_a_new_generation_half_way_seeks_each_partition_to_its_first_record_left() -> None:
    def rebalance(consumer: FakeConsumer, got: list[Any]) -> None:
        if len(got) == 3:
            consumer.app.consumer_generation_id = 2

    consumer = FakeConsumer({A: batch(5, 6, 7), B: batch(9, 10, 11)})
    assert drain(consumer, on_each=rebalance) == [(A, 5), (B, 9), (A, 6)]
    assert sorted(consumer.seeks) == [(A, 7), (B, 10)]


def test_a_stopped_flow_half_way_does_the_same_and_revoked_partitions_are_left_alone() -> None:
    def stop(consumer: FakeConsumer, got: list[Any]) -> None:
        consumer.flow_active = False

    consumer = FakeConsumer({A: batch(5, 6), B: batch(9, 10)}, assigned={A})
    assert drain(consumer, on_each=stop) == [(A, 5)]
    assert consumer.seeks == [(A, 6)]  # B is another process's now


def test_a_flow_stopped_before_the_batch_seeks_back_to_the_committed_offsets() -> None:
    consumer = FakeConsumer({A: batch(5)}, flow_active=False)
    assert drain(consumer) == []
    assert consumer.committed_seeks == 1 and consumer.seeks == []


def test_a_stopping_worker_seeks_nothing() -> None:
    def stopping(consumer: FakeConsumer, got: list[Any]) -> None:
        consumer.should_stop = True
        consumer.flow_active = False

    consumer = FakeConsumer({A: batch(5, 6)})
    assert drain(consumer, on_each=stopping) == [(A, 5)]
    assert consumer.seeks == []


def test_a_stopping_app_seeks_nothing() -> None:
    """The app stops (flow stopped half-way) before the consumer does: the seek would
    fetch records no agent takes, and faust would wait for them until killed (seen
    in the rebalance fault test)."""

    def app_stopping(consumer: FakeConsumer, got: list[Any]) -> None:
        consumer.app.should_stop = True
        consumer.flow_active = False

    consumer = FakeConsumer({A: batch(5, 6)})
    assert drain(consumer, on_each=app_stopping) == [(A, 5)]
    assert consumer.seeks == []


def test_not_handed_out_is_the_first_offset_after_the_last_handed() -> None:
    records = {A: batch(5, 6, 7), B: batch(9)}
    assert fetch_guard.not_handed_out(records, {A: 6, B: 9}) == {A: 7}
    assert fetch_guard.not_handed_out(records, {}) == {A: 5, B: 9}


def test_install_puts_the_guarded_getmany_into_fausts_consumer() -> None:
    from faust.transport.drivers import aiokafka as driver

    fetch_guard.install()
    fetch_guard.install()  # idempotent
    assert driver.Consumer.getmany is fetch_guard.getmany
