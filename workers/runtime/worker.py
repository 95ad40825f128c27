"""Running processors: ``claims worker NAME`` and ``claims worker all``.

Each mode is one faust app and therefore one consumer group: ``claims-enrich``,
``claims-units``, ... or ``claims-all``.  State is *not* per group: every
table's changelog is a catalogue topic with a fixed name, so any mode recovers
the same state.  Consumer positions *are* per group, so when a group starts
with no committed position on a source topic, the positions of the other mode
are handed over (:func:`hand_over_positions`) before it joins: switching from
``all`` to separate workers (or back) resumes where the other mode stopped
instead of re-reading the topics from the beginning.  Never run both modes at
once against the same topics: each would process every message.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import structlog

from workers.runtime.admin import admin_client, ensure_topics
from workers.runtime.app import PROCESSORS, build_app, resolve
from workers.runtime.connection import BrokerUnavailable, check_connection
from workers.runtime.logging import configure_logging
from workers.runtime.settings import Settings

log = structlog.stdlib.get_logger("claims.worker")


def hand_over_positions(
    settings: Settings, target_group: str, source_groups: Sequence[str], topics: Sequence[str]
) -> dict[str, int]:
    """Move ``target_group`` to the furthest committed position any of
    ``source_groups`` reached on ``topics``, partition by partition.

    Modes never run at the same time, so the furthest position is where the
    last mode stopped.  Returns the number of partitions moved per topic.  Safe
    when the target group is active: the broker refuses and nothing changes.
    """
    from kafka.structs import OffsetAndMetadata

    physical = {settings.topic(t) for t in topics}
    client = admin_client(settings)
    moved: dict[str, int] = {}
    try:
        offsets: dict[str, dict[Any, Any]] = {}
        for g in [target_group, *source_groups]:
            try:
                offsets[g] = client.list_group_offsets(g).get(g, {})
            except Exception:
                offsets[g] = {}
        plan: dict[Any, Any] = {}
        for g in source_groups:
            for tp, om in offsets[g].items():
                if tp.topic not in physical or om.offset < 0:
                    continue
                current = plan.get(tp) or offsets[target_group].get(tp)
                if current is None or current.offset < om.offset:
                    plan[tp] = OffsetAndMetadata(om.offset, f"handed over from {g}", -1)
        if not plan:
            return {}
        try:
            client.alter_group_offsets(target_group, plan)
        except Exception as exc:  # group already active: it keeps its own positions
            log.warning("position hand-over refused", group=target_group, error=str(exc))
            return {}
        for tp in plan:
            moved[tp.topic] = moved.get(tp.topic, 0) + 1
        return moved
    finally:
        client.close()


def other_mode_groups(settings: Settings, names: Sequence[str]) -> list[str]:
    if list(names) == ["all"]:
        return [settings.group_id(n) for n in PROCESSORS]
    return [settings.group_id("all")]


def run_worker(settings: Settings, names: Sequence[str], *, create_topics: bool = True) -> None:
    """Run processors until SIGTERM/SIGINT; never returns normally."""

    configure_logging(settings.log_level, settings.log_format)
    defs = resolve(names)
    try:
        check_connection(settings)
    except BrokerUnavailable as exc:
        # a supervisor restarts the worker; its log says why in one line
        log.error("cannot use the Kafka broker", cause=exc.cause, detail=exc.message)
        raise SystemExit(3) from None
    if create_topics:
        reports = ensure_topics(settings)
        bad = [r for r in reports if r.status == "mismatch"]
        for r in bad:
            log.error("topic does not match the catalogue", topic=r.physical, detail=r.detail)
        if bad:
            raise SystemExit(2)
    app, wiring = build_app(settings, names)
    sources = sorted({s for d in defs for s in d.sources})
    moved = hand_over_positions(
        settings, wiring.consumer_group, other_mode_groups(settings, names), sources
    )
    if moved:
        log.info("consumer positions handed over", group=wiring.consumer_group, topics=moved)
    log.info(
        "worker starting",
        mode=wiring.mode,
        group=wiring.consumer_group,
        processors=[d.name for d in defs],
        bootstrap=settings.kafka_bootstrap_servers,
        web_port=settings.web_port if settings.web_enabled else None,
        pid=os.getpid(),
    )
    execute(app, settings)


def execute(app: Any, settings: Settings) -> None:
    """Run a built faust app the way every worker runs (our logging, no banner)."""
    from faust.worker import Worker

    from workers.runtime import collector

    worker = Worker(
        app,
        loglevel=settings.log_level.lower(),
        override_logging=False,
        quiet=True,
        redirect_stdouts=False,
        console_port=0,
    )
    collector.tune(settings.gc_first_generation_threshold)
    worker.execute_from_commandline()
