"""Per-worker metrics, exported in the Prometheus text format on ``/claims/metrics``.

* ``claims_messages_total{processor,topic,status}`` -- messages handled (ok / dead-lettered)
* ``claims_dead_letters_total{processor,topic,reason}`` -- dead letters by reason
* ``claims_failures_total{processor,topic,kind}`` -- failures by class (every attempt)
* ``claims_outcomes_total{processor,outcome}`` -- business outcomes (enriched, held, ...)
* ``claims_outputs_total{processor,topic}`` -- messages produced, per output topic
* ``claims_processing_seconds{processor,topic}`` -- processing latency histogram
  (``_sum`` is the time spent)
* ``claims_consumer_lag{group,topic,partition}`` -- end offset minus position, per
  assigned partition of the worker's consumer group

Labels never carry identifiers of patients or claims.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client import Counter as PromCounter

disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    processed: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    dead_letters: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    lag: dict[tuple[str, int], int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        r = self.registry
        # (metric, label values) -> its child: prometheus_client's ``labels()`` takes a
        # lock and checks the values on every call, several times a message
        self._children: dict[tuple[str, tuple[str, ...]], Any] = {}
        self._messages = PromCounter(
            "claims_messages", "Messages handled.", ["processor", "topic", "status"], registry=r
        )
        self._dead = PromCounter(
            "claims_dead_letters",
            "Messages sent to a dead-letter topic.",
            ["processor", "topic", "reason"],
            registry=r,
        )
        self._failures = PromCounter(
            "claims_failures",
            "Processing failures by class.",
            ["processor", "topic", "kind"],
            registry=r,
        )
        self._outcomes = PromCounter(
            "claims_outcomes", "Business outcomes.", ["processor", "outcome"], registry=r
        )
        self._outputs = PromCounter(
            "claims_outputs",
            "Messages produced, per output topic.",
            ["processor", "topic"],
            registry=r,
        )
        self._latency = Histogram(
            "claims_processing_seconds",
            "Processing time per message.",
            ["processor", "topic"],
            buckets=BUCKETS,
            registry=r,
        )
        self._lag = Gauge(
            "claims_consumer_lag",
            "End offset minus position.",
            ["group", "topic", "partition"],
            registry=r,
        )

    def _child(self, metric: str, *values: str) -> Any:
        key = (metric, values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = getattr(self, f"_{metric}").labels(*values)
        return child

    def observe(self, processor: str, topic: str, status: str, seconds: float) -> None:
        self.processed[(processor, topic, status)] += 1
        self._child("messages", processor, topic, status).inc()
        self._child("latency", processor, topic).observe(seconds)

    def failed(self, processor: str, topic: str, kind: str) -> None:
        self._child("failures", processor, topic, kind).inc()

    def dead_lettered(self, processor: str, topic: str, reason: str) -> None:
        self.dead_letters[(processor, topic, reason)] += 1
        self._child("dead", processor, topic, reason).inc()

    def outcome(self, processor: str, name: str, n: int = 1) -> None:
        self.outcomes[(processor, name)] += n
        self._child("outcomes", processor, name).inc(n)

    def produced(self, processor: str, topic: str, n: int = 1) -> None:
        self._child("outputs", processor, topic).inc(n)

    def set_lag(self, group: str, topic: str, partition: int, lag: int) -> None:
        self.lag[(topic, partition)] = lag
        self._lag.labels(group, topic, str(partition)).set(lag)

    def snapshot(self) -> dict[str, Any]:
        return {
            "processed": [
                {"processor": p, "topic": t, "status": s, "count": n}
                for (p, t, s), n in sorted(self.processed.items())
            ],
            "dead_letters": [
                {"processor": p, "topic": t, "reason": r, "count": n}
                for (p, t, r), n in sorted(self.dead_letters.items())
            ],
            "outcomes": [
                {"processor": p, "outcome": o, "count": n}
                for (p, o), n in sorted(self.outcomes.items())
            ],
            "lag": [
                {"topic": t, "partition": p, "lag": n} for (t, p), n in sorted(self.lag.items())
            ],
        }

    def prometheus(self) -> str:
        return generate_latest(self.registry).decode("utf-8")
