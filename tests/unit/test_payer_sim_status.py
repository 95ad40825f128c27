"""The simulated payer answers our 276s with 277 claim status responses
(`workers/payer_sim/claim_status.py`), which the project's 277 reader and x12sdk
both read, and which move the claims' payer status."""

from __future__ import annotations

from pathlib import Path

import pytest

from edi.x276 import X276Error, inquiry_of, read_276, render_276
from edi.x277 import parse_277
from tests import claim_factories as cf
from tests.x12_second_opinion import second_opinion_277
from workers.claims import front_door
from workers.payer_sim.claim_status import answer_276, parse_answer


def a_276() -> str:
    dependent = cf.commercial_claim(
        claim_id="PCN5-1",
        patient_control_number="PCN5",
        patient={
            "relationship": "19",
            "name": cf.person("Child", "Kim"),
            "birth_date": "2012-01-02",
            "sex": "M",
            "address": cf.HOME_ADDRESS,
        },
        lines=[cf.line_data(1, line_control_number="PCN5-1-L1")],
        total_charge="90.00",
    )
    other = cf.commercial_claim(
        claim_id="PCN6-1",
        patient_control_number="PCN6",
        payer={"name": "Other Plan", "payer_id": "OTH01"},
        lines=[cf.line_data(1, line_control_number="PCN6-1-L1")],
        total_charge="90.00",
    )
    inquiries = [
        inquiry_of(cf.commercial_claim(), trace_number="PCN1001-S1", payer_claim_number="ICN7"),
        inquiry_of(dependent, trace_number="PCN5-S1", payer_claim_number=None),
        inquiry_of(other, trace_number="PCN6-S1", payer_claim_number=None),
    ]
    return render_276(inquiries, cf.partner(), control_number=42, created_at=cf.CREATED_AT).text


def test_the_276_reads_back_as_written() -> None:
    [read] = read_276(a_276().encode())
    assert [i.patient_control_number for i in read.inquiries] == ["PCN1001", "PCN5", "PCN6"]
    first, dependent, _ = read.inquiries
    assert (first.trace_number, first.payer_claim_number, str(first.total_charge)) == (
        "PCN1001-S1", "ICN7", "130.00")
    assert dependent.dependent_last == "Child" and dependent.member_id == "MBR123456"
    assert read.envelope.gs_sender_code == cf.partner().gs_sender_code
    with pytest.raises(X276Error, match="GS01 is not HR"):
        read_276(a_276().replace("GS*HR*", "GS*HC*").encode())


def test_each_claim_gets_its_answer_and_the_277_reads_back() -> None:
    answers = {"PCN5": "pending", "PCN6": "documentation"}
    result = answer_276(a_276().encode(), now=cf.CREATED_AT, answers=answers, control_number=9)
    assert result.counts == {"paid": 1, "pending": 1, "documentation": 1}
    assert second_opinion_277(result.text) == []
    assert "*DG~" in result.text and "005010X212" in result.text
    parsed = parse_277(result.text.encode())
    claims = {c.patient_control_number: c for r in parsed.reports for c in r.claims}
    assert {r.kind for r in parsed.reports} == {"277"}
    assert [s.category for s in claims["PCN1001"].statuses] == ["F1"]
    assert claims["PCN1001"].payer_claim_number == "ICN7"
    assert claims["PCN1001"].trace_number == "PCN1001-S1"
    assert [(s.category, s.code) for s in claims["PCN5"].statuses] == [("P1", "20")]
    assert [(s.category, s.code) for s in claims["PCN6"].statuses] == [("R4", "21")]
    states = {pcn: front_door.payer_state(c.statuses[0].category) for pcn, c in claims.items()}
    assert states == {"PCN1001": "finalized", "PCN5": "pending", "PCN6": "information-requested"}


def test_answers_are_named_or_coded_and_only_for_claims_asked_about() -> None:
    assert parse_answer("not-found") == ("A4", "35", None)
    assert parse_answer("R5:21:IL") == ("R5", "21", "IL")
    with pytest.raises(ValueError, match="CATEGORY:CODE"):
        parse_answer("R5:2*1")
    with pytest.raises(ValueError, match="does not ask about"):
        answer_276(a_276().encode(), now=cf.CREATED_AT, answers={"NOPE": "paid"})


def test_the_command_answers_a_276_file_on_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from workers import cli

    path = tmp_path / "ask.276"
    path.write_text(a_276())
    assert cli.main(["simulate-payer", str(path), "--answer", "PCN5=pending"]) == 0
    captured = capsys.readouterr()
    assert second_opinion_277(captured.out) == []
    assert "1 paid" not in captured.err and "2 paid, 1 pending" in captured.err
    assert cli.main(["simulate-payer", str(path), "--answer", "PCN5"]) == 2
