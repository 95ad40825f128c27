"""``claims worker inbox``: watch the inbox directory and ingest 835 files.

Each file is parsed, balanced and published (:mod:`workers.remits.ingest`); the
producer is flushed, then the file moves atomically to ``processed/`` (or to
``failed/`` with a ``.reason`` file naming the problem when it cannot be
parsed).  A file is picked up only when its size has not changed for one poll,
so a file still being copied in is left alone.
"""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from edi.segments import X12Error
from workers.remits.ingest import FileReport, ingest_file
from workers.runtime.settings import Settings

log = structlog.stdlib.get_logger("claims.inbox")


def _move(path: Path, target_dir: Path) -> Path:
    target_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = target_dir / f"{stamp}_{path.name}"
    os.replace(path, target)
    return target


def producer_for(settings: Settings) -> Any:
    from kafka import KafkaProducer

    return KafkaProducer(
        client_id="claims-inbox", acks="all", linger_ms=5, **settings.kafka_python_config()
    )


def process_file(path: Path, settings: Settings, producer: Any) -> FileReport | None:
    def send(
        topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> None:
        producer.send(topic, key=key, value=value, headers=headers)

    inbox = path.parent
    try:
        report = ingest_file(path, send, settings.topic)
        producer.flush()
    except (X12Error, ValueError, OSError) as exc:
        failed = _move(path, inbox / "failed")
        failed.with_name(failed.name + ".reason").write_text(
            f"{type(exc).__name__}: {exc}\n", encoding="utf-8"
        )
        log.error("835 file failed", file=path.name, error=str(exc)[:300])
        return None
    _move(path, inbox / "processed")
    log.info(
        "835 file ingested",
        file=path.name,
        claims=report.posted_claims,
        transactions=len(report.transactions),
        unbalanced=len(report.unbalanced),
    )
    return report


def watch(settings: Settings, poll_s: float = 1.0, once: bool = False) -> None:
    inbox = settings.inbox_dir
    inbox.mkdir(parents=True, exist_ok=True, mode=0o700)
    producer = producer_for(settings)
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    sizes: dict[Path, int] = {}
    log.info("inbox watching", directory=str(inbox))
    try:
        while not stop:
            current = {
                p: p.stat().st_size
                for p in sorted(inbox.iterdir())
                if p.is_file() and not p.name.startswith(".")
            }
            for path, size in current.items():
                if once or sizes.get(path) == size:
                    process_file(path, settings, producer)
            sizes = current
            if once:
                break
            time.sleep(poll_s)
    finally:
        producer.close()
