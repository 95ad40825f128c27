"""The 277 reader and 277CA writer (`edi.x277`) and the simulated front door
(`workers.payer_sim.acknowledge`) that answers our own 837s with a 999 and a 277CA."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from edi.validate import validate_x12
from edi.x277 import X277Error, parse_277
from edi.x837p import read_837p, render_837p
from edi.x999 import parse_999
from tests import claim_factories as f
from workers.payer_sim.acknowledge import acknowledge_837

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "277"
NOW = dt.datetime(2026, 3, 2, 9, 15, tzinfo=dt.UTC)


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def test_accepted_277ca_sample() -> None:
    (report,) = parse_277(
        sample("imsweb_x12-parser__src_test_resources_277_5010_x12_277CA_accepted.txt")
    ).reports
    assert (report.kind, report.implementation, report.batch_reference) == (
        "277CA",
        "005010X214",
        "000000674",
    )
    assert (report.payer_name, report.receipt_date) == ("NYSDOH", dt.date(2011, 3, 11))
    assert report.source_entity == "PR"  # the payer answered itself (a clearinghouse is AY)
    (claim,) = report.claims
    assert claim.patient_control_number == "5781"
    assert claim.payer_claim_number == "1107000000014420"
    assert [(s.category, s.code, s.action, s.amount) for s in claim.statuses] == [
        ("A2", "20", "WQ", Decimal("125"))
    ]
    assert [(s.category, s.code) for s in report.batch_statuses] == [("A1", "20")]


def test_rejected_277ca_sample_with_its_own_component_separator() -> None:
    (report,) = parse_277(
        sample("imsweb_x12-parser__src_test_resources_277_5010_x12_277CA_rejected.txt")
    ).reports
    (claim,) = report.claims
    assert claim.patient_control_number == "3920394930203"
    assert [(s.category, s.code, s.entity) for s in claim.statuses] == [("A7", "562", "85")]
    assert claim.billing_provider_npi == "123456789"
    assert (claim.service_from, claim.service_to) == (dt.date(2009, 3, 11), dt.date(2009, 3, 11))


def test_status_responses_are_told_apart_and_keep_our_reference_from_ref_ej() -> None:
    parsed = parse_277(sample("imsweb_x12-parser__src_test_resources_277_5010_x12_277_x212.txt"))
    (report,) = parsed.reports
    assert report.kind == "277" and report.implementation == "005010X212"
    assert len(report.claims) == 8
    first = report.claims[0]
    assert (first.patient_control_number, first.trace_number) == ("12345", "0000001")
    assert parsed.warnings and "IEA02" in parsed.warnings[0]


@pytest.mark.parametrize(
    ("name", "claims", "references"),
    [
        ("LinuxForHealth_x12__src_tests_resources_277_005010X212_claim-level-status.277", 3, 3),
        (
            "LinuxForHealth_x12__src_tests_resources_277_005010X212_claim-level-status-ncpdp.277",
            1,
            0,
        ),
        (
            "LinuxForHealth_x12__src_tests_resources_277_005010X212_information-receiver-level-status.277",
            0,
            0,
        ),
        ("LinuxForHealth_x12__src_tests_resources_277_005010X212_provider-level-status.277", 1, 1),
    ],
)
def test_status_response_samples(name: str, claims: int, references: int) -> None:
    (report,) = parse_277(sample(name)).reports
    assert report.kind == "277"
    assert len(report.claims) == claims
    assert sum(c.patient_control_number is not None for c in report.claims) == references


def test_no_patient_name_or_member_id_is_kept() -> None:
    """NM1*QC / NM1*IL carry PHI; the model has nowhere to put them."""
    data = sample("imsweb_x12-parser__src_test_resources_277_5010_x12_277CA_accepted.txt")
    dumped = parse_277(data).model_dump_json()
    assert "TPATIENT" not in dumped and "LL99999X" not in dumped


def test_segments_out_of_place_name_the_segment() -> None:
    data = sample("imsweb_x12-parser__src_test_resources_277_5010_x12_277CA_accepted.txt")
    broken = data.replace(b"TRN*2*5781~", b"")
    with pytest.raises(X277Error, match=r"STC before the claim's TRN \(at segment \d+"):
        parse_277(broken)


def test_simulated_front_door_answers_our_837_with_valid_999_and_277ca() -> None:
    """Files generated from our own 837: both validate with pyx12, the 999 names our
    group and transaction numbers, the 277CA our CLM01s, BHT03 and line control numbers."""
    claims = f.many_claims(3)
    rendered = render_837p(claims, f.partner(), f.NUMBERS, f.CREATED_AT)
    received = list(read_837p(rendered.text.encode()))
    rejected_pcn = claims[1].patient_control_number
    acks = acknowledge_837(received, now=NOW, reject={rejected_pcn: ("A7", "562", "85")})
    assert (acks.accepted, acks.rejected) == (2, 1)

    for text in (acks.ack_999, acks.ack_277):
        report = validate_x12(text)
        assert report.ok, [str(x) for x in report.errors]

    (group,) = parse_999(acks.ack_999.encode()).groups
    assert group.functional_id == "HC"
    assert int(group.group_control_number) == f.NUMBERS.group
    assert [int(t.control_number) for t in group.transactions] == [f.NUMBERS.transaction]
    partner = f.partner()
    assert group.envelope.isa_sender_id == partner.isa_receiver_id.strip()
    assert group.envelope.gs_sender_code == partner.gs_receiver_code

    (report,) = parse_277(acks.ack_277.encode()).reports
    assert report.kind == "277CA"
    assert report.batch_reference == f"{f.NUMBERS.interchange:09d}{f.NUMBERS.transaction:04d}"
    by_pcn = {c.patient_control_number: c for c in report.claims}
    assert set(by_pcn) == {c.patient_control_number for c in claims}
    assert [s.category for s in by_pcn[rejected_pcn].statuses] == ["A7"]
    assert by_pcn[rejected_pcn].payer_claim_number is None
    assert [ln.line_control_number for ln in by_pcn[rejected_pcn].lines] == [
        ln.line_control_number for ln in claims[1].lines
    ]
    assert {s.category for ln in by_pcn[rejected_pcn].lines for s in ln.statuses} == {"A7"}
    for claim in claims:
        status = by_pcn[claim.patient_control_number]
        if claim.patient_control_number != rejected_pcn:
            assert [s.category for s in status.statuses] == ["A2"]
            assert status.payer_claim_number and status.lines == []
