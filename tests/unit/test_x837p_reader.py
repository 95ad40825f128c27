"""Reading 837P files (`edi.x837p.read_837p`): our own files round trip, public samples read,
malformed input fails with a typed error that says where (and never quotes a value)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from edi.segments import X12EnvelopeError, X12Error, X12SyntaxError
from edi.x837p import X837Error, read_837p, render_837p
from schemas.adjudication import (
    BillingProviderReceived,
    ClaimReceived,
    LineReceived,
    PatientReceived,
    PayerReceived,
    SubscriberReceived,
)
from schemas.claims import Claim, ControlNumbers
from tests import claim_factories as f

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "data" / "837" / "golden"
SAMPLES = REPO / "tests" / "data" / "837" / "samples"
MOOV = SAMPLES / "moov-io_x12__examples_example_5010_837p_sample.txt"
UHIN = SAMPLES / "UHIN_x12-parser-library__tests_test-files_837.edi"
#: LinuxForHealth writes CLM05 with '>' while its ISA16 says ':'.
WRONG_COMPONENT_SEPARATOR = (
    SAMPLES / "LinuxForHealth_x12__src_tests_resources_837_005010X222A2_demo.example9.837"
)

GOLDEN_CASES: dict[str, Callable[[], Claim]] = {
    "commercial": f.commercial_claim,
    "auto_pip": f.auto_pip_claim,
    "workers_comp": f.workers_comp_claim,
    "replacement": f.replacement_claim,
    "void": f.void_claim,
}


def read(data: bytes | str) -> list[ClaimReceived]:
    return list(read_837p(data.encode() if isinstance(data, str) else data))


def render(claims: list[Claim], **partner_over: Any) -> str:
    return render_837p(claims, f.partner(**partner_over), f.NUMBERS, f.CREATED_AT).text


def expected(claim: Claim) -> dict[str, Any]:
    """The facts a payer needs, as the Claim that was rendered states them."""
    subscriber, patient, provider = claim.subscriber, claim.patient, claim.billing_provider
    return {
        "patient_control_number": claim.patient_control_number,
        "total_charge": claim.total_charge,
        "place_of_service": claim.place_of_service,
        "frequency": claim.frequency,
        "payer_claim_number": claim.payer_claim_number,
        "prior_authorization": claim.prior_authorization,
        "billing_provider": BillingProviderReceived(
            name=provider.name, npi=provider.npi, tax_id=provider.tax_id
        ),
        "payer": PayerReceived(name=claim.payer.name, id=claim.payer.payer_id),
        "subscriber": SubscriberReceived(
            name=subscriber.name,
            member_id=subscriber.member_id,
            payer_responsibility=subscriber.payer_responsibility,
            relationship="18" if patient is None else None,
            group_number=subscriber.group_number,
            filing_indicator=subscriber.filing_indicator,
        ),
        "patient": None
        if patient is None
        else PatientReceived(name=patient.name, relationship=patient.relationship),
        "lines": tuple(
            LineReceived(
                line_number=line.line_number,
                qualifier="HC",
                procedure=line.procedure,
                modifiers=tuple(line.modifiers),
                charge=line.charge,
                unit_basis="UN",
                units=Decimal(line.units),
                service_date=line.service_date,
                line_control_number=line.line_control_number,
            )
            for line in claim.lines
        ),
    }


def facts(received: ClaimReceived) -> dict[str, Any]:
    return {key: getattr(received, key) for key in expected(f.commercial_claim())}


def rebuild(text: str, edit: Callable[[list[str]], list[str]]) -> str:
    """Apply ``edit`` to the segments of a one-transaction file and fix SE01."""
    segments = [s for s in text.replace("\n", "").split("~") if s]
    segments = edit(segments)
    st = next(i for i, s in enumerate(segments) if s.startswith("ST*"))
    se = next(i for i, s in enumerate(segments) if s.startswith("SE*"))
    control = segments[se].split("*")[2]
    segments[se] = f"SE*{se - st + 1}*{control}"
    return "~\n".join(segments) + "~\n"


def replace_segment(prefix: str, new: str) -> Callable[[list[str]], list[str]]:
    def edit(segments: list[str]) -> list[str]:
        index = next(i for i, s in enumerate(segments) if s.startswith(prefix))
        return [*segments[:index], new, *segments[index + 1 :]]

    return edit


def ordinal_of(text: str, prefix: str) -> int:
    segments = [s for s in text.replace("\n", "").split("~") if s]
    return next(i for i, s in enumerate(segments, start=1) if s.startswith(prefix))


# --- round trip: our own files -------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_golden_file_reads_back_to_the_claims_facts(name: str) -> None:
    claim = GOLDEN_CASES[name]()
    [received] = read((GOLDEN / f"{name}.x12").read_bytes())
    assert facts(received) == expected(claim)


def test_golden_envelope_is_read() -> None:
    [received] = read((GOLDEN / "commercial.x12").read_bytes())
    envelope = received.envelope
    assert envelope.isa_sender_qualifier == "ZZ"
    assert envelope.isa_sender_id == "SENDER01"
    assert envelope.isa_receiver_id == "RECEIVER01"
    assert envelope.interchange_control_number == "000001001"
    assert envelope.usage == "T"
    assert envelope.gs_sender_code == "SENDER01"
    assert envelope.gs_receiver_code == "RECEIVER01"
    assert envelope.group_control_number == "1001"
    assert envelope.transaction_control_number == "1001"
    assert envelope.created == dt.date(2025, 3, 14)
    assert envelope.implementation_guide == "005010X222A1"


def test_patient_loop_and_subscriber_that_is_an_organisation() -> None:
    [received] = read((GOLDEN / "workers_comp.x12").read_bytes())
    assert received.patient is not None
    assert received.patient.relationship == "20"
    assert received.patient_name.last_or_organisation_name == "Worker"
    assert received.subscriber.name.kind == "organisation"
    assert received.subscriber.filing_indicator == "WC"


def test_many_claims_and_two_billing_providers_keep_file_order() -> None:
    second = f.billing_provider_data(name="Second Clinic", npi=f.SECOND_CLINIC_NPI)
    claims = [
        *f.many_claims(3),
        f.auto_pip_claim(billing_provider=second),
        f.workers_comp_claim(),
        f.replacement_claim(patient_control_number="PCN7007", claim_id="PCN7007-2"),
    ]
    received = read(render(claims))
    # the renderer groups claims under their billing provider, in order of first appearance
    order = [c.patient_control_number for c in received]
    assert order == ["PCN0000000", "PCN0000001", "PCN0000002", "PCN3003", "PCN7007", "PCN2002"]
    by_pcn = {c.patient_control_number: c for c in claims}
    for item in received:
        assert facts(item) == expected(by_pcn[item.patient_control_number])
    assert received[-1].billing_provider.name == "Second Clinic"


def test_other_delimiters_and_no_line_breaks() -> None:
    text = render(
        [f.commercial_claim()],
        element_separator="|",
        component_separator=">",
        repetition_separator="!",
        segment_terminator="\n",
        line_break_after_segment=False,
    )
    assert "|" in text and "*" not in text
    [received] = read(text)
    assert facts(received) == expected(f.commercial_claim())


def test_other_payer_and_provider_loops_do_not_replace_the_claims_own() -> None:
    """2310 (rendering/referring), 2320/2330 (other payer) and 2420 name loops are skipped."""
    text = (GOLDEN / "commercial.x12").read_text()

    def add_loops(segments: list[str]) -> list[str]:
        hi = next(i for i, s in enumerate(segments) if s.startswith("HI*"))
        other = [
            "SBR*S*01*OTHERGRP******CI",
            "OI***Y***Y",
            "NM1*IL*1*OTHER*INSURED****MI*OTHER999",
            "NM1*PR*2*OTHER PAYER*****PI*OTHERPAY",
            "REF*F8*NOT-THIS-ONE",
        ]
        # 2320/2330 come after 2310: put them before the first LX
        lx = next(i for i, s in enumerate(segments) if s.startswith("LX*"))
        segments = [*segments[:lx], *other, *segments[lx:]]
        # and a 2420A rendering provider with its own REF inside the first line
        ref6r = next(i for i, s in enumerate(segments) if s.startswith("REF*6R"))
        line_loop = ["NM1*82*1*LINE*RENDERING****XX*1234567893", "REF*6R*NOT-THIS-EITHER"]
        segments = [*segments[: ref6r + 1], *line_loop, *segments[ref6r + 1 :]]
        assert hi < lx
        return segments

    [received] = read(rebuild(text, add_loops))
    assert received.payer == PayerReceived(name="Example Health Plan", id="EXHP1")
    assert received.subscriber.member_id == "MBR123456"
    assert received.subscriber.payer_responsibility == "P"
    assert received.payer_claim_number is None
    assert received.lines[0].line_control_number == "PCN1001-1-L1"


def test_rd8_service_date_range() -> None:
    text = rebuild(
        (GOLDEN / "commercial.x12").read_text(),
        replace_segment("DTP*472", "DTP*472*RD8*20250303-20250305"),
    )
    [received] = read(text)
    assert received.lines[0].service_date == dt.date(2025, 3, 3)
    assert received.lines[0].service_date_end == dt.date(2025, 3, 5)


def test_claims_are_streamed() -> None:
    """The first claim comes out before the rest of the file has been read."""
    data = render(f.many_claims(50)).encode()
    size = 256
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    consumed = 0

    def source() -> Iterator[bytes]:
        nonlocal consumed
        for chunk in chunks:
            consumed += 1
            yield chunk

    claims = read_837p(source())
    first = next(claims)
    assert first.patient_control_number == "PCN0000000"
    assert consumed < len(chunks) // 4
    assert len([first, *claims]) == 50


# --- public samples -------------------------------------------------------------------------


def test_moov_sample_reads() -> None:
    received = read(MOOV.read_bytes())
    assert len(received) == 8
    first = received[0]
    assert first.patient_control_number == "1029353-03"
    assert first.total_charge == Decimal("553.96")
    assert first.billing_provider == BillingProviderReceived(
        name="BILLING PROVIDER", npi="1215954003", tax_id="569999999"
    )
    assert first.payer.id == "XX123A"
    assert first.subscriber.filing_indicator == "CI"
    assert first.envelope.interchange_control_number == "000002120"
    assert first.lines[0].procedure == "87086"
    assert first.lines[0].line_control_number is None
    assert [line.line_number for line in first.lines] == list(range(1, len(first.lines) + 1))
    assert sum((line.charge for line in first.lines), Decimal(0)) == first.total_charge


def test_uhin_sample_reads() -> None:
    [received] = read(UHIN.read_bytes())
    assert received.patient_control_number == "1606"
    assert received.total_charge == Decimal(2)
    assert received.payer == PayerReceived(name="FLORIDA DIRECT UHIN PAYER", id="FLHIN")
    assert received.subscriber.group_number == "55555"
    [line] = received.lines
    assert (line.procedure, line.units, line.unit_basis) == ("90834", Decimal(1), "UN")
    assert (line.service_date, line.service_date_end) == (
        dt.date(2024, 8, 15),
        dt.date(2024, 8, 20),
    )


def test_a_component_separator_other_than_the_isa_says_is_refused() -> None:
    with pytest.raises(X837Error, match="CLM05") as caught:
        read(WRONG_COMPONENT_SEPARATOR.read_bytes())
    assert caught.value.ordinal is not None and caught.value.offset is not None


# --- malformed input -------------------------------------------------------------------------

COMMERCIAL = (GOLDEN / "commercial.x12").read_text()


@pytest.mark.parametrize(
    ("edit", "at", "message"),
    [
        (replace_segment("ST*", "ST*835*1001"), "ST*", "ST01"),
        (replace_segment("GS*", "GS*HC*S*R*20250314*0926*1001*X*005010X223A2"), "GS*", "GS08"),
        (replace_segment("GS*", "GS*HP*S*R*20250314*0926*1001*X*005010X222A1"), "GS*", "GS01"),
        (replace_segment("CLM*", "CLM*PCN1001*13O.00***11:B:1*Y*A*Y*Y"), "CLM*", "CLM02"),
        (replace_segment("CLM*", "CLM*PCN1001*130.00***11*Y*A*Y*Y"), "CLM*", "CLM05"),
        (replace_segment("CLM*", "CLM**130.00***11:B:1*Y*A*Y*Y"), "CLM*", "CLM01"),
        (replace_segment("SV1*HC:97124", "SV1*HC:97124:GP:XS*40.00*UN"), "SV1*HC:97124", "SV104"),
        (replace_segment("SV1*HC:97140", "SV1**90.00*UN*2***1:2"), "SV1*", "SV101"),
        (replace_segment("SV1*HC:97140", "SV1*HC:97140*-90.00*UN*2***1:2"), "SV1*", "SV102"),
        (replace_segment("SV1*HC:97140", "SV1*HC:97140*90.00*UN*0***1:2"), "SV1*", "SV104"),
        (replace_segment("DTP*472", "DTP*472*D8*20250230"), "DTP*472", "DTP03"),
        (replace_segment("DTP*472", "DTP*999*D8*20250303"), "LX*1", "DTP*472"),
        (replace_segment("SBR*", "PAT*18"), "CLM*", "subscriber"),
        (replace_segment("NM1*PR", "NM1*PR*2*Example Health Plan"), "NM1*PR", "NM109"),
        (replace_segment("NM1*IL", "NM1*IL*1"), "NM1*IL", "NM103"),
        (replace_segment("LX*1", "NTE*ADD*NOTE"), "SV1*", "SV1 outside"),
    ],
)
def test_malformed_claims_fail_with_the_segment_position(
    edit: Callable[[list[str]], list[str]], at: str, message: str
) -> None:
    text = rebuild(COMMERCIAL, edit)
    with pytest.raises(X837Error) as caught:
        read(text)
    error = caught.value
    assert message in str(error)
    assert error.ordinal == ordinal_of(text, at)
    assert error.offset == text.encode().index(f"\n{at}".encode()) + 1
    assert f"segment {error.ordinal}" in str(error)


def test_errors_never_quote_values() -> None:
    edits = [
        replace_segment("CLM*", "CLM*PCN1001*Sample***11:B:1*Y*A*Y*Y"),
        replace_segment("SV1*HC:97140", "SV1*HC:97140:GP*MBR123456*UN*2***1:2"),
        replace_segment("NM1*PR", "NM1*PR*2*Sample"),
    ]
    for edit in edits:
        with pytest.raises(X12Error) as caught:
            read(rebuild(COMMERCIAL, edit))
        assert "Sample" not in str(caught.value)
        assert "MBR123456" not in str(caught.value)


def test_envelope_and_lexical_errors_are_the_segment_readers() -> None:
    wrong_count = COMMERCIAL.replace("SE*33*1001", "SE*34*1001")
    with pytest.raises(X12EnvelopeError, match="SE01"):
        read(wrong_count)
    with pytest.raises(X12SyntaxError, match="ISA"):
        read(COMMERCIAL[:50])
    with pytest.raises(X12SyntaxError, match="missing ISA"):
        read(b"")
    with pytest.raises(X12EnvelopeError, match="missing"):
        read(COMMERCIAL.split("SE*")[0])


def test_a_claim_without_lines_or_billing_provider_is_refused() -> None:
    def drop_lines(segments: list[str]) -> list[str]:
        return [s for s in segments if not s.startswith(("LX*", "SV1*", "DTP*472", "REF*6R"))]

    with pytest.raises(X837Error, match="no service lines"):
        read(rebuild(COMMERCIAL, drop_lines))

    def drop_provider(segments: list[str]) -> list[str]:
        return [s for s in segments if not s.startswith("NM1*85")]

    with pytest.raises(X837Error, match="billing provider"):
        read(rebuild(COMMERCIAL, drop_provider))


def test_several_interchanges_in_one_file() -> None:
    first = render([f.commercial_claim()])
    second = render_837p(
        [f.auto_pip_claim()],
        f.partner(),
        ControlNumbers(interchange=1002, group=1002, transaction=1002),
        f.CREATED_AT,
    ).text
    received = read(first + second)
    assert [c.patient_control_number for c in received] == ["PCN1001", "PCN2002"]
    assert [c.envelope.interchange_control_number for c in received] == ["000001001", "000001002"]
