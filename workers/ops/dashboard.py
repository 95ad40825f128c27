"""The operations dashboard, served by every worker on its web port.

``/claims/dashboard`` is a page that refreshes itself every two seconds from
``/claims/api/dashboard``: throughput per processor, consumer lag per group,
dead letters by topic and reason (with drill-down), the work queues, claims
submitted and paid per clinic, and accounts-receivable aging.  The figures come
from the topics themselves (:class:`~workers.ops.overview.Overview`, fed by a
consumer that starts with the first visit), so every worker shows the whole
pipeline.

Access needs the token of ``CLAIMS_DASHBOARD_TOKEN`` -- as a bearer token, or
once through ``/claims/dashboard/login?token=...``, which sets an HttpOnly
cookie.  Without a token (or with a short or placeholder one) the dashboard is
off.  The dashboard never shows patient data: dead letters are listed by their
headers only; payloads stay behind ``claims dlq show --reveal``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import threading
import time
from importlib import resources
from typing import TYPE_CHECKING, Any

import structlog

from workers.ops.overview import TOPICS, Overview
from workers.runtime import kafka_clients
from workers.runtime.mirror import all_partitions
from workers.runtime.settings import Settings
from workers.runtime.topics import DLQ_SUFFIX, Catalogue

if TYPE_CHECKING:
    import faust

log = structlog.stdlib.get_logger("claims.dashboard")

COOKIE = "claims_dashboard"
PLACEHOLDERS = {"REPLACE_ME", "changeme", "change-me", "secret", "token"}


def usable_token(settings: Settings) -> str | None:
    if settings.dashboard_token is None:
        return None
    token = settings.dashboard_token.get_secret_value()
    if len(token) < 16 or token in PLACEHOLDERS:
        log.warning("dashboard off: CLAIMS_DASHBOARD_TOKEN is too short or a placeholder")
        return None
    return token


class Feed:
    """Tails the topics into an :class:`Overview` (all partitions, no consumer group)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.overview = Overview()
        self.task: asyncio.Task[None] | None = None
        self.lag: dict[str, dict[str, int]] = {}
        self._lag_thread: threading.Thread | None = None

    def start(self) -> None:
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run())
        if self._lag_thread is None:
            self._lag_thread = threading.Thread(target=self._lag_loop, daemon=True)
            self._lag_thread.start()

    async def _run(self) -> None:
        names = [
            *TOPICS,
            *(s.name for s in Catalogue(self.settings) if s.name.endswith(DLQ_SUFFIX)),
        ]
        physical = {self.settings.topic(n): n for n in names}
        while True:
            consumer = kafka_clients.async_reader(self.settings, "claims-dashboard")
            try:
                await consumer.start()
                tps = await all_partitions(consumer, list(physical), wait_s=5)
                consumer.assign(tps)
                await consumer.seek_to_beginning(*tps)
                while True:
                    batch = await consumer.getmany(timeout_ms=500, max_records=5000)
                    for tp, records in batch.items():
                        name = physical[tp.topic]
                        for r in records:
                            self.overview.apply(
                                name,
                                r.partition,
                                r.offset,
                                r.key,
                                r.value,
                                list(r.headers or []),
                                r.timestamp,
                            )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("dashboard feed failed; restarting", error=str(exc)[:200])
                await asyncio.sleep(2)
            finally:
                with contextlib.suppress(Exception):
                    await consumer.stop()

    def _lag_loop(self) -> None:
        while True:
            try:
                self.lag = consumer_lag(self.settings)
            except Exception as exc:
                log.warning("consumer lag probe failed", error=str(exc)[:200])
            time.sleep(5)


def consumer_lag(settings: Settings) -> dict[str, dict[str, int]]:
    """Per consumer group of this deployment: total lag per source topic."""
    prefix = settings.group_id("")
    admin = kafka_clients.admin(settings)
    consumer = kafka_clients.reader(settings)
    try:
        groups = [g for g in (group_id_of(x) for x in admin.list_groups()) if g.startswith(prefix)]
        out: dict[str, dict[str, int]] = {}
        for group in sorted(groups):
            committed = admin.list_group_offsets(group).get(group, {})
            if not committed:
                continue
            ends = consumer.end_offsets(list(committed))
            per_topic: dict[str, int] = {}
            for tp, om in committed.items():
                if om.offset < 0:
                    continue
                name = tp.topic[len(settings.topic_prefix) :]
                per_topic[name] = per_topic.get(name, 0) + max(ends.get(tp, 0) - om.offset, 0)
            out[group[len(prefix) :] or group] = per_topic
        return out
    finally:
        consumer.close()
        admin.close()


def group_id_of(entry: Any) -> str:
    """The group id in one entry of ``KafkaAdminClient.list_groups()`` (its shape varies)."""
    if isinstance(entry, dict):
        return str(entry.get("group_id") or entry.get("group") or "")
    if isinstance(entry, tuple | list):
        return str(entry[0])
    return str(getattr(entry, "group_id", entry))


def register(app: faust.App, settings: Settings, metrics: Any) -> None:
    """Add the dashboard's routes to a worker's faust web server."""
    from aiohttp import web as aioweb

    token = usable_token(settings)
    feed = Feed(settings)
    page = resources.files("workers.ops").joinpath("static", "dashboard.html")

    def authorised(request: Any) -> bool:
        if token is None:
            return False
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        given = given or request.cookies.get(COOKIE, "")
        return bool(given) and hmac.compare_digest(given.encode(), token.encode())

    def denied() -> Any:
        if token is None:
            return aioweb.Response(status=404, text="the dashboard is off")
        return aioweb.Response(
            status=401, text="authentication required", headers={"WWW-Authenticate": "Bearer"}
        )

    @app.page("/claims/dashboard/login")
    async def login(_web: Any, request: Any) -> Any:
        given = request.query.get("token", "")
        if token is None or not hmac.compare_digest(given.encode(), token.encode()):
            return denied()
        response = aioweb.HTTPFound("/claims/dashboard")
        response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/claims")
        return response

    @app.page("/claims/dashboard")
    async def dashboard(_web: Any, request: Any) -> Any:
        if not authorised(request):
            return denied()
        feed.start()
        return aioweb.Response(
            text=page.read_text(encoding="utf-8"),
            content_type="text/html",
            headers={"Cache-Control": "no-store"},
        )

    @app.page("/claims/api/dashboard")
    async def summary(web: Any, request: Any) -> Any:
        if not authorised(request):
            return denied()
        feed.start()
        data = feed.overview.summary()
        data["consumer_lag"] = feed.lag
        data["this_worker"] = metrics.snapshot()
        return web.json(data)

    @app.page("/claims/api/dead-letters")
    async def dead_letters(web: Any, request: Any) -> Any:
        if not authorised(request):
            return denied()
        feed.start()
        topic = request.query.get("topic")
        reason = request.query.get("reason")
        rows = [
            {
                "id": dl_id,
                "topic": info.get("original.topic"),
                "reason": info.get("error.reason"),
                "message": info.get("error.message"),
                "clinic": info.get("clinic_id"),
                "failed_at": info.get("failed_at"),
                "attempts": info.get("attempts"),
            }
            for dl_id, info in sorted(feed.overview.open_dead_letters().items())
            if (not topic or info.get("original.topic") == topic)
            and (not reason or info.get("error.reason") == reason)
        ]
        return web.json({"dead_letters": rows[:500], "total": len(rows)})
