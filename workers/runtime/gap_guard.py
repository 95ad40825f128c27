"""The stream gap guard: re-read messages faust fetched but never handed to an agent."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

import structlog

from workers.runtime.metrics import Metrics

log = structlog.stdlib.get_logger("claims.runtime")


#: re-reads of one hole that come back without it before the agent goes on past it
#: (a warning and the ``stream-hole-empty`` outcome: transaction markers take
#: offsets that hold nothing to read; each costs one idle wait of the guard)
MAX_REREADS = 1


class _Progress:
    """What one agent has finished, per partition, and whether it is busy."""

    def __init__(self) -> None:
        self.done: dict[int, int] = {}
        self.busy = False
        self.changed = time.monotonic()
        #: partitions sought back over a hole: the offset the agent waits for
        self.rewinding: dict[int, int] = {}
        #: per partition, the first offset received beyond the hole
        self.skipped_from: dict[int, int] = {}
        #: per partition, the hole's first offset and how often it was re-read
        self.rereads: dict[int, tuple[int, int]] = {}
        #: per partition, the offset of the last message handed to the agent
        #: (processed, passed by, or skipped): what is fetched beyond it is on its way
        self.seen: dict[int, int] = {}

    def saw(self, partition: int, offset: int) -> None:
        """The agent was handed ``offset`` of ``partition`` (before any decision)."""
        self.seen[partition] = offset

    def start(self) -> None:
        self.busy = True

    def finish(self, partition: int, offset: int) -> None:
        self.done[partition] = offset
        self.busy = False
        self.changed = time.monotonic()


class PartitionStarts(Protocol):
    """Where partitions start, asked of the broker (:class:`workers.runtime.log_start.LogStart`)."""

    async def first(self, tp: Any) -> int | None: ...

    async def committed(self, tp: Any) -> int | None: ...


class GapGuard:
    """Re-reads messages faust fetched but never handed to the agent.

    faust-streaming can lose fetched messages of a partition it keeps across a
    rebalance (its flow control drops them without seeking back; see
    faust-streaming/faust#629): the partition's position runs ahead of what the
    agent processed while nothing is in flight, and the messages would only
    be seen again after a restart.  When an agent has been idle for a while and
    a partition's position is beyond the next offset to process, the guard seeks
    the partition back to it (nothing is skipped; already processed offsets are
    filtered by the agent).  Once the worker is stopping it does nothing: its
    agents are gone, and a seek then would fetch messages nobody acknowledges,
    which faust waits for until the stop times out.
    """

    def __init__(
        self,
        app: Any,
        metrics: Metrics,
        idle_s: float = 5.0,
        log_start: PartitionStarts | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.idle_s = idle_s
        self._tracked: dict[str, list[_Progress]] = {}
        self._earliest_known: dict[Any, int] = {}
        self._log_start = log_start

    async def _first_offset(self, tp: Any) -> int | None:
        """The partition's first offset, asked of the broker now.

        Not through faust's consumer when a ``log_start`` lookup was given (the
        worker gives one on a client of its own): an agent asking faust's consumer
        while a rebalance runs waits for the consumer thread, which waits for the
        agent to finish its message -- the worker hung (seen in a fault test)."""
        if self._log_start is not None:
            return await self._log_start.first(tp)
        found: int | None = (await self.app.consumer.earliest_offsets(tp)).get(tp)
        return found

    async def _earliest(self, tp: Any) -> int | None:
        """The partition's first offset, asked once (a stale answer is harmless:
        seeking below the log start resets to the earliest offset)."""
        if tp not in self._earliest_known:
            found = await self._first_offset(tp)
            if found is None:
                return None
            self._earliest_known[tp] = found
        return self._earliest_known[tp]

    async def admit(self, progress: _Progress, message: Any, *, compacted: bool = False) -> bool:
        """Whether the agent may process ``message`` now (called before it does).

        faust-streaming can also lose fetched messages in the *middle* of a
        partition: its fetch loop abandons the rest of a fetched batch, the next
        fetch starts after it, and the loop takes the jump in offsets for a
        compacted range, marking the missing offsets as done -- so they would be
        committed without ever reaching the agent (seen after a worker restart:
        ten sessions never enriched, never dead-lettered).  An offset beyond the
        next one expected (the agent's last finished offset + 1, or the group's
        committed offset if that is further) is such a hole: the guard takes the
        hole out of faust's commit bookkeeping (so the commit cannot pass it), and
        the agent skips every message until the first missing one arrives (the
        skipped ones are kept out of the commit too); once every record fetched
        from the partition has reached the agent, :meth:`check` seeks it back
        (its position is beyond the next offset to process), and the skipped
        messages come again.
        (:mod:`workers.runtime.fetch_guard` keeps faust from dropping fetched
        records in the first place; this is the net under it.)

        Not every jump is a loss.  Compacted topics have real holes and are left
        alone, and so are offsets below the partition's first (retention removed
        them).  A transactional producer's commit markers take offsets too: when
        the re-read comes back at the same message again, the offsets between hold
        nothing to read; after ``MAX_REREADS`` such answers the agent goes on, with
        a warning and the ``stream-hole-empty`` outcome.
        """
        partition: int = message.partition
        offset: int = message.offset
        consumer = self.app.consumer
        committed = consumer._committed_offset.get(message.tp)
        waiting = progress.rewinding.get(partition)
        if waiting is not None and committed is not None and committed > waiting:
            # the partition was handed to another process and back meanwhile: the
            # group is past the hole, and faust starts this process at its commit
            del progress.rewinding[partition]
            waiting = None
        if waiting is not None:
            if offset == waiting:
                del progress.rewinding[partition]
                progress.rereads.pop(partition, None)
                return True
            if offset < waiting:
                return True
            first_skipped = progress.skipped_from.get(partition, offset)
            if offset > first_skipped:
                _leave_uncommitted(consumer, message)
                return False  # fetched before the seek: comes again after it
            # the re-read came back without the missing offsets: nothing is there,
            # or the fetch loop dropped them again
            del progress.rewinding[partition]
        if compacted:
            return True
        done = progress.done.get(partition)
        candidates = [o for o in (None if done is None else done + 1, committed) if o is not None]
        if not candidates and self._log_start is not None:
            # nothing processed here, and faust knows no commit: the stream begins
            # at the group's commit (faust's bookkeeping can miss it after a
            # rebalance), else at the partition's first offset
            # (auto_offset_reset=earliest).  A first message beyond it is a hole
            # like any other (seen in CI: a process handed a partition got offset
            # 15 first, and 9..14 were never enriched).  Asked on a client of the
            # guard's own: without one, the first message is taken as the start.
            start = await self._log_start.committed(message.tp)
            if start is None:
                start = await self._earliest(message.tp)
            if start is None or offset <= start:
                return True
            candidates = [start]
        if not candidates:
            return True  # nothing known about where this partition started
        expected = max(candidates)
        if offset <= expected:
            return True
        # retention may have removed the missing messages (a group down for longer
        # than the topic keeps them): then nothing is missing, and the consumer's
        # reset to the earliest offset is right.  Asked afresh: the start moves.
        start = await self._first_offset(message.tp)
        if start is not None:
            self._earliest_known[message.tp] = start
            if start >= offset:
                return True
            expected = max(expected, start)
        tries = progress.rereads.get(partition)
        count = tries[1] + 1 if tries is not None and tries[0] == expected else 1
        if count > MAX_REREADS:
            progress.rereads.pop(partition, None)
            log.warning(
                "stream hole: nothing to read between the offsets; going on",
                topic=message.topic,
                partition=partition,
                offset=expected,
                received=offset,
                rereads=MAX_REREADS,
            )
            self.metrics.outcome("runtime", "stream-hole-empty")
            return True
        progress.rereads[partition] = (expected, count)
        log.warning(
            "stream hole: messages skipped by the fetch loop; re-reading them",
            topic=message.topic,
            partition=partition,
            offset=expected,
            received=offset,
        )
        self.metrics.outcome("runtime", "stream-hole-reread")
        gap = consumer._gap.get(message.tp)
        if gap is not None:
            gap.chop(expected, offset)
        progress.rewinding[partition] = expected
        progress.skipped_from[partition] = offset
        progress.changed = time.monotonic()
        _leave_uncommitted(consumer, message)
        # no seek here: records fetched after this one are still on their way to the
        # agent, and each would move faust's read offset past the re-read ones (which
        # it then drops) and mark a new gap.  check() seeks once none is on its way.
        return False

    def track(self, physical_topic: str) -> _Progress:
        """A new agent's progress on ``physical_topic`` (a topic read by several
        agents, each taking its own share of the messages, has one per agent)."""
        progress = _Progress()
        self._tracked.setdefault(physical_topic, []).append(progress)
        return progress

    async def check(self) -> None:
        consumer = self.app.consumer
        if self.app.should_stop or self.app.in_recovery or self.app.rebalancing:
            return
        now = time.monotonic()
        # idleness as the pass begins: a seek below marks the agents active, and
        # must not keep their other partitions waiting another idle period (after
        # a restart every partition of a topic can be behind; one per period took
        # half a minute)
        idle_at_start = {
            id(p): not p.busy and now - p.changed >= self.idle_s
            for agents in self._tracked.values()
            for p in agents
        }
        for tp in sorted(consumer.assignment()):
            agents = self._tracked.get(tp.topic)
            if not agents:
                continue
            hole = any(tp.partition in p.rewinding for p in agents)
            idle = all(idle_at_start[id(p)] and not p.busy for p in agents)
            if not (idle or hole):
                continue
            position = await consumer.position(tp)
            if not position:
                continue  # nothing fetched (or unknown): nothing can have been skipped
            if not idle and any(p.seen.get(tp.partition, -1) < position - 1 for p in agents):
                # a hole waits for its re-read; records of the partition are still
                # on their way to an agent (a seek now would let them move faust's
                # read offset past the re-read ones).  An agent busy on other
                # partitions does not hold it up: ticks every half second on a
                # topic's other partitions kept one waiting for ever (CI).
                continue
            committed = consumer._committed_offset.get(tp)
            expected: int | None = None
            for progress in agents:  # the agent furthest behind decides
                done = progress.done.get(tp.partition)
                behind = done + 1 if done is not None else committed
                if tp.partition in progress.rewinding:  # a hole admit() found
                    behind = progress.rewinding[tp.partition]
                if behind is None:
                    # nothing processed here and nothing committed by the group: the
                    # stream began at the partition's start (auto_offset_reset=earliest)
                    behind = await self._earliest(tp)
                if behind is None:
                    expected = None
                    break
                expected = behind if expected is None else min(expected, behind)
            if expected is None or position <= expected:
                continue
            log.warning(
                "stream gap: re-reading fetched messages the agent never got",
                topic=tp.topic,
                partition=tp.partition,
                offset=expected,
                position=position,
            )
            self.metrics.outcome("runtime", "stream-gap-reread")
            for progress in agents:
                progress.changed = now
                # what was handed out before the seek says nothing of the re-read
                progress.seen[tp.partition] = expected - 1
            await consumer.seek(tp, expected)

    async def record_lag(self, prefix: str) -> None:
        """Consumer lag (end offset minus position) of every partition an agent reads."""
        consumer = self.app.consumer
        for tp in sorted(consumer.assignment()):
            if tp.topic not in self._tracked:
                continue
            position = await consumer.position(tp)
            highwater = consumer.highwater(tp)
            if position is None or highwater is None:
                continue
            self.metrics.set_lag(
                str(self.app.conf.id),
                tp.topic.removeprefix(prefix),
                tp.partition,
                max(highwater - position, 0),
            )

    async def run(self, prefix: str = "") -> None:
        while not self.app.should_stop:
            await asyncio.sleep(self.idle_s / 2)
            try:
                await self.check()
                await self.record_lag(prefix)
            except Exception as exc:  # never let the guard take the worker down
                log.warning("gap guard check failed", error=str(exc)[:200])


def _leave_uncommitted(consumer: Any, message: Any) -> None:
    """Keep a message the agent skips out of faust's commit bookkeeping.

    faust acknowledges every message an agent passes by, and its commit may then
    step over one missing offset (it takes a single-offset gap after the group's
    commit for no gap).  Marked as acknowledged already, the message is left out
    of the offsets to commit; it comes again with the re-read.
    """
    message.acked = True
    unacked = getattr(consumer, "_unacked_messages", None)
    if unacked is not None:
        unacked.discard(message)
