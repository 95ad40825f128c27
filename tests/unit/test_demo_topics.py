"""Which topics ``claims demo`` deletes before a run: earlier runs' (pure selection)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

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


class FakeAdmin:
    """An admin client whose broker refuses to delete the topics named in ``refuse``."""

    def __init__(self, topics: list[str], refuse: set[str]) -> None:
        self.topics, self.refuse = topics, refuse
        self.deleted: list[str] = []

    def list_topics(self) -> list[str]:
        return list(self.topics)

    def delete_topics(self, names: list[str], raise_errors: bool = True) -> dict[str, Any]:
        assert raise_errors is False
        answers = []
        for name in names:
            refused = name in self.refuse
            if not refused:
                self.deleted.append(name)
            answers.append({"name": name, "error_code": 41 if refused else 0})
        return {"topics": answers}


def test_a_run_whose_deletion_the_broker_refused_is_not_reported_as_removed() -> None:
    from workers.demo.run import forget_earlier_demos
    from workers.runtime.settings import Settings

    admin = FakeAdmin(
        [
            "demo20261127100000.sessions.completed",
            "demo20261127100000.claims.submitted",
            "demo20261126090000.ref.clinics",
            "demo20261127115900.sessions.completed",  # recent: kept
        ],
        refuse={"demo20261127100000.claims.submitted"},
    )
    removed = forget_earlier_demos(
        Settings(topic_prefix=""), NOW, keep_younger_than_s=360, client=admin
    )
    assert removed == 1  # yesterday's run; this morning's kept a topic
    assert sorted(admin.deleted) == [
        "demo20261126090000.ref.clinics",
        "demo20261127100000.sessions.completed",
    ]
