"""A stopping worker waits a bounded time for its agents' messages, then goes.

faust's consumer, asked to stop, waits until every message it handed to agents
is acknowledged before its last commit (``Consumer.wait_empty``), with no limit.
With two agents on one topic (the claims stage's lanes) a message can stay
half-acknowledged for ever: one agent took it, the other's buffer was cleared
when the flow stopped, and faust still holds the message.  The worker then hung
until it was killed (seen in a fault test: a clean stop never finished).

:func:`install` replaces ``wait_empty`` with the same wait, bounded by
:data:`STOP_WAIT_S` once the app is stopping.  Nothing is lost: the last commit
covers only acknowledged offsets, so a message no agent finished is processed
again by the partition's next owner.  During a rebalance the wait is unbounded,
as before (an agent may be in the middle of a message).
"""

from __future__ import annotations

import gc
import time
from typing import Any

import structlog

log = structlog.stdlib.get_logger("claims.runtime")

#: how long a stopping worker waits for messages its agents have not finished
STOP_WAIT_S = 15.0


async def wait_empty(self: Any) -> None:
    """faust's ``Consumer.wait_empty``, bounded once the app is stopping (see module)."""
    deadline: float | None = None
    while not self.should_stop and self._unacked_messages:
        if self.app.should_stop:
            deadline = deadline or time.monotonic() + STOP_WAIT_S
            if time.monotonic() > deadline:
                left = sorted((m.topic, m.partition, m.offset) for m in self._unacked_messages)
                log.warning(
                    "stopping with messages no agent finished; the partition's next owner "
                    "processes them",
                    messages=[f"{t}:{p}:{o}" for t, p, o in left[:20]],
                    count=len(left),
                )
                break
        gc.collect()  # as faust does: messages dropped from cleared buffers go
        await self.commit()
        if not self._unacked_messages:
            break
        await self._wait_for_ack(timeout=1)
        self._clean_unacked_messages()
    await self.commit_and_end_transactions()


def install() -> None:
    """Use :func:`wait_empty` in faust's aiokafka consumer (idempotent)."""
    from faust.transport.drivers import aiokafka as driver

    consumer_cls: Any = driver.Consumer
    if getattr(consumer_cls, "_claims_stop_wait", False):
        return
    consumer_cls.wait_empty = wait_empty
    consumer_cls._claims_stop_wait = True
