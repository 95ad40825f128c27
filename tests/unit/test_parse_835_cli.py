"""`parse_835_main`: the public JSON shape, the human summary and the exit statuses."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from workers.commands import edi835
from workers.commands.edi835 import parse_835_main

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "835"
SAMPLES = sorted(
    p for p in DATA.iterdir() if p.suffix in (".835", ".txt") and "synthetic-" not in p.name
)
VALID = [
    *SAMPLES,
    *(
        DATA / n
        for n in (
            "synthetic-reversal-correction-plb.835",
            "synthetic-two-interchanges.835",
            "synthetic-bom-whitespace.835",
        )
    ),
]
MOOV1 = DATA / "moov-io_x12__examples_example_5010_835_sample1.txt"
TERTIARY = DATA / "LinuxForHealth_x12__src_tests_resources_835_005010X221A1_tertiary-payment.835"
MANAGED = DATA / "LinuxForHealth_x12__src_tests_resources_835_005010X221A1_managed-care.835"

TRANSACTION_KEYS = [
    "control_number",
    "payer",
    "payee",
    "payment",
    "claims",
    "provider_adjustments",
    "balance",
]
PAYMENT_KEYS = [
    "amount", "credit_debit", "method", "date", "trace_number", "payer_trace_id", "handling",
]  # fmt: skip
CLAIM_KEYS = [
    "patient_control_number", "status_code", "charge", "paid", "patient_responsibility",
    "filing_indicator", "payer_claim_control_number", "adjustments", "services", "remarks",
    "crossover_carrier",
]  # fmt: skip
SERVICE_KEYS = [
    "procedure", "modifiers", "charge", "paid", "units", "original_procedure", "original_units",
    "line_control_number", "service_date", "adjustments", "remarks",
]  # fmt: skip
ADJUSTMENT_KEYS = ["group", "reason", "amount", "quantity"]
PLB_KEYS = ["provider_id", "date", "reason", "reference", "amount"]
ERROR_KEYS = ["level", "reference", "expected", "actual"]

MONEY = re.compile(r"^-?[0-9]+\.[0-9]{2}$")
QUANTITY = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def run(path: Path | str, as_json: bool, strict: bool = False) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = parse_835_main(str(path), as_json, out=out, err=err, strict=strict)
    return status, out.getvalue(), err.getvalue()


def as_json(path: Path) -> dict[str, Any]:
    status, out, err = run(path, True)
    assert (status, err) == (0, "")
    return json.loads(out)


def money(value: object, nullable: bool = False) -> None:
    assert (nullable and value is None) or (isinstance(value, str) and MONEY.match(value)), value


def quantity(value: object, nullable: bool = False) -> None:
    assert (nullable and value is None) or (isinstance(value, str) and QUANTITY.match(value)), value


def date(value: object) -> None:
    assert value is None or (isinstance(value, str) and ISO_DATE.match(value)), value


def check_adjustment(item: dict[str, Any]) -> None:
    assert list(item) == ADJUSTMENT_KEYS
    money(item["amount"])
    quantity(item["quantity"], nullable=True)


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name[:60])
def test_the_json_has_exactly_the_public_shape(path: Path) -> None:
    document = as_json(path)
    assert list(document) == ["file", "transactions", "warnings"]
    assert document["warnings"] == []
    assert document["file"] == str(path)
    assert document["transactions"]
    for tx in document["transactions"]:
        assert list(tx) == TRANSACTION_KEYS
        assert list(tx["payer"]) == ["name", "id"]
        assert list(tx["payee"]) == ["name", "npi", "tax_id"]
        assert list(tx["payment"]) == PAYMENT_KEYS
        money(tx["payment"]["amount"])
        date(tx["payment"]["date"])
        for claim in tx["claims"]:
            assert list(claim) == CLAIM_KEYS
            for key in ("charge", "paid"):
                money(claim[key])
            money(claim["patient_responsibility"], nullable=True)
            for item in claim["adjustments"]:
                check_adjustment(item)
            for service in claim["services"]:
                assert list(service) == SERVICE_KEYS
                money(service["charge"])
                money(service["paid"])
                quantity(service["units"])
                quantity(service["original_units"], nullable=True)
                date(service["service_date"])
                assert all(isinstance(m, str) for m in service["modifiers"])
                for item in service["adjustments"]:
                    check_adjustment(item)
                for remark in service["remarks"]:
                    assert list(remark) == ["qualifier", "code"]
        for plb in tx["provider_adjustments"]:
            assert list(plb) == PLB_KEYS
            money(plb["amount"])
            date(plb["date"])
        assert list(tx["balance"]) == ["ok", "errors"]
        assert isinstance(tx["balance"]["ok"], bool)
        for error in tx["balance"]["errors"]:
            assert list(error) == ERROR_KEYS
            assert error["level"] in ("line", "claim", "transaction")


def test_json_values_of_a_sample() -> None:
    first, second = as_json(MOOV1)["transactions"]
    assert first["control_number"] == "0001"
    assert first["payer"] == {"name": "INDEPENDENCE BLUE CROSS", "id": "1234567890"}
    assert first["payee"] == {
        "name": "CHESTNUT HILL REHAB HOSPITAL",
        "npi": "NPI Number",
        "tax_id": "Federal Tax ID",
    }
    assert first["payment"] == {
        "amount": "-6173.50",
        "credit_debit": "C",
        "method": "NON",
        "date": "2011-07-26",
        "trace_number": "0000010305",
        "payer_trace_id": "1234567890",
        "handling": "H",
    }
    (claim,) = first["claims"]
    assert claim == {
        "patient_control_number": "9999999",
        "status_code": "4",
        "charge": "385.21",
        "paid": "0.00",
        "patient_responsibility": "385.20",
        "filing_indicator": "12",
        "payer_claim_control_number": "999999999999",
        "adjustments": [],
        "services": [
            {
                "procedure": "97001",
                "modifiers": [],
                "charge": "385.21",
                "paid": "0.01",
                "units": "1",
                "original_procedure": None,
                "original_units": None,
                "line_control_number": "1",
                "service_date": "2003-11-25",
                "adjustments": [
                    {"group": "PR", "reason": "27", "amount": "385.20", "quantity": "0"}
                ],
                "remarks": [],
            }
        ],
        "remarks": [],
        "crossover_carrier": None,
    }
    assert first["provider_adjustments"] == [
        {
            "provider_id": "NPI Number",
            "date": "2011-12-31",
            "reason": "50",
            "reference": "111",
            "amount": "6173.50",
        }
    ]
    assert first["balance"] == {
        "ok": False,
        "errors": [
            {"level": "claim", "reference": "9999999", "expected": "0.01", "actual": "0.00"}
        ],
    }
    assert second["balance"] == {"ok": True, "errors": []}


def test_json_reports_an_invalid_date_as_null_and_an_entry() -> None:
    (tx,) = as_json(MANAGED)["transactions"]
    assert tx["payment"]["date"] is None
    assert tx["balance"] == {
        "ok": True,
        "errors": [
            {
                "level": "transaction",
                "reference": "BPR16",
                "expected": "a date CCYYMMDD",
                "actual": "20002316",
            }
        ],
    }


def test_json_of_the_reversal_file() -> None:
    (tx,) = as_json(DATA / "synthetic-reversal-correction-plb.835")["transactions"]
    assert [c["status_code"] for c in tx["claims"]] == ["22", "1", "1"]
    assert [c["paid"] for c in tx["claims"]] == ["-120.00", "130.00", "90.00"]
    assert tx["claims"][2]["services"][0]["modifiers"] == ["GP", "59"]
    assert [(p["reason"], p["amount"]) for p in tx["provider_adjustments"]] == [
        ("L6", "-2.50"),
        ("WO", "40.00"),
        ("WO", "-10.00"),
    ]
    assert tx["balance"]["ok"] is True


def test_json_holds_no_float_and_no_patient_name() -> None:
    for path in VALID:
        status, out, _ = run(path, True)
        assert status == 0
        numbers: list[str] = []
        json.loads(out, parse_float=numbers.append, parse_int=numbers.append)
        assert numbers == [], path.name
        for name in ("ISAAC", "NEWTON", "SAMPLE", "BURCK", "BACH", "KAUSIK"):
            assert name not in out


def test_the_human_summary() -> None:
    status, out, err = run(MOOV1, False)
    assert (status, err) == (0, "")
    assert "INDEPENDENCE BLUE CROSS" in out
    assert "-6173.50 C by NON on 2011-07-26, trace 0000010305" in out
    assert "claims:  1, paid 0.00, provider adjustments 6173.50" in out
    assert "balance: FAILED (1 equation(s))" in out
    assert "claim 9999999: expected 0.01, file says 0.00" in out
    assert "balance: ok" in out
    assert out.rstrip().endswith("2 transaction set(s), 1 balanced")
    assert "SAMPLE" not in out


def test_the_human_summary_names_a_failing_line_and_format_problems() -> None:
    _, out, _ = run(TERTIARY, False)
    assert "line 0001000054/line 1: expected 23020.00, file says 1766.50" in out
    _, out, _ = run(MANAGED, False)
    assert "balance: ok" in out
    assert "problem: BPR16: expected a date CCYYMMDD, file says 20002316" in out


@pytest.mark.parametrize("json_output", [True, False])
@pytest.mark.parametrize(
    ("name", "message", "strict"),
    [
        ("synthetic-truncated-isa.835", "fixed-width", True),
        ("synthetic-missing-iea.835", "missing IEA", False),
        ("synthetic-missing-iea.835", "missing IEA", True),
    ],
)
def test_a_malformed_file_exits_1_with_the_position(
    name: str, message: str, strict: bool, json_output: bool
) -> None:
    status, out, err = run(DATA / name, json_output, strict=strict)
    assert status == 1
    assert message in err and re.search(r"segment \d+, byte offset \d+", err)
    assert "Traceback" not in err
    if json_output:
        assert out == ""  # no half document


def test_an_empty_file_exits_1(tmp_path: Path) -> None:
    empty = tmp_path / "empty.835"
    empty.write_bytes(b"")
    status, _, err = run(empty, True)
    assert status == 1 and "missing ISA" in err


def test_an_unreadable_path_exits_2(tmp_path: Path) -> None:
    for path in (tmp_path / "missing.835", tmp_path):
        status, out, err = run(path, True)
        assert (status, out) == (2, "")
        assert f"cannot read {path}" in err


def test_a_file_without_permission_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret.835"
    path.write_bytes(MOOV1.read_bytes())
    path.chmod(0)
    if os.geteuid() == 0:  # root reads anyway: make open() refuse as it would for anyone else

        def refuse(*args: object, **kwargs: object) -> None:
            raise PermissionError(13, "Permission denied", str(path))

        monkeypatch.setattr(edi835, "open_limited", refuse)
    status, _, err = run(path, False)
    assert status == 2 and "Permission denied" in err


def test_as_a_process() -> None:
    code = "import sys; from workers.commands.edi835 import parse_835_main; sys.exit(parse_835_main(sys.argv[1], sys.argv[2] == 'json'))"

    def process(path: Path, mode: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", code, str(path), mode],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )

    ok = process(TERTIARY, "json")
    assert ok.returncode == 0
    assert json.loads(ok.stdout)["transactions"][0]["balance"]["ok"] is False
    bad = process(DATA / "synthetic-missing-iea.835", "json")
    assert (bad.returncode, bad.stdout) == (1, "")
    assert "missing IEA" in bad.stderr and "Traceback" not in bad.stderr
    missing = process(DATA / "nope.835", "text")
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
