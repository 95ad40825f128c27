"""The workers' aiokafka consumer takes its fetch limits from settings.

faust builds the consumer itself (with a fixed 1.5 s fetch wait); these tests
build it the way a worker does, without connecting, and read what it got.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from workers.runtime.app import app_options, new_app
from workers.runtime.settings import Settings


async def _worker_consumer(settings: Settings) -> Any:
    app = new_app(settings, "claims-test-consumer")
    consumer = app.consumer._thread._create_worker_consumer(app.transport)
    try:
        return consumer._fetch_max_wait_ms, consumer._max_partition_fetch_bytes
    finally:
        await consumer.stop()


def test_fetch_wait_and_size_come_from_settings(tmp_path: Path) -> None:
    """A quiet partition cannot hold a busy one's next fetch for faust's 1.5 s."""
    settings = Settings(
        state_dir=tmp_path,
        web_enabled=False,
        consumer_fetch_max_wait_ms=70,
        consumer_max_fetch_bytes=2_097_152,
    )
    assert asyncio.run(_worker_consumer(settings)) == (70, 2_097_152)


def test_defaults_are_short_wait_and_larger_fetches(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, web_enabled=False)
    wait_ms, fetch_bytes = asyncio.run(_worker_consumer(settings))
    assert wait_ms == 100 < 1500
    assert fetch_bytes == app_options(settings, "x")["consumer_max_fetch_size"] == 4_194_304


def test_each_app_keeps_its_own_wait(tmp_path: Path) -> None:
    """The hook reads the value from the app it builds a consumer for."""

    async def both() -> tuple[int, int]:
        a = new_app(Settings(state_dir=tmp_path, consumer_fetch_max_wait_ms=10), "claims-a")
        b = new_app(Settings(state_dir=tmp_path, consumer_fetch_max_wait_ms=900), "claims-b")
        ca = a.consumer._thread._create_worker_consumer(a.transport)
        cb = b.consumer._thread._create_worker_consumer(b.transport)
        try:
            return ca._fetch_max_wait_ms, cb._fetch_max_wait_ms
        finally:
            await ca.stop()
            await cb.stop()

    assert asyncio.run(both()) == (10, 900)


def test_the_least_data_a_fetch_waits_for_comes_from_settings(tmp_path: Path) -> None:
    """A fetch waits (at most the fetch wait) for 64 KB of new data by default, so a
    pipeline that keeps up fetches several messages at a time; 1 answers at once, as
    aiokafka does by itself."""

    async def min_bytes(settings: Settings) -> int:
        app = new_app(settings, "claims-test-min-bytes")
        consumer = app.consumer._thread._create_worker_consumer(app.transport)
        try:
            return int(consumer._fetch_min_bytes)
        finally:
            await consumer.stop()

    base = Settings(state_dir=tmp_path, web_enabled=False)
    assert asyncio.run(min_bytes(base)) == 65_536
    at_once = base.model_copy(update={"consumer_fetch_min_bytes": 1})
    assert asyncio.run(min_bytes(at_once)) == 1
