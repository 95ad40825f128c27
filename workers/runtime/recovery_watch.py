"""A watch on faust's changelog recovery: a partition that stops arriving is re-read.

After a rebalance hands a worker partitions another process owned, faust reads
their changelogs before it processes anything.  Now and then it never receives a
single record of some of them: the Kafka client has fetched them (its position is
past the highwater) but faust's fetch loop dropped the batch -- it abandons a
fetched batch without seeking back when the consumer generation changes or the
flow stops while it hands the batch out (the stream-side twin of this is
faust-streaming/faust#629, see ``GapGuard``).  Recovery then waits for records
that will never come: faust logs "No event received for active tp ... since
recovery start" forever, and nothing is processed and nothing fails.  Seen in 2 of
34 runs of the fault test that stops one of two claims workers.

The watch follows recovery's own counters (the last offset read of each active
changelog partition and its highwater).  A partition with records left that has
not moved for ``stall_s`` is *nudged*: it is put back among the partitions faust
fetches and its consumer is sought to the next offset to read, which drops
whatever the fetcher holds for it and fetches again.  Records already read are not
read twice (the seek is to the next offset), and seeking to the same place is
harmless when the partition was merely slow.  When ``nudges`` nudges in a row
bring nothing, the worker is crashed on purpose, so its supervisor starts it
again instead of leaving it hung.

The decisions are :class:`StallTracker` (plain data, tested without Kafka); the
faust side is :class:`RecoveryWatch`, a background task of every worker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

log = structlog.stdlib.get_logger("claims.recovery")

#: the ``processor`` label of the watch's outcomes (``claims_outcomes_total``)
RUNTIME = "runtime"


class RecoveryStalled(RuntimeError):
    """Changelog recovery made no progress, even after the partition was re-read."""


@dataclass
class _Watched:
    offset: int
    moved_at: float
    nudges: int = 0


@dataclass(frozen=True)
class Verdict:
    """What to do about one partition now."""

    tp: Hashable
    action: str  # "nudge" | "give-up"
    offset: int  # the last offset read (-1: none)
    highwater: int
    still_s: float
    nudges: int


@dataclass
class StallTracker:
    """Which partitions of a recovery have stopped moving.

    ``update`` is called with each active partition's last offset read and its
    highwater; a partition whose offset has not changed for ``stall_s`` while
    records remain gets a ``nudge`` verdict (then ``stall_s`` more before the
    next), and one nudged ``nudges`` times without moving gets ``give-up``.
    Any movement resets its count.
    """

    stall_s: float = 10.0
    nudges: int = 3
    _watched: dict[Hashable, _Watched] = field(default_factory=dict)

    def update(self, now: float, positions: Mapping[Hashable, tuple[int, int]]) -> list[Verdict]:
        verdicts: list[Verdict] = []
        for tp in list(self._watched):
            if tp not in positions:
                del self._watched[tp]  # no longer recovering (done, or revoked)
        for tp, (offset, highwater) in positions.items():
            seen = self._watched.get(tp)
            if seen is None or seen.offset != offset:
                self._watched[tp] = _Watched(offset, now)
                continue
            if offset >= highwater:
                seen.moved_at = now  # nothing left to read: not stalled
                continue
            still = now - seen.moved_at
            if still < self.stall_s:
                continue
            action = "give-up" if seen.nudges >= self.nudges else "nudge"
            verdicts.append(Verdict(tp, action, offset, highwater, round(still, 1), seen.nudges))
            seen.nudges += 1
            seen.moved_at = now  # the next verdict only after another stall_s
        return verdicts

    def reset(self) -> None:
        self._watched.clear()


class RecoveryWatch:
    """The faust side: reads recovery's counters, nudges, crashes as the last resort."""

    def __init__(
        self,
        app: Any,
        metrics: Any,
        stall_s: float = 10.0,
        nudges: int = 3,
        clock: Callable[[], float] = time.monotonic,
        every_s: float = 2.0,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.tracker = StallTracker(stall_s=stall_s, nudges=nudges)
        self.clock = clock
        self.every_s = every_s
        self._generation: Any = None

    def _positions(self) -> dict[Any, tuple[int, int]]:
        recovery = self.app.tables.recovery
        if not recovery.in_recovery:
            return {}
        offsets, highwaters = recovery.active_offsets, recovery.active_highwaters
        out: dict[Any, tuple[int, int]] = {}
        for tp in list(recovery.active_tps):
            highwater = highwaters.get(tp)
            offset = offsets.get(tp)
            if highwater is None or offset is None:
                continue
            out[tp] = (int(offset), int(highwater))
        return out

    async def check(self) -> None:
        # (faust's ``app.rebalancing`` stays set until recovery ends: no use here)
        generation = getattr(self.app, "consumer_generation_id", None)
        if generation != self._generation:
            self._generation = generation
            self.tracker.reset()  # a new assignment starts a new recovery
        for verdict in self.tracker.update(self.clock(), self._positions()):
            if verdict.action == "nudge":
                await self._nudge(verdict)
            else:
                await self._give_up(verdict)

    def _diagnosis(self, tp: Any, offset: int | None = None) -> dict[str, Any]:
        """What faust and aiokafka hold about the partition (best effort: private state)."""
        consumer = self.app.consumer
        facts: dict[str, Any] = {}
        try:
            facts["fetched_by_faust"] = tp in consumer._get_active_partitions()
            facts["paused_by_faust"] = tp in consumer._paused_partitions
            facts["faust_read_offset"] = consumer._read_offset.get(tp)
            facts["flow_active"] = bool(consumer.flow_active)
            inner = consumer._thread._ensure_consumer()
            facts["paused_by_aiokafka"] = tp in inner.paused()
            facts["buffered_by_aiokafka"] = tp in getattr(inner._fetcher, "_records", {})
            state = inner._fetcher._subscriptions.subscription.assignment.state_value(tp)
            if state is not None:
                position = state.position if state.has_valid_position else None
                facts["aiokafka_position"] = position
                facts["aiokafka_awaiting_reset"] = bool(state.awaiting_reset)
                if position is not None and offset is not None:
                    # fetched by the client but never handed to recovery: dropped
                    facts["fetched_not_received"] = max(position - (offset + 1), 0)
        except Exception as exc:  # private structures of another version: say so, go on
            facts["diagnosis_error"] = type(exc).__name__
        facts["fetcher_awaits"] = _awaiting("_drain_messages")
        return facts

    async def _nudge(self, verdict: Verdict) -> None:
        tp = verdict.tp
        consumer = self.app.consumer
        log.warning(
            "changelog recovery stalled; re-reading the partition",
            **_where(verdict),
            still_s=verdict.still_s,
            nudge=verdict.nudges + 1,
            **self._diagnosis(tp, verdict.offset),
        )
        self.metrics.outcome(RUNTIME, "recovery-nudged")
        consumer.resume_partitions([tp])
        await consumer.seek_wait({tp: verdict.offset + 1})

    async def _give_up(self, verdict: Verdict) -> None:
        tp = verdict.tp
        log.error(
            "changelog recovery stalled after re-reading; stopping the worker so its "
            "supervisor starts it again",
            **_where(verdict),
            nudges=verdict.nudges,
        )
        self.metrics.outcome(RUNTIME, "recovery-stalled")
        crash: Callable[[BaseException], Awaitable[None]] = self.app.crash
        await crash(
            RecoveryStalled(
                f"changelog {getattr(tp, 'topic', tp)}[{getattr(tp, 'partition', '?')}] "
                f"stuck at offset {verdict.offset} of {verdict.highwater}"
            )
        )

    def as_service(self) -> Any:
        """A mode service running the watch, for ``app.add_dependency``: it starts
        with the app, before the first recovery (faust starts ``app.task`` tasks
        only once the first recovery has completed)."""
        from mode import Service

        watch = self

        class RecoveryWatchService(Service):
            async def on_start(self) -> None:
                self.add_future(watch.run())

        return RecoveryWatchService()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the watch itself never takes the worker down
                log.warning("recovery watch check failed", error=str(exc)[:200])


def _where(verdict: Verdict) -> dict[str, Any]:
    tp = verdict.tp
    return {
        "topic": getattr(tp, "topic", str(tp)),
        "partition": getattr(tp, "partition", None),
        "offset": verdict.offset,
        "highwater": verdict.highwater,
    }


def _awaiting(marker: str, limit: int = 25) -> list[str]:
    """Where the tasks whose await chain passes through ``marker`` are waiting:
    function names and line numbers only (no values)."""
    try:
        tasks = asyncio.all_tasks()
    except RuntimeError:  # no running loop
        return []
    chains = []
    for task in tasks:
        names = _await_chain(task.get_coro(), limit)
        if any(name.startswith(marker + ":") for name in names):
            chains.append(" > ".join(names))
    return chains


def _await_chain(coro: Any, limit: int) -> list[str]:
    names: list[str] = []
    while coro is not None and len(names) < limit:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None)
        frame = frame or getattr(coro, "gi_frame", None)
        if frame is None:
            names.append(type(coro).__name__)  # a future, an async generator step, ...
            break
        names.append(f"{frame.f_code.co_name}:{frame.f_lineno}")
        coro = (
            getattr(coro, "cr_await", None)
            or getattr(coro, "ag_await", None)
            or getattr(coro, "gi_yieldfrom", None)
        )
    return names
