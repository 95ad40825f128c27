"""`claims dlq`: list, show, replay (once) and purge dead letters on the real broker."""

from __future__ import annotations

import json
import subprocess

from tests import factories as f
from tests.broker_support import Cluster
from workers.runtime.partitioning import partition_for


def claims(c: Cluster, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return c.cli(*args, CLAIMS_OPERATOR="ops-anna", **env)


def test_a_fixed_poison_message_is_replayed_once_and_flows_through(cluster: Cluster) -> None:
    c = cluster
    c.produce("ref.clinics", "c1", f.clinic())
    c.produce("ref.therapists", "c1:t1", f.therapist())
    c.produce("ref.payers", "p1", f.payer())
    c.produce("ref.prescriptions", "c1:rx1", f.prescription())
    right = partition_for("c1:pt1", 6)
    wrong = (right + 1) % 6
    # a producer with a custom partitioner put these on the wrong partition
    c.produce("ref.patients", "c1:pt1", f.patient(), partition=wrong)
    c.produce("sessions.completed", "c1:pt1", f.session(session_id="s1"), partition=wrong)
    worker = c.start_worker("enrich")
    c.read("sessions.completed.dlq").wait_for(1, worker=worker)
    c.read("ref.patients.dlq").wait_for(1, worker=worker)

    listed = claims(c, "dlq", "list", "--reason", "misrouted", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)["dead_letters"]
    ids = {r["original_topic"]: r["id"] for r in rows}
    assert set(ids) == {"sessions.completed", "ref.patients"}
    assert all(r["status"] == "open" and r["reason"] == "misrouted" for r in rows)

    shown = claims(c, "dlq", "show", ids["ref.patients"])
    assert shown.returncode == 0
    assert "Zephyrine" not in shown.stdout and "MBR-ZQX-4471" not in shown.stdout
    assert "[redacted]" in shown.stdout and "claims.dlq" not in shown.stdout.split('"payload"')[1]
    assert "Traceback" in shown.stdout  # the stack trace is shown
    refused = claims(c, "dlq", "show", ids["ref.patients"], "--reveal")
    assert refused.returncode == 1 and "may not reveal" in refused.stderr
    revealed = claims(
        c, "dlq", "show", ids["ref.patients"], "--reveal", CLAIMS_REVEAL_OPERATORS="ops-anna"
    )
    assert revealed.returncode == 0 and "Zephyrine" in revealed.stdout

    # the cause is fixed by replaying through the default partitioner
    replayed = claims(c, "dlq", "replay", ids["ref.patients"], ids["sessions.completed"])
    assert replayed.returncode == 0, replayed.stderr
    assert "replayed 2 dead letter(s)" in replayed.stdout
    enriched = c.read("sessions.enriched").wait_for(1, worker=worker)[0]
    assert enriched.json["session_key"] == "c1:s1"
    again = claims(c, "dlq", "replay", ids["sessions.completed"])
    assert again.returncode == 1 and "already replayed" in again.stderr

    audit = c.read("ops.audit").wait_for(2)
    actions = [(m.json["action"], m.json["operator"], m.json["count"]) for m in audit]
    assert ("dlq-reveal", "ops-anna", 1) in actions and ("dlq-replay", "ops-anna", 2) in actions
    replayed_msg = [
        m for m in c.read("sessions.completed").wait_for(2) if m.header("claims.replay.from")
    ]
    assert replayed_msg and replayed_msg[0].header("claims.replay.count") == "1"
    assert replayed_msg[0].partition == right

    purged = claims(c, "dlq", "purge", "--topic", "sessions.completed", "--yes")
    assert purged.returncode == 0 and "marked 1" in purged.stdout
    remaining = json.loads(claims(c, "dlq", "list", "--json").stdout)["dead_letters"]
    assert [r["original_topic"] for r in remaining] == ["ref.patients"]
    everything = json.loads(claims(c, "dlq", "list", "--all-states", "--json").stdout)
    assert len(everything["dead_letters"]) == 2, "purging never deletes the evidence"
