"""The stream gap guard re-reads messages faust fetched but never delivered."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from intervaltree import IntervalTree  # type: ignore[import-untyped]  # faust's own dependency, untyped

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
    _gap: dict[TP, IntervalTree] = field(default_factory=dict)

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


# --- holes in the middle of a partition ------------------------------------------


@dataclass
class Msg:
    topic: str
    partition: int
    offset: int
    acked: bool = False

    @property
    def tp(self) -> TP:
        return TP(self.topic, self.partition)


def admit_all(g: GapGuard, progress: Any, offsets: list[int], compacted: bool = False) -> list[int]:
    """Offer ``offsets`` of sessions.completed/5 in order; the ones the agent processes."""
    taken = []
    for offset in offsets:
        progress.saw(5, offset)
        if offset <= progress.done.get(5, -1):
            continue  # the agent's redelivery rule
        if asyncio.run(
            g.admit(progress, Msg("sessions.completed", 5, offset), compacted=compacted)
        ):
            taken.append(offset)
            progress.finish(5, offset)
    return taken


def idle_check(g: GapGuard, progress: Any, position: int) -> None:
    """The agent has been idle a while; the partition's position is ``position``."""
    g.app.consumer.positions[TP("sessions.completed", 5)] = position
    progress.changed = time.monotonic() - 10
    asyncio.run(g.check())


def test_messages_in_order_are_all_processed() -> None:
    tp = TP("sessions.completed", 5)
    consumer = FakeConsumer({tp: 0}, {tp: 15})
    g = guard(consumer)
    assert admit_all(g, g.track("sessions.completed"), list(range(15, 30))) == list(range(15, 30))
    assert consumer.seeks == []


def test_a_hole_after_start_is_read_again_and_never_committed_past() -> None:
    """The restart case: committed 15, the fetch loop lost 15..24 and marked them as a
    compacted range; the agent's first message is 25.  The records fetched after it
    are skipped; once the agent is idle the guard seeks back to 15 (not at once:
    records still on their way would move faust's read offset past the re-read)."""
    tp = TP("sessions.completed", 5)
    gap = IntervalTree()
    gap.addi(15, 25)
    consumer = FakeConsumer({tp: 30}, {tp: 15}, _gap={tp: gap})
    g = guard(consumer)
    progress = g.track("sessions.completed")
    assert admit_all(g, progress, [25, 26, 27]) == []
    assert consumer.seeks == []
    assert not gap.overlaps(15, 25), "faust must not count the lost offsets as done"
    idle_check(g, progress, 30)
    assert consumer.seeks == [(tp, 15)]
    # after the seek the missing messages come, then the skipped ones again
    assert admit_all(g, progress, list(range(15, 30))) == list(range(15, 30))
    assert consumer.seeks == [(tp, 15)]
    assert g.metrics.outcomes[("runtime", "stream-hole-reread")] == 1


def test_a_hole_after_processed_messages_goes_back_to_the_next_one() -> None:
    tp = TP("sessions.completed", 5)
    consumer = FakeConsumer({tp: 0}, {tp: 3})
    g = guard(consumer)
    progress = g.track("sessions.completed")
    assert admit_all(g, progress, [3, 4, 5, 9, 10]) == [3, 4, 5]
    idle_check(g, progress, 11)
    assert consumer.seeks == [(tp, 6)]
    assert admit_all(g, progress, [6, 7, 8, 9, 10]) == [6, 7, 8, 9, 10]


def test_compacted_topics_have_real_holes() -> None:
    tp = TP("sessions.completed", 5)
    consumer = FakeConsumer({tp: 0}, {tp: 3})
    g = guard(consumer)
    progress = g.track("sessions.completed")
    assert admit_all(g, progress, [3, 7, 12], compacted=True) == [3, 7, 12]
    assert consumer.seeks == []


@dataclass
class FakeStarts:
    """The broker's answers on the guard's own client: the group's commit, the log start."""

    committed_offsets: dict[TP, int] = field(default_factory=dict)
    first_offsets: dict[TP, int] = field(default_factory=dict)

    async def first(self, tp: TP) -> int | None:
        return self.first_offsets.get(tp)

    async def committed(self, tp: TP) -> int | None:
        return self.committed_offsets.get(tp)


def test_nothing_known_without_a_lookup_admits_the_first_message() -> None:
    g = guard(FakeConsumer({}, {}))
    assert admit_all(g, g.track("sessions.completed"), [40, 41]) == [40, 41]


def test_nothing_known_but_the_partition_start_admits_a_first_message_there() -> None:
    tp = TP("sessions.completed", 5)
    starts = FakeStarts(first_offsets={tp: 40})
    g = GapGuard(FakeApp(FakeConsumer({tp: 0}, {})), Metrics(), log_start=starts)
    assert admit_all(g, g.track("sessions.completed"), [40, 41]) == [40, 41]


def test_nothing_known_and_a_first_message_beyond_the_start_is_a_hole() -> None:
    """A partition the group never committed, handed to this process: the stream
    starts at the partition's first offset, so a first message at 15 means 0..14
    were lost on the way."""
    tp = TP("sessions.completed", 5)
    consumer = FakeConsumer({tp: 0}, {})
    starts = FakeStarts(first_offsets={tp: 0})
    g = GapGuard(FakeApp(consumer), Metrics(), idle_s=5.0, log_start=starts)
    progress = g.track("sessions.completed")
    assert admit_all(g, progress, [15, 16]) == []
    idle_check(g, progress, 17)
    assert consumer.seeks == [(tp, 0)]
    assert admit_all(g, progress, list(range(17))) == list(range(17))


def test_a_group_commit_faust_does_not_know_is_where_the_stream_starts() -> None:
    """CI: a partition moved between processes; faust's bookkeeping knew no commit,
    the group had committed 9, and the first message was 15: 9..14 were never
    enriched.  The guard asks the broker for the commit and re-reads from 9 (not
    from the partition's start: 0..8 were done)."""
    tp = TP("sessions.completed", 5)
    consumer = FakeConsumer({tp: 0}, {})
    starts = FakeStarts(committed_offsets={tp: 9}, first_offsets={tp: 0})
    g = GapGuard(FakeApp(consumer), Metrics(), idle_s=5.0, log_start=starts)
    progress = g.track("sessions.completed")
    assert admit_all(g, progress, [15, 16]) == []
    idle_check(g, progress, 17)
    assert consumer.seeks == [(tp, 9)]
    assert admit_all(g, progress, list(range(9, 17))) == list(range(9, 17))


def test_skipped_messages_are_kept_out_of_the_commit() -> None:
    """faust would commit past one missing offset after the group's commit if the
    skipped message after it counted as acknowledged."""
    tp = TP("sessions.completed", 5)
    consumer = FakeConsumer({tp: 0}, {tp: 9})
    g = guard(consumer)
    progress = g.track("sessions.completed")
    skipped = Msg("sessions.completed", 5, 10)
    progress.saw(5, 10)
    assert not asyncio.run(g.admit(progress, skipped))
    assert skipped.acked, "marked done before faust's ack, so its offset is never committed"
    taken = Msg("sessions.completed", 5, 9)
    assert asyncio.run(g.admit(progress, taken))
    assert not taken.acked


def test_a_hole_is_re_read_while_the_agent_works_on_other_partitions() -> None:
    """Ticks arrive on every partition twice a second, so the agent is never idle:
    the hole's partition is sought back as soon as every record fetched from it has
    reached the agent, and not while some are still on their way."""
    tp = TP("sessions.completed", 5)
    consumer = FakeConsumer({tp: 0}, {tp: 9})
    g = guard(consumer)
    progress = g.track("sessions.completed")
    assert admit_all(g, progress, [10, 11]) == []
    busy_elsewhere = time.monotonic()
    consumer.positions[tp] = 14  # 12 and 13 fetched, not yet handed to the agent
    progress.changed = busy_elsewhere
    asyncio.run(g.check())
    assert consumer.seeks == []
    assert admit_all(g, progress, [12, 13]) == []
    progress.changed = busy_elsewhere
    asyncio.run(g.check())
    assert consumer.seeks == [(tp, 9)]
    # the re-read is fetched (position 14) but still on its way: no second seek
    asyncio.run(g.check())
    assert consumer.seeks == [(tp, 9)]
    assert admit_all(g, progress, [9, 10, 11, 12, 13]) == [9, 10, 11, 12, 13]
    asyncio.run(g.check())
    assert consumer.seeks == [(tp, 9)]


def test_a_partition_handed_away_and_back_starts_where_the_group_is() -> None:
    """Waiting for offset 6 when the partition went to another process, which
    committed up to 20: this process starts at 20 and stops waiting."""
    tp = TP("sessions.completed", 5)
    consumer = FakeConsumer({tp: 0}, {tp: 3})
    g = guard(consumer)
    progress = g.track("sessions.completed")
    admit_all(g, progress, [3, 4, 5, 9])
    assert progress.rewinding == {5: 6}
    consumer._committed_offset[tp] = 20
    assert admit_all(g, progress, [20, 21]) == [20, 21]


def test_messages_removed_by_retention_are_no_hole() -> None:
    """The group was away longer than the topic keeps messages: its commit (15) is
    below the partition's first offset (40), and the consumer starts there."""
    tp = TP("sessions.completed", 5)
    consumer = FakeConsumer({tp: 0}, {tp: 15}, earliest={tp: 40})
    g = guard(consumer)
    assert admit_all(g, g.track("sessions.completed"), [40, 41]) == [40, 41]
    assert consumer.seeks == []


def test_a_hole_partly_removed_by_retention_is_read_from_the_first_offset() -> None:
    tp = TP("sessions.completed", 5)
    consumer = FakeConsumer({tp: 0}, {tp: 15}, earliest={tp: 20})
    g = guard(consumer)
    progress = g.track("sessions.completed")
    assert admit_all(g, progress, [25]) == []
    idle_check(g, progress, 26)
    assert consumer.seeks == [(tp, 20)]


def test_offsets_that_hold_nothing_are_gone_past_after_one_reread() -> None:
    """A transactional producer's commit markers take offsets 15..24: the re-read
    from 15 comes back at 25 again, so nothing is there; the agent goes on (a
    warning and its own outcome).  Records still on their way from before the
    re-read are skipped without counting."""
    tp = TP("sessions.completed", 5)
    consumer = FakeConsumer({tp: 0}, {tp: 15})
    g = guard(consumer)
    progress = g.track("sessions.completed")
    assert admit_all(g, progress, [25, 26, 27]) == []  # 26, 27: fetched before the seek
    idle_check(g, progress, 28)
    assert admit_all(g, progress, [25, 26, 27]) == [25, 26, 27]  # the re-read: 25 again
    assert consumer.seeks == [(tp, 15)]
    assert g.metrics.outcomes[("runtime", "stream-hole-empty")] == 1
    assert g.metrics.outcomes[("runtime", "stream-hole-reread")] == 1


def test_every_partition_behind_is_sent_back_in_one_pass() -> None:
    """After a restart all partitions of a topic can be behind their positions: one
    pass re-reads them all (one per idle period took half a minute)."""
    tps = [TP("sessions.completed", p) for p in range(3)]
    consumer = FakeConsumer(dict.fromkeys(tps, 20), dict.fromkeys(tps, 5))
    g = guard(consumer)
    g.track("sessions.completed").changed = time.monotonic() - 10
    asyncio.run(g.check())
    assert consumer.seeks == [(tp, 5) for tp in tps]
    asyncio.run(g.check())  # they were just sought back: the next pass waits
    assert len(consumer.seeks) == 3
