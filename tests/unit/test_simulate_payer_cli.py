"""`simulate_payer_main`: the 835 on stdout, the summary and errors on stderr, exit statuses."""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edi.validate import validate_x12
from edi.x835 import parse_835
from edi.x837p import render_837p
from tests import claim_factories as f
from workers.commands.simulate_payer import main, simulate_payer_main

REPO = Path(__file__).resolve().parents[2]
MOOV = (
    REPO
    / "tests"
    / "data"
    / "837"
    / "samples"
    / "moov-io_x12__examples_example_5010_837p_sample.txt"
)
NOW = dt.datetime(2025, 4, 1, 12, 30, tzinfo=dt.UTC)
RULES: dict[str, Any] = {
    "version": 1,
    "default": {
        "address": {
            "line1": "PO Box 1",
            "city": "Springfield",
            "state": "IL",
            "postal_code": "62705",
        },
        "technical_contact": {"phone": "8005550135"},
        "fee_schedule": {"97140": "35.00", "97124": "30.00"},
    },
}


@pytest.fixture
def claims_file(tmp_path: Path) -> Path:
    claims = [f.commercial_claim(), f.auto_pip_claim(), f.workers_comp_claim(), *f.many_claims(5)]
    path = tmp_path / "claims.837"
    path.write_text(render_837p(claims, f.partner(), f.NUMBERS, f.CREATED_AT).text)
    return path


def run(
    path: Path | str, rules: Path | str | None = None, now: dt.datetime | None = NOW
) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = simulate_payer_main(
        str(path), None if rules is None else str(rules), out, err, now=now
    )
    return status, out.getvalue(), err.getvalue()


def test_answers_with_valid_balanced_835s(claims_file: Path) -> None:
    status, out, err = run(claims_file)
    assert status == 0
    remittances = list(parse_835(out.encode()))
    assert {r.payer.id for r in remittances} == {"EXHP1", "EXAUTO", "EXWC1"}
    assert all(r.balance.ok for r in remittances)
    assert sum(len(r.claims) for r in remittances) >= 8
    report = validate_x12(out)
    assert report.ok, [str(x) for x in report.findings]
    assert err.startswith("claims simulate-payer: 8 claim(s) answered by 3 payer interchange(s)")


def test_same_file_same_bytes(claims_file: Path) -> None:
    assert run(claims_file)[1] == run(claims_file)[1]


def test_naive_now_is_utc(claims_file: Path) -> None:
    assert run(claims_file, now=NOW.replace(tzinfo=None))[1] == run(claims_file)[1]


def test_rules_file(claims_file: Path, tmp_path: Path) -> None:
    rules = {
        **RULES,
        "default": {**RULES["default"], "denials": [{"id": "all", "kind": "not-covered"}]},
    }
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(rules))
    status, out, _ = run(claims_file, path)
    assert status == 0
    remittances = list(parse_835(out.encode()))
    assert all(c.paid == 0 for r in remittances for c in r.claims)
    assert all(r.payment.method == "NON" for r in remittances)


def test_defaults_to_stdout_and_stderr_at_call_time(
    claims_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert simulate_payer_main(str(claims_file), None, now=NOW) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("ISA*")
    assert "claim(s) answered" in captured.err


def test_public_sample(tmp_path: Path) -> None:
    status, out, _ = run(MOOV)
    assert status == 0
    assert validate_x12(out).ok
    assert all(r.balance.ok for r in parse_835(out.encode()))


def test_malformed_837_is_exit_1_with_the_position(claims_file: Path, tmp_path: Path) -> None:
    text = claims_file.read_text().replace("CLM*PCN1001*130.00", "CLM*PCN1001*Sample")
    bad = tmp_path / "bad.837"
    bad.write_text(text)
    status, out, err = run(bad)
    assert (status, out) == (1, "")
    assert "not a readable 837P" in err and "CLM02" in err
    assert "segment" in err and "byte offset" in err
    assert "Sample" not in err.replace("claims simulate-payer", "")


def test_not_x12_is_exit_1(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    status, out, err = run(path)
    assert (status, out) == (1, "")
    assert "missing ISA" in err


@pytest.mark.parametrize("which", ["claims", "rules"])
def test_unreadable_files_are_exit_2(claims_file: Path, tmp_path: Path, which: str) -> None:
    missing = tmp_path / "missing"
    status, out, err = run(missing, None) if which == "claims" else run(claims_file, missing)
    assert (status, out) == (2, "")
    assert f"cannot read {missing}" in err
    status, _, err = run(tmp_path) if which == "claims" else run(claims_file, tmp_path)
    assert status == 2


def test_invalid_rules_are_exit_1_naming_the_field(claims_file: Path, tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    rules = {**RULES, "default": {**RULES["default"], "percent_of_charge": 80}}
    path.write_text(json.dumps({**rules, "default": {**rules["default"], "copay": "x"}}))
    status, out, err = run(claims_file, path)
    assert (status, out) == (1, "")
    assert "default.copay" in err
    path.write_text("{not json")
    status, _, err = run(claims_file, path)
    assert status == 1 and "not JSON" in err


def test_a_claim_that_cannot_be_answered_is_exit_1(claims_file: Path, tmp_path: Path) -> None:
    rules = {**RULES, "default": {**RULES["default"], "technical_contact": {"email": "edi*@payer"}}}
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(rules))
    status, out, err = run(claims_file, path)
    assert (status, out) == (1, "")
    assert "PER" in err and "edi*@payer" not in err


def test_main_and_module_entry_point(claims_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(claims_file)]) == 0
    assert capsys.readouterr().out.startswith("ISA*")
    result = subprocess.run(
        [sys.executable, "-m", "workers.commands.simulate_payer", str(claims_file)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ISA*")
