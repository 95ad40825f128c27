"""Operating on dead letters: list, show, replay and purge.

A dead letter's id is ``<dead-letter topic>:<partition>:<offset>`` (logical topic
name, without the deployment prefix).  What happened to it since is a marker on
the compacted topic ``ops.dead-letters.status`` (key: the id): ``replayed`` (with
a count) or ``resolved``.  Purging only writes the ``resolved`` marker: the dead
letter itself stays on its topic, untouched, until the topic's retention (90 days
by default) -- the evidence is never deleted by an operator.

A replay republishes the original key, value and headers to the original topic,
without the ``claims.dlq.*`` headers and with ``claims.replay.from`` (the id),
``claims.replay.count``, ``claims.replay.at`` and ``claims.replay.by``.  A dead
letter is replayed once unless forced.  Every replay and purge is audited.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from schemas.phi import phi_field_names
from workers.ops.audit import audit, operator_name
from workers.runtime import kafka_clients
from workers.runtime.dead_letters import REPLAY_PREFIX, dead_letter_info, original_headers
from workers.runtime.logging import MASK, PHI_KEYS
from workers.runtime.progress import Progress
from workers.runtime.settings import Settings
from workers.runtime.topic_scan import scan_topics
from workers.runtime.topics import DLQ_SUFFIX, Catalogue

STATUS_TOPIC = "ops.dead-letters.status"


@dataclass
class DeadLetter:
    id: str
    dlq_topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    info: dict[str, str]
    status: str = "open"
    replays: int = 0

    @property
    def original_topic(self) -> str:
        return self.info.get("original.topic", self.dlq_topic.removesuffix(DLQ_SUFFIX))

    @property
    def failed_at(self) -> str:
        return self.info.get("failed_at", "")

    @property
    def clinic(self) -> str:
        return self.info.get("clinic_id", "")

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "original_topic": self.original_topic,
            "reason": self.info.get("error.reason", ""),
            "error_class": self.info.get("error.class", "").rsplit(".", 1)[-1],
            "message": self.info.get("error.message", ""),
            "clinic": self.clinic,
            "failed_at": self.failed_at,
            "attempts": self.info.get("attempts", ""),
            "status": self.status,
            "replays": self.replays,
        }


@dataclass
class Filters:
    topic: str | None = None
    reason: str | None = None
    clinic: str | None = None
    since: datetime | None = None
    ids: list[str] = field(default_factory=list)
    include_closed: bool = False

    def as_dict(self) -> dict[str, str]:
        return {
            "topic": self.topic or "",
            "reason": self.reason or "",
            "clinic": self.clinic or "",
            "since": self.since.isoformat() if self.since else "",
            "ids": ",".join(self.ids)[:300],
        }

    def match(self, dl: DeadLetter) -> bool:
        if self.ids:
            return dl.id in self.ids
        if not self.include_closed and dl.status == "resolved":
            return False
        if self.topic and self.topic not in (dl.original_topic, dl.dlq_topic):
            return False
        if self.reason and dl.info.get("error.reason") != self.reason:
            return False
        if self.clinic and dl.clinic != self.clinic:
            return False
        if self.since:
            try:
                failed = datetime.fromisoformat(dl.failed_at.replace("Z", "+00:00"))
            except ValueError:
                return False
            if failed < self.since:
                return False
        return True


def dead_letter_topics(settings: Settings) -> list[str]:
    return [s.name for s in Catalogue(settings) if s.name.endswith(DLQ_SUFFIX)]


def load_status(settings: Settings) -> dict[str, dict[str, Any]]:
    status: dict[str, dict[str, Any]] = {}
    for _name, r in scan_topics(settings, [STATUS_TOPIC]):
        if r.key is None:
            continue
        key = r.key.decode()
        if r.value is None:
            status.pop(key, None)
        else:
            status[key] = json.loads(r.value)
    return status


def load(settings: Settings, topic: str | None = None) -> list[DeadLetter]:
    topics = dead_letter_topics(settings)
    if topic:
        wanted = topic if topic.endswith(DLQ_SUFFIX) else topic + DLQ_SUFFIX
        if wanted not in topics:
            raise KeyError(f"{topic!r} has no dead-letter topic; known: {', '.join(topics)}")
        topics = [wanted]
    status = load_status(settings)
    out = []
    for name, r in scan_topics(settings, topics):
        dl_id = f"{name}:{r.partition}:{r.offset}"
        headers = list(r.headers or [])
        mark = status.get(dl_id, {})
        out.append(
            DeadLetter(
                id=dl_id,
                dlq_topic=name,
                partition=r.partition,
                offset=r.offset,
                key=r.key,
                value=r.value,
                headers=headers,
                info=dead_letter_info(headers),
                status=mark.get("status", "open"),
                replays=int(mark.get("replays", 0)),
            )
        )
    return out


def select(settings: Settings, filters: Filters) -> list[DeadLetter]:
    topic = filters.topic
    if filters.ids:
        topic = None
    return [dl for dl in load(settings, topic) if filters.match(dl)]


def grouped_counts(letters: Iterable[DeadLetter]) -> list[tuple[str, str, int]]:
    counts = Counter((dl.original_topic, dl.info.get("error.reason", "")) for dl in letters)
    return [(t, r, n) for (t, r), n in sorted(counts.items())]


def masked(value: Any) -> Any:
    """The decoded payload with PHI fields masked, at any depth: the fields the
    contracts mark PHI (:func:`schemas.phi.phi_field_names`) and the log's PHI keys."""
    hidden = PHI_KEYS | phi_field_names()
    return _masked(value, hidden)


def _masked(value: Any, hidden: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {
            k: (MASK if k.lower() in hidden and v not in (None, "") else _masked(v, hidden))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_masked(v, hidden) for v in value]
    return value


def decoded_payload(dl: DeadLetter, reveal: bool) -> Any:
    if dl.value is None:
        return None
    try:
        data = json.loads(dl.value)
    except (ValueError, UnicodeDecodeError):
        return (
            {"undecodable_bytes": len(dl.value)}
            if not reveal
            else dl.value.decode("utf-8", errors="replace")
        )
    return data if reveal else masked(data)


def _mark(producer: Any, settings: Settings, dl: DeadLetter, status: str, replays: int) -> None:
    body = {
        "status": status,
        "replays": replays,
        "at": datetime.now(UTC).isoformat(),
        "by": operator_name(settings),
    }
    producer.send(settings.topic(STATUS_TOPIC), key=dl.id.encode(), value=json.dumps(body).encode())


@dataclass
class ReplayReport:
    replayed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def replay(
    settings: Settings,
    letters: list[DeadLetter],
    *,
    force: bool = False,
    dry_run: bool = False,
    filters: dict[str, str] | None = None,
    progress: bool = True,
    producer_factory: Callable[[], Any] | None = None,
) -> ReplayReport:
    report = ReplayReport()
    todo = []
    for dl in letters:
        if dl.status == "resolved" or (dl.status == "replayed" and not force):
            report.refused.append(dl.id)
        else:
            todo.append(dl)
    if dry_run or not todo:
        report.replayed = [dl.id for dl in todo] if dry_run else []
        return report
    producer = (
        producer_factory or (lambda: kafka_clients.producer(settings))
    )()
    bar = Progress("replay", len(todo)) if progress and len(todo) > 20 else None
    who = operator_name(settings)
    try:
        for dl in todo:
            count = dl.replays + 1
            headers = original_headers(dl.headers)
            headers += [
                (REPLAY_PREFIX + "from", dl.id.encode()),
                (REPLAY_PREFIX + "count", str(count).encode()),
                (REPLAY_PREFIX + "at", datetime.now(UTC).isoformat().encode()),
                (REPLAY_PREFIX + "by", who.encode()),
            ]
            producer.send(
                settings.topic(dl.original_topic), key=dl.key, value=dl.value, headers=headers
            )
            _mark(producer, settings, dl, "replayed", count)
            report.replayed.append(dl.id)
            if bar:
                bar.advance()
        producer.flush()
        audit(
            settings,
            "dlq-replay",
            len(report.replayed),
            report.replayed,
            filters,
            producer=producer,
        )
    finally:
        if bar:
            bar.close()
        producer.close()
    return report


def purge(
    settings: Settings, letters: list[DeadLetter], filters: dict[str, str] | None = None
) -> list[str]:
    producer = kafka_clients.producer(settings)
    done = []
    try:
        for dl in letters:
            if dl.status == "resolved":
                continue
            _mark(producer, settings, dl, "resolved", dl.replays)
            done.append(dl.id)
        producer.flush()
        audit(settings, "dlq-purge", len(done), done, filters, producer=producer)
    finally:
        producer.close()
    return done
