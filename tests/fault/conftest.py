"""Fault tests: each module starts its own broker (it may be stopped under the tests),
on free ports, with short session timeouts so recovery is quick on 2 cores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.broker_support import Cluster, free_port
from tests.fault.pipeline import cluster
from workers.runtime.local_broker import LocalBroker
from workers.runtime.settings import Settings


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "/fault/" in str(item.fspath):
            item.add_marker(pytest.mark.fault)


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    home: Path = tmp_path_factory.mktemp("broker")
    shared = Settings()
    broker = LocalBroker(
        Settings(
            broker_home=home,
            broker_jar_cache=shared.broker_jar_cache,
            broker_port=free_port(),
            broker_controller_port=free_port(),
        )
    )
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def fault_cluster(own_broker: LocalBroker, tmp_path: Path) -> Iterator[Cluster]:
    """A topic prefix on the module's broker; its workers are stopped whatever happens."""
    c = cluster(own_broker, tmp_path)
    try:
        yield c
    finally:
        c.close()
