"""Paper EOBs (`claims post eob`): a check with an explanation of benefits, posted exactly
like an 835 claim payment, once per payer, check and claim."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from schemas.paper_eob import PaperEob
from schemas.reconciliation import ClaimDenied, RemittanceClaim
from tests.unit.test_reconcile import NOW, adjudicated, ledger_with, submitted
from workers.cli import main
from workers.inbound.paper_eobs import EobReport, read, remittance_of
from workers.remits import balances, reconcile

D = Decimal


def eob(pcn: str, **over: object) -> dict[str, object]:
    data: dict[str, object] = {
        "schema_version": 1,
        "patient_control_number": pcn,
        "payer_id": "wcstate",
        "payer_name": "State Fund WC",
        "check_number": "100234",
        "check_date": "2026-03-28",
        "payer_claim_number": "WC-88",
        "charge": "170.00",
        "paid": "120.00",
        "adjustments": [{"group": "CO", "reason": "P12", "amount": "50.00"}],
    }
    data.update(over)
    return data


def test_an_eob_posts_like_an_835_payment_and_once() -> None:
    sub = submitted()
    pcn = sub.patient_control_number
    payment = remittance_of(PaperEob.parse_json(json.dumps(eob(pcn))))
    step = reconcile.on_claim_payment(ledger_with(sub), payment, NOW)
    posted = adjudicated(step).posting
    assert (posted.category, posted.paid, posted.payer_claim_number) == (
        "paid-in-full", D(120), "WC-88"
    )  # fmt: skip
    row = balances.claim_balance(step.ledger, None, NOW)
    assert row.problem() is None and (row.paid, row.contractual) == (D(120), D(50))
    again = remittance_of(PaperEob.parse_json(json.dumps(eob(pcn))))
    assert again.posting_id == payment.posting_id
    assert reconcile.on_claim_payment(step.ledger, again, NOW).duplicate
    other_check = remittance_of(PaperEob.parse_json(json.dumps(eob(pcn, check_number="100235"))))
    assert other_check.posting_id != payment.posting_id


def test_an_eob_line_denial_is_a_denial_item() -> None:
    sub = submitted()
    pcn = sub.patient_control_number
    lines = sub.claim.lines
    body = eob(
        pcn,
        paid="60.00",
        adjustments=[],
        lines=[
            {"procedure": lines[0].procedure, "units": lines[0].units,
             "charge": str(lines[0].charge), "paid": "60.00",
             "adjustments": [{"group": "CO", "reason": "45",
                              "amount": str(lines[0].charge - 60)}]},
            {"procedure": lines[1].procedure, "units": lines[1].units,
             "charge": str(lines[1].charge), "paid": "0.00",
             "adjustments": [{"group": "CO", "reason": "50", "amount": str(lines[1].charge)}]},
        ],
    )  # fmt: skip
    step = reconcile.on_claim_payment(
        ledger_with(sub), remittance_of(PaperEob.parse_json(json.dumps(body))), NOW
    )
    denied = [o for o in step.outputs if isinstance(o, ClaimDenied)]
    assert [d.scope for d in denied] == ["line"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"paid": "130.00"}, "charge must equal paid + every adjustment"),
        ({"check_number": "a b"}, "check_number"),
        ({"adjustments": [{"group": "XX", "reason": "45", "amount": "50.00"}]}, "group"),
    ],
)
def test_bad_eob_lines_are_named_and_the_good_ones_posted(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    path = tmp_path / "eobs.jsonl"
    path.write_text(json.dumps(eob("C1AAAA")) + "\n" + json.dumps(eob("C1BBBB", **change)) + "\n")
    report = EobReport()
    records = list(read(path, report))
    assert [r.key for r in records] == [b"C1AAAA"] and report.posted == 1
    [(line, problems)] = report.errors
    assert line == 2 and message in " ".join(problems)
    body = RemittanceClaim.parse_json(records[0].value or b"")
    assert body.source.file_name == "eobs.jsonl"


def test_the_command_validates_and_exits_1_on_a_bad_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "eobs.jsonl"
    path.write_text(json.dumps(eob("C1AAAA")) + "\n" + json.dumps(eob("C1B", paid="1")) + "\n")
    assert main(["post", "eob", "--dry-run", str(path)]) == 1
    out = capsys.readouterr()
    assert "2 claims, 1 valid" in out.out and f"{path}:2:" in out.err
