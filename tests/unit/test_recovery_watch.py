"""The recovery watch re-reads a changelog partition faust's recovery stopped reading,
and stops the worker rather than leave it hung."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

from workers.runtime.metrics import Metrics
from workers.runtime.recovery_watch import RecoveryStalled, RecoveryWatch, StallTracker


@dataclass(frozen=True, order=True)
class TP:
    topic: str
    partition: int


PENDING0 = TP("state.claims.pending", 0)
PENDING4 = TP("state.claims.pending", 4)


def test_a_partition_that_moves_is_never_stalled() -> None:
    tracker = StallTracker(stall_s=10)
    for step in range(10):
        assert tracker.update(step * 5.0, {PENDING0: (step, 17)}) == []


def test_a_partition_still_with_records_left_is_nudged_after_stall_s() -> None:
    tracker = StallTracker(stall_s=10, nudges=2)
    assert tracker.update(0.0, {PENDING0: (-1, 17)}) == []
    assert tracker.update(9.9, {PENDING0: (-1, 17)}) == []
    (verdict,) = tracker.update(10.0, {PENDING0: (-1, 17)})
    assert (verdict.tp, verdict.action, verdict.offset, verdict.highwater) == (
        PENDING0,
        "nudge",
        -1,
        17,
    )
    # the next verdict waits another stall_s
    assert tracker.update(15.0, {PENDING0: (-1, 17)}) == []
    assert [v.action for v in tracker.update(20.0, {PENDING0: (-1, 17)})] == ["nudge"]
    assert [v.action for v in tracker.update(30.0, {PENDING0: (-1, 17)})] == ["give-up"]


def test_movement_after_a_nudge_starts_the_count_again() -> None:
    tracker = StallTracker(stall_s=10, nudges=1)
    tracker.update(0.0, {PENDING0: (-1, 17)})
    assert [v.action for v in tracker.update(10.0, {PENDING0: (-1, 17)})] == ["nudge"]
    assert tracker.update(12.0, {PENDING0: (5, 17)}) == []  # it moved
    assert [v.action for v in tracker.update(22.0, {PENDING0: (5, 17)})] == ["nudge"]


def test_a_caught_up_partition_or_one_no_longer_recovering_is_left_alone() -> None:
    tracker = StallTracker(stall_s=10)
    tracker.update(0.0, {PENDING0: (17, 17), PENDING4: (0, 2)})
    assert tracker.update(50.0, {PENDING0: (17, 17)}) == []  # PENDING4 left the recovery
    # coming back later is a fresh start, not a stall that began at 0
    assert tracker.update(55.0, {PENDING0: (17, 17), PENDING4: (0, 2)}) == []
    assert [v.tp for v in tracker.update(65.0, {PENDING4: (0, 2)})] == [PENDING4]


def test_each_stalled_partition_gets_its_own_verdict() -> None:
    tracker = StallTracker(stall_s=10)
    tracker.update(0.0, {PENDING0: (-1, 17), PENDING4: (-1, 2)})
    verdicts = tracker.update(10.0, {PENDING0: (-1, 17), PENDING4: (-1, 2)})
    assert sorted(v.tp for v in verdicts) == [PENDING0, PENDING4]


# --- the faust side, with fakes of faust's recovery and consumer ------------------------


@dataclass
class FakeRecovery:
    in_recovery: bool = True
    active_tps: set[TP] = field(default_factory=set)
    active_offsets: Counter[TP] = field(default_factory=Counter)
    active_highwaters: Counter[TP] = field(default_factory=Counter)


@dataclass
class FakeTables:
    recovery: FakeRecovery


@dataclass
class FakeConsumer:
    resumed: list[TP] = field(default_factory=list)
    seeks: list[dict[TP, int]] = field(default_factory=list)

    def resume_partitions(self, tps: list[TP]) -> None:
        self.resumed += tps

    async def seek_wait(self, offsets: dict[TP, int]) -> None:
        self.seeks.append(dict(offsets))


@dataclass
class FakeApp:
    tables: FakeTables
    consumer: FakeConsumer = field(default_factory=FakeConsumer)
    consumer_generation_id: int = 2
    crashed: list[BaseException] = field(default_factory=list)

    async def crash(self, reason: BaseException) -> None:
        self.crashed.append(reason)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def stuck_app() -> FakeApp:
    recovery = FakeRecovery(
        active_tps={PENDING0, PENDING4},
        active_offsets=Counter({PENDING0: -1, PENDING4: 2}),
        active_highwaters=Counter({PENDING0: 17, PENDING4: 2}),
    )
    return FakeApp(FakeTables(recovery))


def test_a_stalled_partition_is_resumed_and_sought_to_its_next_offset() -> None:
    app, clock, metrics = stuck_app(), Clock(), Metrics()
    watch = RecoveryWatch(app, metrics, stall_s=10, nudges=3, clock=clock)
    asyncio.run(watch.check())
    clock.now = 10.0
    asyncio.run(watch.check())
    # partition 4 is caught up (2 of 2): only partition 0 is re-read, from its start
    assert app.consumer.resumed == [PENDING0]
    assert app.consumer.seeks == [{PENDING0: 0}]
    assert app.crashed == []
    # and from the offset after the last one read once some were
    app.tables.recovery.active_offsets[PENDING0] = 6
    clock.now = 11.0
    asyncio.run(watch.check())
    clock.now = 21.0
    asyncio.run(watch.check())
    assert app.consumer.seeks[-1] == {PENDING0: 7}


def test_when_nudges_bring_nothing_the_worker_is_crashed_for_its_supervisor() -> None:
    app, clock = stuck_app(), Clock()
    watch = RecoveryWatch(app, Metrics(), stall_s=10, nudges=2, clock=clock)
    for now in (0.0, 10.0, 20.0, 30.0):
        clock.now = now
        asyncio.run(watch.check())
    assert len(app.consumer.seeks) == 2
    (reason,) = app.crashed
    assert isinstance(reason, RecoveryStalled)
    assert "state.claims.pending[0]" in str(reason) and "offset -1 of 17" in str(reason)


def test_nothing_is_done_outside_recovery_and_a_new_generation_starts_afresh() -> None:
    app, clock = stuck_app(), Clock()
    watch = RecoveryWatch(app, Metrics(), stall_s=10, clock=clock)
    app.tables.recovery.in_recovery = False
    for now in (0.0, 10.0, 20.0):
        clock.now = now
        asyncio.run(watch.check())
    assert app.consumer.seeks == [] and app.crashed == []
    app.tables.recovery.in_recovery = True
    clock.now = 30.0
    asyncio.run(watch.check())
    # a rebalance: the stall is timed from when the new generation was first seen
    app.consumer_generation_id = 3
    clock.now = 39.0
    asyncio.run(watch.check())
    clock.now = 48.0
    asyncio.run(watch.check())
    assert app.consumer.seeks == []
    clock.now = 49.0
    asyncio.run(watch.check())
    assert app.consumer.seeks == [{PENDING0: 0}]


def test_the_stall_is_logged_with_partition_facts_and_no_message_content() -> None:
    import io
    import json

    from workers.runtime import logging as claims_logging

    out = io.StringIO()
    claims_logging.configure_logging("INFO", "json", stream=out, force=True)
    app, clock = stuck_app(), Clock()
    watch = RecoveryWatch(app, Metrics(), stall_s=10, clock=clock)
    asyncio.run(watch.check())
    clock.now = 10.0
    asyncio.run(watch.check())
    (line,) = [json.loads(x) for x in out.getvalue().splitlines() if "stalled" in x]
    assert line["event"].startswith("changelog recovery stalled")
    assert (line["topic"], line["partition"], line["offset"], line["highwater"]) == (
        "state.claims.pending",
        0,
        -1,
        17,
    )
    # the fake has none of faust's private structures: the diagnosis says so, no crash
    assert line["diagnosis_error"] == "AttributeError"


def test_the_diagnosis_names_where_the_fetch_loop_waits_without_values() -> None:
    from workers.runtime.recovery_watch import _awaiting

    async def wait_for_records(secret: str) -> None:
        await asyncio.sleep(5)

    async def _drain_messages() -> None:
        await wait_for_records("M123456789")

    async def scenario() -> list[str]:
        task = asyncio.create_task(_drain_messages())
        await asyncio.sleep(0.01)
        try:
            return _awaiting("_drain_messages")
        finally:
            task.cancel()

    (chain,) = asyncio.run(scenario())
    assert chain.startswith("_drain_messages:") and "wait_for_records:" in chain
    assert "M123456789" not in chain


def test_as_a_service_the_watch_runs_from_the_start_and_stops_with_its_owner() -> None:
    """faust starts ``app.task`` tasks only after the first recovery: the watch is a
    service of the app instead, so it also covers a worker's first recovery."""
    app, clock = stuck_app(), Clock()
    watch = RecoveryWatch(app, Metrics(), stall_s=10, clock=clock, every_s=0.01)
    checks: list[float] = []
    original = watch.check

    async def counted() -> None:
        checks.append(clock.now)
        await original()

    watch.check = counted

    async def scenario() -> bool:
        service = watch.as_service()
        await service.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while len(checks) < 3 and loop.time() < deadline:
            await asyncio.sleep(0.01)
        await service.stop()
        seen = len(checks)
        await asyncio.sleep(0.05)
        return len(checks) == seen  # no check after the stop

    assert asyncio.run(scenario())
    assert len(checks) >= 3
