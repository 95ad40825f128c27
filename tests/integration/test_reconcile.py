"""Reconciliation on the real broker: claims.submitted + 835 files -> outcomes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from edi.x837p import read_837p, render_837p
from schemas.claims import Claim, ControlNumbers
from schemas.submission import ClaimSubmitted
from tests import factories as f
from tests.broker_support import REPO, Cluster, free_port
from tests.pipeline import billable
from workers.claims.assemble import assemble_claim
from workers.commands.edi837 import builtin_test_partner
from workers.payer_sim.adjudicate import adjudicate, render_answers
from workers.payer_sim.rules import default_rules, load_rules

NOW = datetime.now(UTC)


def claims(n: int) -> list[Claim]:
    return [
        assemble_claim(
            [
                billable(
                    session=f.session(session_id=f"s{i}", patient_id=f"p{i}"),
                    patient=f.patient(patient_id=f"p{i}"),
                    now=NOW,
                )
            ]
        )
        for i in range(1, n + 1)
    ]


def submitted(claim: Claim) -> bytes:
    return (
        ClaimSubmitted.of(
            claim,
            file_name="test.x12",
            control_numbers=ControlNumbers(interchange=1, group=1, transaction=1),
            submitted_at=NOW,
        )
        .model_dump_json()
        .encode()
    )


def answer(batch: list[Claim], path: Path, reversed_pcn: str | None = None) -> Path:
    text = render_837p(
        batch,
        builtin_test_partner(batch[0].receiver_id),
        ControlNumbers(interchange=7, group=7, transaction=7),
        NOW,
    ).text
    rules = default_rules().model_dump(mode="json")
    rules["payers"] = {}  # the shipped per-payer blocks would override these defaults
    rules["default"]["denials"] = [
        {
            "id": "necessity",
            "kind": "not-medically-necessary",
            "select": {"claims": [batch[-1].patient_control_number]},
        }
    ]
    rules["default"]["reversals"] = {
        "select": {"claims": [reversed_pcn] if reversed_pcn else []},
        "corrected_allowed_percent": "90",
        "include_original": True,
    }
    answers = adjudicate(list(read_837p(text.encode())), load_rules(json.dumps(rules)), now=NOW)
    path.write_text(render_answers(answers, now=NOW))
    return path


def provider_adjustments(batch: list[Claim], path: Path, items: list[tuple[str, str, str]]) -> Path:
    """A later 835 from the same payer with no claim payments, only PLB items
    ``(reason, reference, amount)``; BPR02 = - the PLB total."""
    import dataclasses
    from decimal import Decimal

    from edi.x835 import check_balance
    from schemas.remittance import ProviderAdjustment

    text = render_837p(
        batch,
        builtin_test_partner(batch[0].receiver_id),
        ControlNumbers(interchange=8, group=8, transaction=8),
        NOW,
    ).text
    [payer_answer] = adjudicate(list(read_837p(text.encode())), default_rules(), now=NOW)
    advice = payer_answer.advices[0]
    remittance = advice.remittance
    plb = tuple(
        ProviderAdjustment(
            provider_id=remittance.provider_adjustments[0].provider_id
            if remittance.provider_adjustments
            else "1234567893",
            date=NOW.date(),
            reason=reason,
            reference=reference,
            amount=Decimal(amount),
        )
        for reason, reference, amount in items
    )
    payment = remittance.payment.model_copy(
        update={"amount": -sum((a.amount for a in plb), Decimal(0)), "trace_number": "PLB0001"}
    )
    remittance = remittance.model_copy(
        update={"claims": (), "provider_adjustments": plb, "payment": payment}
    )
    remittance = remittance.model_copy(update={"balance": check_balance(remittance)})
    details = advice.details.model_copy(update={"claims": ()})
    advice = advice.model_copy(update={"remittance": remittance, "details": details})
    answer_only = dataclasses.replace(payer_answer, advices=(advice,))
    path.write_text(render_answers([answer_only], now=NOW))
    return path


def claims_cli(c: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return c.cli(*args)


def test_submitted_claims_and_an_835_reconcile(cluster: Cluster, tmp_path: Path) -> None:
    c = cluster
    batch = claims(4)
    for claim in batch[:3]:  # the 4th is submitted only after its payment arrived
        c.produce("claims.submitted", claim.patient_control_number, submitted(claim))
    remit = answer(batch, tmp_path / "remit.835", reversed_pcn=batch[0].patient_control_number)
    worker = c.start_worker("reconcile")
    ingest = claims_cli(c, "ingest", "835", str(remit))
    assert ingest.returncode == 0, ingest.stderr
    assert "claim payment(s) published" in ingest.stdout

    adjudicated = c.read("claims.adjudicated")
    late = batch[3].patient_control_number
    unmatched = (
        c.read("remits.unmatched")
        .wait_for(1, where=lambda m: m.json["patient_control_number"] == late, worker=worker)[0]
        .json
    )
    assert unmatched["reason"] == "unknown-claim"
    # 3 claims posted; the first one three times (original, reversal, correction)
    adjudicated.wait_for(5, worker=worker)
    c.produce("claims.submitted", batch[3].patient_control_number, submitted(batch[3]))
    adjudicated.wait_for(6, worker=worker)
    latest = {m.json["patient_control_number"]: m.json for m in adjudicated.settle(quiet=2)}
    assert set(latest) == {cl.patient_control_number for cl in batch}
    for body in latest.values():
        assert body["outstanding"] == "0.00"
        charge, paid = float(body["charge"]), float(body["paid_total"])
        assert charge == paid + float(body["adjusted_total"])
    categories = [
        m.json["posting"]["category"]
        for m in adjudicated.messages
        if m.json["patient_control_number"] == batch[0].patient_control_number
    ]
    assert "reversed" in categories and len(categories) == 3
    denied = c.read("claims.denied").wait_for(1, worker=worker)[0].json
    assert denied["patient_control_number"] == batch[3].patient_control_number
    assert denied["reasons"][0]["code"] == "50"
    numbers = c.read("claims.commands").wait_for(4, worker=worker)
    assert {m.json["action"] for m in numbers} == {"payer-claim-number"}

    # the same file again: recognised, nothing posted twice
    again = claims_cli(c, "ingest", "835", str(remit))
    assert again.returncode == 0
    worker.wait_log(lambda e: e.get("event") == "remittance already received: posted once")
    assert len(adjudicated.settle(quiet=3)) == 6

    report = claims_cli(c, "report", "denials", "--csv")
    assert report.returncode == 0 and "CO-50" in report.stdout

    # months later the payer takes 30.00 back from a claim, naming its own claim
    # number, pays interest naming nobody we know, and the 835 balances on the PLBs
    taken = batch[1].patient_control_number
    payer_number = next(
        m.json["payer_claim_number"] for m in numbers if m.json["patient_control_number"] == taken
    )
    later = provider_adjustments(
        batch, tmp_path / "plb.835", [("WO", payer_number, "30.00"), ("L6", "NOBODY", "-50.00")]
    )
    ingest = claims_cli(c, "ingest", "835", str(later))
    assert ingest.returncode == 0, ingest.stderr
    raised = c.read("remits.provider-adjustments").wait_for(1, worker=worker)[0].json
    assert (raised["item"]["adjustment"]["reason"], raised["item"]["file_name"]) == (
        "L6",
        "plb.835",
    )
    worker.wait_log(lambda e: e.get("event") == "provider-level adjustment linked")
    queue = claims_cli(c, "queue", "list", "remits.provider-adjustments", "--json")
    assert queue.returncode == 0, queue.stderr
    assert [i["reason"] for i in json.loads(queue.stdout)["items"]] == ["L6 interest owed"]
    plb_report = claims_cli(c, "report", "provider-adjustments", "--csv")
    assert plb_report.returncode == 0, plb_report.stderr
    [row] = [r for r in plb_report.stdout.splitlines()[1:] if ",30.00," in r]
    assert ",50.00,30.00,0.00,30.00," in row and row.endswith(",1")  # interest, recouped ...
    ar = claims_cli(c, "report", "denials", "--csv")
    assert taken in ar.stdout and "PLB-WO" in ar.stdout


def test_the_inbox_moves_files_to_processed_or_failed(cluster: Cluster, tmp_path: Path) -> None:
    c = cluster
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    answer(claims(2), inbox / "good.835")
    (inbox / "bad.835").write_text("ISA*00*truncated~")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "worker", "inbox"],
        cwd=REPO,
        env=c.env(CLAIMS_INBOX_DIR=str(inbox), CLAIMS_WEB_PORT=str(port)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            processed = list((inbox / "processed").glob("*good.835"))
            failed = list((inbox / "failed").glob("*bad.835"))
            if processed and failed:
                break
            time.sleep(0.2)
        assert processed and failed, "files not moved in time"
        reason = (inbox / "failed" / (failed[0].name + ".reason")).read_text()
        assert "ISA" in reason
        assert not (inbox / "good.835").exists() and not (inbox / "bad.835").exists()
        payments = c.read("remits.835.inbound").wait_for(3)
        assert {m.header("claims.source.file") for m in payments} == {"good.835"}
        base = f"http://127.0.0.1:{port}/claims"
        assert json.loads(urllib.request.urlopen(base + "/live").read())["live"] is True
        assert json.loads(urllib.request.urlopen(base + "/ready").read())["ready"] is True
        metrics = urllib.request.urlopen(base + "/metrics").read().decode()
        assert 'claims_inbox_files_total{result="processed"} 1.0' in metrics
        assert 'claims_inbox_files_total{result="failed"} 1.0' in metrics
    finally:
        proc.terminate()
        proc.wait(10)
