"""Shared fixtures.  Unit tests need nothing; broker tests use tests/kafka.py."""

from __future__ import annotations

import os

import pytest

from schemas import echo

# Tests must never pick up a developer's settings by accident; only where the
# broker is (CLAIMS_KAFKA_*, CLAIMS_BROKER_*) carries over.
for _name in list(os.environ):
    if _name.startswith("CLAIMS_") and not _name.startswith(("CLAIMS_KAFKA_", "CLAIMS_BROKER_")):
        del os.environ[_name]


# A hand-off this process wrote comes back without validation (schemas.echo); under
# test, every such hit is validated anyway and must equal the model kept.
echo.verify(True)


@pytest.fixture(autouse=True)
def _nothing_kept_across_tests() -> None:
    echo.forget()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = str(item.fspath)
        if "/integration/" in path or "/e2e/" in path:
            item.add_marker(pytest.mark.broker)
