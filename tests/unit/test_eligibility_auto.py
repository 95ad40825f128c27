"""The 270s the engine sends on its own: when a coverage is asked about (first seen,
changed, first session of a month) and how waiting questions become one 270 per
payer (the spool), without a broker."""

from __future__ import annotations

import json
import stat
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from schemas.reference import Clinic, Patient, Payer
from tests import factories as f
from tests.claim_factories import partner
from tests.x12_second_opinion import second_opinion_270
from workers.eligibility import asking
from workers.eligibility.inquiries import FileSequence
from workers.eligibility.spool import Spool, flush

TODAY = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def model(cls: Any, data: dict[str, Any]) -> Any:
    return cls.parse_json(json.dumps(data))


def patient(patient_id: str = "pt1", payer_id: str = "p1", **coverage: Any) -> Patient:
    data = f.patient(patient_id=patient_id, payer_id=payer_id)
    data["coverages"][0].update(coverage)
    return model(Patient, data)


CLINIC = model(Clinic, f.clinic())
PAYERS = {
    "p1": model(Payer, f.payer("p1")),
    "p2": model(Payer, f.payer("p2")),
    "wc": model(Payer, f.payer("wc", kind="workers_comp")),
}


def reasons(asks: list[asking.Ask]) -> list[tuple[str, date, str]]:
    return [(a.coverage_id, a.day, a.reason) for a in asks]


def test_a_coverage_first_seen_is_asked_about_once() -> None:
    p = patient()
    coverage_id = p.coverages[0].coverage_id
    state, asks = asking.on_patient(None, p, TODAY)
    assert reasons(asks) == [(coverage_id, TODAY, "coverage-new")]
    again, asks = asking.on_patient(state, p, TODAY)  # redelivered, or re-sent unchanged
    assert asks == [] and again.coverages == state.coverages


def test_a_changed_member_id_or_payer_asks_again_and_a_new_address_does_not() -> None:
    state, _ = asking.on_patient(None, patient(member_id="M1"), TODAY)
    _, asks = asking.on_patient(state, patient(member_id="M2"), TODAY)
    assert [a.reason for a in asks] == ["coverage-changed"]
    _, asks = asking.on_patient(state, patient(payer_id="p2", member_id="M1"), TODAY)
    assert [a.reason for a in asks] == ["coverage-changed"]
    moved = f.patient(patient_id="pt1", payer_id="p1")
    moved["coverages"][0]["member_id"] = "M1"
    moved["address"] = {**moved["address"], "line1": "9 Other Street"}
    _, asks = asking.on_patient(state, model(Patient, moved), TODAY)
    assert asks == []


def test_the_state_keeps_no_member_id_in_clear() -> None:
    state, _ = asking.on_patient(None, patient(member_id="MEMBERXYZ"), TODAY)
    assert "MEMBERXYZ" not in json.dumps([c.model_dump() for c in state.coverages.values()])


def test_the_first_session_of_each_month_asks_with_its_date() -> None:
    state, _ = asking.on_patient(None, patient(), TODAY)  # asked for March already
    state, asks = asking.on_session(state, date(2026, 3, 20))
    assert asks == []
    state, asks = asking.on_session(state, date(2026, 2, 11))  # a late February visit
    assert reasons(asks) == [(state.patient.coverages[0].coverage_id, date(2026, 2, 11),
                              "first-session-of-month")]  # fmt: skip
    state, asks = asking.on_session(state, date(2026, 2, 25))
    assert asks == []
    state, asks = asking.on_session(state, date(2026, 4, 1))
    assert [a.reason for a in asks] == ["first-session-of-month"]


def test_a_session_outside_the_coverage_dates_or_self_pay_asks_nothing() -> None:
    state, _ = asking.on_patient(None, patient(effective_from="2026-01-01",
                                               effective_to="2026-03-31"), TODAY)  # fmt: skip
    _, asks = asking.on_session(state, date(2026, 5, 4))
    assert asks == []
    data = f.patient(patient_id="pt9", payer_id="p1")
    data["coverages"] = [{"coverage_id": "self", "kind": "self_pay",
                          "effective_from": "2020-01-01"}]  # fmt: skip
    state, asks = asking.on_patient(None, model(Patient, data), TODAY)
    assert asks == [] and state.coverages == {}


def test_months_remembered_are_bounded() -> None:
    state, _ = asking.on_patient(None, patient(effective_from="2020-01-01"), TODAY)
    for month in range(1, 13):
        state, _ = asking.on_session(state, date(2024, month, 5))
        state, _ = asking.on_session(state, date(2025, month, 5))
    (entry,) = state.coverages.values()
    assert len(entry.months) == asking.KEEP_MONTHS and entry.months[-1] == "2026-03"


# --- the spool ----------------------------------------------------------------


def test_waiting_questions_become_one_private_valid_270_per_payer(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    for pid, payer_id in [("pt1", "p1"), ("pt2", "p1"), ("pt3", "p2")]:
        p = patient(pid, payer_id)
        _, asks = asking.on_patient(None, p, TODAY)
        spool.add(p, asks[0])
        spool.add(p, asks[0])  # a redelivery rewrites the same question
    assert len(spool.waiting()) == 3 and spool.has_waiting()
    assert all(stat.S_IMODE(w.path.stat().st_mode) == 0o600 for w in spool.waiting())
    done = flush(spool, {"c1": CLINIC}, PAYERS, {"rcv1": partner()}, tmp_path / "outbox",
                 FileSequence(tmp_path / "seq"), NOW)  # fmt: skip
    assert done.asked == 3 and len(done.files) == 2
    assert sorted(p.read_text().count("ST*270*") for p in done.files) == [1, 2]
    assert all(second_opinion_270(p.read_text()) == [] for p in done.files)
    assert spool.waiting() == [] and not spool.has_waiting()


def test_a_question_waits_for_its_clinic_payer_and_partner(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    p = patient()
    _, asks = asking.on_patient(None, p, TODAY)
    spool.add(p, asks[0])
    seq = FileSequence(tmp_path / "seq")
    out = tmp_path / "outbox"
    assert flush(spool, {}, PAYERS, {"rcv1": partner()}, out, seq, NOW).waiting
    assert flush(spool, {"c1": CLINIC}, {}, {"rcv1": partner()}, out, seq, NOW).waiting
    assert flush(spool, {"c1": CLINIC}, PAYERS, {}, out, seq, NOW).waiting
    assert len(spool.waiting()) == 1
    done = flush(spool, {"c1": CLINIC}, PAYERS, {"rcv1": partner()}, out, seq, NOW)
    assert done.asked == 1 and spool.waiting() == []


def test_a_question_that_cannot_be_asked_is_dropped_with_the_reason(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    p = patient(payer_id="wc")
    _, asks = asking.on_patient(None, p, TODAY)
    spool.add(p, asks[0])
    done = flush(spool, {"c1": CLINIC}, PAYERS, {"rcv1": partner()}, tmp_path / "outbox",
                 FileSequence(tmp_path / "seq"), NOW)  # fmt: skip
    assert done.files == [] and "does not answer 270s" in done.dropped[0]
    assert spool.waiting() == []
    assert p.coverages[0].member_id not in done.dropped[0]


def test_a_damaged_spool_file_is_set_aside_not_fatal(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    (tmp_path / "spool").mkdir()
    (tmp_path / "spool" / "bad.json").write_text("{not json")
    assert spool.waiting() == []
    assert (tmp_path / "spool" / "bad.damaged").exists()


def test_questions_stay_spooled_until_their_270_is_announced(tmp_path: Path) -> None:
    """The stage writes the 270, announces it on edi.outbound for the partner's
    mailbox, and only then forgets the questions: a crash in between asks again."""
    spool = Spool(tmp_path / "spool")
    p = patient()
    _, asks = asking.on_patient(None, p, TODAY)
    spool.add(p, asks[0])
    done = flush(spool, {"c1": CLINIC}, PAYERS, {"rcv1": partner()}, tmp_path / "outbox",
                 FileSequence(tmp_path / "seq"), NOW, forget=False)  # fmt: skip
    (file,) = done.released
    assert (file.transaction, file.receiver_id, file.claim_count) == ("270", "rcv1", 1)
    assert Path(file.path) == done.files[0] and file.size_bytes == done.files[0].stat().st_size
    assert len(spool.waiting()) == 1 and done.taken == [spool.waiting()[0].path]
    spool.forget(done.taken)
    assert spool.waiting() == [] and not spool.has_waiting()
