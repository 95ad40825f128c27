"""Which topics ``claims demo`` deletes before a run: earlier runs' (pure selection)."""

from __future__ import annotations

from datetime import UTC, datetime

from workers.demo.run import earlier_demo_prefixes

NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)


def test_only_demo_runs_older_than_the_limit_under_the_same_base_are_chosen() -> None:
    topics = [
        "demo20261127100000.sessions.completed",  # two hours old
        "demo20261127100000.claims.submitted",
        "demo20261127115800.sessions.completed",  # two minutes old: may still run
        "demo20261126090000.ref.clinics",  # yesterday
        "e2e.demo20261101000000.sessions.completed",  # another base prefix
        "demo.sessions.completed",  # no start time
        "demo20261399000000.sessions.completed",  # not a time
        "benchpipe1234.demo20261101000000.x",  # somewhere else in the name
        "sessions.completed",
    ]
    assert earlier_demo_prefixes(topics, "", NOW, keep_younger_than_s=360) == [
        "demo20261126090000.",
        "demo20261127100000.",
    ]


def test_a_base_prefix_scopes_the_choice() -> None:
    topics = ["e2e.demo20261101000000.sessions.completed", "demo20261101000000.x"]
    assert earlier_demo_prefixes(topics, "e2e.", NOW, keep_younger_than_s=360) == [
        "e2e.demo20261101000000."
    ]
    assert earlier_demo_prefixes(topics, "e2e.", NOW, keep_younger_than_s=10**9) == []
