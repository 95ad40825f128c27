"""The broker stops and comes back mid-stream: nothing is lost or billed twice."""

from __future__ import annotations

import time

from tests.broker_support import Cluster
from tests.fault.pipeline import (
    assert_every_session_once,
    assert_no_line_twice,
    dataset,
    send_late_prescriptions,
    send_sessions,
    wait_settled,
    worker_env,
)
from workers.runtime.local_broker import LocalBroker

OUTAGE_S = 3.0


def test_broker_stopped_and_restarted(own_broker: LocalBroker, fault_cluster: Cluster) -> None:
    c = fault_cluster
    data = dataset(c, seed=9)
    worker = c.start_worker("all", **worker_env(c))
    half = len(data.sessions) // 2
    send_sessions(c, data, 0, half)
    c.read("sessions.enriched").wait_for(5, worker=worker)
    c.producer.close()
    c._producer = None
    own_broker.stop()
    time.sleep(OUTAGE_S)  # the outage itself, not a wait for a condition
    own_broker.start()
    send_sessions(c, data, half)
    send_late_prescriptions(c, data)
    workers = [worker]
    if worker.proc is not None and worker.proc.poll() is not None:
        # the worker gave up while the broker was away: a supervisor restarts it
        workers.append(c.start_worker("all", **worker_env(c)))
    acc = wait_settled(c, data.expected["completed_events"], workers=workers)
    assert_every_session_once(acc, data.expected["completed_events"])
    assert_no_line_twice(c, acc)
