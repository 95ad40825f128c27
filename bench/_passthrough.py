"""The pipeline benchmark's baseline: a faust app whose agents only forward messages.

    python bench/_passthrough.py HOP [HOP ...]     # HOP = 1, 2 or 3

Each hop is one agent that reads a topic and sends every message, one at a time
(``stream.events()``, one ``send`` per message, no batching), unchanged to the
next topic of the claims pipeline::

    hop 1  sessions.completed -> sessions.enriched
    hop 2  sessions.enriched  -> charges.billable
    hop 3  charges.billable   -> claims.submitted

The topics are the catalogue's (same names under ``CLAIMS_TOPIC_PREFIX``, same
partition counts) and the app is built with the options the claims workers get
(``workers.runtime.app.new_app``: acks=all, at-least-once, memory store,
the same commit interval, producer linger and consumer fetch wait, web view
on), settings
read from the same ``CLAIMS_*`` environment, logging configured the same way;
only what happens to a message differs.  The consumer group is
``<prefix>passthrough-<hops>``.  Run by ``bench/bench_pipeline.py``; nothing
runs on import.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

#: hop number -> (source, destination), logical topic names
HOPS: dict[int, tuple[str, str]] = {
    1: ("sessions.completed", "sessions.enriched"),
    2: ("sessions.enriched", "charges.billable"),
    3: ("charges.billable", "claims.submitted"),
}


def group_name(hops: list[int]) -> str:
    """The worker name the consumer group is made of (``settings.group_id`` adds the prefix)."""
    return "passthrough-" + "".join(str(h) for h in hops)


def build(hops: list[int]) -> Any:
    from workers.runtime.app import new_app
    from workers.runtime.settings import load_settings
    from workers.runtime.topics import Catalogue

    settings = load_settings()
    catalogue = Catalogue(settings)
    app_id = settings.group_id(group_name(hops))
    (settings.state_dir / app_id).mkdir(parents=True, exist_ok=True)
    app = new_app(settings, app_id)

    def topic(name: str) -> Any:
        return app.topic(
            catalogue.physical(name),
            key_serializer="raw",
            value_serializer="raw",
            partitions=catalogue.partitions(name),
            replicas=settings.topic_replication,
            internal=False,
        )

    for hop in hops:
        source, destination = HOPS[hop]
        target = topic(destination)

        async def forward(stream: Any, target: Any = target) -> None:
            async for event in stream.events():
                await target.send(key=event.key, value=event.value)

        forward.__name__ = forward.__qualname__ = f"hop{hop}"
        app.agent(topic(source), name=f"passthrough:{source}")(forward)
    return app, settings


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    hops = sorted({int(a) for a in args}) if args else [1, 2, 3]
    if not set(hops) <= set(HOPS):
        raise SystemExit(f"hops are {sorted(HOPS)}, not {args}")
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from workers.runtime.logging import configure_logging
    from workers.runtime.worker import execute

    app, settings = build(hops)
    configure_logging(settings.log_level, settings.log_format)
    execute(app, settings)


if __name__ == "__main__":
    main()
