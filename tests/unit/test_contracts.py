"""Public contracts: strict validation, PHI-free errors, versions, exported JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import ValidationError

from schemas.base import JsonDict, Upgrade, Versioned, describe_errors
from schemas.events import SessionCompleted, parse_session_event
from schemas.export import render_all
from schemas.identifiers import icd10cm_normalised, icd10cm_valid, npi_valid, npi_with_check_digit
from schemas.reference import Coverage, Patient, Prescription
from tests import factories as f

REPO = Path(__file__).resolve().parents[2]


def errors(raw: str) -> list[str]:
    with pytest.raises(ValidationError) as exc:
        parse_session_event(raw)
    return describe_errors(exc.value)


def test_a_valid_session_event_parses_and_is_utc() -> None:
    ev = f.session(occurred_at="2026-03-02T10:00:00-05:00")
    out = parse_session_event(json.dumps(ev))
    assert isinstance(out, SessionCompleted)
    assert out.occurred_at.utcoffset().total_seconds() == 0 and out.occurred_at.hour == 15
    assert out.place_of_service == "11"
    assert out.session_key == "c1:s1" and out.patient_key == "c1:pt1"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"unknown_field": 1}, "unknown_field: Extra inputs are not permitted (extra_forbidden)"),
        ({"techniques": []}, "techniques: List should have at least 1 item"),
        ({"patient_id": 42}, "patient_id: Input should be a valid string (string_type)"),
        ({"date_of_service": "03/02/2026"}, "date_of_service: Input should be a valid date"),
        ({"occurred_at": "2026-03-02T10:00:00"}, "occurred_at: Input should have timezone info"),
        ({"event_id": "not-a-uuid"}, "event_id: Input should be a valid UUID (uuid_parsing)"),
        ({"clinic_id": "c:1"}, "clinic_id: String should match pattern"),
        ({"schema_version": 9}, "schema_version: schema_version 9 is newer than this engine"),
        ({"event_type": "session.deleted"}, "event_type: must be one of"),
    ],
)
def test_violations_name_the_field_and_rule(change: dict, expected: str) -> None:
    ev = f.session()
    ev.update(change)
    lines = errors(json.dumps(ev))
    assert any(expected in line for line in lines), lines


def test_nested_paths_use_indexes_and_never_show_the_value() -> None:
    ev = f.session()
    ev["techniques"][1]["minutes"] = 241
    ev["techniques"][0]["technique"] = "Zephyrine's special"
    lines = errors(json.dumps(ev))
    assert (
        "techniques[1].minutes: Input should be less than or equal to 240 (less_than_equal)"
        in lines
    )
    assert any(
        line.startswith("techniques[0].technique: Input should be 'swedish_massage'")
        for line in lines
    )
    assert not any("241" in line or "Zephyrine" in line for line in lines)


def test_a_missing_event_type_is_reported_as_required() -> None:
    ev = f.session()
    del ev["event_type"]
    assert errors(json.dumps(ev)) == ["event_type: Field required (union_tag_not_found)"]


def test_wrong_types_are_errors_not_coerced() -> None:
    ev = f.session()
    ev["techniques"][0]["minutes"] = "30"
    assert any(
        "techniques[0].minutes: Input should be a valid integer" in e
        for e in errors(json.dumps(ev))
    )


def test_reference_contract_rules() -> None:
    with pytest.raises(ValidationError, match="relationship other than self needs subscriber"):
        Coverage.model_validate(
            {
                "coverage_id": "c",
                "kind": "insurance",
                "payer_id": "p",
                "relationship": "child",
                "effective_from": "2026-01-01",
            },
            strict=False,
        )
    with pytest.raises(ValidationError, match="expires_on is before issued_on"):
        Prescription.parse_json(json.dumps(f.prescription(expires_on="2000-01-01")))
    with pytest.raises(ValidationError, match=r"List should have at most 12"):
        Prescription.parse_json(json.dumps(f.prescription(diagnosis_codes=["M54.5"] * 13)))


class _PatientV2(Versioned):
    """A hypothetical next version that renamed `sex` to `gender`."""

    SCHEMA_VERSION: ClassVar[int] = 2
    UPGRADES: ClassVar[dict[int, Upgrade]] = {}
    clinic_id: str
    patient_id: str
    gender: str


def _v1_to_v2(data: JsonDict) -> JsonDict:
    data["gender"] = data.pop("sex")
    return data


_PatientV2.UPGRADES = {1: _v1_to_v2}


def test_older_versions_are_upgraded_when_read() -> None:
    stored = json.dumps({"schema_version": 1, "clinic_id": "c1", "patient_id": "p1", "sex": "F"})
    got = _PatientV2.parse_json(stored)
    assert got.schema_version == 2 and got.gender == "F"
    current = _PatientV2.parse_json(
        json.dumps({"schema_version": 2, "clinic_id": "c1", "patient_id": "p1", "gender": "M"})
    )
    assert current.gender == "M"
    with pytest.raises(ValidationError, match="newer than this engine"):
        _PatientV2.parse_json(
            json.dumps({"schema_version": 3, "clinic_id": "c", "patient_id": "p", "gender": "M"})
        )


class _Gapped(Versioned):
    SCHEMA_VERSION: ClassVar[int] = 3
    UPGRADES: ClassVar[dict[int, Upgrade]] = {2: lambda d: d}
    name: str


def test_a_version_without_upgrade_path_is_refused() -> None:
    assert _Gapped.parse_json('{"schema_version": 2, "name": "x"}').schema_version == 3
    with pytest.raises(ValidationError, match="can no longer be read"):
        _Gapped.parse_json('{"schema_version": 1, "name": "x"}')


def test_state_written_by_this_version_reads_back() -> None:
    p = Patient.parse_json(json.dumps(f.patient()))
    assert Patient.parse_json(p.model_dump_json()) == p


def test_committed_json_schemas_are_current() -> None:
    """`claims schemas export schemas/json` must be re-run when a contract changes."""
    committed = {p.name: p.read_text() for p in (REPO / "schemas/json").glob("*.schema.json")}
    fresh = render_all()
    assert set(committed) == set(fresh)
    stale = [name for name, text in fresh.items() if committed[name] != text]
    assert not stale, f"stale JSON Schema files: {stale}"


def test_exported_schema_describes_the_session_event() -> None:
    schema = json.loads(render_all()["session-completed.schema.json"])
    assert schema["additionalProperties"] is False
    assert "techniques" in schema["required"]
    tech = schema["$defs"]["TechniquePerformed"]["properties"]
    assert tech["minutes"]["maximum"] == 240
    assert "hot_cold_pack" in tech["technique"]["enum"]


@pytest.mark.parametrize("npi", ["1234567893", "1245319599", "1003000126"])
def test_npi_check_digit(npi: str) -> None:
    assert npi_valid(npi)
    assert not npi_valid(npi[:-1] + str((int(npi[-1]) + 1) % 10))
    assert npi_with_check_digit(npi[:9]) == npi


@pytest.mark.parametrize(
    "code", ["M54.50", "M5450", "S13.4XXA", "U07.1", "G44.209", "M62.830", "QA0.0101"]
)
def test_icd10_shapes_accepted(code: str) -> None:
    assert icd10cm_valid(code)


@pytest.mark.parametrize("code", ["54.5", "M5", "M54.", "M54.123456", "m54.5x!", "M-4.5"])
def test_icd10_shapes_refused(code: str) -> None:
    assert not icd10cm_valid(code)


def test_icd10_normalised_for_x12() -> None:
    assert icd10cm_normalised("m54.50") == "M5450"
