"""The 276 claim status request writer (`edi/x276.py`), checked by x12sdk's
independent model of 005010X212 and by reading the segments back."""

from __future__ import annotations

from decimal import Decimal

import pytest

from edi.segments import read_segments
from edi.x276 import RenderedInquiries, X276RenderError, inquiry_of, render_276
from schemas.claims import Claim
from tests import claim_factories as cf
from tests.x12_second_opinion import second_opinion_276


def _segments(text: str) -> list[list[str]]:
    return [list(s.fields) for s in read_segments(text.encode())]


def _render(
    *claims: Claim, numbers: int = 17, payer_claim_number: str | None = None
) -> RenderedInquiries:
    inquiries = [
        inquiry_of(c, trace_number=f"T{n}", payer_claim_number=payer_claim_number)
        for n, c in enumerate(claims, start=1)
    ]
    return render_276(inquiries, cf.partner(), control_number=numbers, created_at=cf.CREATED_AT)


def test_one_claim_has_the_guides_shape_and_passes_x12sdk() -> None:
    claim = cf.commercial_claim(
        lines=[
            cf.line_data(1, service_date="2025-03-03"),
            cf.line_data(2, service_date="2025-03-05", procedure="97124", charge="40.00"),
        ],
    )
    rendered = _render(claim, payer_claim_number="PAYER-77")
    assert second_opinion_276(rendered.text) == []
    segs = _segments(rendered.text)
    ids = [s[0] for s in segs]
    assert ids == ["ISA", "GS", "ST", "BHT", "HL", "NM1", "HL", "NM1", "HL", "NM1", "HL",
                   "DMG", "NM1", "TRN", "REF", "REF", "AMT", "DTP", "SE", "GE", "IEA"]
    by = {(s[0], s[1]): s for s in segs}
    assert segs[1][1] == "HR" and segs[1][8] == "005010X212"
    assert segs[2][1:] == ["276", "0017", "005010X212"]
    assert segs[3][1:3] == ["0010", "13"]
    assert [s[3] for s in segs if s[0] == "HL"] == ["20", "21", "19", "22"]
    assert by[("NM1", "PR")][9] == "EXHP1"
    assert by[("NM1", "1P")][8:10] == ["XX", cf.CLINIC_NPI]
    assert by[("NM1", "IL")][8:10] == ["MI", "MBR123456"]
    assert by[("TRN", "1")][2] == "T1"
    assert by[("REF", "1K")][2] == "PAYER-77"
    assert by[("REF", "EJ")][2] == "PCN1001"
    assert by[("AMT", "T3")][2] == "130.00"
    assert by[("DTP", "472")][2:] == ["RD8", "20250303-20250305"]
    assert rendered.inquiries == 1 and rendered.segment_count == len(segs)


def test_without_payer_claim_number_there_is_no_ref_1k() -> None:
    text = _render(cf.commercial_claim()).text
    assert "REF*1K" not in text
    assert second_opinion_276(text) == []


def test_a_dependent_goes_under_hl_23_and_several_claims_share_their_parents() -> None:
    dependent = cf.commercial_claim(
        claim_id="PCN5-1",
        patient_control_number="PCN5",
        patient={
            "relationship": "19",
            "name": cf.person("Child", "Kim"),
            "birth_date": "2012-01-02",
            "sex": "M",
            "address": cf.HOME_ADDRESS,
        },
        lines=[cf.line_data(1, line_control_number="PCN5-1-L1")],
        total_charge="90.00",
    )
    other_payer = cf.commercial_claim(
        claim_id="PCN6-1",
        patient_control_number="PCN6",
        payer={"name": "Other Plan", "payer_id": "OTH01"},
        lines=[cf.line_data(1, line_control_number="PCN6-1-L1")],
        total_charge="90.00",
    )
    rendered = _render(cf.commercial_claim(), dependent, other_payer)
    assert second_opinion_276(rendered.text) == []
    hls = [s for s in _segments(rendered.text) if s[0] == "HL"]
    # payer 1: 20, 21, 19, 22 (the subscriber's own claim), 22 with the dependent's 23
    assert [(*h[1:4], [*h, ""][4]) for h in hls] == [
        ("1", "", "20", "1"), ("2", "1", "21", "1"), ("3", "2", "19", "1"),
        ("4", "3", "22", "0"), ("5", "3", "22", "1"), ("6", "5", "23", ""),
        ("7", "", "20", "1"), ("8", "7", "21", "1"), ("9", "8", "19", "1"),
        ("10", "9", "22", "0"),
    ]
    assert rendered.inquiries == 3
    assert "NM1*QC*1*Child*Kim" in rendered.text


@pytest.mark.parametrize(
    ("change", "element"),
    [
        ({"subscriber": {"name": cf.organisation("Acme Widgets Inc"), "member_id": "X1",
                         "filing_indicator": "WC"}}, "2100D NM102"),
        ({"payer_claim_number": "A" * 51}, "2200D REF02: length"),
    ],
)
def test_an_inquiry_that_cannot_be_written_names_the_element_never_the_value(
    change: dict[str, object], element: str
) -> None:
    number = change.pop("payer_claim_number", None)
    claim = cf.claim(cf.commercial_claim_data(**change))
    with pytest.raises(X276RenderError) as caught:
        _render(claim, payer_claim_number=number)
    assert element in str(caught.value)
    assert caught.value.patient_control_number == "PCN1001"
    assert "Acme" not in str(caught.value) and "AAAA" not in str(caught.value)


def test_a_missing_member_id_and_a_delimiter_in_a_value_are_refused_by_element() -> None:
    data = cf.commercial_claim_data()
    data["subscriber"] = {**data["subscriber"], "member_id": None}
    with pytest.raises(X276RenderError, match="2100D NM109: required"):
        _render(cf.claim(data))
    with pytest.raises(X276RenderError, match=r"2200D REF02 contains a delimiter") as caught:
        _render(cf.commercial_claim(), payer_claim_number="A*B")
    assert "A*B" not in str(caught.value)


def test_the_same_claim_twice_no_inquiry_and_a_naive_clock_are_refused() -> None:
    claim = cf.commercial_claim()
    with pytest.raises(X276RenderError, match="twice"):
        _render(claim, claim)
    with pytest.raises(X276RenderError, match="at least one"):
        render_276([], cf.partner(), control_number=1, created_at=cf.CREATED_AT)
    inquiry = inquiry_of(claim, trace_number="T", payer_claim_number=None)
    with pytest.raises(X276RenderError, match="timezone"):
        render_276([inquiry], cf.partner(), control_number=1,
                   created_at=cf.CREATED_AT.replace(tzinfo=None))


def test_amounts_are_written_with_two_decimals() -> None:
    claim = cf.commercial_claim()
    inquiry = inquiry_of(claim, trace_number="T", payer_claim_number=None)
    assert inquiry.total_charge == Decimal("130.00")
    assert "AMT*T3*130.00" in render_276([inquiry], cf.partner(), control_number=5,
                                         created_at=cf.CREATED_AT).text
