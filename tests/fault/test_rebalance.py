"""Two processes of each processor share the partitions; one stops mid-stream."""

from __future__ import annotations

import json

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


def test_a_second_process_stops_mid_stream(own_broker: LocalBroker, fault_cluster: Cluster) -> None:
    c = fault_cluster
    data = dataset(c, seed=6)
    env = worker_env(c)
    first = [c.start_worker(name, **env) for name in ("enrich", "units", "claims")]
    second = [c.start_worker(name, **env) for name in ("enrich", "units", "claims")]
    half = len(data.sessions) // 2
    send_sessions(c, data, 0, half)
    c.read("sessions.enriched").wait_for(5, worker=first[0])
    for w in second:
        assert w.stop() == 0  # a clean stop: its partitions move to the first processes
    send_sessions(c, data, half)
    send_late_prescriptions(c, data)
    acc = wait_settled(c, data.expected["completed_events"], workers=first)
    assert_every_session_once(acc, data.expected["completed_events"])
    assert_no_line_twice(c, acc)


def test_a_flood_of_poison_messages(own_broker: LocalBroker, fault_cluster: Cluster) -> None:
    c = fault_cluster
    data = dataset(c, sessions=40, seed=8)
    worker = c.start_worker("all", **worker_env(c))
    poison = [b"\x00\xff" * 10, b"{", b'{"event_type": "session.completed"}', b"[]", b"null"]
    key = data.sessions[0][0].encode()
    for i in range(300):
        c.producer.send(c.topic("sessions.completed"), key=key, value=poison[i % len(poison)])
        if i % 10 == 0:
            k, v = data.sessions[(i // 10) % len(data.sessions)]
            c.producer.send(c.topic("sessions.completed"), key=k.encode(), value=v)
    send_sessions(c, data)
    send_late_prescriptions(c, data)
    c.producer.flush()
    dlq = c.read("sessions.completed.dlq")
    dlq.wait_for(300 + data.expected["malformed"], worker=worker, timeout=240)
    good_copies = [data.sessions[n % len(data.sessions)][1] for n in range(30)]
    received = 300 + sum(not _is_cancel(v) for v in good_copies)
    received += data.expected["completed_events"]
    acc = wait_settled(c, received, workers=[worker])
    assert_every_session_once(acc, received)
    # every poison message and every malformed session is dead-lettered, nothing else
    malformed = sum(_is_malformed(v) for v in good_copies) + data.expected["malformed"]
    assert acc.sessions["dead_lettered"] == 300 + malformed
    assert len(dlq.settle()) == 300 + malformed
    assert_no_line_twice(c, acc)
    assert worker.proc is not None and worker.proc.poll() is None, "the worker survived"


def _is_cancel(raw: bytes) -> bool:
    try:
        value = json.loads(raw)
    except ValueError:
        return False
    return isinstance(value, dict) and value.get("event_type") == "session.cancelled"


def _is_malformed(raw: bytes) -> bool:
    try:
        value = json.loads(raw)
    except ValueError:
        return True
    return not isinstance(value, dict) or str(value.get("session_id", "")).startswith("bad-")
