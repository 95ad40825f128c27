"""The stream gap guard re-reads messages faust fetched but never delivered."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from workers.runtime.gap_guard import GapGuard
from workers.runtime.metrics import Metrics


@dataclass(frozen=True, order=True)
class TP:
    topic: str
    partition: int


@dataclass
class FakeConsumer:
    positions: dict[TP, int]
    _committed_offset: dict[TP, int] = field(default_factory=dict)
    seeks: list[tuple[TP, int]] = field(default_factory=list)
    earliest: dict[TP, int] = field(default_factory=dict)

    def assignment(self) -> set[TP]:
        return set(self.positions)

    async def position(self, tp: TP) -> int:
        return self.positions[tp]

    async def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))

    async def earliest_offsets(self, *tps: TP) -> dict[TP, int]:
        return {tp: self.earliest.get(tp, 0) for tp in tps}


@dataclass
class FakeApp:
    consumer: FakeConsumer
    in_recovery: bool = False
    rebalancing: bool = False
    should_stop: bool = False


def guard(consumer: FakeConsumer) -> GapGuard:
    return GapGuard(FakeApp(consumer), Metrics(), idle_s=5.0)


def test_an_idle_agent_behind_its_position_is_sent_back() -> None:
    tp = TP("charges.billable", 3)
    consumer = FakeConsumer({tp: 2}, {tp: 1})
    g = guard(consumer)
    progress = g.track("charges.billable")
    progress.finish(3, 0)
    progress.changed = time.monotonic() - 10
    asyncio.run(g.check())
    assert consumer.seeks == [(tp, 1)]
    asyncio.run(g.check())  # it just acted: waits another idle period
    assert consumer.seeks == [(tp, 1)]


def test_a_busy_or_recently_active_agent_is_left_alone() -> None:
    tp = TP("charges.billable", 3)
    consumer = FakeConsumer({tp: 5})
    g = guard(consumer)
    progress = g.track("charges.billable")
    progress.finish(3, 1)  # just now
    asyncio.run(g.check())
    progress.changed = time.monotonic() - 10
    progress.start()  # processing offset 2
    asyncio.run(g.check())
    assert consumer.seeks == []


def test_caught_up_partitions_and_untracked_topics_are_left_alone() -> None:
    caught_up, other = TP("charges.billable", 1), TP("state.claims.pending", 1)
    consumer = FakeConsumer({caught_up: 7, other: 100})
    g = guard(consumer)
    progress = g.track("charges.billable")
    progress.finish(1, 6)
    progress.changed = time.monotonic() - 10
    asyncio.run(g.check())
    assert consumer.seeks == []


def test_nothing_happens_during_recovery() -> None:
    tp = TP("charges.billable", 0)
    consumer = FakeConsumer({tp: 3}, {tp: 1})
    g = GapGuard(FakeApp(consumer, in_recovery=True), Metrics(), idle_s=5.0)
    g.track("charges.billable").changed = time.monotonic() - 10
    asyncio.run(g.check())
    assert consumer.seeks == []


def test_nothing_happens_once_the_worker_is_stopping() -> None:
    """A stopping worker's agents are gone: a seek would fetch messages nobody
    acknowledges and faust's stop would wait for them until it is killed."""
    tp = TP("charges.billable", 0)
    consumer = FakeConsumer({tp: 19}, {tp: 5})
    g = GapGuard(FakeApp(consumer, should_stop=True), Metrics(), idle_s=0.01)
    g.track("charges.billable").changed = time.monotonic() - 10
    asyncio.run(g.check())
    asyncio.run(asyncio.wait_for(g.run(), timeout=5))  # returns instead of looping
    assert consumer.seeks == []


def test_a_partition_never_processed_nor_committed_is_read_from_its_start() -> None:
    """A restarted worker whose group never committed (it was killed first) and
    whose agent got nothing although the position moved: the fetched messages were
    lost, and the partition is read again from its first offset."""
    lost, empty = TP("sessions.completed", 2), TP("sessions.completed", 4)
    consumer = FakeConsumer({lost: 6, empty: 3}, earliest={lost: 0, empty: 3})
    g = guard(consumer)
    g.track("sessions.completed").changed = time.monotonic() - 10
    asyncio.run(g.check())
    assert consumer.seeks == [(lost, 0)]


BILLABLE_0 = TP("charges.billable", 0)


def two_idle_lanes(
    claims_done: int | None, superbills_done: int | None
) -> tuple[FakeConsumer, GapGuard, list[Any]]:
    """A partition fetched up to offset 9 with offset 2 committed, read by two lanes
    that finished the given offsets and have been idle for a while."""
    consumer = FakeConsumer({BILLABLE_0: 9}, {BILLABLE_0: 2})
    g = guard(consumer)
    lanes = [g.track("charges.billable"), g.track("charges.billable")]
    for lane, done in zip(lanes, (claims_done, superbills_done), strict=True):
        if done is not None:
            lane.finish(0, done)
        lane.changed = time.monotonic() - 10
    return consumer, g, lanes


def test_with_two_lanes_on_a_topic_the_lane_furthest_behind_decides() -> None:
    """Two agents share a topic's messages (each passes the other's by): the
    partition is sent back to the first offset one of them has not finished."""
    consumer, g, lanes = two_idle_lanes(8, 4)
    asyncio.run(g.check())
    assert consumer.seeks == [(BILLABLE_0, 5)]
    assert all(time.monotonic() - lane.changed < 1 for lane in lanes)


def test_with_two_lanes_a_busy_lane_keeps_the_partition_where_it_is() -> None:
    consumer, g, lanes = two_idle_lanes(3, 3)
    lanes[1].start()
    asyncio.run(g.check())
    assert consumer.seeks == []


def test_with_two_lanes_a_lane_that_finished_nothing_falls_back_to_the_commit() -> None:
    consumer, g, _ = two_idle_lanes(8, None)
    asyncio.run(g.check())
    assert consumer.seeks == [(BILLABLE_0, 2)]
