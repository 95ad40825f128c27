"""`claims units`: the calculator's exact JSON, and one-line errors with status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def claims(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", "units", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"},
    )


def test_json_shape_order_and_merging() -> None:
    proc = claims("--policy", "cms", "97140=7", "97110=33", "97010=12", "97140=0010", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {
        "policy": "cms",
        "total_minutes": 50,
        "total_units": 4,
        "lines": [
            {"code": "97140", "minutes": 17, "units": 1},
            {"code": "97110", "minutes": 33, "units": 2},
            {"code": "97010", "minutes": 12, "units": 1},
        ],
    }


def test_zero_unit_codes_are_listed() -> None:
    out = json.loads(claims("--policy", "ama", "97110=33", "97140=7", "--json").stdout)
    assert out["lines"][1] == {"code": "97140", "minutes": 7, "units": 0}
    assert out["total_units"] == 2 and out["total_minutes"] == 40


def test_table_output() -> None:
    proc = claims("--policy", "ama", "97124=38")
    assert proc.returncode == 0
    assert "97124" in proc.stdout and "policy ama: 38 timed minutes, 3 units" in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--policy", "cms", "9714=10"], "expected CODE=MINUTES"),
        (["--policy", "cms", "97140"], "expected CODE=MINUTES"),
        (["--policy", "cms", "97140=0"], "minutes must be a positive integer"),
        (["--policy", "cms", "97140=-3"], "minutes must be a positive integer"),
        (["--policy", "cms", "97140=2.5"], "minutes must be a positive integer"),
        (["--policy", "medicare", "97140=10"], "invalid choice: 'medicare'"),
        (["97140=10"], "--policy"),
    ],
)
def test_bad_input_is_one_line_and_status_two(args: list[str], message: str) -> None:
    proc = claims(*args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
