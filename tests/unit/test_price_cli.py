"""``claims price``: a patient's day priced without a broker, exactly as its claim bills it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests import factories as f
from workers.cli import main

PAIR = {
    "rule_id": "blue-97140-97124",
    "column1": "97140",
    "column2": "97124",
    "modifier_indicator": 1,
    "effective_from": "2020-01-01",
}


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    payers = [
        f.payer("blue", unit_policy="cms", code_pair_rules=[PAIR], max_units_per_visit=4),
        f.payer("acme", unit_policy="ama", allowed_codes=["97124", "97140"]),
    ]
    (tmp_path / "payers.jsonl").write_text("\n".join(json.dumps(p) for p in payers) + "\n")
    (tmp_path / "clinics.jsonl").write_text(json.dumps(f.clinic()) + "\n")
    return {"payers": tmp_path / "payers.jsonl", "clinics": tmp_path / "clinics.jsonl"}


def price(files: dict[str, Path], payer: str, *visits: str, clinic: bool = False) -> Any:
    args = ["price", "--payers", str(files["payers"]), "--payer", payer, "--date", "2026-03-02"]
    if clinic:
        args += ["--clinics", str(files["clinics"]), "--clinic", "c1"]
    for v in visits:
        args += ["--visit", v]
    return [*args, "--json"]


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(args) == 0
    return json.loads(capsys.readouterr().out)


def lines(result: dict[str, Any]) -> list[tuple[str, list[str], int]]:
    return [(ln["code"], ln["modifiers"], ln["units"]) for ln in result["lines"]]


def test_the_issues_days(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    pair = run(price(files, "blue", "97140=20@back,97124=20@back"), capsys)
    assert lines(pair) == [("97140", [], 1)]
    assert pair["dropped"] == [{"code": "97124", "minutes": 20, "reason": "pair-edit"}]
    more = run(price(files, "blue", "97140=10@back,97124=45@back"), capsys)
    assert lines(more) == [("97124", [], 3)]
    assert more["dropped"] == [{"code": "97140", "minutes": 10, "reason": "pair-edit"}]
    two_visits = run(price(files, "blue", "97140=10", "97140=10"), capsys)
    assert lines(two_visits) == [("97140", [], 1)] and two_visits["policy"] == "cms"
    ama = run(price(files, "acme", "97124=7", "97124=7"), capsys)
    assert lines(ama) == [("97124", [], 1)] and ama["policy"] == "ama"
    separate = run(price(files, "blue", "97140=30", "97124=30"), capsys)
    assert lines(separate) == [("97140", [], 2), ("97124", ["XE"], 2)]
    regions = run(price(files, "blue", "97140=30@neck,97124=30@back"), capsys)
    assert lines(regions) == [("97140", [], 2), ("97124", ["XS"], 2)]


def test_caps_per_day_and_codes_the_payer_does_not_take(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    capped = run(price(files, "blue", "97140=45@neck", "97124=45@back"), capsys)
    assert sum(units for _, _, units in lines(capped)) == 4
    assert [d["reason"] for d in capped["dropped"]] == []  # trimmed, not dropped
    uncovered = run(price(files, "acme", "97140=30,97112=30"), capsys)
    assert lines(uncovered) == [("97140", [], 2)]
    assert uncovered["dropped"] == [{"code": "97112", "minutes": 30, "reason": "not-covered"}]
    short = run(price(files, "acme", "97140=30,97124=5"), capsys)
    assert short["dropped"] == [{"code": "97124", "minutes": 5, "reason": "no-units"}]


def test_money_is_two_decimal_strings_zero_without_a_clinic(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    bare = run(price(files, "blue", "97140=30"), capsys)
    assert bare["lines"][0]["charge"] == "0.00" and bare["lines"][0]["expected"] == "70.00"
    priced = run(price(files, "blue", "97140=30", clinic=True), capsys)
    assert priced["lines"][0]["charge"] == "90.00"  # 2 units at the clinic's 45.00
    assert priced["date"] == "2026-03-02"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--payer", "nobody"], "'nobody' is not in"),
        (["--date", "2026-02-30"], "expected YYYY-MM-DD"),
        (["--visit", "97140:10"], "is not CODE=MINUTES"),
        (["--visit", "97140=0"], "minutes must be positive"),
        (["--clinic", "c1"], "--clinics and --clinic go together"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    change: list[str],
    message: str,
) -> None:
    args = price(files, "blue", "97140=20")
    flag = change[0]
    if flag in args and flag != "--visit":
        args[args.index(flag) + 1] = change[1]
    elif flag == "--visit":
        args[args.index("--visit") + 1] = change[1]
    else:
        args += change
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_the_text_view_names_what_is_not_billed(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    args = [a for a in price(files, "blue", "97140=20@back,97124=20@back") if a != "--json"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "97140" in out and "not billed: 97124 20 min (pair-edit)" in out
