"""Deposits matched to 835s on the real broker: an 835 and a bank's BAI2 file ingested
with the commands, the match, the unremitted work item and the report."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.broker_support import REPO, Cluster

SAMPLE_835 = REPO / "tests" / "data" / "835" / "synthetic-bom-whitespace.835"
# BPR02 100.00 ACH, BPR16 2024-03-15 (a Friday), TRN*1*EFT0000456*1512345678
BANK_FILE = """01,021000021,CLINIC,240319,0700,1,,,2/
02,CLINIC,021000021,1,240318,2400,USD,2/
03,000123456789,USD,/
16,165,10000,Z,B0001,,HCCLAIMPMT
88,TRN*1*BNK0EFT0000456*1512345678\\
16,165,4321,Z,B0002,,HCCLAIMPMT
88,TRN*1*EFT7777777*1512345678\\
49,14321,6/
98,14321,1,8/
99,14321,1,10/
"""


def test_an_835_and_its_deposit_match_and_money_with_no_835_is_a_work_item(
    cluster: Cluster, tmp_path: Path
) -> None:
    c = cluster
    worker = c.start_worker("reconcile")
    ingested = c.cli("ingest", "835", str(SAMPLE_835))
    assert ingested.returncode == 0, ingested.stderr
    bank = tmp_path / "bank.bai2"
    bank.write_text(BANK_FILE)
    loaded = c.cli("ingest", "deposits", str(bank))
    assert loaded.returncode == 0, loaded.stderr
    assert "bai2, 2 deposit(s) of 143.21 published" in loaded.stdout

    reconciled = c.read("deposits.reconciled").wait_for(1, worker=worker, timeout=45)
    assert len(reconciled) == 1, [m.json for m in reconciled]
    (matched,) = reconciled
    assert matched.json["rule"] == "trace-with-prefix"
    assert [r["trace_number"] for r in matched.json["remittances"]] == ["EFT0000456"]
    # the matched deposit may have been raised before its 835 arrived: then it is closed
    (unremitted,) = c.read("deposits.unremitted").wait_for(
        1, where=lambda m: m.value is not None and "EFT7777777" in m.value.decode(), worker=worker
    )
    orphan = unremitted.json["deposit"]["deposit_id"]
    deadline = time.monotonic() + 20
    while True:
        queue = json.loads(c.cli("queue", "list", "deposits.unremitted", "--json").stdout)
        if [i["deposit"] for i in queue["items"]] == [orphan] or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert [i["deposit"] for i in queue["items"]] == [orphan]
    listed = c.cli("report", "deposits", "--month", "2024-03", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["rows"] == [
        {"payer": "GMHP01", "month": "2024-03", "posted": "100.00", "deposited": "143.21",
         "difference": "43.21", "unfunded": 0, "unremitted": 1},
    ]  # fmt: skip
