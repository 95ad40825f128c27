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

    python bench/_passthrough.py --shape SHAPE.json HOP [HOP ...]

With ``--shape`` the app is the pipeline's *topology ceiling*: each hop still
does no work on a message, but writes what the real stage writes for it on
average -- the same topics, as many messages per input (a fraction is carried
over from one input to the next) and of the same mean size (the input's bytes
repeated or cut) -- with the stage's state topics written through faust tables,
as the real stage does, and with as many agents on its source as the real stage
has (the claims stage reads ``charges.billable`` in two lanes).  The shape is
measured from a real run (``bench_pipeline.py --ceiling``)::

    {"1": {"agents": 1,
           "outputs": [["sessions.enriched", 0.79, 4300], ...],
           "tables":  [["state.enrich.patients", 1.0, 2600]]},
     "2": {...}, "3": {...}}
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


def sized(value: bytes, size: int) -> bytes:
    """``size`` bytes made of ``value`` (repeated or cut)."""
    if not value or size <= 0:
        return b"x" * max(size, 0)
    return (value * (size // len(value) + 1))[:size]


class Credits:
    """Whole messages owed for fractional rates (0.79 a message: 79 in 100)."""

    def __init__(self, rates: list[float]) -> None:
        self.rates = rates
        self.owed = [0.0] * len(rates)

    def take(self) -> list[int]:
        counts = []
        for i, rate in enumerate(self.rates):
            self.owed[i] += rate
            whole = int(self.owed[i])
            self.owed[i] -= whole
            counts.append(whole)
        return counts


def build(hops: list[int], shape: dict[str, Any] | None = None) -> Any:
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
        if shape is not None:
            _shaped_hop(app, catalogue, topic, hop, shape[str(hop)])
            continue
        target = topic(destination)

        async def forward(stream: Any, target: Any = target) -> None:
            async for event in stream.events():
                await target.send(key=event.key, value=event.value)

        forward.__name__ = forward.__qualname__ = f"hop{hop}"
        app.agent(topic(source), name=f"passthrough:{source}")(forward)
    return app, settings


def _shaped_hop(app: Any, catalogue: Any, topic: Any, hop: int, spec: dict[str, Any]) -> None:
    source = HOPS[hop][0]
    outputs = [(topic(name), int(size)) for name, _rate, size in spec["outputs"]]
    tables = [
        (
            app.Table(
                f"ceiling.{name}",
                default=None,
                key_type=bytes,
                value_type=bytes,
                changelog_topic=topic(name),
                partitions=catalogue.partitions(name),
            ),
            int(size),
        )
        for name, _rate, size in spec["tables"]
    ]
    out_credits = Credits([float(rate) for _name, rate, _size in spec["outputs"]])
    table_credits = Credits([float(rate) for _name, rate, _size in spec["tables"]])

    async def shaped(stream: Any) -> None:
        async for event in stream.events():
            value = event.value or b""
            offset = event.message.offset
            for (table, size), n in zip(tables, table_credits.take(), strict=True):
                for i in range(n):
                    table[b"%s|%d|%d" % (event.key or b"", offset, i)] = sized(value, size)
            for (target, size), n in zip(outputs, out_credits.take(), strict=True):
                for _ in range(n):
                    await target.send(key=event.key, value=sized(value, size))

    shaped.__name__ = shaped.__qualname__ = f"hop{hop}"
    app.agent(topic(source), name=f"ceiling:{source}")(shaped)
    for lane in range(1, int(spec.get("agents", 1))):  # the other lanes only pass by

        async def passes_by(stream: Any) -> None:
            async for _event in stream.events():
                pass

        passes_by.__name__ = passes_by.__qualname__ = f"hop{hop}_lane{lane}"
        app.agent(topic(source), name=f"ceiling:{source}:lane{lane}")(passes_by)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    shape = None
    if "--shape" in args:
        at = args.index("--shape")
        import json

        shape = json.loads(Path(args[at + 1]).read_text())
        del args[at : at + 2]
    hops = sorted({int(a) for a in args}) if args else [1, 2, 3]
    if not set(hops) <= set(HOPS):
        raise SystemExit(f"hops are {sorted(HOPS)}, not {args}")
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from workers.runtime.logging import configure_logging
    from workers.runtime.worker import execute

    app, settings = build(hops, shape)
    configure_logging(settings.log_level, settings.log_format)
    execute(app, settings)


if __name__ == "__main__":
    main()
