"""Fakes of the engine's own ports (no mocks)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from workers.runtime.records import Outgoing


class FakeSink:
    """Collects what a processor sends; ``fail_sends``/``fail_delivers`` make the
    next N calls raise like a producer whose broker is away."""

    def __init__(self, fail_sends: int = 0, fail_delivers: int = 0) -> None:
        self.sent: list[Outgoing] = []
        self.delivered: list[Outgoing] = []
        self.fail_sends = fail_sends
        self.fail_delivers = fail_delivers

    async def send(self, record: Outgoing) -> None:
        if self.fail_sends:
            self.fail_sends -= 1
            raise ConnectionError("broker unavailable")
        self.sent.append(record)

    async def deliver(self, record: Outgoing) -> None:
        if self.fail_delivers:
            self.fail_delivers -= 1
            raise ConnectionError("broker unavailable")
        self.delivered.append(record)

    def on(self, topic: str) -> list[Outgoing]:
        return [r for r in [*self.sent, *self.delivered] if r.topic == topic]


class FakeClock:
    def __init__(self) -> None:
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


class FakeCatalog:
    """Clinic/therapist/payer lookups from dicts (the enrichment Catalog port)."""

    def __init__(self, clinics=(), therapists=(), payers=()) -> None:
        self.clinics = {c.clinic_id: c for c in clinics}
        self.therapists = {t.key: t for t in therapists}
        self.payers = {p.payer_id: p for p in payers}

    def clinic(self, clinic_id: str):
        return self.clinics.get(clinic_id)

    def therapist(self, therapist_key: str):
        return self.therapists.get(therapist_key)

    def payer(self, payer_id: str):
        return self.payers.get(payer_id)


class FakeTable(dict[Any, Any]):
    """A faust table as the processors use it: a dict with ``on_recover``."""

    def on_recover(self, callback: Any) -> None:
        self.recover = callback


class FakeMirror:
    """The reference mirror (:class:`workers.runtime.mirror.TopicMirror`), fed by the
    test through ``on_record`` instead of a consumer; always caught up.  The last one
    built is ``FakeMirror.last``."""

    last: FakeMirror | None = None

    def __init__(self, settings: Any, topics: Any, on_record: Any) -> None:
        self.on_record = on_record
        self.ready = asyncio.Event()
        self.ready.set()
        FakeMirror.last = self

    async def wait_ready(self, timeout: float) -> bool:
        return True

    async def run(self) -> None:  # pragma: no cover - never started
        return None


class FakeWiring:
    """What a processor's ``register`` needs from :class:`workers.runtime.app.Wiring`,
    without faust: handlers by source topic, tables by name, no timers or tasks."""

    consumer_group = "claims-test"

    def __init__(self, sink: FakeSink, settings: Any = None, now: datetime | None = None) -> None:
        from workers.runtime.metrics import Metrics
        from workers.runtime.settings import Settings
        from workers.runtime.topics import Catalogue

        self.settings = settings if settings is not None else Settings()
        self.catalogue = Catalogue(self.settings)
        self.metrics = Metrics()
        self.sink = sink
        self.handlers: dict[str, Any] = {}
        self.lanes: dict[str, list[tuple[Any, Any]]] = {}
        self.tables: dict[str, FakeTable] = {}
        self.ready_checks: list[Any] = []
        #: the processors' clock: ``now()`` answers this until a test moves it
        self.time = now if now is not None else datetime.now(UTC).replace(microsecond=0)
        self.mirrors: dict[str, FakeMirror] = {}

    def now(self) -> datetime:
        return self.time

    def mirror(self, topics: Any, on_record: Any, *, name: str) -> FakeMirror:
        """A :class:`FakeMirror` the test feeds (``mirrors[name]``)."""
        mirror = FakeMirror(self.settings, topics, on_record)
        self.mirrors[name] = mirror
        return mirror

    def table(self, name: str, changelog: str, **_: Any) -> FakeTable:
        return self.tables.setdefault(name, FakeTable())

    def consume(
        self,
        source: str,
        processor_name: str,
        handler: Any,
        *,
        lane: str | None = None,
        accepts: Any = None,
    ) -> None:
        """``handlers[source]`` hands each message to the lane that accepts its key
        (as the agents of one topic share its messages)."""
        lanes = self.lanes.setdefault(source, [])
        lanes.append((accepts, handler))

        async def dispatch(msg: Any, scope: Any) -> Any:
            taken = [h for ok, h in lanes if ok is None or ok(msg.key)]
            assert len(taken) == 1, f"{len(taken)} lanes of {source} take key {msg.key!r}"
            return await taken[0](msg, scope)

        self.handlers[source] = dispatch if len(lanes) > 1 else handler

    def background(self, fn: Any, name: str) -> None:
        pass

    def timer(self, seconds: float, fn: Any, name: str) -> None:
        pass
