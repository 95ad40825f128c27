"""ICD-10-CM billable codes by date of service (`schemas/code_sets/icd10cm.py`).

Dates and codes are pinned against the shipped releases: January 2021 (effective
2021-01-01), April 2025 (2025-04-01) and April 2026 (2026-04-01).
"""

from __future__ import annotations

import gzip
from datetime import date
from pathlib import Path

import pytest

from schemas.code_sets import icd10cm
from schemas.code_sets.icd10cm import (
    load_cms_order_file,
    release_for,
    releases,
    seventh_character,
    status,
)

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "icd10cm" / "synthetic-order.txt"
#: What the synthetic order file holds, as the compact release lines.
SAMPLE_LINES = [
    "M54 H",
    "M545 H",
    "M5450 B",
    "M5451 B",
    "M5452 B",
    "M5459 B",
    "S134 H",
    "S134XXA B",
    "S134XXD B",
    "S134XXS B",
]
FY2027 = date(2026, 10, 1)


def test_the_shipped_releases_and_where_they_come_from() -> None:
    shipped = releases()
    assert [r.effective for r in shipped] == [date(2021, 1, 1), date(2025, 4, 1), date(2026, 4, 1)]
    assert [r.label for r in shipped] == [
        "ICD-10-CM January 2021",
        "ICD-10-CM April 2025",
        "ICD-10-CM April 2026",
    ]
    for release, version in zip(shipped, ("1.2.0", "1.3.0", "1.5.0"), strict=True):
        assert release.source.startswith(f"simple-icd-10-cm {version} ")


@pytest.mark.parametrize(
    ("dos", "effective"),
    [
        (date(2021, 1, 1), date(2021, 1, 1)),
        (date(2025, 3, 31), date(2021, 1, 1)),
        (date(2025, 4, 1), date(2025, 4, 1)),
        (date(2026, 3, 31), date(2025, 4, 1)),
        (date(2026, 4, 1), date(2026, 4, 1)),
        (date(2030, 1, 1), date(2026, 4, 1)),
    ],
)
def test_the_release_in_force_is_the_newest_effective_on_the_date(
    dos: date, effective: date
) -> None:
    found = release_for(dos)
    assert found is not None
    assert found.effective == effective


def test_no_release_is_in_force_before_the_oldest() -> None:
    assert release_for(date(2020, 12, 31)) is None


def test_a_code_set_year_ends_on_the_30_september_after_the_effective_date() -> None:
    by_date = {r.effective: r for r in releases()}
    assert by_date[date(2021, 1, 1)].year_ends == date(2021, 9, 30)
    assert by_date[date(2026, 4, 1)].year_ends == date(2026, 9, 30)
    assert by_date[date(2026, 4, 1)].covers(date(2026, 9, 30))
    assert not by_date[date(2026, 4, 1)].covers(date(2026, 10, 1))
    assert not by_date[date(2026, 4, 1)].covers(date(2026, 3, 31))


MASSAGE_CODES = [
    ("M54.5", "header"),
    ("M54.50", "billable"),
    ("M62.83", "header"),
    ("M62.830", "billable"),
    ("M79.1", "header"),
    ("M79.18", "billable"),
    ("S13.4", "header"),
    ("S13.4XXA", "billable"),
    ("S13.4XXD", "billable"),
    ("G44.209", "billable"),
    ("G44.2", "header"),
    ("M99.999", "unknown"),
]


@pytest.mark.parametrize(("code", "expected"), MASSAGE_CODES)
@pytest.mark.parametrize("dos", [date(2025, 6, 1), date(2026, 6, 1)])
def test_massage_codes_in_the_april_releases(code: str, expected: str, dos: date) -> None:
    assert status(code, dos) == expected


@pytest.mark.parametrize("written", ["M54.50", "M5450", "m54.50", " m5450 ", "M54.50\n"])
def test_a_code_is_found_with_or_without_its_dot_in_any_case(written: str) -> None:
    assert status(written, date(2025, 6, 1)) == "billable"


@pytest.mark.parametrize("written", ["", "   ", "M5.450", "M54.", "M54..50", "M545000", "54.50"])
def test_what_is_not_shaped_as_a_code_is_unknown(written: str) -> None:
    assert status(written, date(2025, 6, 1)) == "unknown"


@pytest.mark.parametrize(
    ("code", "dos", "expected"),
    [
        # M54.5 was billable until FY2022 split it (January 2021 release in force).
        ("M54.5", date(2021, 6, 1), "billable"),
        ("M54.50", date(2021, 6, 1), "unknown"),
        ("Z20.822", date(2021, 1, 1), "billable"),  # one of the 1 January 2021 codes
        # S30.1XX- (contusion of lower back and pelvis) was split in FY2026.
        ("S30.1XXA", date(2025, 6, 1), "billable"),
        ("S30.1XXA", date(2026, 6, 1), "unknown"),
        ("S30.11XA", date(2025, 6, 1), "unknown"),
        ("S30.11XA", date(2026, 6, 1), "billable"),
        ("G35", date(2025, 6, 1), "billable"),
        ("G35", date(2026, 6, 1), "header"),
        # FY2026 genetic codes have a letter as their second character.
        ("QA0.0101", date(2026, 6, 1), "billable"),
        ("QA0", date(2026, 6, 1), "header"),
    ],
)
def test_the_answer_follows_the_release_in_force(code: str, dos: date, expected: str) -> None:
    assert status(code, dos) == expected


@pytest.mark.parametrize(
    ("code", "dos", "expected"),
    [
        # FY2022-FY2025 are not shipped: between January 2021 and April 2025 the two
        # releases must agree.
        ("M54.5", date(2023, 1, 1), "unsettled"),  # billable in 2021, a header in 2025
        ("M54.50", date(2023, 1, 1), "unsettled"),
        ("M62.830", date(2023, 1, 1), "billable"),
        ("M62.83", date(2023, 1, 1), "header"),
        ("M99.999", date(2023, 1, 1), "unknown"),
        # October 2025 (FY2026) is not shipped: April 2025 and April 2026 bracket it.
        ("G35", date(2025, 11, 1), "unsettled"),
        ("S30.1XXA", date(2025, 11, 1), "unsettled"),
        ("S13.4XXA", date(2025, 11, 1), "billable"),
        ("M54.5", date(2025, 11, 1), "header"),
    ],
)
def test_a_year_no_release_covers_is_settled_only_by_agreeing_releases(
    code: str, dos: date, expected: str
) -> None:
    assert status(code, dos) == expected


def test_after_the_newest_code_set_year_an_unknown_code_may_be_new() -> None:
    assert status("M99.999", date(2026, 9, 30)) == "unknown"
    assert status("M99.999", FY2027) == "stale-unknown"
    assert status("M99.999", date(2028, 1, 1)) == "stale-unknown"
    assert status("M54.5", FY2027) == "header"
    assert status("M54.50", FY2027) == "billable"


def test_before_every_release_only_a_header_is_known() -> None:
    before = date(2020, 6, 1)
    assert status("M62.830", before) == "no-release"
    assert status("M99.999", before) == "no-release"
    assert status("M62.83", before) == "header"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("S134XXA", "A"),
        ("S13.4XXD", "D"),
        ("s16.1xxs", "S"),
        ("T36.0X1A", "A"),
        ("S13.4", None),
        ("M62.830", None),
        ("M80.011A", None),  # a 7th character, but not Chapter 19
        ("not a code", None),
    ],
)
def test_seventh_character_of_injury_codes(code: str, expected: str | None) -> None:
    assert seventh_character(code) == expected


def test_a_cms_order_file_becomes_a_release_in_the_state_folder(tmp_path: Path) -> None:
    release = load_cms_order_file(SAMPLE, FY2027, tmp_path)
    assert release.effective == FY2027
    assert release.label == "ICD-10-CM October 2026 (CMS order file)"
    assert release.source == "CMS order file synthetic-order.txt"
    with gzip.open(tmp_path / "2026-10-01.txt.gz", "rt") as stored:
        lines = stored.read().splitlines()
    assert lines[0].split("\t") == ["#ICD-10-CM", "2026-10-01", release.label, release.source]
    assert lines[1:] == SAMPLE_LINES
    assert releases(tmp_path)[-1] == release
    assert len(releases(tmp_path)) == 4
    assert release_for(date(2026, 11, 1), tmp_path) == release
    assert release_for(date(2026, 9, 30), tmp_path) == releases()[-1]


def test_the_loaded_release_answers_from_its_effective_date(tmp_path: Path) -> None:
    load_cms_order_file(SAMPLE, FY2027, tmp_path)
    assert status("M54.52", date(2026, 11, 1), tmp_path) == "billable"
    assert status("M54.52", date(2026, 11, 1)) == "stale-unknown"  # without the folder
    assert status("M54.52", date(2026, 6, 1), tmp_path) == "unknown"  # April 2026 in force
    assert status("M54.5", date(2026, 11, 1), tmp_path) == "header"
    # The synthetic release lacks M62.830: the new release, not April 2026, answers.
    assert status("M62.830", date(2026, 11, 1), tmp_path) == "unknown"
    assert status("M62.830", date(2027, 10, 1), tmp_path) == "stale-unknown"


def test_a_stored_release_replaces_the_shipped_one_of_its_date(tmp_path: Path) -> None:
    load_cms_order_file(SAMPLE, date(2026, 4, 1), tmp_path, label="corrected April 2026")
    by_date = {r.effective: r for r in releases(tmp_path)}
    assert len(by_date) == 3
    assert by_date[date(2026, 4, 1)].label == "corrected April 2026"
    assert status("M62.830", date(2026, 6, 1), tmp_path) == "unknown"
    assert status("M62.830", date(2026, 6, 1)) == "billable"


def test_crlf_order_files_are_read(tmp_path: Path) -> None:
    crlf = tmp_path / "order-crlf.txt"
    crlf.write_bytes(SAMPLE.read_bytes().replace(b"\n", b"\r\n"))
    release = load_cms_order_file(crlf, FY2027, tmp_path / "state")
    assert status("S13.4XXA", FY2027, tmp_path / "state") == "billable"
    assert release.source == "CMS order file order-crlf.txt"


def _sample_with(tmp_path: Path, line: str) -> Path:
    bad = tmp_path / "bad-order.txt"
    bad.write_text(SAMPLE.read_text() + line + "\n")
    return bad


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("00011 M5460   2 Flag two", "not an order-file line"),
        ("0001X M5460   1 Order number with a letter", "not an order-file line"),
        ("00011 M54.60  1 A dot in the code", "not an order-file line"),
        ("00011 M5450   1 Low back pain, again", "appears twice"),
        ("00011 M5459X  1 A child of a valid code", "valid code has children"),
        ("00011 M546    0 A header without children", "header has no children"),
    ],
)
def test_a_malformed_order_file_is_refused(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_cms_order_file(_sample_with(tmp_path, line), FY2027, tmp_path / "state")
    assert not (tmp_path / "state" / "2026-10-01.txt.gz").exists()


def test_codes_are_loaded_lazily_once_per_release() -> None:
    icd10cm._table.cache_clear()
    releases()
    assert icd10cm._table.cache_info().currsize == 0
    status("M54.50", date(2026, 6, 1))
    status("M54.5", date(2026, 6, 1))
    info = icd10cm._table.cache_info()
    assert (info.currsize, info.misses, info.hits) == (1, 1, 1)


@pytest.mark.parametrize(
    ("effective", "billable", "headers"),
    [
        (date(2021, 1, 1), 72_621, 22_737),
        (date(2025, 4, 1), 74_260, 23_324),
        (date(2026, 4, 1), 74_719, 23_467),
    ],
)
def test_each_shipped_file_is_a_sorted_tree_of_leaves_and_headers(
    effective: date, billable: int, headers: int
) -> None:
    """Counts pinned; a billable code has no children and a header has some."""
    release = next(r for r in releases() if r.effective == effective)
    text = gzip.decompress(release.data.read_bytes()).decode("ascii")
    rows = [line.split(" ") for line in text.splitlines()[1:]]
    codes = [code for code, _ in rows]
    assert codes == sorted(set(codes))
    assert sum(flag == "B" for _, flag in rows) == billable
    assert sum(flag == "H" for _, flag in rows) == headers
    for (code, flag), after in zip(rows, [*codes[1:], ""], strict=True):
        assert after.startswith(code) == (flag == "H"), code
