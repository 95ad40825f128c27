"""The pyx12 gate: verdicts, where findings point, no data values, no files, no leaks."""

from __future__ import annotations

import builtins
import io
import logging
from pathlib import Path
from typing import Any

import pytest

from edi.validate import Finding, scrub_message, validate_x12
from edi.x837p import render_837p
from tests import claim_factories as f

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "837" / "samples"
SECRET = "QZXSECRETQZX"


def good_text() -> str:
    return render_837p(
        [f.commercial_claim(), f.workers_comp_claim()], f.partner(), f.NUMBERS, f.CREATED_AT
    ).text


def replace_segment(text: str, prefix: str, new: str) -> tuple[str, int]:
    """``text`` with the first segment starting with ``prefix`` replaced; and its ordinal."""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if line.startswith(prefix):
            lines[index] = new
            return "\n".join(lines), index + 1
    raise AssertionError(f"no {prefix} segment")


def errors(text: str | bytes) -> list[Finding]:
    report = validate_x12(text)
    assert not report.ok
    return report.errors


def test_a_rendered_file_is_valid_with_no_findings() -> None:
    report = validate_x12(good_text())
    assert report.ok and report.findings == [] and report.pyx12_seconds > 0


def test_a_5010_repetition_separator_in_isa11_is_accepted() -> None:
    text = good_text()
    assert text[82] == "^"
    assert validate_x12(text).ok


def test_element_error_is_located_by_ordinal_position_and_element() -> None:
    text, ordinal = replace_segment(good_text(), "DMG*D8*1980", "DMG*D8*19801317*F~")
    [finding] = errors(text)
    assert finding.level == "element"
    assert (finding.segment_id, finding.element, finding.code) == ("DMG", "DMG02", "8")
    assert finding.ordinal == ordinal
    assert finding.position == ordinal - 2  # ISA and GS come before ST (position 1)
    assert finding.segment_name == "Subscriber Demographic Information"
    assert "19801317" not in str(finding)


def test_composite_element_reference() -> None:
    text, _ = replace_segment(
        good_text(), "SV1*HC:97140", f"SV1*HC:97140:{SECRET[:2]}*90.00*UN*2***1:13~"
    )
    found = {(e.element, e.code) for e in errors(text)}
    assert ("SV107-02", "7") in found


def test_envelope_errors_name_no_control_numbers() -> None:
    text, _ = replace_segment(good_text(), "SE*", "SE*99*0000987654~")
    found = errors(text)
    assert {(e.segment_id, e.code) for e in found} >= {("ST", "3"), ("ST", "4")}
    for finding in found:
        assert "987654" not in str(finding) and "99" not in finding.message


CORRUPTIONS = [
    ("NM1*IL*", f"NM1*IL*1*{SECRET}é*Pat*Q***MI*MBR123456~"),  # invalid character
    ("NM1*IL*", f"NM1*IL*1*{SECRET}{'X' * 60}*Pat***MI*MBR123456~"),  # too long
    ("NM1*IL*", f"NM1*IL*1*{SECRET}  *Pat***MI*MBR123456~"),  # trailing spaces
    ("SV1*HC:97140", f"SV1*HC:97140*90.00*{SECRET[:2]}*2***1~"),  # invalid code
    ("DMG*D8*1980", f"DMG*D8*{SECRET}*F~"),  # invalid date
    ("HL*2*1*22", f"HL*{SECRET}*1*22*0~"),  # HL count
    ("HL*2*1*22", f"HL*2*{SECRET}*22*0~"),  # HL parent
    ("LX*1", f"LX*{SECRET}~"),  # LX count
    ("N4*Springfield*IL*62702", f"{SECRET}*X*Y~"),  # unknown segment
    ("REF*G1", f"NTE*{SECRET}*X~"),  # segment out of place, first element quoted by pyx12
    ("GE*", f"GE*{SECRET}*{SECRET}~"),  # group trailer
    ("SE*", f"SE*{SECRET}*{SECRET}~"),  # transaction trailer
    ("IEA*", f"IEA*{SECRET}*{SECRET}~"),  # interchange trailer
]


@pytest.mark.parametrize(("prefix", "new"), CORRUPTIONS)
def test_findings_never_contain_the_offending_value(prefix: str, new: str) -> None:
    text, _ = replace_segment(good_text(), prefix, new)
    found = errors(text)
    for finding in found:
        for part in (SECRET, SECRET[:6], SECRET[-6:]):
            assert part not in str(finding)
            assert part not in repr(finding)


def test_pyx12_logs_nothing_that_reaches_our_loggers(caplog: pytest.LogCaptureFixture) -> None:
    text, _ = replace_segment(good_text(), "NM1*IL*", f"NM1*IL*1*{SECRET}é*Pat***MI*M1~")
    caplog.set_level(logging.DEBUG)
    errors(text)
    assert not any(SECRET in record.getMessage() for record in caplog.records)
    assert not any(record.name.startswith("pyx12") for record in caplog.records)


@pytest.mark.parametrize(
    ("message", "value", "expected"),
    [
        (
            'Data element "Subscriber Last Name" (NM103) is too long: len("SMITH") = 5 > 3 (max_len)',
            "SMITH",
            'Data element "Subscriber Last Name" (NM103) is too long: length 5 > 3 (max_len)',
        ),
        (
            "(ZZ) is not a valid code for Unit or Basis for Measurement Code (SV103)",
            "ZZ",
            "Value is not a valid code for Unit or Basis for Measurement Code (SV103)",
        ),
        (
            'Data element "Name" (NM103) is type AN, contains an invalid character(é)',
            "Jé",
            'Data element "Name" (NM103) is type AN, contains an invalid character',
        ),
        (
            'Data element "Birth" with a value of (SMITH) failed to match the regular expression "^[0-9]+$"',
            "SMITH",
            'Data element "Birth" failed to match the regular expression "^[0-9]+$"',
        ),
        (
            "Segment SMITH*JOHN not found.  Started at /ISA_LOOP/GS_LOOP/ST_LOOP/DETAIL/2000A/HL",
            None,
            "Segment (unknown id) not found here (search started at /ISA_LOOP/GS_LOOP/ST_LOOP/DETAIL/2000A/HL)",
        ),
        (
            "Segment NTE*JOHN SMITH not found.  Started at /ISA_LOOP/GS_LOOP/ST_LOOP/HEADER/BHT",
            None,
            "Segment NTE not found here (search started at /ISA_LOOP/GS_LOOP/ST_LOOP/HEADER/BHT)",
        ),
        (
            'Mandatory data element "Diagnosis Code" (HI01-02) is missing',
            None,
            'Mandatory data element "Diagnosis Code" (HI01-02) is missing',
        ),
        (
            "The ISA segment must have 16 elements (ISA*00*SMITH~)",
            None,
            "The ISA segment must have 16 elements",
        ),
        (
            "Something new about SMITH (x=1)",
            "SMITH",
            "message withheld (a pyx12 message of unknown shape may quote data)",
        ),
    ],
)
def test_scrub_message(message: str, value: str | None, expected: str) -> None:
    assert scrub_message(message, value) == expected


def test_the_reported_value_is_removed_even_from_a_known_message() -> None:
    assert scrub_message('Mandatory data element "Code SMITH" (NM103) is missing', "SMITH") == (
        'Mandatory data element "Code (value)" (NM103) is missing'
    )


def test_byte_order_mark_is_a_warning_not_an_error() -> None:
    data = b"\xef\xbb\xbf" + good_text().encode("ascii")
    report = validate_x12(data)
    assert report.ok
    assert [(x.severity, x.code) for x in report.findings] == [("warning", "bom")]
    assert validate_x12("\ufeff" + good_text()).ok


def test_bytes_that_are_not_utf8_are_an_error_and_the_rest_is_still_checked() -> None:
    text, _ = replace_segment(good_text(), "NM1*IL*", "NM1*IL*1*SMITH*Pat***MI*MBR123456~")
    data = text.encode("ascii").replace(b"SMITH", b"SM\xffTH")
    found = errors(data)
    offset = data.index(b"\xff")
    assert found[0].code == "encoding" and f"offset {offset}" in found[0].message
    assert any(x.segment_id == "NM1" and x.element == "NM103" for x in found)
    assert all("SM" not in x.message for x in found)


@pytest.mark.parametrize("data", [b"", b"   ", b"hello world", "GS*HC*X~"])
def test_input_that_is_not_x12(data: str | bytes) -> None:
    [finding] = errors(data)
    assert finding.code == "not-x12"


def test_a_short_isa_is_reported_by_the_gate() -> None:
    [finding] = errors(good_text()[:60])
    assert (finding.segment_id, finding.code) == ("ISA", "not-x12")


def test_a_version_pyx12_has_no_map_for() -> None:
    text = good_text().replace("005010X222A1", "005010X222A2")
    [finding] = errors(text)
    assert (finding.segment_id, finding.code) == ("GS", "no-map")
    assert "GS08 005010X222A2" in finding.message


def test_no_file_is_written(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real_open = builtins.open
    writes: list[Any] = []

    def guarded_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if any(flag in mode for flag in "wax+"):
            writes.append(file)
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(io, "open", guarded_open)
    monkeypatch.chdir(tmp_path)
    bad, _ = replace_segment(good_text(), "DMG*D8*1980", "DMG*D8*1980*F~")
    validate_x12(good_text())
    validate_x12(bad)
    assert writes == []
    assert list(tmp_path.iterdir()) == []


def test_calls_do_not_influence_each_other() -> None:
    bad, _ = replace_segment(good_text(), "HL*2*1*22", "HL*7*1*22*0~")
    first = validate_x12(bad)
    assert validate_x12(good_text()).ok
    again = validate_x12(bad)
    assert first.findings == again.findings and not again.ok
    assert validate_x12(good_text()).findings == []


def test_public_samples_that_pass() -> None:
    for name in (
        "moov-io_x12__examples_example_5010_837p_sample.txt",
        "UHIN_x12-parser-library__tests_test-files_837.edi",
    ):
        assert validate_x12((SAMPLES / name).read_bytes()).ok, name


def test_imsweb_valid_sample_fails_on_its_hi_composites() -> None:
    found = errors(
        (SAMPLES / "imsweb_x12-parser__src_test_resources_837_5010_x12_valid.txt").read_bytes()
    )
    assert ("HI", "HI01-02", "1") in {(x.segment_id, x.element, x.code) for x in found}


# --- maps loaded once per process ---------------------------------------------------------


def corpus() -> list[tuple[str, str | bytes]]:
    """Good and broken files: the golden 837s, the public samples (good ones, and
    broken ones: bad envelopes, several ISA/GS/ST, loop and segment errors; the two
    of several hundred kilobytes left out for time), every corruption above, and
    structural ones (a missing and a repeated segment)."""
    golden = Path(__file__).resolve().parents[1] / "data" / "837" / "golden"
    files: list[tuple[str, str | bytes]] = [
        (p.name, p.read_bytes()) for p in sorted(golden.glob("*.x12"))
    ]
    files += [
        (p.name, p.read_bytes())
        for p in sorted(SAMPLES.iterdir())
        if p.suffix != ".md" and p.stat().st_size < 50_000
    ]
    files += [
        (f"corrupt-{i}", replace_segment(good_text(), a, b)[0])
        for i, (a, b) in enumerate(CORRUPTIONS)
    ]
    text = good_text()
    lines = text.split("\n")
    drop_clm = "\n".join(x for x in lines if not x.startswith("CLM*"))
    twice_n3 = "\n".join(x + ("\n" + x if x.startswith("N3*") else "") for x in lines)
    files += [("no-clm", drop_clm), ("n3-twice", twice_n3), ("good", text)]
    return files


def verdicts(files: list[tuple[str, str | bytes]]) -> dict[str, tuple[bool, list[Finding]]]:
    out = {}
    for name, data in files:
        report = validate_x12(data)
        out[name] = (report.ok, report.findings)
    return out


def test_reused_maps_give_every_verdict_and_finding_fresh_maps_give() -> None:
    """A corpus validated with freshly loaded maps (pyx12's own way) and with the
    process's reused maps, forwards and backwards: the same verdicts and findings."""
    import random

    from edi import validate

    files = corpus()
    assert sum(1 for _, d in files) >= 25
    previous = validate.reuse_maps(False)
    try:
        fresh = verdicts(files)
    finally:
        validate.reuse_maps(previous)
    assert any(ok for ok, _ in fresh.values()) and any(not ok for ok, _ in fresh.values())
    shuffled = files[:]
    random.Random(5).shuffle(shuffled)
    for order in (files, files[::-1], shuffled):
        assert verdicts(order) == fresh


#: Attributes pyx12 fills on first use from the map's static tree (its paths).
MEMOS = frozenset({"_x12path", "_fullpath"})


def differences(x: Any, y: Any, path: str = "map", seen: set[int] | None = None) -> list[str]:
    """Where two pyx12 map object graphs differ (cycles followed once; memos skipped)."""
    seen = set() if seen is None else seen
    if id(x) in seen:
        return []
    seen.add(id(x))
    if type(x) is not type(y):
        return [f"{path}: {type(x).__name__} != {type(y).__name__}"]
    if isinstance(x, (int, str, float, bool, bytes, type(None))):
        return [] if x == y else [f"{path}: {x!r} != {y!r}"]
    if isinstance(x, dict):
        if list(x) != list(y):
            return [f"{path}: keys differ"]
        return [d for k in x for d in differences(x[k], y[k], f"{path}[{k!r}]", seen)]
    if isinstance(x, (list, tuple)):
        if len(x) != len(y):
            return [f"{path}: length {len(x)} != {len(y)}"]
        return [
            d
            for i, (a, b) in enumerate(zip(x, y, strict=True))
            for d in differences(a, b, f"{path}[{i}]", seen)
        ]
    if isinstance(x, (set, frozenset)):
        return [] if x == y else [f"{path}: sets differ"]
    if hasattr(x, "__dict__"):
        mine = {k: v for k, v in vars(x).items() if k not in MEMOS}
        theirs = {k: v for k, v in vars(y).items() if k not in MEMOS}
        return differences(mine, theirs, path, seen)
    return []  # compiled patterns, loggers: built by the loader, never written


def fresh_map(map_file: str, map_path: str | None) -> Any:
    """The map as pyx12 loads it, bypassing the process's reused maps."""
    import pyx12.map_if
    import pyx12.params

    from edi import validate

    previous = validate.reuse_maps(False)
    try:
        return pyx12.map_if.load_map_file(map_file, pyx12.params.ParamsBase(), map_path)
    finally:
        validate.reuse_maps(previous)


def test_a_map_is_unchanged_by_the_files_walked_with_it() -> None:
    """The reused map objects hold what a freshly loaded map holds after a corpus of
    good and broken files was walked with them, apart from the paths pyx12 memoizes
    (pyx12 4 keeps loop and segment counts in the walker; the map nodes' counters
    are retired)."""
    from edi import validate

    verdicts(corpus())
    assert len(validate._MAPS) >= 2, "the control and 837 maps were loaded through the cache"
    for (map_file, map_path, _), used in validate._MAPS.items():
        fresh = fresh_map(map_file, map_path)
        assert fresh is not used
        assert differences(used, fresh) == [], map_file
    # the comparison does see a change made to a map node
    (map_file, map_path, _), used = next(iter(validate._MAPS.items()))
    node = next(iter(used.pos_map.values()))[0]
    saved = node.usage
    node.usage = "X" if saved != "X" else "R"
    try:
        assert differences(used, fresh_map(map_file, map_path)) != []
    finally:
        node.usage = saved
    with pytest.raises(DeprecationWarning):
        node.reset_cur_count()
