"""Integration tests: the real broker (fixtures in tests/broker_fixtures.py)."""

from tests.broker_fixtures import bootstrap, cluster

__all__ = ["bootstrap", "cluster"]
