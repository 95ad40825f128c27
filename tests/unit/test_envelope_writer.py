"""The envelope writer (`edi.envelope_writer`): counts, control numbers, dates, delimiters,
and the calls it refuses because they would write a broken envelope."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edi.envelope import check_envelopes
from edi.envelope_writer import EnvelopeWriter
from edi.segments import (
    DEFAULT_DELIMITERS,
    Delimiters,
    Segment,
    X12DelimiterError,
    X12EnvelopeError,
    X12RenderError,
    read_segments,
)

WHEN = dt.datetime(2025, 3, 4, 9, 5, 59, tzinfo=dt.UTC)


def opened(
    delimiters: Delimiters = DEFAULT_DELIMITERS,
    *,
    line_break: bool = True,
    control_number: int = 42,
    created_at: dt.datetime = WHEN,
) -> EnvelopeWriter:
    """A writer with its ISA written."""
    out = EnvelopeWriter(delimiters, line_break=line_break)
    out.open_interchange(
        sender_id="SENDER",
        receiver_id="RECEIVER",
        control_number=control_number,
        created_at=created_at,
    )
    return out


def group(out: EnvelopeWriter, control_number: int = 7) -> None:
    out.open_group(
        "HC", sender_code="GSS", receiver_code="GSR", control_number=control_number, guide="G1"
    )


def transaction(out: EnvelopeWriter, control: str | int, body: int) -> None:
    """ST, ``body`` body segments, SE."""
    out.open_transaction("837", control, "G1")
    for n in range(body):
        out.segment("REF", "EI", str(n))
    out.close_transaction()


def close(out: EnvelopeWriter) -> str:
    out.close_group()
    out.close_interchange()
    return out.text()


def segments(text: str) -> list[Segment]:
    return list(read_segments(text.encode()))


def only(text: str, segment_id: str) -> list[list[str]]:
    return [s.elements for s in segments(text) if s.id == segment_id]


# --- counts -----------------------------------------------------------------------------


def test_se01_counts_the_segments_from_st_to_se_inclusive() -> None:
    """SE01 is ST + body + SE, per transaction set (an empty one is 2), and SE02 repeats ST02."""
    out = opened()
    group(out)
    transaction(out, "0001", body=3)
    transaction(out, "0002", body=0)
    text = close(out)
    assert only(text, "SE") == [["5", "0001"], ["2", "0002"]]
    ids = [s.id for s in segments(text)]
    first_st, first_se = ids.index("ST"), ids.index("SE")
    assert first_se - first_st + 1 == 5


def test_ge01_counts_the_transaction_sets_of_its_own_group_and_iea01_the_groups() -> None:
    """Two groups of 2 and 1 transaction sets: GE01 is 2 then 1 (not a running total),
    GE02 repeats each GS06, IEA01 is 2."""
    out = opened()
    group(out, control_number=7)
    transaction(out, "0001", body=1)
    transaction(out, "0002", body=1)
    out.close_group()
    group(out, control_number=8)
    transaction(out, "0003", body=1)
    text = close(out)
    assert [gs[5] for gs in only(text, "GS")] == ["7", "8"]
    assert only(text, "GE") == [["2", "7"], ["1", "8"]]
    assert only(text, "IEA") == [["2", "000000042"]]


def test_segment_count_is_every_segment_written_isa_to_iea() -> None:
    """``segment_count`` is what a RenderedFile reports: ISA..IEA, envelope included."""
    out = opened()
    group(out)
    transaction(out, 1, body=4)
    text = close(out)
    assert out.segment_count == len(segments(text)) == 1 + 1 + 6 + 1 + 1


@given(
    shape=st.lists(
        st.lists(st.integers(min_value=0, max_value=4), min_size=1, max_size=3),
        min_size=1,
        max_size=3,
    )
)
def test_any_shape_of_interchange_passes_the_envelope_checker(shape: list[list[int]]) -> None:
    """Whatever the number of groups, transaction sets and body segments, the reading side
    (``check_envelopes``) accepts every count and control number the writer wrote."""
    out = opened()
    number = 0
    for g, bodies in enumerate(shape, start=1):
        group(out, control_number=g)
        for body in bodies:
            number += 1
            transaction(out, number, body)
        out.close_group()
    out.close_interchange()
    checked = list(check_envelopes(read_segments(out.text().encode())))
    assert len(checked) == out.segment_count
    assert [s.elements for s in checked if s.id == "GE"] == [
        [str(len(bodies)), str(g)] for g, bodies in enumerate(shape, start=1)
    ]


# --- control numbers, dates, ST03 ---------------------------------------------------------


def test_control_numbers_are_zero_padded_where_x12_requires_it() -> None:
    """ISA13 and IEA02 are 9 digits; an integer ST02 gets at least 4 digits (ST02 is 4-9
    characters), a text ST02 and GS06/GE02 are written as given."""
    out = opened(control_number=42)
    group(out, control_number=7)
    transaction(out, 3, body=0)
    transaction(out, 123456, body=0)
    transaction(out, "00042", body=0)
    text = close(out)
    (isa,) = [s for s in segments(text) if s.id == "ISA"]
    assert isa.element(13) == "000000042"
    assert only(text, "IEA") == [["1", "000000042"]]
    assert [st_[1] for st_ in only(text, "ST")] == ["0003", "123456", "00042"]
    assert [se[1] for se in only(text, "SE")] == ["0003", "123456", "00042"]
    assert only(text, "GE") == [["3", "7"]]


def test_dates_and_times_are_the_local_ones_of_created_at() -> None:
    """ISA09/ISA10 are YYMMDD/HHMM and GS04/GS05 CCYYMMDD/HHMM of ``created_at``'s own
    clock (not converted to UTC); seconds are dropped, not rounded."""
    pacific = dt.datetime(2025, 3, 4, 23, 58, 59, tzinfo=dt.timezone(dt.timedelta(hours=-8)))
    out = opened(created_at=pacific)
    group(out)
    transaction(out, 1, body=0)
    text = close(out)
    isa = segments(text)[0]
    assert (isa.element(9), isa.element(10)) == ("250304", "2358")
    (gs,) = only(text, "GS")
    assert gs[3:5] == ["20250304", "2358"]
    assert gs[6:8] == ["X", "G1"]


def test_gs04_has_8_digits_even_before_the_year_1000() -> None:
    """CCYYMMDD is always 8 digits (``strftime('%Y')`` would write 3 for the year 999)."""
    out = opened(created_at=dt.datetime(999, 1, 2, 3, 4, tzinfo=dt.UTC))
    group(out)
    transaction(out, 1, body=0)
    assert only(close(out), "GS")[0][3] == "09990102"


def test_st03_is_written_only_when_a_guide_is_given() -> None:
    """The 835 has no ST03: ``guide=None`` leaves the element out, not empty."""
    out = opened()
    group(out)
    out.open_transaction("835", "0001")
    out.close_transaction()
    out.open_transaction("999", "0002", "005010X231A1")
    out.close_transaction()
    text = close(out)
    assert "ST*835*0001~\n" in text
    assert "ST*999*0002*005010X231A1~\n" in text


def test_a_naive_created_at_is_refused() -> None:
    """Without a time zone ISA09/ISA10 would depend on where the writer runs."""
    with pytest.raises(X12RenderError, match="timezone-aware"):
        opened(created_at=dt.datetime(2025, 3, 4, 9, 5))


# --- delimiters and line breaks -----------------------------------------------------------


def test_the_partners_delimiters_without_line_breaks() -> None:
    """Every envelope segment uses the partner's element separator and terminator, ISA11
    and ISA16 carry its repetition and component separators, and no line break is added."""
    delimiters = Delimiters(element="|", component=">", repetition="!", segment="\n")
    out = opened(delimiters, line_break=False, control_number=1)
    group(out)
    out.open_transaction("837", 1, "G1")
    out.segment("SV1", ("HC", "97140"), "40")
    out.close_transaction()
    text = close(out)
    assert "*" not in text and "~" not in text and "\n\n" not in text
    assert text.endswith("ST|837|0001|G1\nSV1|HC>97140|40\nSE|3|0001\nGE|1|7\nIEA|1|000000001\n")
    isa = text.split("\n", 1)[0]
    assert isa[82] == "!" and isa[104] == ">"
    assert len(isa) + 1 == 106


@pytest.mark.parametrize(("line_break", "end"), [(True, "~\n"), (False, "~")])
def test_line_break_after_every_segment_or_none(line_break: bool, end: str) -> None:
    """With the default delimiters, each of the segments ends ``~\\n`` or just ``~``."""
    out = opened(line_break=line_break)
    group(out)
    transaction(out, 1, body=2)
    text = close(out)
    assert text.count(end) == out.segment_count
    assert text.count("\n") == (out.segment_count if line_break else 0)


def test_a_value_holding_a_delimiter_is_refused_and_changes_nothing() -> None:
    """A refused GS or ST names the element and is not counted: IEA01 and GE01 are 1, and
    SE01 counts from the ST that was written."""
    out = opened()
    with pytest.raises(X12DelimiterError, match="GS02"):
        out.open_group("HC", sender_code="A~B", receiver_code="R", control_number=1, guide="G")
    group(out)
    with pytest.raises(X12DelimiterError, match="ST02"):
        out.open_transaction("837", "00*1", "G1")
    transaction(out, "0001", body=1)
    text = close(out)
    assert [s.id for s in segments(text)] == ["ISA", "GS", "ST", "REF", "SE", "GE", "IEA"]
    assert only(text, "SE") == [["3", "0001"]]
    assert only(text, "GE") == [["1", "7"]]
    assert only(text, "IEA") == [["1", "000000042"]]
    assert out.segment_count == 7


# --- refused calls ------------------------------------------------------------------------


def _in_transaction() -> EnvelopeWriter:
    out = opened()
    group(out)
    out.open_transaction("837", 1, "G1")
    return out


def _in_group() -> EnvelopeWriter:
    out = opened()
    group(out)
    return out


def _closed() -> EnvelopeWriter:
    out = opened()
    group(out)
    transaction(out, 1, body=0)
    out.close_group()
    out.close_interchange()
    return out


def _isa(out: EnvelopeWriter) -> None:
    out.open_interchange(sender_id="S", receiver_id="R", control_number=1, created_at=WHEN)


MISUSE: list[tuple[str, Callable[[], EnvelopeWriter], Callable[[EnvelopeWriter], object]]] = [
    ("GE inside a transaction set: missing SE", _in_transaction, EnvelopeWriter.close_group),
    ("IEA inside a functional group: missing GE", _in_group, EnvelopeWriter.close_interchange),
    ("missing IEA", _in_group, EnvelopeWriter.text),
    ("missing IEA", _in_transaction, EnvelopeWriter.text),
    ("REF outside a transaction set", _in_group, lambda out: out.segment("REF", "EI", "1")),
    ("REF outside a transaction set", _closed, lambda out: out.segment("REF", "EI", "1")),
    ("SE is an envelope segment", _in_transaction, lambda out: out.segment("SE", "9", "0001")),
    ("GE is an envelope segment", _in_transaction, lambda out: out.segment("GE", "1", "7")),
    ("ST before the SE", _in_transaction, lambda out: out.open_transaction("837", 2)),
    ("ST outside a functional group", opened, lambda out: out.open_transaction("837", 2)),
    ("GS before the GE", _in_group, group),
    ("GS outside an interchange", _closed, group),
    ("ISA before the IEA", _in_group, _isa),
    ("SE without ST", _in_group, EnvelopeWriter.close_transaction),
    ("GE without GS", opened, EnvelopeWriter.close_group),
    ("IEA without ISA", _closed, EnvelopeWriter.close_interchange),
]


@pytest.mark.parametrize(("message", "state", "call"), MISUSE)
def test_calls_that_would_break_the_envelope_are_refused(
    message: str, state: Callable[[], EnvelopeWriter], call: Callable[[EnvelopeWriter], object]
) -> None:
    """Each raises X12EnvelopeError, which is deliberately not an X12RenderError: the
    writers relabel render errors as bad claim data, and this is a bug in the writer."""
    out = state()
    with pytest.raises(X12EnvelopeError, match=message) as caught:
        call(out)
    assert not isinstance(caught.value, X12RenderError)


def test_a_group_is_refused_before_any_interchange() -> None:
    """A fresh writer has no ISA, so there is nothing for a GS to belong to."""
    with pytest.raises(X12EnvelopeError, match="GS outside an interchange"):
        group(EnvelopeWriter(line_break=True))


def test_a_second_interchange_may_follow_a_closed_one() -> None:
    """After IEA a new ISA starts afresh: its IEA01 counts only its own groups."""
    out = _closed()
    out.open_interchange(sender_id="S", receiver_id="R", control_number=43, created_at=WHEN)
    group(out, control_number=9)
    transaction(out, 1, body=0)
    text = close(out)
    assert only(text, "IEA") == [["1", "000000042"], ["1", "000000043"]]
    assert len(list(check_envelopes(read_segments(text.encode())))) == out.segment_count
