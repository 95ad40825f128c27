"""A stopping worker waits a bounded time for unfinished messages (workers.runtime.stop_wait)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from workers.runtime import stop_wait


@dataclass(frozen=True)
class Message:
    topic: str
    partition: int
    offset: int


@dataclass
class FakeApp:
    should_stop: bool


@dataclass
class FakeConsumer:
    """The parts of faust's consumer ``wait_empty`` uses; ``ack_after`` waits for
    acknowledgements before the unfinished messages are done (None: never)."""

    app: FakeApp
    _unacked_messages: set[Message]
    ack_after: int | None = None
    should_stop: bool = False
    waits: int = 0
    commits: list[str] = field(default_factory=list)

    async def commit(self) -> None:
        self.commits.append("commit")

    async def _wait_for_ack(self, timeout: float) -> None:
        self.waits += 1
        await asyncio.sleep(0.001)

    def _clean_unacked_messages(self) -> None:
        if self.ack_after is not None and self.waits >= self.ack_after:
            self._unacked_messages.clear()

    async def commit_and_end_transactions(self) -> None:
        self.commits.append("final")


def test_a_stopping_worker_gives_up_on_a_message_no_agent_finishes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One lane took the message, the other lane's buffer was cleared: it is never
    acknowledged.  The stop goes on after the bound, with the final commit (of the
    acknowledged offsets only, so the message comes to the partition's next owner)."""
    monkeypatch.setattr(stop_wait, "STOP_WAIT_S", 0.05)
    consumer = FakeConsumer(FakeApp(should_stop=True), {Message("charges.billable", 0, 21)})
    asyncio.run(asyncio.wait_for(stop_wait.wait_empty(consumer), timeout=5))
    assert consumer.waits >= 1
    assert consumer.commits[-1] == "final"
    assert consumer._unacked_messages, "nothing was marked done on the agents' behalf"


def test_a_stopping_worker_waits_for_messages_being_finished() -> None:
    consumer = FakeConsumer(
        FakeApp(should_stop=True), {Message("charges.billable", 0, 21)}, ack_after=3
    )
    asyncio.run(asyncio.wait_for(stop_wait.wait_empty(consumer), timeout=5))
    assert consumer.waits == 3
    assert consumer.commits[-1] == "final"


def test_a_rebalance_waits_while_agents_finish_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    """A rebalance (the app is not stopping) waits as long as messages get finished."""
    monkeypatch.setattr(stop_wait, "STALL_S", 0.2)
    consumer = FakeConsumer(
        FakeApp(should_stop=False), {Message("charges.billable", 0, n) for n in range(5)}
    )

    async def finish_one_by_one(timeout: float) -> None:
        consumer.waits += 1
        await asyncio.sleep(0.1)
        consumer._unacked_messages.pop()

    consumer._wait_for_ack = finish_one_by_one  # type: ignore[method-assign]  # a fake's knob
    asyncio.run(asyncio.wait_for(stop_wait.wait_empty(consumer), timeout=5))
    assert not consumer._unacked_messages, "all five finished: 0.5 s, past the stall bound"
    assert consumer.commits[-1] == "final"


def test_a_rebalance_goes_on_past_a_message_no_agent_finishes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The hang seen in CI: enrichment's buffer was cleared, eligibility had finished
    the message, faust waited for it for ever and the worker never worked again."""
    monkeypatch.setattr(stop_wait, "STALL_S", 0.05)
    consumer = FakeConsumer(FakeApp(should_stop=False), {Message("sessions.completed", 5, 14)})
    asyncio.run(asyncio.wait_for(stop_wait.wait_empty(consumer), timeout=5))
    assert consumer.commits[-1] == "final"
    assert consumer._unacked_messages, "nothing was marked done on the agents' behalf"


def test_install_replaces_fausts_wait_once() -> None:
    from faust.transport.drivers import aiokafka as driver

    stop_wait.install()
    stop_wait.install()
    assert driver.Consumer.wait_empty is stop_wait.wait_empty


@dataclass
class FakeMessage:
    offset: int
    acked: bool = False


@dataclass
class FakeEvent:
    message: FakeMessage


def test_messages_in_cleared_buffers_are_finished_without_a_commit() -> None:
    """At a rebalance faust clears the agents' buffers: the messages in them are
    marked finished, so faust does not wait for them (they stay out of the commit:
    faust's own ack adds no offset for a message already marked)."""
    from mode.utils.queues import FlowControlEvent, FlowControlQueue

    stop_wait.install()

    async def scenario() -> tuple[list[FakeMessage], int]:
        flow = FlowControlEvent()
        queue: FlowControlQueue[FakeEvent] = FlowControlQueue(
            flow_control=flow, clear_on_resume=True
        )
        messages = [FakeMessage(13), FakeMessage(14)]
        for m in messages:
            queue.put_nowait(FakeEvent(m))
        flow.suspend()
        flow.clear()
        return messages, queue.qsize()

    messages, left = asyncio.run(scenario())
    assert left == 0
    assert [m.acked for m in messages] == [True, True]
