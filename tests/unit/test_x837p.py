"""The 837P renderer: golden files, envelope and loop structure, text cleaning, refusals.

Golden files live in ``tests/data/837/golden/``.  After an intended change to
the output, regenerate them with::

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_x837p.py -k golden

and review the diff.  Every golden file must also validate clean with pyx12.
"""

from __future__ import annotations

import os
import string
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edi.segments import Segment, X12RenderError, read_segments
from edi.validate import validate_x12
from edi.x837p import ClaimRenderError, render_837p, transliterate
from schemas.claims import Claim, ControlNumbers
from schemas.identifiers import npi_with_check_digit
from tests import claim_factories as f

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "data" / "837" / "golden"

GOLDEN_CASES: dict[str, tuple[Callable[[], Claim], dict[str, Any]]] = {
    "commercial": (f.commercial_claim, {}),
    "auto_pip": (
        f.auto_pip_claim,
        {"send_initial_treatment_date": True, "send_billing_taxonomy": True},
    ),
    "workers_comp": (f.workers_comp_claim, {}),
    "replacement": (f.replacement_claim, {}),
    "void": (f.void_claim, {}),
}


def render(claims: list[Claim], **partner_over: Any) -> str:
    return render_837p(claims, f.partner(**partner_over), f.NUMBERS, f.CREATED_AT).text


def segments(text: str) -> list[Segment]:
    return list(read_segments(text.encode("utf-8")))


def ids(text: str) -> list[str]:
    return [s.id for s in segments(text)]


def find(text: str, segment_id: str, first: str | None = None) -> list[Segment]:
    return [
        s for s in segments(text) if s.id == segment_id and (first is None or s.element(1) == first)
    ]


# --- golden files -----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_golden(name: str) -> None:
    make, partner_over = GOLDEN_CASES[name]
    text = render([make()], **partner_over)
    path = GOLDEN_DIR / f"{name}.x12"
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="ascii", newline="")
    assert text == path.read_text(encoding="ascii")


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_golden_file_validates_clean_with_pyx12(name: str) -> None:
    report = validate_x12((GOLDEN_DIR / f"{name}.x12").read_bytes())
    assert report.ok, [str(x) for x in report.findings]
    assert report.findings == []


def test_golden_files_show_what_each_case_is_about() -> None:
    auto = (GOLDEN_DIR / "auto_pip.x12").read_text()
    assert "SBR*P*18*******AM~" in auto
    assert "CLM*PCN2002*90.00***11:B:1*Y*A*Y*Y**AA:::NY~" in auto
    assert "DTP*454*D8*20250224~\nDTP*439*D8*20250220~" in auto
    assert "REF*Y4*PIP55501~" in auto
    assert "PRV*BI*PXC*261QR0400X~" in auto
    comp = (GOLDEN_DIR / "workers_comp.x12").read_text()
    assert "SBR*P********WC~\nNM1*IL*2*Acme Widgets Inc*****MI*WCPOL4455~" in comp
    assert "HL*3*2*23*0~\nPAT*20~\nNM1*QC*1*Worker*Wes~" in comp
    assert "CLM*PCN3003*90.00***11:B:1*Y*A*Y*Y**EM~\nDTP*439*D8*20250115~" in comp
    assert "REF*Y4*WC2025001~" in comp
    assert "11:B:7*" in (GOLDEN_DIR / "replacement.x12").read_text()
    assert "REF*F8*PAYERCLM0001~" in (GOLDEN_DIR / "replacement.x12").read_text()
    assert "11:B:8*" in (GOLDEN_DIR / "void.x12").read_text()
    assert "REF*F8*PAYERCLM0001~" in (GOLDEN_DIR / "void.x12").read_text()


# --- envelope --------------------------------------------------------------------------


def test_envelope_numbers_and_counts_match() -> None:
    numbers = ControlNumbers(interchange=42, group=7, transaction=3)
    result = render_837p(f.many_claims(3), f.partner(), numbers, f.CREATED_AT)
    segs = segments(result.text)
    isa, gs, st_, se, ge, iea = (
        next(s for s in segs if s.id == i) for i in ("ISA", "GS", "ST", "SE", "GE", "IEA")
    )
    assert len(result.text.split("\n", 1)[0]) == 106
    assert isa.element(13) == "000000042" and iea.elements == ["1", "000000042"]
    assert gs.element(6) == "7" and ge.elements == ["1", "7"]
    assert gs.element(1) == "HC" and gs.element(8) == "005010X222A1"
    assert gs.element(4) == "20250314" and gs.element(5) == "0926"
    assert st_.elements == ["837", "0003", "005010X222A1"]
    assert se.element(2) == "0003"
    st_index = segs.index(st_)
    assert int(se.element(1)) == segs.index(se) - st_index + 1
    assert result.segment_count == len(segs)
    assert result.claim_count == 3
    assert result.control_numbers == numbers
    assert result.created_at == f.CREATED_AT
    bht = find(result.text, "BHT")[0]
    assert bht.elements == ["0019", "00", "0000000420003", "20250314", "0926", "CH"]


def test_isa_usage_and_ids_come_from_the_partner() -> None:
    text = render(
        [f.commercial_claim()], usage="P", isa_sender_qualifier="30", isa_sender_id="991234567"
    )
    isa = segments(text)[0]
    assert isa.element(5) == "30" and isa.element(6) == "991234567      "
    assert isa.element(15) == "P"
    assert isa.element(11) == "^" and isa.element(16) == ":"


def test_partner_delimiters_and_no_line_breaks() -> None:
    partner_over = {
        "element_separator": "|",
        "component_separator": ">",
        "repetition_separator": "!",
        "segment_terminator": "'",
        "line_break_after_segment": False,
    }
    text = render([f.commercial_claim(), f.workers_comp_claim()], **partner_over)
    assert "\n" not in text
    assert text.startswith("ISA|00|") and text[104:106] == ">'"
    assert "SV1|HC>97140>GP|90.00|UN|2|||1>2'" in text
    report = validate_x12(text)
    assert report.ok, [str(x) for x in report.findings]


def test_line_breaks_after_every_segment_by_default() -> None:
    text = render([f.commercial_claim()])
    lines = text.split("\n")
    assert lines[-1] == ""
    assert all(line.endswith("~") for line in lines[:-1])


def test_short_transaction_numbers_are_zero_padded_to_four_digits() -> None:
    numbers = ControlNumbers(interchange=1, group=1, transaction=12345)
    text = render_837p([f.commercial_claim()], f.partner(), numbers, f.CREATED_AT).text
    assert "ST*837*12345*005010X222A1~" in text and "SE*33*12345~" in text


# --- hierarchy ------------------------------------------------------------------------------


def test_hl_ids_parents_and_child_codes_follow_what_was_written() -> None:
    other = f.billing_provider_data(npi=f.SECOND_CLINIC_NPI, name="Second Clinic")
    claims = [
        f.commercial_claim(),
        f.workers_comp_claim(billing_provider=other),
        f.auto_pip_claim(),
    ]
    text = render(claims)
    hls = [s.elements for s in find(text, "HL")]
    assert hls == [
        ["1", "", "20", "1"],
        ["2", "1", "22", "0"],  # commercial: patient is the subscriber
        ["3", "1", "22", "0"],  # auto PIP shares the first billing provider
        ["4", "", "20", "1"],
        ["5", "4", "22", "1"],  # workers' comp: a patient loop follows
        ["6", "5", "23", "0"],
    ]
    clms = [s.element(1) for s in find(text, "CLM")]
    assert clms == ["PCN1001", "PCN2002", "PCN3003"]
    assert [s.element(3) for s in find(text, "NM1", "85")] == [
        "Springfield Massage Clinic",
        "Second Clinic",
    ]
    assert validate_x12(text).ok


def test_billing_taxonomy_only_when_the_partner_asks() -> None:
    assert find(render([f.commercial_claim()]), "PRV", "BI") == []
    prv = find(render([f.commercial_claim()], send_billing_taxonomy=True), "PRV", "BI")
    assert [s.elements for s in prv] == [["BI", "PXC", f.CLINIC_TAXONOMY]]


def test_billing_provider_contact_only_with_a_phone() -> None:
    text = render([f.commercial_claim()])
    assert "PER*IC**TE*5555550111~" in text
    no_phone = f.billing_provider_data(contact_phone=None)
    assert "PER*IC**TE" not in render([f.commercial_claim(billing_provider=no_phone)])


def test_submitter_contact_by_email() -> None:
    submitter = {
        "name": "Test Billing Co",
        "id": "SUB0001",
        "contact_name": "Desk",
        "contact_email": "edi@example.test",
    }
    text = render([f.commercial_claim()], submitter=submitter)
    assert "PER*IC*Desk*EM*edi@example.test~" in text


# --- claim content ------------------------------------------------------------------------


def test_initial_treatment_date_only_when_partner_wants_it_and_it_is_known() -> None:
    claim = f.auto_pip_claim()
    assert find(render([claim]), "DTP", "454") == []
    assert [
        s.element(3) for s in find(render([claim], send_initial_treatment_date=True), "DTP", "454")
    ] == ["20250224"]
    plain = f.commercial_claim()
    assert find(render([plain], send_initial_treatment_date=True), "DTP", "454") == []


def test_rendering_provider_left_out_when_it_is_the_billing_provider() -> None:
    same = {"name": f.person("Therapist", "Tess"), "npi": f.CLINIC_NPI}
    text = render([f.commercial_claim(rendering=same)])
    assert find(text, "NM1", "82") == [] and find(text, "PRV", "PE") == []
    without_taxonomy = {"name": f.person("Therapist", "Tess"), "npi": f.THERAPIST_NPI}
    text = render([f.commercial_claim(rendering=without_taxonomy)])
    assert len(find(text, "NM1", "82")) == 1 and find(text, "PRV", "PE") == []


def test_related_causes_composite_and_references_in_guide_order() -> None:
    claim = f.auto_pip_claim(
        related_causes={"codes": ["EM", "AA"], "state": "NJ", "accident_date": "2025-02-20"},
        referral_number="R1",
        prior_authorization="A1",
    )
    text = render([claim])
    assert "*Y*A*Y*Y**EM:AA::NJ~" in text
    refs = [s.element(1) for s in segments(text) if s.id == "REF"]
    assert refs.index("9F") < refs.index("G1")
    assert validate_x12(text).ok


def test_twelve_diagnoses_and_service_line_composites() -> None:
    codes = [
        "M5450",
        "M6283",
        "M542",
        "M545",
        "M79601",
        "M7918",
        "S134XXA",
        "S161XXA",
        "M546",
        "G4486",
        "R51",
        "M6240",
    ]
    lines = [
        f.line_data(1, modifiers=["GP", "59", "XS", "KX"], diagnosis_pointers=[12, 1, 5, 7]),
        f.line_data(
            2, procedure="97010", modifiers=[], charge="15", units=1, diagnosis_pointers=[3]
        ),
    ]
    claim = f.commercial_claim(diagnosis_codes=codes, lines=lines, total_charge="105")
    text = render([claim])
    hi = find(text, "HI")[0]
    assert hi.elements == ["ABK:M5450", *[f"ABF:{c}" for c in codes[1:]]]
    assert "SV1*HC:97140:GP:59:XS:KX*90.00*UN*2***12:1:5:7~" in text
    assert "SV1*HC:97010*15.00*UN*1***3~" in text
    assert "CLM*PCN1001*105.00*" in text
    assert [s.element(1) for s in find(text, "LX")] == ["1", "2"]
    assert [s.element(2) for s in find(text, "REF", "6R")] == ["PCN1001-1-L1", "PCN1001-1-L2"]
    assert validate_x12(text).ok


# --- text cleaning -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("José", ("Jose", 1)),
        ("Ö", ("O", 1)),
        ("Straße", ("Strasse", 1)),
        ("Æsir Ørsted", ("AEsir Orsted", 2)),
        ("O\u2019Brien \u2013 Smith", ("O'Brien - Smith", 2)),
        ("tab\there", ("tab here", 1)),
        ("李Lee😀", ("Lee", 2)),
        ("plain ASCII", ("plain ASCII", 0)),
        ("\uff26\uff55\uff4c\uff4c\uff0a", ("Full*", 5)),  # full-width "Full*",
    ],
)
def test_transliterate(raw: str, expected: tuple[str, int]) -> None:
    assert transliterate(raw) == expected


def test_names_outside_the_x12_set_are_transliterated_and_recorded_without_values() -> None:
    patient = {
        **f.workers_comp_claim_data()["patient"],
        "name": f.person("Müller-Łukasz", "José", "Ö"),
    }
    subscriber = {**f.commercial_claim_data()["subscriber"]}
    claims = [
        f.workers_comp_claim(patient=patient),
        f.commercial_claim(
            subscriber={**subscriber, "address": {**f.HOME_ADDRESS, "line1": "12 Große Straße"}}
        ),
    ]
    result = render_837p(claims, f.partner(), f.NUMBERS, f.CREATED_AT)
    assert "NM1*QC*1*Muller-Lukasz*Jose*O~" in result.text
    assert "N3*12 Grosse Strasse~" in result.text
    assert result.text.isascii()
    notes = result.transliterations
    assert len(notes) == 4
    assert any("PCN3003" in n and "2010CA" in n and "NM103" in n for n in notes)
    assert any("PCN3003" in n and "2010CA" in n and "NM105" in n for n in notes)
    assert any("PCN1001" in n and "2010BA" in n and "N301" in n for n in notes)
    for note in notes:
        for value in ("Müller", "Muller", "José", "Jose", "Große", "Grosse", "Lukasz"):
            assert value not in note
    assert validate_x12(result.text).ok


def test_a_value_with_nothing_left_after_cleaning_is_refused() -> None:
    patient = {**f.workers_comp_claim_data()["patient"], "name": f.person("李", "Wes")}
    with pytest.raises(ClaimRenderError, match=r"claim PCN3003, loop 2010CA: NM103 is empty"):
        render([f.workers_comp_claim(patient=patient)])


def test_white_space_around_values_is_trimmed_silently() -> None:
    subscriber = {**f.commercial_claim_data()["subscriber"], "name": f.person(" Sample ", "Pat ")}
    result = render_837p(
        [f.commercial_claim(subscriber=subscriber)], f.partner(), f.NUMBERS, f.CREATED_AT
    )
    assert "NM1*IL*1*Sample*Pat****MI*MBR123456~" in result.text
    assert result.transliterations == []


# --- refusals ----------------------------------------------------------------------------------

INJECTIONS = ["Smith*Jr", "Smith~ISA", "Smith:X", "Smith^2", "Smith\uff0aJr"]


@pytest.mark.parametrize("value", INJECTIONS)
def test_a_subscriber_name_cannot_inject_delimiters(value: str) -> None:
    subscriber = {**f.commercial_claim_data()["subscriber"], "name": f.person(value, "Pat")}
    with pytest.raises(ClaimRenderError) as caught:
        render([f.commercial_claim(subscriber=subscriber)])
    message = str(caught.value)
    assert message.startswith("claim PCN1001, loop 2010BA: NM103 contains a delimiter")
    assert "Smith" not in message and caught.value.patient_control_number == "PCN1001"
    assert isinstance(caught.value, X12RenderError)


@pytest.mark.parametrize("value", INJECTIONS)
def test_a_patient_first_name_cannot_inject_delimiters(value: str) -> None:
    patient = {**f.workers_comp_claim_data()["patient"], "name": f.person("Worker", value)}
    with pytest.raises(
        ClaimRenderError, match=r"^claim PCN3003, loop 2010CA: NM104 contains a delimiter"
    ) as caught:
        render([f.workers_comp_claim(patient=patient)])
    assert "Smith" not in str(caught.value)


def test_a_delimiter_in_an_address_or_reference_is_refused_with_its_place() -> None:
    subscriber = {
        **f.commercial_claim_data()["subscriber"],
        "address": {**f.HOME_ADDRESS, "line1": "1 Main St~NM1"},
    }
    with pytest.raises(ClaimRenderError, match=r"claim PCN1001, loop 2010BA: N301 contains"):
        render([f.commercial_claim(subscriber=subscriber)])
    with pytest.raises(ClaimRenderError, match=r"claim PCN1001, loop 2300: REF02 contains"):
        render([f.commercial_claim(prior_authorization="A*1")])


def test_only_the_partners_delimiters_are_refused() -> None:
    subscriber = {**f.commercial_claim_data()["subscriber"], "name": f.person("Smith*Jones", "Pat")}
    claim = f.commercial_claim(subscriber=subscriber)
    text = render([claim], element_separator="|", component_separator=">", repetition_separator="!")
    assert "NM1|IL|1|Smith*Jones|Pat||||MI|MBR123456~" in text
    assert validate_x12(text).ok
    with pytest.raises(ClaimRenderError, match="NM103 contains a delimiter"):
        render([claim])


def test_nothing_is_returned_when_one_claim_of_many_is_refused() -> None:
    subscriber = {**f.commercial_claim_data()["subscriber"], "name": f.person("A~B", "Pat")}
    bad = f.commercial_claim(
        claim_id="PCN9-1", patient_control_number="PCN9", subscriber=subscriber
    )
    with pytest.raises(ClaimRenderError, match="claim PCN9,"):
        render([*f.many_claims(3), bad])


def claim_with(**over: Any) -> Claim:
    return f.commercial_claim(**over)


def _lines(*pointer_lists: list[int]) -> list[dict[str, Any]]:
    return [
        f.line_data(n, diagnosis_pointers=p, charge="65.00") for n, p in enumerate(pointer_lists, 1)
    ]


REFUSALS: list[tuple[str, Callable[[], list[Claim]], dict[str, Any], str]] = [
    (
        "receiver",
        lambda: [claim_with(receiver_id="other")],
        {},
        r"claim PCN1001: receiver_id: differs",
    ),
    (
        "pointer too big",
        lambda: [claim_with(lines=_lines([1], [3]))],
        {},
        r"lines\[1\]\.diagnosis_pointers: must be between 1 and 2",
    ),
    (
        "pointer zero",
        lambda: [claim_with(lines=_lines([0], [1]))],
        {},
        r"lines\[0\]\.diagnosis_pointers: must be between 1 and 2",
    ),
    (
        "pointer twice",
        lambda: [claim_with(lines=_lines([1, 1], [2]))],
        {},
        r"lines\[0\]\.diagnosis_pointers: repeated",
    ),
    (
        "line order",
        lambda: [
            claim_with(
                lines=[
                    f.line_data(2, charge="65"),
                    f.line_data(1, charge="65", line_control_number="X"),
                ]
            )
        ],
        {},
        r"lines\[0\]\.line_number must be 1",
    ),
    (
        "line control twice",
        lambda: [
            claim_with(
                lines=[
                    f.line_data(1, charge="65"),
                    f.line_data(2, charge="65", line_control_number="PCN1001-1-L1"),
                ]
            )
        ],
        {},
        r"lines\[1\]\.line_control_number: not unique",
    ),
    ("total", lambda: [claim_with(total_charge="131.00")], {}, r"total_charge: must equal the sum"),
    (
        "replacement without F8",
        lambda: [f.replacement_claim(payer_claim_number=None)],
        {},
        r"payer_claim_number: required for a replacement",
    ),
    (
        "original with F8",
        lambda: [claim_with(payer_claim_number="X1")],
        {},
        r"payer_claim_number: only sent with",
    ),
    (
        "AA without state",
        lambda: [f.auto_pip_claim(related_causes={"codes": ["AA"], "accident_date": "2025-02-20"})],
        {},
        r"claim PCN2002: related_causes\.state: required with AA",
    ),
    (
        "state without AA",
        lambda: [
            f.auto_pip_claim(
                related_causes={"codes": ["OA"], "state": "NY", "accident_date": "2025-02-20"}
            )
        ],
        {},
        r"related_causes\.state: only sent with AA",
    ),
    (
        "OA without date",
        lambda: [f.auto_pip_claim(related_causes={"codes": ["OA"]})],
        {},
        r"related_causes\.accident_date: required",
    ),
    (
        "three causes",
        lambda: [
            f.auto_pip_claim(
                related_causes={
                    "codes": ["AA", "EM", "OA"],
                    "state": "NY",
                    "accident_date": "2025-02-20",
                }
            )
        ],
        {},
        r"related_causes\.codes: 1 to 2 different codes",
    ),
    (
        "no member id",
        lambda: [
            claim_with(subscriber={**f.commercial_claim_data()["subscriber"], "member_id": None})
        ],
        {},
        r"subscriber\.member_id: required",
    ),
    (
        "subscriber patient without birth date",
        lambda: [
            claim_with(subscriber={**f.commercial_claim_data()["subscriber"], "birth_date": None})
        ],
        {},
        r"subscriber\.birth_date: required when the patient is the subscriber",
    ),
    (
        "organisation as patient",
        lambda: [f.workers_comp_claim(patient=None)],
        {},
        r"claim PCN3003: subscriber\.name\.kind",
    ),
    (
        "self with patient loop",
        lambda: [
            f.workers_comp_claim(
                subscriber={**f.workers_comp_claim_data()["subscriber"], "relationship": "18"}
            )
        ],
        {},
        r"subscriber\.relationship: 18",
    ),
    (
        "patient relationship 18",
        lambda: [
            f.workers_comp_claim(
                patient={**f.workers_comp_claim_data()["patient"], "relationship": "18"}
            )
        ],
        {},
        r"patient\.relationship: must not be 18",
    ),
    (
        "referring organisation",
        lambda: [claim_with(referring={"name": f.organisation("Org"), "npi": f.PRESCRIBER_NPI})],
        {},
        r"referring\.name\.kind",
    ),
    (
        "duplicate pcn",
        lambda: [claim_with(), f.replacement_claim()],
        {},
        r"claim PCN1001: patient_control_number: twice",
    ),
    (
        "first name too long",
        lambda: [
            claim_with(
                subscriber={
                    **f.commercial_claim_data()["subscriber"],
                    "name": f.person("Sample", "P" * 36),
                }
            )
        ],
        {},
        r"claim PCN1001, loop 2010BA: NM104 must be 1 to 35 characters long \(it has 36\)",
    ),
    ("no claims", list, {}, r"at least one claim"),
    (
        "submitter without contact",
        lambda: [claim_with()],
        {"submitter": {"name": "S", "id": "SUB0001", "contact_name": "D"}},
        r"loop 1000A: PER03/PER04",
    ),
    (
        "bad partner delimiters",
        lambda: [claim_with()],
        {"component_separator": "*"},
        r"trading partner rcv1: the delimiters must all be different",
    ),
    (
        "non-ASCII ISA id",
        lambda: [claim_with()],
        {"isa_sender_id": "SENDÉR"},
        r"trading partner rcv1: ISA06 must be printable ASCII",
    ),
]


@pytest.mark.parametrize(
    ("case", "claims", "partner_over", "message"), REFUSALS, ids=[r[0] for r in REFUSALS]
)
def test_inputs_the_renderer_relies_on_are_checked(
    case: str, claims: Callable[[], list[Claim]], partner_over: dict[str, Any], message: str
) -> None:
    with pytest.raises(ClaimRenderError, match=message):
        render(claims(), **partner_over)


def test_more_than_fifty_lines_are_refused() -> None:
    claim = f.commercial_claim()
    first = claim.lines[0].model_copy(update={"charge": Decimal("1.00")})
    lines = [
        first.model_copy(update={"line_number": n, "line_control_number": f"L{n}"})
        for n in range(1, 52)
    ]
    too_long = claim.model_copy(update={"lines": lines, "total_charge": Decimal("51.00")})
    with pytest.raises(ClaimRenderError, match="claim PCN1001: a claim has 1 to 50 service lines"):
        render([too_long])


def test_created_at_must_be_timezone_aware() -> None:
    with pytest.raises(ClaimRenderError, match="timezone-aware"):
        render_837p([f.commercial_claim()], f.partner(), f.NUMBERS, datetime(2025, 1, 1, 12, 0))


# --- random valid claims --------------------------------------------------------------------

STATES = ["IL", "NY", "NJ", "CA", "TX", "WA", "FL", "PR"]
NAME_TAIL = st.text(
    alphabet=st.sampled_from(list(string.ascii_letters + " '-.éÖßøÆñ李")), max_size=14
)
NAMES = st.builds(
    lambda head, tail: head + tail, st.sampled_from(string.ascii_uppercase), NAME_TAIL
)
WORD_TAIL = st.text(
    alphabet=st.sampled_from(list(string.ascii_letters + string.digits + " #/.,-é")), max_size=39
)
WORDS = st.builds(
    lambda head, tail: head + tail, st.sampled_from(string.ascii_letters + string.digits), WORD_TAIL
)
CITIES = st.builds(
    lambda head, tail: head + tail, st.sampled_from(["Al", "Bo", "Sp", "Ne"]), NAME_TAIL
)
IDS = st.text(
    alphabet=st.sampled_from(list(string.ascii_uppercase + string.digits)), min_size=2, max_size=20
)
DIAGNOSES = st.from_regex(r"[A-Z][0-9][0-9A-Z]{1,5}", fullmatch=True)
DATES = st.dates(min_value=datetime(1930, 1, 1).date(), max_value=datetime(2030, 12, 31).date())
NPIS = st.integers(min_value=100_000_000, max_value=999_999_999).map(
    lambda n: npi_with_check_digit(str(n))
)


@st.composite
def addresses(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "line1": draw(WORDS),
        "line2": draw(st.none() | WORDS),
        "city": draw(CITIES),
        "state": draw(st.sampled_from(STATES)),
        "postal_code": draw(st.from_regex(r"[0-9]{5}([0-9]{4})?", fullmatch=True)),
    }


@st.composite
def people(draw: st.DrawFn) -> dict[str, Any]:
    return f.person(draw(NAMES), draw(NAMES), draw(st.none() | NAMES))


@st.composite
def service_lines(draw: st.DrawFn, pcn: str, diagnoses: int) -> list[dict[str, Any]]:
    count = draw(st.integers(min_value=1, max_value=4))
    pointers = st.lists(
        st.integers(min_value=1, max_value=diagnoses), min_size=1, max_size=4, unique=True
    )
    return [
        {
            "line_number": n,
            "procedure": draw(st.sampled_from(["97140", "97124", "97010", "97112"])),
            "modifiers": draw(
                st.lists(st.sampled_from(["GP", "59", "XS", "KX", "GO"]), max_size=4, unique=True)
            ),
            "charge": str(draw(st.decimals(min_value=0, max_value=9999, places=2))),
            "units": draw(st.integers(min_value=1, max_value=12)),
            "diagnosis_pointers": draw(pointers),
            "service_date": draw(DATES).isoformat(),
            "line_control_number": f"{pcn}-L{n}",
        }
        for n in range(1, count + 1)
    ]


@st.composite
def random_claims(draw: st.DrawFn, pcn: str) -> Claim:
    diagnoses = draw(st.lists(DIAGNOSES, min_size=1, max_size=12))
    lines = draw(service_lines(pcn, len(diagnoses)))
    frequency = draw(st.sampled_from(["1", "7", "8"]))
    has_patient = draw(st.booleans())
    causes = draw(st.sampled_from([None, ["AA"], ["EM"], ["OA"], ["EM", "AA"], ["AA", "OA"]]))
    subscriber: dict[str, Any] = {
        "name": draw(people()) if not has_patient else draw(people() | NAMES.map(f.organisation)),
        "member_id": draw(IDS),
        "group_number": draw(st.none() | IDS),
        "payer_responsibility": draw(st.sampled_from(["P", "S", "T"])),
        "filing_indicator": draw(
            st.sampled_from(["CI", "BL", "12", "HM", "AM", "WC", "LM", "MC", "ZZ"])
        ),
        "property_casualty_claim_number": draw(st.none() | IDS),
    }
    if not has_patient:
        subscriber |= {
            "birth_date": draw(DATES).isoformat(),
            "sex": draw(st.sampled_from(["F", "M", "U"])),
            "address": draw(addresses()),
        }
    data = f.commercial_claim_data(
        claim_id=f"{pcn}-1",
        patient_control_number=pcn,
        frequency=frequency,
        payer_claim_number=None if frequency == "1" else draw(IDS),
        billing_provider=f.billing_provider_data(
            name=draw(WORDS),
            npi=draw(st.sampled_from([f.CLINIC_NPI, f.SECOND_CLINIC_NPI])),
            address=draw(addresses()),
        ),
        subscriber=subscriber,
        patient=None
        if not has_patient
        else {
            "relationship": draw(st.sampled_from(["01", "19", "20", "21", "G8"])),
            "name": draw(people()),
            "birth_date": draw(DATES).isoformat(),
            "sex": draw(st.sampled_from(["F", "M", "U"])),
            "address": draw(addresses()),
            "property_casualty_claim_number": draw(st.none() | IDS),
        },
        payer={"name": draw(WORDS), "payer_id": draw(IDS)},
        rendering=draw(st.none() | st.builds(lambda p, n: {"name": p, "npi": n}, people(), NPIS)),
        referring=draw(st.none() | st.builds(lambda p, n: {"name": p, "npi": n}, people(), NPIS)),
        place_of_service=draw(st.sampled_from(["11", "12", "02", "22"])),
        related_causes=None
        if causes is None
        else {
            "codes": causes,
            "state": draw(st.sampled_from(STATES)) if "AA" in causes else None,
            "accident_date": draw(DATES).isoformat(),
        },
        prior_authorization=draw(st.none() | IDS),
        referral_number=draw(st.none() | IDS),
        initial_treatment_date=draw(st.none() | DATES.map(lambda d: d.isoformat())),
        diagnosis_codes=diagnoses,
        lines=lines,
        total_charge=str(sum(Decimal(line["charge"]) for line in lines)),
    )
    return f.claim(data)


@settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(
    claims=st.integers(min_value=1, max_value=3).flatmap(
        lambda n: st.tuples(*[random_claims(f"PCN{i}") for i in range(n)])
    ),
    flags=st.tuples(st.booleans(), st.booleans(), st.booleans()),
)
def test_random_valid_claims_always_validate(
    claims: tuple[Claim, ...], flags: tuple[bool, bool, bool]
) -> None:
    taxonomy, initial, breaks = flags
    result = render_837p(
        list(claims),
        f.partner(
            send_billing_taxonomy=taxonomy,
            send_initial_treatment_date=initial,
            line_break_after_segment=breaks,
        ),
        f.NUMBERS,
        f.CREATED_AT,
    )
    report = validate_x12(result.text)
    assert report.ok, [str(x) for x in report.findings]
    assert result.text.isascii()
    assert len(find(result.text, "CLM")) == len(claims)
