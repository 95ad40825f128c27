"""Shared fixtures.  Unit tests need nothing; broker tests use tests/kafka.py."""

from __future__ import annotations

import os

import pytest

# Tests must never pick up a developer's settings by accident; only where the
# broker is (CLAIMS_KAFKA_*, CLAIMS_BROKER_*) carries over.
for _name in list(os.environ):
    if _name.startswith("CLAIMS_") and not _name.startswith(("CLAIMS_KAFKA_", "CLAIMS_BROKER_")):
        del os.environ[_name]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = str(item.fspath)
        if "/integration/" in path or "/e2e/" in path:
            item.add_marker(pytest.mark.broker)
