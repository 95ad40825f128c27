"""The engine's Prometheus counters, as the worker's /metrics page shows them.

A message touches several labelled series (messages, latency, outcomes, outputs);
the children are looked up once per label set and kept, so the counts must still be
those of every call."""

from __future__ import annotations

from prometheus_client import generate_latest

from workers.runtime.metrics import Metrics


def value(m: Metrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def test_every_call_counts_in_its_own_series() -> None:
    m = Metrics()
    for _ in range(3):
        m.observe("claims", "charges.billable", "ok", 0.002)
    m.observe("claims", "charges.billable", "dead-lettered", 0.001)
    m.observe("units", "sessions.enriched", "ok", 0.5)
    m.outcome("claims", "superbill-issued")
    m.outcome("claims", "superbill-issued", 2)
    m.produced("units", "charges.self-pay", 4)
    m.failed("claims", "charges.self-pay", "invalid-input")
    m.dead_lettered("claims", "charges.self-pay", "misrouted")
    ok = {"processor": "claims", "topic": "charges.billable"}
    assert value(m, "claims_messages_total", status="ok", **ok) == 3
    assert value(m, "claims_messages_total", status="dead-lettered", **ok) == 1
    assert value(m, "claims_processing_seconds_count", **ok) == 4
    units = {"processor": "units", "topic": "sessions.enriched"}
    assert value(m, "claims_processing_seconds_count", **units) == 1
    assert value(m, "claims_processing_seconds_sum", **units) == 0.5
    assert value(m, "claims_outcomes_total", processor="claims", outcome="superbill-issued") == 3
    assert value(m, "claims_outputs_total", processor="units", topic="charges.self-pay") == 4
    assert m.outcomes[("claims", "superbill-issued")] == 3
    page = generate_latest(m.registry).decode()
    assert 'reason="misrouted"' in page and 'kind="invalid-input"' in page


def test_two_engines_in_one_process_keep_their_own_counts() -> None:
    a, b = Metrics(), Metrics()
    a.outcome("enrich", "enriched")
    assert value(a, "claims_outcomes_total", processor="enrich", outcome="enriched") == 1
    assert value(b, "claims_outcomes_total", processor="enrich", outcome="enriched") is None
