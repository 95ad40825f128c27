"""A worker killed with SIGKILL mid-stream and restarted loses nothing, bills nothing twice."""

from __future__ import annotations

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


def test_sigkill_mid_stream_then_restart(own_broker: LocalBroker, fault_cluster: Cluster) -> None:
    c = fault_cluster
    data = dataset(c)
    worker = c.start_worker("all", **worker_env(c))
    half = len(data.sessions) // 2
    send_sessions(c, data, 0, half)
    c.read("sessions.enriched").wait_for(5, worker=worker)
    worker.kill()
    send_sessions(c, data, half)
    send_late_prescriptions(c, data)
    worker = c.start_worker("all", **worker_env(c))
    acc = wait_settled(c, data.expected["completed_events"], workers=[worker])
    assert_every_session_once(acc, data.expected["completed_events"])
    assert_no_line_twice(c, acc)
    assert acc.sessions["billed"] > 10


def test_every_input_delivered_twice(own_broker: LocalBroker, fault_cluster: Cluster) -> None:
    c = fault_cluster
    data = dataset(c, seed=4)
    worker = c.start_worker("all", **worker_env(c))
    send_sessions(c, data, twice=True)
    send_late_prescriptions(c, data)
    received = 2 * data.expected["completed_events"]
    acc = wait_settled(c, received, workers=[worker])
    assert_every_session_once(acc, received)
    non_malformed = data.expected["completed_events"] - data.expected["malformed"]
    assert acc.sessions["duplicates"] >= non_malformed, acc.sessions
    assert_no_line_twice(c, acc)
