"""The acknowledgement commands (`workers.commands.acks`), no broker: parse-999,
parse-277 and ack-835 exit codes and output, and the follow-up listing."""

from __future__ import annotations

import datetime as dt
import io
import json
import stat
from pathlib import Path

import pytest

from edi.x277 import parse_277
from edi.x999 import parse_999
from schemas.acknowledgements import Ack999
from tests.unit.test_front_door import ack_277, record
from workers.claims import front_door
from workers.commands.acks import (
    ack_835_main,
    follow_up_rows,
    parse_ack_main,
    summary_277,
    summary_999,
)

DATA = Path(__file__).resolve().parents[1] / "data"
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def run(path: Path | str, kind: str, as_json: bool = False) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = parse_ack_main(str(path), kind, as_json, out, err)
    return status, out.getvalue(), err.getvalue()


def test_parse_999_prints_each_transaction_verdict() -> None:
    status, out, err = run(
        DATA / "999" / "imsweb_x12-parser__src_test_resources_837_5010_x12_999_rejected.txt", "999"
    )
    assert (status, err) == (0, "")
    assert "group HC 28 -> R (0 of 1 accepted)" in out and "837 0028: R [NM@17 IK3-1]" in out


def test_parse_277_json_is_the_canonical_shape() -> None:
    status, out, _ = run(
        DATA / "277" / "imsweb_x12-parser__src_test_resources_277_5010_x12_277CA_accepted.txt",
        "277",
        as_json=True,
    )
    assert status == 0
    body = json.loads(out)
    (report,) = body["reports"]
    assert report["kind"] == "277CA" and report["claims"][0]["patient_control_number"] == "5781"


def test_exit_codes_for_unreadable_and_malformed_files(tmp_path: Path) -> None:
    status, out, err = run(tmp_path / "missing.999", "999")
    assert (status, out) == (2, "") and "cannot read" in err
    wrong = DATA / "835" / "azoner_pyx12__pyx12_tests_835_mult_loops.txt"
    status, out, err = run(wrong, "999")
    assert (status, out) == (1, "") and "GS01 is not FA" in err and "segment 2" in err


def test_ack_835_writes_an_owner_only_999(tmp_path: Path) -> None:
    target = tmp_path / "acks" / "answer.999"
    err = io.StringIO()
    status = ack_835_main(
        str(DATA / "835" / "azoner_pyx12__pyx12_tests_835_mult_loops.txt"),
        str(target),
        5,
        io.StringIO(),
        err,
        now=T0,
    )
    assert status == 0 and "accepted" in err.getvalue()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    (group,) = parse_999(target.read_bytes()).groups
    assert group.status == "A"


def test_follow_up_lists_accepted_claims_without_an_835_oldest_first() -> None:
    accepted = front_door.apply_verdict(
        record(), front_door.verdict_of_277(ack_277("K1", "A2"), record().versions[0].claim_id), T0
    ).record
    later = accepted.model_copy(
        update={
            "patient_control_number": "OTHER1",
            "front_door_at": T0 + dt.timedelta(days=5),
        }
    )
    paid = accepted.model_copy(
        update={"patient_control_number": "PAID1", "remitted_at": T0 + dt.timedelta(days=9)}
    )
    rows = follow_up_rows([later, record(), paid, accepted], T0 + dt.timedelta(days=40), 30)
    assert [r[0] for r in rows] == [accepted.patient_control_number, "OTHER1"]
    assert [r[5] for r in rows] == ["40", "35"] and {r[3] for r in rows} == {"accepted"}


def _ack_samples() -> list[tuple[Path, str]]:
    return [
        (path, kind)
        for kind in ("999", "277")
        for path in sorted((DATA / kind).iterdir())
        if path.suffix != ".md"
    ]


@pytest.mark.parametrize(("path", "kind"), _ack_samples(), ids=lambda v: str(v)[-40:])
def test_the_streamed_output_is_what_the_whole_file_parser_gives(path: Path, kind: str) -> None:
    # the command streams (iter_999_events / iter_277_events); the output is unchanged
    whole = parse_999(path.read_bytes()) if kind == "999" else parse_277(path.read_bytes())
    status, out, err = run(path, kind, as_json=True)
    assert (status, err) == (0, "")
    assert json.loads(out) == json.loads(whole.model_dump_json())
    status, out, _ = run(path, kind)
    lines = summary_999(whole) if isinstance(whole, Ack999) else summary_277(whole)
    assert (status, out) == (0, "\n".join(lines) + "\n")
