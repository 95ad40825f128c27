"""999 and 277CA acknowledgements on the real broker: our 837 file is answered by the
simulated front door, the answers are ingested with the CLI, and the claims processor
moves each claim to accepted or rejected; a rejected claim is resent as a new original."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from edi.validate import validate_x12
from edi.x999 import parse_999, render_999
from schemas.acknowledgements import ElementError, SegmentError, TransactionResponse
from tests.broker_support import Cluster
from tests.broker_support import succeeded as ok
from tests.integration.test_claims import PARTNER, claims_worker, send_billable


def test_front_door_answers_move_claims_and_a_rejection_is_resent_as_an_original(
    cluster: Cluster, tmp_path: Path
) -> None:
    c = cluster
    outbox, acks = tmp_path / "outbox", tmp_path / "acks"
    c.produce("ref.partners", "rcv1", PARTNER)
    for n in (1, 2, 3):
        send_billable(c, f"s{n}")
    worker = claims_worker(c, outbox)
    submitted = c.read("claims.submitted")
    first = [m.json for m in submitted.wait_for(3, worker=worker, timeout=90)]
    (file_837,) = list((outbox / "rcv1").iterdir())
    pcns = sorted(ev["patient_control_number"] for ev in first)
    rejected_pcn = pcns[1]

    # the payer's front door answers: 999 accepts the file, the 277CA rejects one claim
    ok(c.cli("simulate-payer", str(file_837), "--acknowledge", str(acks), "--reject", rejected_pcn))
    ack_999, ack_277 = acks / f"{file_837.stem}.999", acks / f"{file_837.stem}.277"
    assert validate_x12(ack_999.read_bytes()).ok and validate_x12(ack_277.read_bytes()).ok

    front = c.read("claims.acknowledged")
    rejections = c.read("claims.rejections")
    # out of order: the 277CA before the 999
    assert "3 acknowledgement(s) published for rcv1" in ok(c.cli("ingest", "277", str(ack_277)))
    assert "(1 accepted, 0 rejected)" in ok(c.cli("ingest", "999", str(ack_999)))

    (rejection,) = rejections.wait_for(1, worker=worker, timeout=60)
    body = rejection.json
    assert body["patient_control_number"] == rejected_pcn and body["version"] == 1
    assert body["by"] == "277CA"
    assert {(r["level"], r["code"]) for r in body["reasons"]} == {
        ("claim", "A7:562:85"),
        ("line", "A7:562:85"),
    }
    assert "National Provider Identifier" in body["message"]

    def latest_status() -> dict[str, str]:
        out: dict[str, str] = {}
        for m in front.messages:
            out[m.json["patient_control_number"]] = m.json["status"]
        return out

    front.wait_for(
        3,
        where=lambda m: m.json["status"] in ("accepted", "rejected"),
        worker=worker,
        timeout=60,
    )
    front.settle(quiet=3)
    accepted = {p: "accepted" for p in pcns if p != rejected_pcn}
    assert latest_status() == {**accepted, rejected_pcn: "rejected"}, (
        "the 999 arriving after the 277CA does not pull accepted claims back to received"
    )

    # the same 277CA again changes nothing
    ok(c.cli("ingest", "277", str(ack_277)))
    before = len(front.messages)
    assert len(rejections.settle(quiet=3)) == 1 and len(front.settle(quiet=2)) == before

    listed = json.loads(ok(c.cli("queue", "list", "claims.rejections", "--json")))
    assert [i["claim"] for i in listed["items"]] == [rejected_pcn]

    # fixed: resend as a new original with the same CLM01, never a replacement
    ok(c.cli("claim", "resend", rejected_pcn, "--receiver", "rcv1", "--reason", "NPI fixed"))
    (resent,) = submitted.wait_for(
        1, where=lambda m: m.json["version"] == 2, worker=worker, timeout=90
    )
    again = resent.json
    assert (again["patient_control_number"], again["frequency"], again["replaces"]) == (
        rejected_pcn,
        "1",
        None,
    )
    text = (outbox / "rcv1" / again["file_name"]).read_text()
    assert f"CLM*{rejected_pcn}*" in text and ":B:1*" in text and "REF*F8" not in text
    listed = json.loads(ok(c.cli("queue", "list", "claims.rejections", "--json")))
    assert listed["items"] == []

    # the resent file is refused by a 999 (an element error): rejected again, version 2
    resent_file = outbox / "rcv1" / again["file_name"]
    number = again["control_numbers"]["group"]
    group = parse_999(ack_999.read_bytes()).groups[0]
    refusal = group.model_copy(
        update={
            "group_control_number": str(number),
            "status": "R",
            "accepted": 0,
            "transactions": [
                TransactionResponse(
                    transaction_set_id="837",
                    control_number=f"{number:04d}",
                    implementation="005010X222A1",
                    status="R",
                    error_codes=["5"],
                    segment_errors=[
                        SegmentError(
                            segment_id="NM1",
                            position=9,
                            loop_id="2010",
                            code="8",
                            elements=[ElementError(position="9", reference="67", code="7")],
                        )
                    ],
                )
            ],
        }
    )
    refusal_path = tmp_path / f"{resent_file.stem}.999"
    refusal_path.write_text(
        render_999([refusal], control_number=77, created_at=dt.datetime.now(dt.UTC), usage="T")
    )
    assert "(0 accepted, 1 rejected)" in ok(c.cli("ingest", "999", str(refusal_path)))
    second = rejections.wait_for(
        1, where=lambda m: m.json["version"] == 2, worker=worker, timeout=60
    )[0].json
    assert second["by"] == "999" and "IK3-8/IK4-7" in second["message"]

    # accepted claims with no 835 yet are due for follow-up (0 days here)
    rows = json.loads(ok(c.cli("report", "follow-up", "--days", "0", "--json")))
    assert sorted(r["claim"] for r in rows) == sorted(accepted)
    assert {r["front door"] for r in rows} == {"accepted"}
    # nothing is dead-lettered along the way
    assert c.read("acks.inbound.dlq").settle(quiet=1) == []


def test_the_inbox_takes_999_and_277_files_and_answers_835s_with_a_999(
    cluster: Cluster, tmp_path: Path
) -> None:
    """One watcher for all three kinds, told apart by GS01; 999 files for the 835s."""
    import stat
    import subprocess
    import sys
    import time

    from edi.x837p import read_837p, render_837p
    from schemas.claims import ControlNumbers, TradingPartner
    from tests.broker_support import REPO, free_port
    from tests.integration.test_reconcile import answer, claims
    from workers.payer_sim.acknowledge import acknowledge_837

    c = cluster
    c.produce("ref.partners", "rcv1", PARTNER)
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    inbox.mkdir()
    batch = claims(2)
    text = render_837p(
        batch,
        TradingPartner.parse_json(json.dumps(PARTNER)),
        ControlNumbers(interchange=9, group=9, transaction=9),
        dt.datetime.now(dt.UTC),
    ).text
    front = acknowledge_837(list(read_837p(text.encode())), now=dt.datetime.now(dt.UTC))
    (inbox / "front.999").write_text(front.ack_999)
    (inbox / "front.277").write_text(front.ack_277)
    answer(batch, inbox / "paid.835")
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "worker", "inbox"],
        cwd=REPO,
        env=c.env(
            CLAIMS_INBOX_DIR=str(inbox),
            CLAIMS_OUTBOX_DIR=str(outbox),
            CLAIMS_INBOX_ACKNOWLEDGE_835="true",
            CLAIMS_WEB_PORT=str(free_port()),
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        names = {"front.999", "front.277", "paid.835"}
        while time.monotonic() < deadline:
            done = {p.name.split("_", 1)[1] for p in (inbox / "processed").glob("*_*")}
            if done >= names:
                break
            time.sleep(0.2)
        assert done >= names, f"files not processed in time: {done}"
        acks = c.read("acks.inbound").wait_for(3, timeout=30)
        assert {m.key for m in acks} == {b"rcv1"}
        assert sorted(m.json["event_type"] for m in acks) == [
            "ack.277-claim",
            "ack.277-claim",
            "ack.999-transaction",
        ]
        ack_for_835 = outbox / "999" / "paid.999"
        deadline = time.monotonic() + 10
        while not ack_for_835.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert stat.S_IMODE(ack_for_835.stat().st_mode) == 0o600
        (group,) = parse_999(ack_for_835.read_bytes()).groups
        assert group.functional_id == "HP" and [t.transaction_set_id for t in group.transactions]
        assert validate_x12(ack_for_835.read_bytes()).ok
    finally:
        proc.terminate()
        proc.wait(10)
