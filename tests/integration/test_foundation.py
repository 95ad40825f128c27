"""The shared machinery on the real broker: topics, round trip, dead letters, logs."""

from __future__ import annotations

import json

from tests import factories as f
from tests.broker_support import Cluster
from workers.runtime.admin import admin_client, ensure_topics
from workers.runtime.local_broker import LocalBroker
from workers.runtime.topics import Catalogue


def load_reference(c: Cluster) -> None:
    c.produce("ref.clinics", "c1", f.clinic())
    c.produce("ref.therapists", "c1:t1", f.therapist())
    c.produce("ref.payers", "p1", f.payer())
    c.produce("ref.patients", "c1:pt1", f.patient())
    c.produce("ref.prescriptions", "c1:rx1", f.prescription())


def test_topic_catalogue_is_created_idempotently(cluster: Cluster) -> None:
    """The fixture created every topic; running it again changes nothing and
    verifies partition counts and cleanup policies against the catalogue."""
    settings = cluster.settings()
    again = ensure_topics(settings)
    assert again, "catalogue is empty"
    assert {r.status for r in again} == {"ok"}, [r for r in again if r.status != "ok"]
    catalogue = Catalogue(settings)
    client = admin_client(settings)
    try:
        described = {t["name"]: t for t in client.describe_topics([r.physical for r in again])}
    finally:
        client.close()
    for r in again:
        assert len(described[r.physical]["partitions"]) == catalogue.partitions(r.name)
    names = {r.name for r in again}
    assert "sessions.completed.dlq" in names
    assert catalogue.spec("ref.patients").cleanup == "compact"


def test_local_broker_start_is_idempotent(bootstrap: str) -> None:
    """A second start reuses the running broker: same pid, one process."""
    from workers.runtime.settings import Settings

    broker = LocalBroker(Settings())
    if broker.running() is None:  # an external broker is configured: nothing to check
        import pytest

        pytest.skip("the tests use an external broker (CLAIMS_KAFKA_BOOTSTRAP_SERVERS)")
    first = broker.running()
    again = broker.start()
    assert not again.started
    assert first is not None and again.state.pid == first.pid
    procs = []
    from pathlib import Path

    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                args = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"kafka.Kafka" in args and str(broker.properties_path).encode() in args:
                procs.append(int(proc.name))
    assert procs == [first.pid]


def test_message_round_trips_and_poison_goes_to_dead_letters(cluster: Cluster) -> None:
    """A poison message lands in <topic>.dlq with every header while the next
    good message is still processed; the original key, bytes and headers are kept."""
    load_reference(cluster)
    poison = b"\xff\xfe{not json"
    cluster.produce("sessions.completed", "c1:pt1", poison, headers=[("trace-id", b"abc-123")])
    good = f.session(session_id="s-good")
    cluster.produce("sessions.completed", "c1:pt1", good)
    worker = cluster.start_worker("enrich")

    enriched = cluster.read("sessions.enriched").wait_for(1, worker=worker)
    body = enriched[0].json
    assert body["session_key"] == "c1:s-good"
    assert body["visit_number"] == 1
    assert body["prescription"]["prescription_id"] == "rx1"
    assert enriched[0].key == b"c1:pt1"

    dead = cluster.read("sessions.completed.dlq").wait_for(1, worker=worker)
    d = dead[0]
    assert d.key == b"c1:pt1"
    assert d.value == poison
    assert d.header("trace-id") == "abc-123"
    assert d.header("claims.dlq.original.topic") == "sessions.completed"
    assert int(d.header("claims.dlq.original.partition") or -1) == d.partition
    assert d.header("claims.dlq.original.offset") == "0"
    assert int(d.header("claims.dlq.original.timestamp") or 0) > 0
    assert d.header("claims.dlq.processor") == "enrich"
    assert d.header("claims.dlq.consumer_group") == cluster.prefix + "claims-enrich"
    assert d.header("claims.dlq.error.kind") == "invalid-input"
    assert d.header("claims.dlq.error.reason") == "undecodable"
    assert d.header("claims.dlq.error.class") == "workers.runtime.failures.InvalidInput"
    assert "not UTF-8" in (d.header("claims.dlq.error.message") or "")
    assert "Traceback" in (d.header("claims.dlq.error.stacktrace") or "")
    assert (d.header("claims.dlq.failed_at") or "").endswith("Z")
    assert d.header("claims.dlq.attempts") == "1"
    assert worker.proc is not None and worker.proc.poll() is None, "the worker must survive"


def test_schema_violation_names_field_and_rule_without_value(cluster: Cluster) -> None:
    load_reference(cluster)
    bad = f.session(session_id="s-bad")
    bad["techniques"][0]["minutes"] = 999
    bad["patient_secret"] = "Zephyrine"
    cluster.produce("sessions.completed", "c1:pt1", bad)
    worker = cluster.start_worker("enrich")
    dead = cluster.read("sessions.completed.dlq").wait_for(1, worker=worker)
    msg = dead[0].header("claims.dlq.error.message") or ""
    assert dead[0].header("claims.dlq.error.reason") == "schema-invalid"
    assert "techniques[0].minutes" in msg and "less than or equal to 240" in msg
    assert "patient_secret" in msg and "Extra inputs are not permitted" in msg
    assert "999" not in msg and "Zephyrine" not in msg


def test_logs_never_show_patient_name_or_member_id(cluster: Cluster) -> None:
    """Real log output of a processor run at DEBUG level: the patient's name,
    birth date and member id appear nowhere, though the session was logged."""
    patient = f.patient()
    load_reference(cluster)
    cluster.produce("sessions.completed", "c1:pt1", f.session(session_id="s-log"))
    broken = f.patient(patient_id="pt1")
    broken["coverages"][0]["member_id"] = 12345  # wrong type: dead-lettered
    cluster.produce("ref.patients", "c1:pt1", broken)
    worker = cluster.start_worker("enrich", CLAIMS_LOG_LEVEL="DEBUG")
    cluster.read("sessions.enriched").wait_for(1, worker=worker)
    cluster.read("ref.patients.dlq").wait_for(1, worker=worker)
    worker.stop()
    text = worker.log_path.read_text()
    assert '"session_key": "c1:s-log"' in text, "the run must have logged the session"
    for secret in (
        patient["name"]["first_name"],
        patient["name"]["last_name"],
        patient["coverages"][0]["member_id"],
        patient["birth_date"],
        patient["address"]["line1"],
    ):
        assert secret not in text, f"PHI value leaked into the logs: {secret!r}"
    # every line is a JSON object with the bound message context
    events = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    outcome = [e for e in events if e.get("event") == "session outcome"]
    assert outcome and outcome[0]["topic"] == "sessions.completed"
    assert {"partition", "offset", "clinic_id"} <= set(outcome[0])
