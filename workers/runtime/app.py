"""What a processor is wired with: faust apps, topics, tables and agents built from settings.

Nothing is built at import time.  :func:`new_app` makes a faust app from the
settings; a :class:`Wiring` is what each processor's ``register`` receives: it
hands out catalogue topics by logical name, tables with explicitly named
changelog topics (shared by every mode), reference mirrors, the clock, and the
shared :class:`~workers.runtime.processing.MessageRunner` loop.  Which
processors a worker runs is decided by the composition root,
:mod:`workers.engine`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog

from workers.runtime.gap_guard import GapGuard
from workers.runtime.log_start import LogStart
from workers.runtime.metrics import Metrics
from workers.runtime.mirror import Mirror, OnRecord, TopicMirror
from workers.runtime.processing import Handler, MessageRunner, RetryPolicy
from workers.runtime.records import Incoming, Outgoing
from workers.runtime.recovery_watch import RecoveryWatch
from workers.runtime.settings import Settings
from workers.runtime.topics import Catalogue

if TYPE_CHECKING:  # faust is imported lazily: `claims --help` must start fast
    import faust

log = structlog.stdlib.get_logger("claims.runtime")


def broker_credentials(settings: Settings) -> Any:
    import faust

    proto = settings.kafka_security_protocol
    if proto == "PLAINTEXT":
        return None
    from workers.runtime.kafka_clients import client_ssl_context

    context = client_ssl_context(settings)
    if proto == "SSL":
        return faust.SSLCredentials(context)
    assert settings.kafka_sasl_password is not None
    return faust.SASLCredentials(
        username=settings.kafka_sasl_username,
        password=settings.kafka_sasl_password.get_secret_value(),
        mechanism=settings.kafka_sasl_mechanism,
        ssl_context=context,
    )


class FaustSink:
    """Sends :class:`Outgoing` records through the app's producer."""

    def __init__(self, wiring: Wiring) -> None:
        self._wiring = wiring

    async def send(self, record: Outgoing) -> None:
        await self._wiring.topic(record.topic).send(
            key=record.key,
            value=record.value,
            headers=list(record.headers),
            partition=record.partition,
        )

    async def deliver(self, record: Outgoing) -> None:
        fut = await self._wiring.topic(record.topic).send(
            key=record.key,
            value=record.value,
            headers=list(record.headers),
            partition=record.partition,
        )
        await fut


class Wiring:
    """What a processor's ``register`` function receives."""

    def __init__(
        self,
        app: faust.App,
        settings: Settings,
        mode: str,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.mode = mode
        self._clock = clock or _utc_now
        self.catalogue = Catalogue(settings)
        self.metrics = Metrics()
        self._topics: dict[str, Any] = {}
        self.sink = FaustSink(self)
        self.log_start = LogStart(
            settings, group=str(app.conf.id), client_id=f"{app.conf.id}-log-start"
        )
        self.gaps = GapGuard(app, self.metrics, log_start=self.log_start)
        self.ready_checks: list[Callable[[], bool]] = []
        self.retry = RetryPolicy(
            attempts=settings.retry_attempts,
            backoff_s=settings.retry_backoff_s,
            backoff_max_s=settings.retry_backoff_max_s,
        )

    @property
    def consumer_group(self) -> str:
        return str(self.app.conf.id)

    def now(self) -> datetime:
        """The time for a processor's decisions (the one clock; tests give their own)."""
        return self._clock()

    def mirror(self, topics: Sequence[str], on_record: OnRecord, *, name: str) -> Mirror:
        """A mirror of small compacted topics, run for the life of the worker and
        part of its readiness (:class:`~workers.runtime.mirror.TopicMirror`)."""
        mirror = TopicMirror(self.settings, topics, on_record)
        self.background(mirror.run, name=name)
        self.ready_checks.append(mirror.ready.is_set)
        return mirror

    def topic(self, name: str) -> Any:
        """The faust topic for a catalogue topic (raw bytes keys and values)."""
        if name not in self._topics:
            self._topics[name] = self.app.topic(
                self.catalogue.physical(name),
                key_serializer="raw",
                value_serializer="raw",
                partitions=self.catalogue.partitions(name),
                replicas=self.settings.topic_replication,
                internal=False,
            )
        return self._topics[name]

    def runner(self, processor_name: str) -> MessageRunner:
        return MessageRunner(
            processor=processor_name,
            consumer_group=self.consumer_group,
            sink=self.sink,
            retry=self.retry,
            stack_limit=self.settings.stacktrace_limit,
            metrics=self.metrics,
            max_value_bytes=self.settings.max_event_bytes,
        )

    def consume(
        self,
        source: str,
        processor_name: str,
        handler: Handler,
        *,
        lane: str | None = None,
        accepts: Callable[[bytes | None], bool] | None = None,
    ) -> None:
        """Run ``handler`` for every message of ``source`` through the shared loop.

        Faust can hand a message to the agent twice in one process (after its
        start-up seek to the committed offset, or when a partition is revoked and
        given back before a commit).  Offsets at or below the last one this
        process finished for the partition are skipped: their outputs were
        already produced by this process.

        ``lane``/``accepts``: one topic read by several agents of the processor,
        each handling the messages whose key it ``accepts`` (the others pass it
        by).  Faust gives every agent of a topic each message and commits an
        offset once all of them are done with it, so a lane that waits (on a disk,
        say) does not hold up the other lanes' messages behind it.
        """
        runner = self.runner(processor_name)
        topic = self.topic(source)
        progress = self.gaps.track(self.catalogue.physical(source))
        done = progress.done
        compacted = "compact" in self.catalogue.spec(source).cleanup
        admit = self.gaps.admit

        async def agent(stream: Any) -> None:
            async for event in stream.events():
                message = event.message
                progress.saw(message.partition, message.offset)
                if message.offset <= done.get(message.partition, -1):
                    self.metrics.outcome(processor_name, "redelivery-skipped")
                    continue
                if not await admit(progress, message, compacted=compacted):
                    continue
                if accepts is not None and not accepts(event.key):
                    progress.finish(message.partition, message.offset)  # another lane's
                    continue
                progress.start()
                try:
                    await runner.process(
                        Incoming(
                            topic=source,
                            partition=message.partition,
                            offset=message.offset,
                            timestamp_ms=_timestamp_ms(message.timestamp),
                            key=event.key,
                            value=event.value,
                            headers=_headers(event.headers),
                        ),
                        handler,
                    )
                finally:
                    progress.finish(message.partition, message.offset)

        suffix = f"_{lane}" if lane else ""
        agent.__name__ = agent.__qualname__ = (
            f"{processor_name}_{source.replace('.', '_')}{suffix.replace('-', '_')}"
        )
        self.app.agent(topic, name=f"{processor_name}:{source}{':' + lane if lane else ''}")(agent)

    def table(
        self,
        name: str,
        changelog: str,
        *,
        is_global: bool = False,
        read_only_source: bool = False,
        on_changelog_event: Callable[[Any], Awaitable[None]] | None = None,
    ) -> Any:
        """A raw bytes->bytes table whose changelog is the catalogue topic ``changelog``.

        ``read_only_source``: a global table that mirrors a topic other
        producers write (a compacted reference topic); every worker keeps
        consuming all its partitions and the engine never writes to it.
        """
        kwargs: dict[str, Any] = {
            "default": None,
            "key_type": bytes,
            "value_type": bytes,
            "changelog_topic": self.topic(changelog),
            "partitions": self.catalogue.partitions(changelog),
            "on_changelog_event": on_changelog_event,
        }
        if is_global:
            return self.app.GlobalTable(
                name, synchronize_all_active_partitions=read_only_source, **kwargs
            )
        return self.app.Table(name, **kwargs)

    def background(self, fn: Callable[[], Awaitable[None]], name: str) -> None:
        """Run ``fn`` for the life of the worker (started with the app)."""

        async def task() -> None:
            await fn()

        task.__name__ = task.__qualname__ = name
        self.app.task(task)

    def timer(self, seconds: float, fn: Callable[[], Awaitable[None]], name: str) -> None:
        async def timer() -> None:
            await fn()

        timer.__name__ = timer.__qualname__ = name
        self.app.timer(seconds, on_leader=True, name=name)(timer)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _timestamp_ms(ts: float) -> int:
    """aiokafka gives milliseconds, faust's own messages seconds."""
    return int(ts * 1000) if ts < 1e11 else int(ts)


def _headers(raw: Any) -> tuple[tuple[str, bytes], ...]:
    if not raw:
        return ()
    items = raw.items() if isinstance(raw, dict) else raw
    return tuple((str(k), bytes(v) if v is not None else b"") for k, v in items)


def app_options(settings: Settings, app_id: str) -> dict[str, Any]:
    """The faust options of every claims worker (and of the benchmark's baseline)."""
    return {
        "broker": [f"kafka://{s}" for s in settings.bootstrap_list],
        "broker_credentials": broker_credentials(settings),
        "store": settings.table_store,
        "datadir": str(settings.state_dir / app_id),
        "autodiscover": False,
        "web_enabled": settings.web_enabled,
        "web_host": settings.web_host,
        "web_bind": settings.web_host,
        "web_port": settings.web_port,
        "topic_partitions": settings.topic_partitions,
        "topic_replication_factor": settings.topic_replication,
        "topic_allow_declare": True,
        "consumer_auto_offset_reset": "earliest",
        "broker_commit_interval": settings.commit_interval_s,
        "broker_session_timeout": settings.consumer_session_timeout_s,
        "broker_rebalance_timeout": settings.consumer_rebalance_timeout_s,
        "broker_heartbeat_interval": max(1.0, settings.consumer_session_timeout_s / 10),
        "table_standby_replicas": settings.table_standby_replicas,
        "producer_acks": -1,
        "producer_linger": settings.producer_linger_ms / 1000.0,
        "producer_max_batch_size": settings.producer_max_batch_bytes,
        "consumer_max_fetch_size": settings.consumer_max_fetch_bytes,
        "processing_guarantee": "at_least_once",
    }


def new_app(settings: Settings, app_id: str) -> faust.App:
    """A faust app with :func:`app_options` and the consumer's fetch wait from settings
    (every claims worker, and the benchmark's baseline)."""
    import faust

    from workers.runtime import fetch_guard, stop_wait

    _hold_fetches_at_most()
    fetch_guard.install()
    stop_wait.install()
    app = faust.App(app_id, **app_options(settings, app_id))
    app._claims_fetch_max_wait_ms = settings.consumer_fetch_max_wait_ms  # type: ignore[attr-defined]  # not faust's: our patched consumer factory reads it
    app._claims_fetch_min_bytes = settings.consumer_fetch_min_bytes  # type: ignore[attr-defined]  # not faust's either: read by the same factory
    return app


def _hold_fetches_at_most() -> None:
    """Let each app choose how long the broker may hold an empty fetch.

    faust builds its aiokafka consumer with ``fetch_max_wait_ms=1500`` and offers no
    setting.  aiokafka keeps one fetch per broker in flight and leaves out of it the
    partitions whose records are still buffered; when such a partition's buffer
    empties, its next fetch waits for the one in flight, which the broker holds for
    the whole wait when the other partitions are quiet.  Under load a stage then
    stalls for up to 1.5 s after every fetched batch.  The consumer keeps the value
    in ``_fetch_max_wait_ms`` until it starts and builds its fetcher from it; the
    least data a fetch waits for (``_fetch_min_bytes``, aiokafka's default 1) is set
    the same way.
    """
    from faust.transport.drivers import aiokafka as driver

    thread_cls: Any = driver.AIOKafkaConsumerThread
    if getattr(thread_cls, "_claims_wait_patched", False):
        return
    create = thread_cls._create_worker_consumer

    def create_worker_consumer(self: Any, transport: Any) -> Any:
        consumer = create(self, transport)
        wait_ms = getattr(self.app, "_claims_fetch_max_wait_ms", None)
        if wait_ms is not None:
            consumer._fetch_max_wait_ms = int(wait_ms)
        min_bytes = getattr(self.app, "_claims_fetch_min_bytes", None)
        if min_bytes is not None:
            consumer._fetch_min_bytes = int(min_bytes)
        return consumer

    thread_cls._create_worker_consumer = create_worker_consumer
    thread_cls._claims_wait_patched = True


def new_wiring(settings: Settings, mode: str) -> Wiring:
    """A new app for worker mode ``mode`` and the wiring its processors register on."""
    app_id = settings.group_id(mode)
    (settings.state_dir / app_id).mkdir(parents=True, exist_ok=True)
    return Wiring(new_app(settings, app_id), settings, mode)


def add_runtime_services(wiring: Wiring) -> None:
    """What every worker runs beside its processors: the stream gap guard, the
    recovery watch, and the metrics, liveness and readiness pages."""
    settings, app = wiring.settings, wiring.app
    prefix = settings.topic_prefix

    async def guard() -> None:
        try:
            await wiring.gaps.run(prefix)
        finally:
            await wiring.log_start.close()

    wiring.background(guard, name="stream_gap_guard")
    watch = RecoveryWatch(
        app, wiring.metrics, stall_s=settings.recovery_stall_s, nudges=settings.recovery_nudges
    )
    app.add_dependency(watch.as_service())
    register_views(app, wiring)


def register_views(app: faust.App, wiring: Wiring) -> None:
    from aiohttp import web as aioweb

    @app.page("/claims/metrics")
    async def metrics(_web: Any, _request: Any) -> Any:
        from prometheus_client import CONTENT_TYPE_LATEST

        return aioweb.Response(
            body=wiring.metrics.prometheus().encode(),
            headers={"Content-Type": CONTENT_TYPE_LATEST},
        )

    @app.page("/claims/live")
    async def live(web: Any, _request: Any) -> Any:
        """Liveness: the event loop answers."""
        return web.json({"live": True})

    @app.page("/claims/ready")
    async def ready(web: Any, _request: Any) -> Any:
        """Readiness: joined the group, tables recovered, reference data mirrored."""
        consumer: Any = app.consumer
        reasons = []
        if not consumer.assignment():
            reasons.append("no partitions assigned yet")
        if app.in_recovery:
            reasons.append("recovering tables")
        if getattr(app, "rebalancing", False):
            reasons.append("rebalancing")
        if not all(check() for check in wiring.ready_checks):
            reasons.append("reference data not mirrored yet")
        body = {"ready": not reasons, "reasons": reasons}
        return web.json(body, status=200 if not reasons else 503)

    @app.page("/claims/consumer")
    async def consumer_state(web: Any, _request: Any) -> Any:
        """Assigned partitions and their flow state (for stalls and lag)."""
        consumer: Any = app.consumer
        assigned = consumer.assignment()
        active = consumer._active_partitions or set()
        out = []
        for tp in sorted(assigned):
            out.append(
                {
                    "topic": tp.topic,
                    "partition": tp.partition,
                    "active": tp in active,
                    "paused": tp in consumer._paused_partitions,
                    "buffered": tp in consumer._buffered_partitions,
                    "highwater": consumer.highwater(tp),
                    "position": await consumer.position(tp),
                    "committed": consumer._committed_offset.get(tp),
                }
            )
        return web.json({"in_recovery": app.in_recovery, "partitions": out})

    @app.page("/claims/status")
    async def status(web: Any, _request: Any) -> Any:
        return web.json(
            {"mode": wiring.mode, "group": wiring.consumer_group, **wiring.metrics.snapshot()}
        )
