"""A broker that cannot start says why and shows the tail of its log."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.broker_support import free_port
from workers.runtime.local_broker import BrokerError, LocalBroker
from workers.runtime.settings import Settings


def test_a_broker_that_dies_at_start_shows_its_log(bootstrap: str, tmp_path: Path) -> None:
    shared = Settings()
    cached = LocalBroker(shared).jar_dir
    if not (cached / ".complete").exists():
        pytest.skip("the broker jars are not cached (external broker in use)")
    b = LocalBroker(
        Settings(
            broker_home=tmp_path / "home",
            broker_jar_cache=shared.broker_jar_cache,
            broker_port=free_port(),
            broker_controller_port=free_port(),
            broker_heap="1z",  # an invalid heap size: the JVM refuses to start
            broker_start_timeout_s=30,
        )
    )
    with pytest.raises(BrokerError) as err:
        b.start()
    text = str(err.value)
    assert "exited with status" in text
    assert "last lines of" in text and "stdout.log" in text
    assert b.read_state() is None
