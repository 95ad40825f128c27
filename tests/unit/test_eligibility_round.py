"""The on-demand eligibility round without a broker: which coverages are asked about,
the 270 files (atomic, 0600, durable control numbers, x12sdk-valid), the simulated
payer's 271 answers (active, inactive, limits, an AAA rejection) and their way back
through the inbox's reader to the coverage that asked."""

from __future__ import annotations

import hashlib
import io
import json
import stat
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from edi.x271 import parse_271
from schemas.reference import Clinic, Patient, Payer
from tests import factories as f
from tests.claim_factories import partner
from tests.x12_second_opinion import second_opinion_270
from workers.commands.eligibility import (
    FileSequence,
    inquiries_for,
    simulate_main,
    write_inquiries,
)
from workers.inbound.eligibility import messages
from workers.payer_sim.eligibility import answer_270

DAY = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def model(cls: Any, data: dict[str, Any]) -> Any:
    return cls.parse_json(json.dumps(data))


def patient(patient_id: str, member_id: str, payer_id: str = "p1") -> Patient:
    data = f.patient(patient_id=patient_id, payer_id=payer_id)
    data["coverages"][0]["member_id"] = member_id
    return model(Patient, data)


CLINIC = model(Clinic, f.clinic())
PAYERS = {
    "p1": model(Payer, f.payer("p1")),
    "p2": model(Payer, f.payer("p2", eligibility_service_types=["30", "BE"])),
    "wc": model(Payer, f.payer("wc", kind="workers_comp")),
}


def test_health_plans_are_asked_with_their_service_types_and_pc_payers_are_not() -> None:
    (asked,), _ = inquiries_for(patient("pt1", "M1"), CLINIC, PAYERS, DAY)
    assert asked.inquiry.service_types == ["30", "AE", "BE", "PT"]
    assert asked.inquiry.coverage.key == "c1:pt1:p1" and asked.inquiry.dependent is None
    (custom,), _ = inquiries_for(patient("pt1", "M1", "p2"), CLINIC, PAYERS, DAY)
    assert custom.inquiry.service_types == ["30", "BE"]
    none, skipped = inquiries_for(patient("pt1", "M1", "wc"), CLINIC, PAYERS, DAY)
    assert none == [] and "does not answer 270s" in skipped[0]
    before, skipped = inquiries_for(patient("pt1", "M1"), CLINIC, PAYERS, date(2019, 1, 1))
    assert before == [] and "not active" in skipped[0]


def test_270_files_are_private_atomic_and_numbered_by_a_durable_sequence(tmp_path: Path) -> None:
    sequence = FileSequence(tmp_path / "state")
    partners = {"rcv1": partner()}
    found = [inquiries_for(patient(p, m), CLINIC, PAYERS, DAY)[0][0] for p, m in
             [("pt1", "M1"), ("pt2", "M2")]]  # fmt: skip
    (one,) = write_inquiries(found, partners, tmp_path / "outbox", sequence, NOW)
    (two,) = write_inquiries(found[:1], partners, tmp_path / "outbox", sequence, NOW)
    first, second = Path(one.path), Path(two.path)
    # what edi.outbound says of them, so a partner's mailbox worker uploads them
    assert (one.transaction, one.receiver_id, one.claim_count) == ("270", "rcv1", 2)
    assert one.control_numbers.interchange == 1 and two.control_numbers.interchange == 2
    assert one.file_name == first.name and one.size_bytes == first.stat().st_size
    assert one.sha256 == hashlib.sha256(first.read_bytes()).hexdigest()
    assert first.parent == tmp_path / "outbox" / "270"
    assert first.name.endswith("000000001.x12") and second.name.endswith("000000002.x12")
    assert stat.S_IMODE(first.stat().st_mode) == 0o600
    assert not [p for p in first.parent.iterdir() if p.name.startswith(".")]
    assert FileSequence(tmp_path / "state").next("rcv1") == 3  # survives a restart
    assert second_opinion_270(first.read_text()) == []
    assert first.read_text().count("ST*270*") == 2


def test_the_simulated_payer_answers_each_scenario_and_the_answers_find_their_coverage(
    tmp_path: Path,
) -> None:
    cases = {"pt1": "M-ACTIVE-1", "pt2": "M-INACTIVE-2", "pt3": "M-LIMIT-3", "pt4": "M-REJECT-4"}
    found = [inquiries_for(patient(p, m), CLINIC, PAYERS, DAY)[0][0] for p, m in cases.items()]
    (file,) = write_inquiries(
        found, {"rcv1": partner()}, tmp_path / "outbox", FileSequence(tmp_path / "s"), NOW
    )
    path = Path(file.path)
    text, scenarios = answer_270(path.read_bytes(), control_number=5, now=NOW)
    assert scenarios == ["active", "inactive", "limits", "rejected"]
    answers = {a.coverage.key: a for a in parse_271(text.encode()) if a.coverage}
    active, inactive = answers["c1:pt1:p1"], answers["c1:pt2:p1"]
    limits, rejected = answers["c1:pt3:p1"], answers["c1:pt4:p1"]
    assert active.status == "active" and active.active_on(DAY)
    assert [c.amount for c in active.copays] == [25] and len(active.deductibles) == 2
    assert inactive.status == "inactive" and inactive.active_on(DAY) is False
    assert [(v.quantity, v.remaining, v.used) for v in limits.visit_limits] == [
        (20, False, False), (12, True, False), (8, False, True), (10, False, False)
    ]  # fmt: skip
    assert rejected.status == "rejected" and rejected.rejections[0].code == "75"
    assert all(a.asked_on == DAY for a in answers.values())
    answer_file = tmp_path / "answer.271"
    answer_file.write_text(text)
    report, _ = messages(answer_file)
    assert (report.published, report.active, report.inactive, report.rejected) == (4, 2, 1, 1)


def test_the_simulate_command_prints_the_271(tmp_path: Path) -> None:
    found = inquiries_for(patient("pt1", "M1"), CLINIC, PAYERS, DAY)[0]
    (file,) = write_inquiries(
        found, {"rcv1": partner()}, tmp_path / "o", FileSequence(tmp_path / "s"), NOW
    )
    path = file.path
    out, err = io.StringIO(), io.StringIO()
    assert simulate_main(str(path), out=out, err=err) == 0
    assert "GS*HB*" in out.getvalue() and "answered 1" in err.getvalue()
    bad = tmp_path / "bad.270"
    bad.write_text("ISA*nonsense")
    assert simulate_main(str(bad), out=io.StringIO(), err=io.StringIO()) == 1


def test_claims_simulate_payer_routes_a_270_to_the_eligibility_answer(
    tmp_path: Path, capsys: Any
) -> None:
    from workers.cli import main

    found = inquiries_for(patient("pt1", "M-REJECT"), CLINIC, PAYERS, DAY)[0]
    (file,) = write_inquiries(
        found, {"rcv1": partner()}, tmp_path / "o", FileSequence(tmp_path / "s"), NOW
    )
    path = Path(file.path)
    assert main(["simulate-payer", str(path)]) == 0
    (answer,) = parse_271(capsys.readouterr().out.encode())
    assert answer.status == "rejected"


def test_a_stated_visit_limit_becomes_an_attention_event_in_words(tmp_path: Path) -> None:
    """The simulated payer's limits answer (20 a year, 12 left, 8 used, massage 10)
    reaches the attention stream with the fewest visits left; answers without limits
    raise nothing; the id is stable per answer (a redelivery repeats it)."""
    from workers.enrich.eligibility import visit_limit_attention

    found = [inquiries_for(patient(p, m), CLINIC, PAYERS, DAY)[0][0]
             for p, m in [("pt1", "M-ACTIVE-1"), ("pt3", "M-LIMIT-3")]]  # fmt: skip
    (file,) = write_inquiries(
        found, {"rcv1": partner()}, tmp_path / "o", FileSequence(tmp_path / "s"), NOW
    )
    path = Path(file.path)
    text, _ = answer_270(path.read_bytes(), control_number=1, now=NOW)
    answers = {a.coverage.key: a for a in parse_271(text.encode()) if a.coverage}
    assert visit_limit_attention(answers["c1:pt1:p1"], NOW) is None
    event = visit_limit_attention(answers["c1:pt3:p1"], NOW)
    assert event is not None and event.kind == "payer-visit-limit"
    assert (event.clinic_id, event.patient_id, event.payer_id) == ("c1", "pt3", "p1")
    assert event.visits_left == 12 and event.asked_on == DAY
    assert "12 visits left" in event.message and "8 visits used" in event.message
    assert "M-LIMIT-3" not in event.model_dump_json()  # no member id
    assert visit_limit_attention(answers["c1:pt3:p1"], NOW).attention_id == event.attention_id
