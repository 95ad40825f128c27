"""`claims queue`: list and retry work queues on the real broker, without double billing."""

from __future__ import annotations

import json
import subprocess

from tests import factories as f
from tests.broker_support import Cluster


def claims(c: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return c.cli(*args, CLAIMS_OPERATOR="ops-ben")


def test_a_rejected_session_is_retried_after_its_cause_is_fixed(cluster: Cluster) -> None:
    c = cluster
    c.produce("ref.clinics", "c1", f.clinic())
    c.produce("ref.therapists", "c1:t1", f.therapist())
    c.produce("ref.payers", "p1", f.payer())
    lapsed = f.patient()
    lapsed["coverages"][0]["effective_to"] = "2020-12-31"
    c.produce("ref.patients", "c1:pt1", lapsed)
    c.produce("ref.prescriptions", "c1:rx1", f.prescription())
    c.produce("sessions.completed", "c1:pt1", f.session(session_id="s1"))
    unknown = f.session(session_id="s2", patient_id="pt9")
    c.produce("sessions.completed", "c1:pt9", unknown)  # an unknown patient: held
    worker = c.start_worker("enrich")
    c.read("sessions.rejected").wait_for(1, worker=worker)
    c.read("sessions.held").wait_for(
        1, where=lambda m: m.json["session_key"] == "c1:s2", worker=worker
    )

    held = json.loads(claims(c, "queue", "list", "sessions.held", "--json").stdout)["items"]
    assert [i["reason"] for i in held] == ["unknown-patient"]
    rejected = json.loads(claims(c, "queue", "list", "sessions.rejected", "--json").stdout)
    assert [i["reason"] for i in rejected["items"]] == ["no-active-coverage"]
    shown = claims(c, "queue", "show", rejected["items"][0]["id"])
    assert shown.returncode == 0 and '"session_key": "c1:s1"' in shown.stdout

    c.produce("ref.patients", "c1:pt1", f.patient())  # the coverage is corrected
    retried = claims(c, "queue", "retry", "sessions.rejected", "--reason", "no-active-coverage")
    assert retried.returncode == 0, retried.stderr
    assert "asked for 1 rejected session" in retried.stdout
    enriched = c.read("sessions.enriched").wait_for(1, worker=worker)
    assert enriched[0].json["session_key"] == "c1:s1"

    after = json.loads(claims(c, "queue", "list", "sessions.rejected", "--json").stdout)
    assert after["items"] == []
    again = claims(c, "queue", "retry", "sessions.rejected")
    assert "asked for 0" in again.stdout
    assert len(c.read("sessions.enriched").settle(quiet=3)) == 1, "never billed twice"
    audit = c.read("ops.audit").wait_for(2)
    assert {m.json["action"] for m in audit} == {"queue-retry"}
    assert audit[0].json["operator"] == "ops-ben" and audit[0].json["count"] == 1
