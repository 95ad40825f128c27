"""The topic catalogue."""

from __future__ import annotations

from workers.runtime.settings import Settings
from workers.runtime.topics import Catalogue


def test_every_consumed_topic_has_a_dead_letter_twin() -> None:
    cat = Catalogue(Settings(topic_prefix="x."))
    for spec in cat:
        if spec.consumed:
            dlq = cat.spec(spec.name + ".dlq")
            assert cat.partitions(dlq.name) == cat.partitions(spec.name)
            assert dlq.cleanup == "delete"


def test_reference_and_state_topics_are_compacted() -> None:
    cat = Catalogue(Settings())
    for name in (
        "ref.clinics",
        "ref.therapists",
        "ref.payers",
        "ref.patients",
        "ref.prescriptions",
        "state.enrich.patients",
    ):
        cfg = cat.spec(name).config()
        assert cfg["cleanup.policy"] == "compact"
        assert "retention.ms" not in cfg


def test_patient_scoped_topics_are_co_partitioned() -> None:
    cat = Catalogue(Settings(topic_partitions=8))
    counts = {
        cat.partitions(n)
        for n in (
            "sessions.completed",
            "ref.patients",
            "state.enrich.patients",
            "state.enrich.prescriptions-by-patient",
            "state.enrich.wakeups",
        )
    }
    assert counts == {8}


def test_physical_names_carry_the_prefix() -> None:
    cat = Catalogue(Settings(topic_prefix="acme."))
    assert cat.physical("sessions.completed") == "acme.sessions.completed"
    assert cat.logical("acme.sessions.completed") == "sessions.completed"


def test_retention_follows_the_settings_per_class() -> None:
    cat = Catalogue(Settings(retention_days_events=7, retention_days_audit=3650))
    day = 24 * 60 * 60 * 1000
    assert cat.config("sessions.completed")["retention.ms"] == str(7 * day)
    assert cat.config("ops.audit")["retention.ms"] == str(3650 * day)
    assert cat.config("sessions.completed.dlq")["retention.ms"] == str(90 * day)
    assert cat.config("claims.submitted")["retention.ms"] == str(400 * day)
    assert "retention.ms" not in cat.config("ref.patients")
    assert cat.spec("state.enrich.wakeups").retention_class is None


class _FakeAdmin:
    """The admin client's calls ensure_leader_topic makes, over a set of topic names."""

    def __init__(self, existing: set[str]) -> None:
        self.topics = set(existing)
        self.created: list[dict[str, object]] = []

    def describe_topics(self, names: list[str]) -> list[dict[str, object]]:
        return [{"name": n, "error_code": 0 if n in self.topics else 3} for n in names]

    def create_topics(self, spec: dict[str, dict[str, object]], raise_errors: bool) -> dict:
        self.created.append(spec)
        self.topics.update(spec)
        return {"topics": [{"name": n, "error_code": 0, "error_message": None} for n in spec]}

    def wait_for_topics(self, names: list[str], timeout_ms: int) -> None:
        assert set(names) <= self.topics


def test_the_leader_topic_exists_before_a_worker_joins_its_group() -> None:
    """faust declares its leader topic while the group forms; when the first assignment
    misses it, no process is leader and the leader-only timers (hold expiry, release
    ticks) never fire.  The worker creates it first, once."""
    from workers.runtime.admin import ensure_leader_topic, leader_topic
    from workers.runtime.settings import Settings

    admin = _FakeAdmin(set())
    settings = Settings()
    assert ensure_leader_topic(settings, "claims-enrich", admin=admin) is True
    [spec] = admin.created
    assert spec == {
        "claims-enrich-__assignor-__leader": {
            "num_partitions": 1,
            "replication_factor": settings.topic_replication,
        }
    }
    assert leader_topic("claims-enrich") in admin.topics
    assert ensure_leader_topic(settings, "claims-enrich", admin=admin) is False
    assert len(admin.created) == 1
