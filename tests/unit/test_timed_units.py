"""Minutes to units: CMS's worked examples under both policies, and properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.pricing.timed_units import compute, total_units_for

UNTIMED = frozenset({"97010"})


def units(policy: str, *entries: tuple[str, int]) -> dict[str, int]:
    return {r.code: r.units for r in compute(policy, list(entries), UNTIMED)}


# CMS manual 100-04 ch.5 §20.2 examples, and the AMA count of the same minutes.
@pytest.mark.parametrize(
    ("entries", "cms", "ama"),
    [
        ([("97112", 24), ("97110", 23)], {"97112": 2, "97110": 1}, {"97112": 2, "97110": 2}),
        ([("97112", 20), ("97110", 20)], {"97112": 2, "97110": 1}, {"97112": 1, "97110": 1}),
        ([("97110", 33), ("97140", 7)], {"97110": 2, "97140": 1}, {"97110": 2, "97140": 0}),
        (
            [("97110", 18), ("97140", 13), ("97116", 10), ("97035", 8)],
            {"97110": 1, "97140": 1, "97116": 1, "97035": 0},
            {"97110": 1, "97140": 1, "97116": 1, "97035": 1},
        ),
        (
            [("97112", 7), ("97110", 7), ("97140", 7)],
            {"97112": 1, "97110": 0, "97140": 0},
            {"97112": 0, "97110": 0, "97140": 0},
        ),
        ([("97010", 10), ("97140", 45)], {"97010": 1, "97140": 3}, {"97010": 1, "97140": 3}),
        ([("97110", 10), ("97116", 10)], {"97110": 1, "97116": 0}, {"97110": 1, "97116": 1}),
    ],
)
def test_worked_examples(entries: list, cms: dict, ama: dict) -> None:
    assert units("cms", *entries) == cms
    assert units("ama", *entries) == ama


def test_equal_leftovers_go_to_more_minutes_then_first_performed() -> None:
    # leftovers 5 and 5; 35 > 20 minutes wins the extra unit
    assert units("cms", ("97110", 20), ("97140", 35)) == {"97110": 1, "97140": 3}
    # same minutes: the first performed wins
    assert units("cms", ("97140", 20), ("97110", 20)) == {"97140": 2, "97110": 1}


def test_a_code_given_twice_adds_its_minutes() -> None:
    assert units("ama", ("97140", 5), ("97124", 30), ("97140", 5)) == {"97140": 1, "97124": 2}


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (7, 0),
        (8, 1),
        (22, 1),
        (23, 2),
        (37, 2),
        (38, 3),
        (52, 3),
        (53, 4),
        (67, 4),
        (68, 5),
        (82, 5),
    ],
)
def test_the_eight_minute_table(minutes: int, expected: int) -> None:
    assert total_units_for(minutes) == expected


codes = st.sampled_from(["97110", "97112", "97124", "97140", "97530", "97010"])
sessions = st.lists(st.tuples(codes, st.integers(1, 240)), min_size=1, max_size=8)


@settings(max_examples=400)
@given(sessions)
def test_cms_total_is_the_eight_minute_rule_and_codes_stay_in_their_band(entries: list) -> None:
    result = compute("cms", entries, UNTIMED)
    timed = [r for r in result if r.timed]
    if timed:
        assert sum(r.units for r in timed) == total_units_for(sum(r.minutes for r in timed))
    for r in timed:
        assert r.minutes // 15 <= r.units <= r.minutes // 15 + 1
    for r in result:
        if not r.timed:
            assert r.units == 1
    assert [r.code for r in result] == list(dict.fromkeys(c for c, _ in entries))


@settings(max_examples=400)
@given(sessions)
def test_ama_is_per_code(entries: list) -> None:
    result = compute("ama", entries, UNTIMED)
    for r in result:
        assert r.units == (1 if not r.timed else total_units_for(r.minutes))
