"""No PHI where operators look by default: logs, metrics, status, dead-letter listings.

A small pipeline runs on the real broker with its synthetic patients, plus patient
records that fail validation and therefore sit on a dead-letter topic with names,
birth dates and member ids inside.  Every surface an operator or a monitoring
system sees without ``--reveal`` is then searched for those values.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import urllib.request
from typing import Any

from tests.broker_support import REPO, Cluster, free_port
from tests.fault.pipeline import (
    dataset,
    send_late_prescriptions,
    send_sessions,
    wait_settled,
    worker_env,
)
from workers.runtime.logging import MASK

LEAKY_PATIENT = {
    "schema_version": 1,
    "clinic_id": "c01",
    "patient_id": "p900",
    "name": {"first_name": "Zephyrine", "last_name": "Quillfeather"},
    "birth_date": "1961-07-04",
    "sex": "Q",  # not a code the contract allows: the record is dead-lettered whole
    "address": {"line1": "77 Nightjar Lane", "city": "Springfield", "state": "IL", "zip": "62701"},
    "phone": "5550193377",
    "coverages": [
        {"coverage_id": "cov1", "kind": "insurance", "member_id": "MZQ4471902",
         "payer_id": "acme", "effective_from": "2020-01-01"}
    ],
}  # fmt: skip
UNPARSABLE_PATIENT = (
    b'{"clinic_id": "c01", "patient_id": "p901", "name": {"first_name": "Orsolya", '
    b'"last_name": "Vantongeren"}, "birth_date": "1958-11-30", "member_id": "MOV8812'
)


def phi_values(patients: list[dict[str, Any]]) -> set[str]:
    values = {"Zephyrine", "Quillfeather", "1961-07-04", "77 Nightjar Lane", "MZQ4471902"}
    values |= {"Orsolya", "Vantongeren", "1958-11-30", "MOV8812"}
    for p in patients:
        values.add(f"{p['name']['first_name']} {p['name']['last_name']}")
        values.add(p["name"]["last_name"])
        values.add(p["birth_date"])
        values.add(p["phone"])
        values.add(p["address"]["line1"])
        for cov in p["coverages"]:
            if cov.get("member_id"):
                values.add(cov["member_id"])
    return values


def claims_cli(c: Cluster, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "workers.cli", *args],
        cwd=REPO,
        env=c.env(CLAIMS_OPERATOR="ops-test"),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def test_operators_see_no_phi_by_default(cluster: Cluster) -> None:
    c = cluster
    data = dataset(c, sessions=40, seed=21)
    c.produce("ref.patients", "c01:p900", LEAKY_PATIENT)
    c.produce("ref.patients", "c01:p901", UNPARSABLE_PATIENT)
    web_port = free_port()
    worker = c.start_worker("all", **worker_env(c), CLAIMS_WEB_PORT=str(web_port))
    send_sessions(c, data)
    send_late_prescriptions(c, data)
    wait_settled(c, data.expected["completed_events"], workers=[worker])
    dead_patients = c.read("ref.patients.dlq").wait_for(2, worker=worker)

    surfaces: dict[str, str] = {}
    for path in ("/claims/metrics", "/claims/status", "/claims/consumer", "/claims/live"):
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}{path}", timeout=10) as r:
            surfaces[path] = r.read().decode()
    listed = claims_cli(c, "dlq", "list", "--json")
    surfaces["dlq list"] = listed
    surfaces["dlq list (table)"] = claims_cli(c, "dlq", "list")
    for row in json.loads(listed)["dead_letters"]:
        surfaces[f"dlq show {row['id']}"] = claims_cli(c, "dlq", "show", row["id"])
    surfaces["dead-letter headers"] = "\n".join(
        f"{k}={v.decode(errors='replace')}" for m in dead_patients for k, v in m.headers.items()
    )
    worker.stop()
    surfaces["worker log"] = worker.log_path.read_text(errors="replace")

    # the dead letters are really there, with the PHI in their (unshown) payloads
    assert b"Quillfeather" in b"".join(m.value or b"" for m in dead_patients)
    assert "ref.patients" in listed and "schema-invalid" in listed
    assert "claims_messages_total{" in surfaces["/claims/metrics"]

    leaks = {
        (where, value)
        for where, text in surfaces.items()
        for value in phi_values(data.patients)
        if value in text
    }
    assert not leaks, sorted(leaks)[:10]

    # EDI files were written owner-only
    files = list((c.state_dir / "outbox").rglob("*.x12"))
    assert files
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert all(
        stat.S_IMODE(d.stat().st_mode) & 0o077 == 0
        for d in (c.state_dir / "outbox").rglob("*")
        if d.is_dir()
    )


def test_the_patient_payload_is_shown_only_to_authorised_operators(cluster: Cluster) -> None:
    """``--reveal`` is refused for an operator not on the list, and masks nothing when allowed."""
    c = cluster
    c.produce("ref.patients", "c01:p900", LEAKY_PATIENT)
    worker = c.start_worker("enrich", **worker_env(c))
    c.read("ref.patients.dlq").wait_for(1, worker=worker)
    [row] = json.loads(claims_cli(c, "dlq", "list", "--json"))["dead_letters"]
    refused = subprocess.run(
        [sys.executable, "-m", "workers.cli", "dlq", "show", row["id"], "--reveal"],
        cwd=REPO,
        env=c.env(CLAIMS_OPERATOR="ops-test"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 1 and "Quillfeather" not in refused.stdout + refused.stderr
    allowed = subprocess.run(
        [sys.executable, "-m", "workers.cli", "dlq", "show", row["id"], "--reveal"],
        cwd=REPO,
        env=c.env(CLAIMS_OPERATOR="ops-test", CLAIMS_REVEAL_OPERATORS="ops-test"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert allowed.returncode == 0, allowed.stderr
    assert "Quillfeather" in allowed.stdout
    masked = claims_cli(c, "dlq", "show", row["id"])
    assert "Quillfeather" not in masked and "1961-07-04" not in masked
    payload = json.loads(masked.split("\n\nstack trace:")[0])["payload"]
    assert payload["name"] == MASK and payload["birth_date"] == MASK
    assert payload["patient_id"] == "p900"  # identifiers that are not PHI stay readable
