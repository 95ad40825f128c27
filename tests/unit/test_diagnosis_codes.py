"""Diagnoses must be billable ICD-10-CM codes on the date of service: a category with
subcodes or a code the release in force does not have holds the visit (``dx-invalid``),
the message naming the position, never the code; when no shipped release covers the
date an unknown code only warns (``dx-codeset-stale``); an initial-encounter injury
code warns, or holds for a payer that says so.  Dates and releases are pinned."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.events import SessionCompleted, parse_session_event
from schemas.outcomes import SessionEnriched, SessionHeld
from schemas.reference import Clinic, Patient, Payer, Prescription, Therapist
from schemas.state import PatientState
from tests import factories as f
from tests.fakes import FakeCatalog
from workers.enrich import rules

IN_FORCE = "2026-06-01"  # April 2026 release, code-set year FY2026
AFTER_NEWEST = "2026-11-02"  # after the newest shipped release's code-set year


def model(cls: Any, data: dict[str, Any]) -> Any:
    return cls.parse_json(json.dumps(data))


def outcome(codes: list[str], dos: str, *, kind: str = "insurance", **payer: Any) -> Any:
    coverage = (
        {"coverage_id": "own", "kind": kind, "effective_from": "2020-01-01"}
        if kind != "insurance"
        else None
    )
    patient = f.patient(payer_id=None, coverages=[coverage]) if coverage else f.patient()
    state = rules.with_patient(PatientState.new(), model(Patient, patient))
    rx = model(Prescription, f.prescription(issued_on="2026-01-01", diagnosis_codes=codes))
    state = rules.with_prescription(state, rx.prescription_id, rx)
    event = parse_session_event(json.dumps(f.session(dos=dos)))
    assert isinstance(event, SessionCompleted)
    catalog = FakeCatalog(
        [model(Clinic, f.clinic())],
        [model(Therapist, f.therapist())],
        [model(Payer, f.payer(**payer))],
    )
    now = datetime.fromisoformat(dos).replace(tzinfo=UTC) + timedelta(days=8)
    [out] = rules.on_session_completed(state, event, catalog, now).outcomes
    return out


@pytest.mark.parametrize(
    ("codes", "position", "rule"),
    [
        (["M54.5"], 1, "a category with subcodes"),  # split into M54.50/51/59 in FY2022
        (["M54.50", "M62.83"], 2, "a category with subcodes"),
        (["M79.18", "S13.4"], 2, "a category with subcodes"),  # needs its 7th character
        (["M54.50", "M99.99"], 2, "not in ICD-10-CM April 2026, in force on 2026-06-01"),
    ],
)
def test_a_diagnosis_not_billable_on_the_date_holds_the_visit(
    codes: list[str], position: int, rule: str
) -> None:
    held = outcome(codes, IN_FORCE)
    assert isinstance(held, SessionHeld) and held.reason == "dx-invalid"
    assert f"diagnosis {position}: {rule}" in held.message
    assert codes[position - 1] not in held.message and codes[position - 1].replace(".", "") not in held.message


def test_billable_codes_pass() -> None:
    out = outcome(["M54.50", "M62.830", "G44.209"], IN_FORCE)
    assert isinstance(out, SessionEnriched)
    assert not [c for c in out.checks if c.result == "warn"]


def test_after_the_newest_release_an_unknown_code_only_warns_and_a_header_still_holds() -> None:
    out = outcome(["M54.50", "M99.99"], AFTER_NEWEST)
    assert isinstance(out, SessionEnriched)
    assert [c.detail for c in out.checks if c.result == "warn"] == [
        "dx-codeset-stale: diagnosis 2 is not confirmed"
    ]
    assert outcome(["M54.5"], AFTER_NEWEST).reason == "dx-invalid"


def test_an_initial_encounter_injury_code_warns_or_holds_as_the_payer_says() -> None:
    out = outcome(["S13.4XXA"], IN_FORCE)
    assert isinstance(out, SessionEnriched)
    [warning] = [c.detail for c in out.checks if c.result == "warn"]
    assert warning is not None and warning.startswith("dx-initial-encounter: diagnosis 1")
    held = outcome(["S13.4XXA"], IN_FORCE, hold_initial_encounter_injury=True)
    assert isinstance(held, SessionHeld) and held.reason == "dx-initial-encounter"
    assert isinstance(outcome(["S13.4XXD"], IN_FORCE, hold_initial_encounter_injury=True), SessionEnriched)


def test_self_pay_visits_are_not_held_for_their_diagnoses_but_hsa_ones_are() -> None:
    assert isinstance(outcome(["M54.5"], IN_FORCE, kind="self_pay"), SessionEnriched)
    held = outcome(["M54.5"], IN_FORCE, kind="hsa")
    assert isinstance(held, SessionHeld) and held.reason == "dx-invalid"
