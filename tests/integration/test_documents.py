"""Superbills and statements on the real broker: a self-pay/HSA session becomes a PDF in
the outbox and an event; `claims superbill` renders one on demand; a statement run
turns the patient share of posted 835s into statements."""

from __future__ import annotations

import hashlib
import io
import json
import stat
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from pypdf import PdfReader

from schemas.billing import billing_key
from tests import factories as f
from tests.broker_support import Cluster
from tests.broker_support import succeeded as ok
from tests.pipeline import billable


def text_of(path: Path) -> str:
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(path.read_bytes())).pages)


def test_an_hsa_session_gets_its_superbill_and_one_can_be_rendered_on_demand(
    cluster: Cluster, tmp_path: Path
) -> None:
    c = cluster
    outbox = tmp_path / "outbox"
    b = billable(
        now=datetime.now(UTC),
        session=f.session(session_id="s7"),
        patient=f.patient(
            payer_id=None,
            coverages=[{"coverage_id": "hsa", "kind": "hsa", "effective_from": "2020-01-01"}],
        ),
    )
    assert not b.billed_to_payer
    # written on charges.billable, as before charges.self-pay existed: the claims
    # stage moves it there, where its superbill is issued (and found on demand)
    c.produce(
        "charges.billable", billing_key(None, b.clinic_id, False), b.model_dump_json().encode()
    )
    worker = c.start_worker("claims", CLAIMS_OUTBOX_DIR=str(outbox))
    (issued,) = c.read("documents.issued").wait_for(1, worker=worker, timeout=60)
    (moved,) = c.read("charges.self-pay").wait_for(1, worker=worker)
    assert moved.key == b"c1" and moved.value == b.model_dump_json().encode()
    body = issued.json
    assert body["event_type"] == "superbill.issued" and body["session_key"] == "c1:s7"
    path = Path(body["path"])
    assert path.parent == outbox / "superbills" / "c1"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert body["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    text = text_of(path)
    assert "SUPERBILL" in text and f"Total charges {b.charge_total:.2f}" in text
    # nothing is known to be paid when the visit is billed
    assert Decimal(body["total_charge"]) == b.charge_total == Decimal(body["balance"])
    assert Decimal(body["amount_paid"]) == 0
    assert c.read("claims.submitted").settle(quiet=1) == [], "no claim for an HSA session"

    # the front desk records the patient's payment for the visit; on demand, the
    # superbill shows what was actually paid
    payments = tmp_path / "payments.jsonl"
    payment = {"schema_version": 1, "clinic_id": "c1", "patient_id": "pt1", "amount": "100.00",
               "paid_on": b.date_of_service.isoformat(), "method": "hsa", "reference": "HSA-77",
               "session_id": "s7"}  # fmt: skip
    payments.write_text(json.dumps(payment) + "\n")
    ok(c.cli("ingest", "payments", str(payments)))
    on_demand = tmp_path / "copy.pdf"
    out = ok(c.cli("superbill", "c1:s7", "--out", str(on_demand)))
    again = text_of(on_demand)
    assert "HSA" in out and "paid 100.00" in out
    assert "Amount paid 100.00" in again
    assert f"Balance due {b.charge_total - 100:.2f}" in again
    missing = c.cli("superbill", "c1:nope")
    assert missing.returncode == 1 and "no self-pay or HSA session c1:nope" in missing.stderr


def test_a_statement_run_issues_one_statement_per_patient_once(
    cluster: Cluster, tmp_path: Path
) -> None:
    from tests.integration.test_claims import PARTNER, send_billable

    c = cluster
    outbox = tmp_path / "outbox"
    c.produce("ref.partners", "rcv1", {**PARTNER, "batch_max_claims": 2})
    for n, dos in ((1, f.DOS), (2, (f.TODAY - timedelta(days=4)).isoformat())):
        send_billable(c, f"s{n}", patient_id="pt1", dos=dos)  # one patient, two days
    worker = c.start_worker(
        "claims", "reconcile", CLAIMS_OUTBOX_DIR=str(outbox), CLAIMS_CLAIMS_TICK_INTERVAL_S="0.5"
    )
    c.read("claims.submitted").wait_for(2, worker=worker, timeout=90)
    (file_837,) = list((outbox / "rcv1").iterdir())
    remit = tmp_path / "paid.835"
    rules = tmp_path / "rules.json"
    from tests.unit.test_payer_sim import BASE

    share = {"copay": "12.00", "coinsurance_percent": "10"}
    rules.write_text(
        json.dumps({"version": 1, "default": {**BASE, "patient_share": share}, "payers": {}})
    )
    remit.write_text(ok(c.cli("simulate-payer", str(file_837), "--rules", str(rules))))
    ok(c.cli("ingest", "835", str(remit)))
    c.read("claims.adjudicated").wait_for(2, worker=worker, timeout=60)
    period = datetime.now(UTC).strftime("%Y-%m")
    run = ("statements", "--period", period, "--json")
    first = json.loads(ok(c.cli(*run, CLAIMS_OUTBOX_DIR=str(outbox))))
    assert len(first) == 1 and first[0]["status"] == "issued" and first[0]["claims"] == "2"
    pdf = outbox / "statements" / "c1" / first[0]["file"]
    assert stat.S_IMODE(pdf.stat().st_mode) == 0o600
    text = text_of(pdf)
    assert f"Amount due {first[0]['total due']}" in text and "PATIENT STATEMENT" in text
    events = c.read("documents.issued").wait_for(1, timeout=30)
    assert events[0].json["event_type"] == "statement.issued"
    assert events[0].json["total_due"] == first[0]["total due"]
    again = json.loads(ok(c.cli(*run, CLAIMS_OUTBOX_DIR=str(outbox))))
    assert [r["status"] for r in again] == ["issued before"]
    assert len(c.read("documents.issued").settle(quiet=1)) == 1
