"""``claims edi validate`` and ``claims edi render-837`` as command functions."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from edi.segments import read_segments
from edi.validate import validate_x12
from tests import claim_factories as f
from workers.commands.edi837 import render_main, validate_main

DATA = Path(__file__).resolve().parents[1] / "data" / "837"
SAMPLES = DATA / "samples"
GOLDEN = DATA / "golden"
NOW = datetime(2025, 3, 14, 9, 26, tzinfo=UTC)

IMSWEB = "imsweb_x12-parser__src_test_resources_837_5010_x12_"
HI_COMPOSITES = ("HI", "HI01-02", "[1]")

#: What pyx12 says about each public sample (see samples/SOURCES.md): the verdict and
#: pieces that must appear in the printed findings.
SAMPLE_VERDICTS: dict[str, tuple[bool, tuple[str, ...]]] = {
    "moov-io_x12__examples_example_5010_837p_sample.txt": (True, ()),
    "UHIN_x12-parser-library__tests_test-files_837.edi": (True, ()),
    f"{IMSWEB}valid.txt": (False, HI_COMPOSITES),
    f"{IMSWEB}valid_different_separators.txt": (False, HI_COMPOSITES),
    f"{IMSWEB}no_errors.txt": (False, HI_COMPOSITES),
    f"{IMSWEB}complex.txt": (False, HI_COMPOSITES),
    f"{IMSWEB}multiple_gs.txt": (False, HI_COMPOSITES),
    f"{IMSWEB}multiple_isa.txt": (False, HI_COMPOSITES),
    f"{IMSWEB}multiple_st.txt": (False, HI_COMPOSITES),
    f"{IMSWEB}multiple_transactions.txt": (False, HI_COMPOSITES),
    f"{IMSWEB}many_claims.txt": (False, HI_COMPOSITES),
    f"{IMSWEB}ambiguous_loop.txt": (False, ("HI", "[SEG1]", "SE01 (segment count) is wrong")),
    f"{IMSWEB}writer_test.txt": (False, ("HI", "[SEG1]", "SE01 (segment count) is wrong")),
    f"{IMSWEB}bad_first_line.txt": (False, ("ISA", "[not-x12]", "ISA12")),
    f"{IMSWEB}no_isa_line.txt": (False, ("[not-x12]", "does not start with an ISA")),
    f"{IMSWEB}bad_segment_identifier.txt": (False, ("Segment identifier is invalid",)),
    f"{IMSWEB}bad_valid_code.txt": (False, ("Segment NM1 not found here",)),
    f"{IMSWEB}segment_errors.txt": (
        False,
        ('Mandatory segment "Billing Provider Address" (N3) missing', "REF exceeded max count"),
    ),
    f"{IMSWEB}segments_out_of_order.txt": (
        False,
        ('Mandatory segment "Billing Provider City, State, ZIP Code" (N4) missing',),
    ),
    f"{IMSWEB}missing_elements.txt": (False, ("element NM102: [1]",)),
    f"{IMSWEB}loop_errors1_exceeds_max_1_parent.txt": (False, ("Loop 2010AA exceeded max count",)),
    f"{IMSWEB}loop_errors2_exceeds_max_repeats_multiple_parents.txt": (False, ("[HL1]",)),
    f"{IMSWEB}loop_errors3_missing_loops.txt": (
        False,
        ('Mandatory loop "Billing Provider Name" (2010AA) missing',),
    ),
    f"{IMSWEB}missing_required_loop_in_one_repeat.txt": (
        False,
        ('Mandatory loop "Subscriber Name" (2010BA) missing',),
    ),
    f"{IMSWEB}missing_required_loops_mult_repeats.txt": (False, ("[HL2]",)),
}


def run_validate(*paths: Path | str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = validate_main([str(p) for p in paths], out, err)
    return status, out.getvalue(), err.getvalue()


def test_every_sample_has_an_expected_verdict() -> None:
    linux = {p.name for p in SAMPLES.iterdir() if p.name.startswith("LinuxForHealth")}
    assert len(linux) == 18
    others = {p.name for p in SAMPLES.iterdir() if p.suffix != ".md"} - linux
    assert others == set(SAMPLE_VERDICTS)


@pytest.mark.parametrize("name", sorted(SAMPLE_VERDICTS))
def test_verdict_on_public_samples(name: str) -> None:
    valid, expected = SAMPLE_VERDICTS[name]
    status, out, err = run_validate(SAMPLES / name)
    assert err == ""
    assert status == (0 if valid else 1)
    first = out.splitlines()[0]
    assert (
        first == f"{SAMPLES / name}: valid"
        if valid
        else first.startswith(f"{SAMPLES / name}: INVALID: ")
    )
    for piece in expected:
        assert piece in out


def test_linux_for_health_samples_are_a2_which_pyx12_has_no_map_for() -> None:
    paths = sorted(p for p in SAMPLES.iterdir() if p.name.startswith("LinuxForHealth"))
    status, out, _ = run_validate(*paths)
    assert status == 1
    assert out.count(": INVALID: 1 error(s), 0 warning(s)") == len(paths)
    assert out.count("[no-map]") == len(paths) and "GS08 005010X222A2" in out


def test_golden_files_are_valid() -> None:
    paths = sorted(GOLDEN.glob("*.x12"))
    assert len(paths) >= 7  # five primary claims and two secondary (COB) claims
    status, out, err = run_validate(*paths)
    assert (status, err) == (0, "")
    assert out.count(": valid\n") == len(paths)


def test_findings_are_capped_per_file() -> None:
    status, out, _ = run_validate(SAMPLES / f"{IMSWEB}many_claims.txt")
    assert status == 1
    assert out.splitlines()[-1].startswith("  ... and ")
    assert len(out.splitlines()) == 1 + 100 + 1


def test_mixed_results_and_unreadable_files(tmp_path: Path) -> None:
    good = GOLDEN / "commercial.x12"
    bad = SAMPLES / f"{IMSWEB}valid.txt"
    assert run_validate(good, bad)[0] == 1
    status, out, err = run_validate(good, bad, tmp_path / "missing.x12", tmp_path)
    assert status == 2
    assert f"cannot read {tmp_path / 'missing.x12'}" in err
    assert f"cannot read {tmp_path}" in err
    assert out.count(": valid") == 1 and out.count("INVALID") == 1


def test_byte_order_mark_and_non_utf8_bytes_get_clear_messages(tmp_path: Path) -> None:
    text = (GOLDEN / "commercial.x12").read_bytes()
    bom = tmp_path / "bom.x12"
    bom.write_bytes(b"\xef\xbb\xbf" + text)
    latin1 = tmp_path / "latin1.x12"
    latin1.write_bytes(text.replace(b"Sample*Pat", "Sämple*Pat".encode("latin-1")))
    status, out, err = run_validate(bom, latin1)
    assert status == 1 and err == ""
    assert f"{bom}: valid (1 warning(s))" in out and "[bom]" in out
    assert f"{latin1}: INVALID" in out
    assert "[encoding] the input is not UTF-8 text (first bad byte at offset" in out
    assert "element NM103" in out and "Traceback" not in out


def test_nothing_is_written_next_to_the_inputs(tmp_path: Path) -> None:
    for name in ("moov-io_x12__examples_example_5010_837p_sample.txt", f"{IMSWEB}valid.txt"):
        (tmp_path / name).write_bytes((SAMPLES / name).read_bytes())
    before = sorted(tmp_path.iterdir())
    run_validate(*before)
    assert sorted(tmp_path.iterdir()) == before


# --- render-837 ---------------------------------------------------------------------------


def write_claims(path: Path, lines: list[Any]) -> Path:
    path.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n",
        encoding="utf-8",
    )
    return path


def run_render(claims: Path, partner: Path | None = None, number: int = 7) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = render_main(str(claims), str(partner) if partner else None, number, out, err, now=NOW)
    return status, out.getvalue(), err.getvalue()


def test_render_with_the_built_in_test_partner(tmp_path: Path) -> None:
    claims = write_claims(
        tmp_path / "claims.jsonl",
        [f.commercial_claim_data(), "", f.workers_comp_claim_data(), f.auto_pip_claim_data()],
    )
    status, out, err = run_render(claims)
    assert (status, err) == (0, "")
    segments = list(read_segments(out.encode()))
    isa = segments[0]
    assert isa.element(15) == "T" and isa.element(13) == "000000007"
    assert [s.element(2) for s in segments if s.id == "ST"] == ["0007"]
    assert [s.element(1) for s in segments if s.id == "CLM"] == ["PCN1001", "PCN3003", "PCN2002"]
    assert validate_x12(out).ok


def test_render_with_a_partner_file(tmp_path: Path) -> None:
    claims = write_claims(tmp_path / "claims.jsonl", [f.commercial_claim_data()])
    partner = tmp_path / "partner.json"
    partner.write_text(json.dumps(f.partner_data(usage="P", send_billing_taxonomy=True)))
    status, out, err = run_render(claims, partner, number=1001)
    assert (status, err) == (0, "")
    isa = next(read_segments(out.encode()))
    assert (isa.element(6), isa.element(15)) == ("SENDER01       ", "P")
    assert "NM1*40*2*Test Clearinghouse*****46*TESTCH01~" in out
    assert "HL*1**20*1~\nPRV*BI*PXC*261QR0400X~" in out
    golden = (GOLDEN / "commercial.x12").read_text()
    expected = golden.replace("*T*:~", "*P*:~", 1).replace(
        "HL*1**20*1~", "HL*1**20*1~\nPRV*BI*PXC*261QR0400X~"
    )
    assert out == expected.replace("SE*33*1001~", "SE*34*1001~")


def test_bad_lines_are_reported_with_line_field_and_rule(tmp_path: Path) -> None:
    bad_filing = f.commercial_claim_data(
        subscriber={**f.commercial_claim_data()["subscriber"], "filing_indicator": "bad!"}
    )
    claims = write_claims(
        tmp_path / "claims.jsonl",
        [f.commercial_claim_data(), bad_filing, "{not json", f.void_claim_data()],
    )
    status, out, err = run_render(claims)
    assert status == 1 and out == ""
    assert f"{claims}:2: subscriber.filing_indicator: String should match pattern" in err
    assert f"{claims}:3: " in err and "json_invalid" in err
    assert "bad!" not in err and ":1:" not in err and ":4:" not in err


def test_a_claim_the_renderer_refuses_is_bad_input(tmp_path: Path) -> None:
    subscriber = {**f.commercial_claim_data()["subscriber"], "name": f.person("Evil~NM1", "Pat")}
    claims = write_claims(
        tmp_path / "claims.jsonl", [f.commercial_claim_data(subscriber=subscriber)]
    )
    status, out, err = run_render(claims)
    assert status == 1 and out == ""
    assert "claim PCN1001, loop 2010BA: NM103 contains a delimiter" in err
    assert "Evil" not in err


def test_transliterations_are_noted_on_stderr(tmp_path: Path) -> None:
    subscriber = {**f.commercial_claim_data()["subscriber"], "name": f.person("Nuñez", "José")}
    claims = write_claims(
        tmp_path / "claims.jsonl", [f.commercial_claim_data(subscriber=subscriber)]
    )
    status, out, err = run_render(claims)
    assert status == 0 and "NM1*IL*1*Nunez*Jose*" in out
    assert err.count("note: claim PCN1001, loop 2010BA, NM10") == 2
    assert "Nu" not in err and "Jos" not in err


@pytest.mark.parametrize(
    ("setup", "expected_status", "message"),
    [
        ("missing claims", 2, "cannot read"),
        ("missing partner", 2, "cannot read"),
        ("bad partner", 1, "isa_sender_id: Field required"),
        ("empty claims", 1, "no claims"),
        ("not utf-8", 1, "not UTF-8 text (byte 2)"),
        ("control number", 1, "--control-number must be between 1 and 999999999"),
    ],
)
def test_render_failures(tmp_path: Path, setup: str, expected_status: int, message: str) -> None:
    claims = write_claims(tmp_path / "claims.jsonl", [f.commercial_claim_data()])
    partner: Path | None = None
    number = 1
    if setup == "missing claims":
        claims = tmp_path / "nope.jsonl"
    elif setup == "missing partner":
        partner = tmp_path / "nope.json"
    elif setup == "bad partner":
        partner = tmp_path / "partner.json"
        data = f.partner_data()
        del data["isa_sender_id"]
        partner.write_text(json.dumps(data))
    elif setup == "empty claims":
        claims.write_text("\n\n")
    elif setup == "not utf-8":
        claims.write_bytes(b'{"\xff": 1}\n')
    else:
        number = 0
    status, out, err = run_render(claims, partner, number)
    assert status == expected_status and out == ""
    assert message in err
