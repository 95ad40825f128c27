"""Broker fixtures for integration and end-to-end tests: the real Apache Kafka broker,
one topic prefix per test (imported by their conftest files)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.broker_support import Cluster, unique_prefix


@pytest.fixture(scope="session")
def bootstrap() -> Iterator[str]:
    """The broker at CLAIMS_KAFKA_BOOTSTRAP_SERVERS, else the project's local broker
    started through the same code as ``claims broker start`` (stopped afterwards
    only if this session started it)."""
    configured = os.environ.get("CLAIMS_KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    from workers.runtime.local_broker import LocalBroker
    from workers.runtime.settings import Settings

    broker = LocalBroker(Settings())
    result = broker.start()
    try:
        yield result.state.bootstrap
    finally:
        if result.started:
            broker.stop()


@pytest.fixture
def cluster(bootstrap: str, tmp_path: Path) -> Iterator[Cluster]:
    from workers.runtime.admin import delete_topics_with_prefix, ensure_topics

    c = Cluster(bootstrap, unique_prefix("it"), tmp_path)
    ensure_topics(c.settings())
    try:
        yield c
    finally:
        c.close()
        delete_topics_with_prefix(c.settings(), c.prefix)
