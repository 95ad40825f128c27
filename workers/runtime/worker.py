"""Running a built worker app, and handing consumer positions over between modes.

Consumer positions are per consumer group (one per worker mode), so when a
group starts with no committed position on a source topic, the positions of
the other mode are handed over (:func:`hand_over_positions`) before it joins:
switching from ``all`` to separate workers (or back) resumes where the other
mode stopped instead of re-reading the topics from the beginning.  Which
processors a worker runs is decided by :mod:`workers.engine`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog

from workers.runtime.admin import admin_client
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
