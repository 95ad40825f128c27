"""`claims ingest` validates every line and reports problems without values."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests import factories as f

REPO = Path(__file__).resolve().parents[2]


def claims(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"},
    )


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_bad_lines_are_reported_with_number_field_and_rule(tmp_path: Path) -> None:
    bad = f.session(session_id="s2")
    bad["techniques"][0]["minutes"] = 0
    leaky = f.session(session_id="s3", patient_id="Zephyrine Quillfeather")
    path = write(
        tmp_path / "s.jsonl",
        [json.dumps(f.session()), "", json.dumps(bad), "{not json", json.dumps(leaky)],
    )
    proc = claims("ingest", "sessions", str(path), "--dry-run")
    assert proc.returncode == 1
    err = proc.stderr.splitlines()
    assert (
        f"{path}:3: techniques[0].minutes: Input should be greater than or equal to 1 "
        "(greater_than_equal)" in err
    )
    assert any(line.startswith(f"{path}:4: (message): Invalid JSON") for line in err), err
    assert any(
        line.startswith(f"{path}:5: patient_id: String should match pattern") for line in err
    )
    assert "Zephyrine" not in proc.stderr and "Traceback" not in proc.stderr
    assert "4 lines, 1 valid, 3 refused" in proc.stdout


def test_a_clean_reference_file_passes_and_tombstones_are_understood(tmp_path: Path) -> None:
    path = write(tmp_path / "p.jsonl", [json.dumps(f.patient()), '{"tombstone": "c1:pt9"}'])
    proc = claims("ingest", "ref", "patients", str(path), "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "2 lines, 2 valid (1 tombstones)" in proc.stdout


def test_unreadable_input_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    proc = claims("ingest", "sessions", str(tmp_path / "missing.jsonl"), "--dry-run")
    assert proc.returncode == 1 and "no such file" in proc.stderr
    binary = tmp_path / "b.jsonl"
    binary.write_bytes(json.dumps(f.session()).encode() + b"\n\xff\xfe\n")
    proc = claims("ingest", "sessions", str(binary), "--dry-run")
    assert proc.returncode == 1 and "not UTF-8" in proc.stderr and "Traceback" not in proc.stderr
