"""In-process counters of what each processor did (exported by the worker's web view)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Metrics:
    processed: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    dead_letters: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    seconds: dict[tuple[str, str], float] = field(default_factory=dict)

    def observe(self, processor: str, topic: str, status: str, seconds: float) -> None:
        self.processed[(processor, topic, status)] += 1
        key = (processor, topic)
        self.seconds[key] = self.seconds.get(key, 0.0) + seconds

    def dead_lettered(self, processor: str, topic: str, reason: str) -> None:
        self.dead_letters[(processor, topic, reason)] += 1

    def outcome(self, processor: str, name: str, n: int = 1) -> None:
        self.outcomes[(processor, name)] += n

    def snapshot(self) -> dict[str, list[dict[str, object]]]:
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
        }

    def prometheus(self) -> str:
        """The counters in the Prometheus text exposition format."""
        lines = [
            "# HELP claims_messages_total Messages processed, by processor, topic and status.",
            "# TYPE claims_messages_total counter",
        ]
        for (p, t, s), n in sorted(self.processed.items()):
            lines.append(f'claims_messages_total{{processor="{p}",topic="{t}",status="{s}"}} {n}')
        lines += [
            "# HELP claims_dead_letters_total Messages sent to a dead-letter topic.",
            "# TYPE claims_dead_letters_total counter",
        ]
        for (p, t, r), n in sorted(self.dead_letters.items()):
            lines.append(
                f'claims_dead_letters_total{{processor="{p}",topic="{t}",reason="{r}"}} {n}'
            )
        lines += [
            "# HELP claims_outcomes_total Business outcomes, by processor.",
            "# TYPE claims_outcomes_total counter",
        ]
        for (p, o), n in sorted(self.outcomes.items()):
            lines.append(f'claims_outcomes_total{{processor="{p}",outcome="{o}"}} {n}')
        lines += [
            "# HELP claims_processing_seconds_total Time spent processing, by processor and topic.",
            "# TYPE claims_processing_seconds_total counter",
        ]
        for (p, t), secs in sorted(self.seconds.items()):
            lines.append(
                f'claims_processing_seconds_total{{processor="{p}",topic="{t}"}} {secs:.6f}'
            )
        return "\n".join(lines) + "\n"
