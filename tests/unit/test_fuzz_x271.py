"""Fuzzing the 271 reader: mutated answers are read, or refused with a typed X12 error.

Seeds: the public 271 samples (`tests/data/271/`) and the simulated payer's answers
to our own 270s (every scenario).  Mutations are those of the other readers'
fuzzing (`tests/unit/test_fuzz_readers.py`).  Whatever the bytes, the strict and
the tolerant reads either succeed with well-formed answers or raise an
:class:`edi.segments.X12Error` subclass (never ``IndexError``, ``ValueError``, a
pydantic ``ValidationError``...), and never quote the mutated values.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from edi.segments import X12Error
from edi.tolerance import Warnings
from edi.x271 import iter_271_events
from schemas.eligibility import EligibilityResponse
from tests.fuzzing import fuzz
from tests.unit.test_fuzz_readers import mutations

DATA = Path(__file__).parents[1] / "data" / "271"


@cache
def seeds() -> tuple[bytes, ...]:
    from edi.x270 import render_270
    from tests.claim_factories import partner
    from tests.unit.test_eligibility_round import CLINIC, PAYERS, patient
    from workers.commands.eligibility import inquiries_for
    from workers.payer_sim.eligibility import answer_270

    day = dt.date(2026, 3, 2)
    now = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
    asked = [
        inquiries_for(patient(f"pt{n}", member), CLINIC, PAYERS, day)[0][0].inquiry
        for n, member in enumerate(["M1", "M-INACTIVE", "M-LIMIT", "M-REJECT"])
    ]
    text = render_270(asked, partner=partner(), control_number=1, created_at=now)
    simulated, _ = answer_270(text.encode(), control_number=2, now=now)
    files = tuple(p.read_bytes() for p in sorted(DATA.glob("*.271")))
    return (*files, simulated.encode())


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = draw(st.sampled_from(seeds()))
    for mutation in draw(st.lists(mutations, min_size=1, max_size=3)):
        data = mutation(data)
    return data


def read(data: bytes, warnings: Warnings | None) -> None:
    try:
        answers = list(iter_271_events(data, warnings=warnings))
    except X12Error as exc:
        assert str(exc)
        return
    assert all(isinstance(a, EligibilityResponse) for a in answers)


def test_the_seeds_are_read() -> None:
    for data in seeds():
        assert list(iter_271_events(data, warnings=Warnings()))


@fuzz(max_examples=1500)
@given(mutated())
def test_mutated_answers_raise_only_typed_x12_errors(data: bytes) -> None:
    read(data, None)
    read(data, Warnings())
