"""Waiting for the agents' messages never hangs a worker: bounded at stop and when stalled.

faust's consumer, before its commit at a stop or at a rebalance's revocation,
waits until every message it handed to agents is acknowledged
(``Consumer.wait_empty``), with no limit.  With two agents on one topic (the
claims stage's lanes; enrichment and eligibility on ``sessions.completed``) a
message can stay half-acknowledged for ever: one agent finished it, the other's
buffer was cleared when the flow stopped, and faust still holds the message.  A
clean stop then hung until the worker was killed, and a rebalance hung for good
(both seen in the fault tests: the worker never processed another message).

At the root: when faust clears the agents' buffers (a rebalance or a stop), the
messages in them are marked finished *without* being acknowledged to the commit
(:func:`forget_cleared`): faust no longer waits for them, their offsets stay out
of the commit, and the partition's next owner reads them again.

As a net, :func:`install` also replaces ``wait_empty`` with the same wait, bounded: at a stop
by :data:`STOP_WAIT_S` in all; at a rebalance when no message was finished for
:data:`STALL_S` (an agent that is working finishes messages, so a long batch still
gets its time).  Nothing is lost: the commit that follows covers only finished
messages, so a message no agent finished is processed again by the partition's
next owner (at least once, as everywhere in the engine).
"""

from __future__ import annotations

import gc
import time
from typing import Any

import structlog

log = structlog.stdlib.get_logger("claims.runtime")

#: how long a stopping worker waits for messages its agents have not finished
STOP_WAIT_S = 15.0
#: how long a rebalance waits while no unfinished message gets finished
STALL_S = 15.0


async def wait_empty(self: Any) -> None:
    """faust's ``Consumer.wait_empty``, bounded (see module)."""
    deadline: float | None = None
    left = len(self._unacked_messages)
    progress_at = time.monotonic()
    self._clean_unacked_messages()  # the ones forget_cleared() marked
    while not self.should_stop and self._unacked_messages:
        now = time.monotonic()
        if len(self._unacked_messages) < left:
            left, progress_at = len(self._unacked_messages), now
        if self.app.should_stop:
            deadline = deadline or now + STOP_WAIT_S
            if now > deadline:
                _give_up(self, "stopping with messages no agent finished")
                break
        elif now - progress_at > STALL_S:
            _give_up(self, "rebalance goes on past messages no agent finishes")
            break
        gc.collect()  # as faust does: messages dropped from cleared buffers go
        await self.commit()
        if not self._unacked_messages:
            break
        await self._wait_for_ack(timeout=1)
        self._clean_unacked_messages()
    await self.commit_and_end_transactions()


def _give_up(consumer: Any, event: str) -> None:
    left = sorted((m.topic, m.partition, m.offset) for m in consumer._unacked_messages)
    log.warning(
        f"{event}; the partition's next owner processes them",
        messages=[f"{t}:{p}:{o}" for t, p, o in left[:20]],
        count=len(left),
    )


def forget_cleared(flow_control: Any) -> None:
    """Mark the messages of the buffers ``flow_control`` is about to clear as finished,
    leaving their offsets out of the commit (faust then clears the buffers)."""
    for queue in list(getattr(flow_control, "_queues", ())):
        for item in list(getattr(queue, "_queue", ())):
            message = getattr(item, "message", None)
            if message is not None and hasattr(message, "acked"):
                message.acked = True  # faust's ack then adds no offset to commit


def install() -> None:
    """Use :func:`wait_empty` in faust's aiokafka consumer and :func:`forget_cleared`
    before faust's flow control clears the agents' buffers (idempotent)."""
    from faust.transport.drivers import aiokafka as driver
    from mode.utils.queues import FlowControlEvent

    consumer_cls: Any = driver.Consumer
    if getattr(consumer_cls, "_claims_stop_wait", False):
        return
    consumer_cls.wait_empty = wait_empty
    consumer_cls._claims_stop_wait = True

    clear = FlowControlEvent.clear

    def clear_forgetting(self: Any) -> None:
        forget_cleared(self)
        clear(self)

    FlowControlEvent.clear = clear_forgetting  # type: ignore[method-assign]  # mode's class: the one place buffers are cleared
