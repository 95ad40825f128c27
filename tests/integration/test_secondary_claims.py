"""Coordination of benefits on the real broker: the primary's 835 makes the claims and
reconcile processors send a secondary 837P to the next payer's receiver; a crossover
(the primary forwarded the claim itself) suppresses ours; reconciliation follows both."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

from edi.segments import read_segments
from edi.validate import validate_x12
from schemas.billing import billing_key
from tests.broker_support import Cluster
from tests.broker_support import succeeded as ok
from tests.integration.test_claims import PARTNER
from tests.unit.test_secondary_claims import balanced_by_segments, commercial_then_secondary_plan

PARTNER_2 = {
    **PARTNER,
    "receiver_id": "rcv2",
    "name": "Second Clearinghouse",
    "receiver_code": "SECONDCLEAR",
    "isa_receiver_id": "SECONDCLEAR",
    "gs_receiver_code": "SECONDCLEAR",
}


def test_primary_answer_sends_the_secondary_claim_and_a_crossover_does_not(
    cluster: Cluster, tmp_path: Path
) -> None:
    c = cluster
    outbox = tmp_path / "outbox"
    c.produce("ref.partners", "rcv1", {**PARTNER, "batch_max_claims": 2})
    c.produce("ref.partners", "rcv2", {**PARTNER_2, "batch_max_claims": 1})
    sources = [
        commercial_then_secondary_plan(f"pt{n}", f"s{n}", now=datetime.now(UTC)) for n in (1, 2)
    ]
    for b in sources:
        assert b.receiver_id == "rcv1" and b.enriched.next_payer is not None
        c.produce(
            "charges.billable",
            billing_key(b.receiver_id, b.clinic_id, True),
            b.model_dump_json().encode(),
        )
    env = {"CLAIMS_OUTBOX_DIR": str(outbox), "CLAIMS_CLAIMS_TICK_INTERVAL_S": "0.5"}
    worker = c.start_worker("claims", "reconcile", **env)
    submitted = c.read("claims.submitted")
    primaries = [m.json for m in submitted.wait_for(2, worker=worker, timeout=90)]
    (primary_file,) = list((outbox / "rcv1").iterdir())
    text = primary_file.read_text()
    assert text.count("SBR*S*") == 2, "each primary claim names the next payer in 2320"

    # the primary payer answers; the second claim's answer is a crossover (CLP02 19)
    answer = c.cli("simulate-payer", str(primary_file))
    remit = ok(answer)
    crossed = sorted(p["patient_control_number"] for p in primaries)[1]
    kept = sorted(p["patient_control_number"] for p in primaries)[0]
    assert f"CLP*{crossed}*1*" in remit
    remit = remit.replace(f"CLP*{crossed}*1*", f"CLP*{crossed}*19*")
    path_835 = tmp_path / "primary.835"
    path_835.write_text(remit)
    ok(c.cli("ingest", "835", str(path_835)))

    (secondary,) = submitted.wait_for(
        1, where=lambda m: m.json["receiver_id"] == "rcv2", worker=worker, timeout=90
    )
    body = secondary.json
    assert body["patient_control_number"] == kept + "S"
    assert body["claim"]["primary_claim"] == kept and body["frequency"] == "1"
    (second_file,) = list((outbox / "rcv2").iterdir())
    second_text = second_file.read_text()
    report = validate_x12(second_text)
    assert report.ok, [str(e) for e in report.errors]
    balanced_by_segments(second_text)
    ids = [s.id for s in read_segments(second_text.encode())]
    assert ids.count("SVD") == len(body["claim"]["lines"]) and "AMT" in ids
    adjudicated = c.read("claims.adjudicated")
    (forwarded,) = adjudicated.wait_for(
        1, where=lambda m: m.json["patient_control_number"] == crossed, worker=worker, timeout=60
    )
    assert forwarded.json["posting"]["category"] == "forwarded"
    assert submitted.settle(quiet=3) and not any(
        m.json["patient_control_number"] == crossed + "S" for m in submitted.messages
    ), "the crossover claim gets no secondary from us"

    # the secondary payer answers too; the COB report follows the claim through both
    ok_remit = ok(c.cli("simulate-payer", str(second_file)))
    path_2 = tmp_path / "secondary.835"
    path_2.write_text(ok_remit)
    ok(c.cli("ingest", "835", str(path_2)))
    adjudicated.wait_for(
        1,
        where=lambda m: m.json["patient_control_number"] == kept + "S",
        worker=worker,
        timeout=60,
    )
    rows = list(csv.reader(io.StringIO(ok(c.cli("report", "cob", "--csv")))))
    header, data = rows[0], {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert header[0] == "claim" and set(data) == {kept, crossed}
    assert data[kept]["secondary claim"] == kept + "S"
    assert data[kept]["status"] == "secondary paid"
    assert data[crossed]["status"].startswith("crossover")
    assert c.read("claims.commands.dlq").settle(quiet=1) == []
