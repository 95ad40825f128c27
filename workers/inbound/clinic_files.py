"""Loading JSON-lines files onto topics: validate every line, produce the good ones.

Each line is checked against its contract before anything is sent; bad lines are
reported with their line number, field path and rule (never the value) and the
good ones are produced with the key the topic is partitioned by.  A line of the
form ``{"tombstone": "<key>"}`` deletes a reference record.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from schemas.base import Versioned, describe_errors
from schemas.events import parse_session_event
from schemas.patient_ledger import PatientPayment
from schemas.reference import REFERENCE_MODELS
from workers.runtime.limits import event_too_large
from workers.runtime.progress import Progress
from workers.runtime.settings import Settings

KeyOf = Callable[[Any], str]


@dataclass(frozen=True)
class Target:
    topic: str
    schema: Any  # Versioned model class, or a parse function
    key_of: KeyOf
    tombstones: bool


TARGETS: dict[str, Target] = {
    "sessions": Target("sessions.completed", parse_session_event, lambda e: e.patient_key, False),
    # front-desk payments: the key (clinic and receipt) records each payment once
    "payments": Target("payments.patient", PatientPayment, lambda p: p.key, False),
    **{
        kind: Target(f"ref.{kind}", model, lambda r: r.key, True)
        for kind, model in REFERENCE_MODELS.items()
    },
}


@dataclass
class LineError:
    line: int
    problems: list[str]


@dataclass
class IngestReport:
    topic: str
    lines: int = 0
    produced: int = 0
    tombstones: int = 0
    errors: list[LineError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def validate_line(target: Target, text: str) -> tuple[str, bytes | None]:
    """Key and value bytes for one line, or ValueError with PHI-free problems."""
    if target.tombstones:
        try:
            probe = json.loads(text)
        except ValueError:
            probe = None
        if isinstance(probe, dict) and set(probe) == {"tombstone"}:
            key = probe["tombstone"]
            if not isinstance(key, str) or not key:
                raise ValueError("tombstone: must be a non-empty key string")
            return key, None
    try:
        if isinstance(target.schema, type) and issubclass(target.schema, Versioned):
            record = target.schema.parse_json(text)
        else:
            record = target.schema(text)
    except ValidationError as exc:
        raise ValueError("\n".join(describe_errors(exc))) from None
    return target.key_of(record), text.strip().encode("utf-8")


def ingest_file(
    settings: Settings,
    kind: str,
    path: Path,
    *,
    dry_run: bool = False,
    producer: Any = None,
    show_progress: bool = True,
) -> IngestReport:
    target = TARGETS[kind]
    report = IngestReport(topic=settings.topic(target.topic))
    own = producer is None and not dry_run
    if own:
        from workers.runtime.kafka_clients import producer as new_producer

        producer = new_producer(settings, client_id="claims-ingest", linger_ms=5)
    total = None
    if show_progress and path.stat().st_size > 1_000_000:
        with path.open("rb") as fh:
            total = sum(1 for _ in fh)
    progress = Progress(f"ingest {kind}", total) if show_progress else None
    try:
        with path.open(encoding="utf-8", errors="strict") as fh:
            number = 0
            while True:
                number += 1
                try:
                    text = fh.readline()
                except UnicodeDecodeError as exc:
                    report.errors.append(
                        LineError(number, [f"(line): not UTF-8 text (byte {exc.start})"])
                    )
                    break
                if not text:
                    break
                if progress:
                    progress.advance()
                if not text.strip():
                    continue
                report.lines += 1
                too_large = event_too_large(len(text.encode("utf-8")), settings.max_event_bytes)
                if too_large:
                    report.errors.append(LineError(number, [f"(line): {too_large}"]))
                    continue
                try:
                    key, value = validate_line(target, text)
                except ValueError as exc:
                    report.errors.append(LineError(number, str(exc).splitlines()))
                    continue
                if value is None:
                    report.tombstones += 1
                if not dry_run:
                    producer.send(report.topic, key=key.encode("utf-8"), value=value)
                    report.produced += 1
        if not dry_run:
            producer.flush()
    finally:
        if progress:
            progress.close()
        if own:
            producer.close()
    return report
