"""The 270 writer: structure, envelope counts, and x12sdk's independent reading."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from edi.envelope import check_envelopes
from edi.segments import read_segments
from edi.x270 import X270RenderError, render_270
from schemas.common import PersonName
from schemas.eligibility import (
    DEFAULT_SERVICE_TYPES,
    CoverageKey,
    EligibilityInquiry,
    InquiryPerson,
    parse_trace,
)
from tests.claim_factories import partner
from tests.x12_second_opinion import second_opinion_270

CREATED = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
SAMPLES = Path(__file__).parents[1] / "data" / "270"


def inquiry(patient: str = "pt1", *, dependent: bool = False, **over: object) -> EligibilityInquiry:
    data: dict[str, object] = {
        "coverage": CoverageKey(clinic_id="c1", patient_id=patient, payer_id="p1"),
        "coverage_id": "cov1",
        "asked_from": dt.date(2026, 3, 2),
        "payer_name": "ACME HEALTH",
        "payer_edi_id": "ACME01",
        "provider_name": "GOOD HANDS MASSAGE",
        "provider_npi": "1234567893",
        "provider_tax_id": "123456789",
        "subscriber": InquiryPerson(
            name=PersonName(first_name="ANA", last_name="DOE"),
            birth_date=dt.date(1980, 1, 2),
            member_id="M123",
        ),
        "service_types": list(DEFAULT_SERVICE_TYPES),
    }
    if dependent:
        data["dependent"] = InquiryPerson(
            name=PersonName(first_name="BEN", last_name="DOE"), birth_date=dt.date(2010, 5, 6)
        )
    data.update(over)
    return EligibilityInquiry.model_validate(data)


def ids(text: str) -> list[str]:
    return [s.id for s in read_segments(text.encode())]


def test_a_batch_is_one_interchange_with_a_270_per_coverage() -> None:
    text = render_270(
        [inquiry("pt1"), inquiry("pt2", dependent=True)],
        partner=partner(),
        control_number=42,
        created_at=CREATED,
    )
    segments = list(check_envelopes(read_segments(text.encode())))
    gs = next(s for s in segments if s.id == "GS")
    assert gs.element(1) == "HS" and gs.element(8) == "005010X279A1"
    assert [s.element(1) for s in segments if s.id == "ST"] == ["270", "270"]
    assert [s.elements for s in segments if s.id == "EQ"][:4] == [["30"], ["AE"], ["BE"], ["PT"]]
    trns = [s for s in segments if s.id == "TRN"]
    assert [parse_trace(t.element(2)) for t in trns] == [
        (CoverageKey(clinic_id="c1", patient_id=p, payer_id="p1"), dt.date(2026, 3, 2))
        for p in ("pt1", "pt2")
    ]
    assert trns[0].element(3) == "1123456789"
    # the dependent: 2000D under the subscriber, the trace and the EQs in it
    hls = [s.elements for s in segments if s.id == "HL"]
    assert hls[3:] == [["1", "", "20", "1"], ["2", "1", "21", "1"], ["3", "2", "22", "1"],
                       ["4", "3", "23", "0"]]  # fmt: skip


def test_x12sdk_reads_every_270_we_write() -> None:
    text = render_270(
        [inquiry("pt1"), inquiry("pt2", dependent=True),
         inquiry("pt3", asked_to=dt.date(2026, 3, 31), service_types=["30"])],
        partner=partner(),
        control_number=7,
        created_at=CREATED,
    )  # fmt: skip
    assert second_opinion_270(text) == []


def test_the_second_opinion_sees_a_broken_270() -> None:
    text = render_270([inquiry()], partner=partner(), control_number=7, created_at=CREATED)
    broken = text.replace("NM1*PR*2*ACME HEALTH*****PI*ACME01~\n", "")
    assert second_opinion_270(broken)


@pytest.mark.parametrize("sample", sorted(SAMPLES.glob("*.270")), ids=lambda p: p.name[:40])
def test_the_second_opinion_accepts_the_public_samples(sample: Path) -> None:
    assert second_opinion_270(sample.read_text()) == []


def test_ids_too_long_for_trn02_are_refused_by_position() -> None:
    long = "x" * 40
    with pytest.raises(X270RenderError, match="inquiry 2: TRN02"):
        render_270(
            [inquiry(), inquiry(long)], partner=partner(), control_number=1, created_at=CREATED
        )


def test_a_delimiter_in_a_value_names_the_element_not_the_value() -> None:
    bad = inquiry(payer_name="ACME*HEALTH")
    with pytest.raises(X270RenderError) as err:
        render_270([bad], partner=partner(), control_number=1, created_at=CREATED)
    assert "ACME" not in str(err.value) and "inquiry 1" in str(err.value)
