"""835 files -> messages for remits.835.inbound (and dead letters for unbalanced ones)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edi.segments import X12Error
from workers.inbound.remittances import H_FILE, H_SHA, file_sha256, messages
from workers.runtime.dead_letters import dead_letter_info

DATA = Path(__file__).resolve().parents[1] / "data" / "835"
BALANCED = DATA / "LinuxForHealth_x12__src_tests_resources_835_005010X221A1_managed-care.835"
UNBALANCED = DATA / "moov-io_x12__examples_example_5010_835_sample2.txt"


def test_a_balanced_transaction_becomes_one_message_per_claim_plus_a_summary() -> None:
    report, records = messages(BALANCED)
    out = list(records)
    assert [t.balanced for t in report.transactions] == [True]
    claims = [r for r in out if json.loads(r.value)["event_type"] == "remit.claim-payment"]
    summaries = [r for r in out if json.loads(r.value)["event_type"] == "remit.transaction"]
    assert len(claims) == report.transactions[0].claims and len(summaries) == 1
    for r in claims:
        body = json.loads(r.value)
        assert r.topic == "remits.835.inbound"
        assert r.key == body["claim"]["patient_control_number"].encode()
        assert body["remittance_id"] == report.transactions[0].remittance_id
        assert dict(r.headers)[H_FILE] == BALANCED.name.encode()
        assert dict(r.headers)[H_SHA] == file_sha256(BALANCED).encode()
        assert len(r.value) < 100_000
    assert [json.loads(r.value)["index"] for r in claims] == list(range(1, len(claims) + 1))
    assert summaries[0].key == report.transactions[0].remittance_id.encode()


def test_an_unbalanced_transaction_is_dead_lettered_with_its_equations() -> None:
    report, records = messages(UNBALANCED)
    out = list(records)
    assert report.unbalanced and out
    for r in out:
        assert r.topic == "remits.835.inbound.dlq"
        info = dead_letter_info(r.headers)
        assert info["error.reason"] == "unbalanced"
        assert "claim 1234567-001: expected 2998.00, file says 4000.00" in info["error.message"]


def test_the_same_payment_gets_the_same_remittance_id() -> None:
    first, _ = messages(BALANCED)
    again, _ = messages(BALANCED)
    assert first.transactions[0].remittance_id == again.transactions[0].remittance_id


def test_a_malformed_file_raises_before_anything_is_produced(tmp_path: Path) -> None:
    bad = tmp_path / "bad.835"
    bad.write_text("ISA*00*short~")
    with pytest.raises(X12Error):
        messages(bad)
