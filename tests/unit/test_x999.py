"""The 999 reader and writer (`edi.x999`), on the public samples and on our own 999s."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from edi.segments import X12Error
from edi.validate import validate_x12
from edi.x999 import X999Error, acknowledge, parse_999, render_999
from schemas.acknowledgements import (
    AckEnvelope,
    ElementError,
    GroupResponse,
    SegmentError,
    TransactionResponse,
)

DATA = Path(__file__).resolve().parents[1] / "data"
SAMPLES = DATA / "999"
NOW = dt.datetime(2026, 3, 2, 9, 15, tzinfo=dt.UTC)


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def envelope(**over: str) -> AckEnvelope:
    data = {
        "isa_sender_qualifier": "ZZ",
        "isa_sender_id": "PAYERFRONT",
        "isa_receiver_qualifier": "ZZ",
        "isa_receiver_id": "BILLINGCO",
        "interchange_control_number": "7",
        "gs_sender_code": "PAYERGS",
        "gs_receiver_code": "BILLGS",
        "group_control_number": "7",
        "version": "005010X231A1",
        "usage": "T",
    }
    return AckEnvelope(**{**data, **over})


def test_accepted_837_acknowledgement_is_read_with_its_envelope_warning() -> None:
    """The sample's IEA02 does not repeat ISA13: still read, the problem reported."""
    ack = parse_999(sample("imsweb_x12-parser__src_test_resources_837_5010_x12_999_accepted.txt"))
    (group,) = ack.groups
    assert (group.functional_id, group.group_control_number, group.status) == ("HC", "17456", "A")
    (tx,) = group.transactions
    assert (tx.transaction_set_id, tx.control_number, tx.status, tx.accepted) == (
        "837",
        "0001",
        "A",
        True,
    )
    assert group.envelope.isa_sender_id == "12345"
    assert len(ack.warnings) == 1 and "IEA02" in ack.warnings[0]


def test_rejected_837_acknowledgement_carries_the_segment_error() -> None:
    ack = parse_999(sample("imsweb_x12-parser__src_test_resources_837_5010_x12_999_rejected.txt"))
    (group,) = ack.groups
    assert (group.status, group.included, group.received, group.accepted) == ("R", 1, 1, 0)
    (tx,) = group.transactions
    assert tx.status == "R" and not tx.accepted and tx.error_codes == ["5"]
    assert tx.segment_errors == [
        SegmentError(segment_id="NM", position=17, loop_id=None, code="1", elements=[])
    ]
    assert ack.warnings == []


@pytest.mark.parametrize(
    ("name", "groups"),
    [
        ("azoner_pyx12__pyx12_tests_834_ls_le_ls_5010.999.txt", 1),
        ("azoner_pyx12__pyx12_tests_834_lui_id_5010.999.txt", 4),
    ],
)
def test_enrolment_acknowledgements_parse_as_834_groups(name: str, groups: int) -> None:
    """Two public 999s acknowledge 834s (AK1*BE): read, and recognisably not claims."""
    ack = parse_999(sample(name))
    assert len(ack.groups) == groups
    assert {g.functional_id for g in ack.groups} == {"BE"}
    assert {t.transaction_set_id for g in ack.groups for t in g.transactions} == {"834"}


def test_a_written_999_reads_back_and_validates_with_pyx12() -> None:
    group = GroupResponse(
        control_number="0001",
        functional_id="HC",
        group_control_number="42",
        version="005010X222A1",
        transactions=[
            TransactionResponse(
                transaction_set_id="837",
                control_number="0042",
                implementation="005010X222A1",
                status="R",
                error_codes=["5"],
                segment_errors=[
                    SegmentError(
                        segment_id="NM1",
                        position=12,
                        loop_id="2010",
                        code="8",
                        elements=[ElementError(position="9", reference="67", code="7")],
                    )
                ],
            )
        ],
        status="R",
        included=1,
        received=1,
        accepted=0,
        envelope=envelope(),
    )
    text = render_999([group], control_number=7, created_at=NOW, usage="T")
    assert validate_x12(text).ok, [str(f) for f in validate_x12(text).errors]
    (back,) = parse_999(text.encode()).groups
    assert back.model_copy(update={"envelope": group.envelope}) == group
    assert back.envelope.interchange_control_number == "000000007"  # ISA13 as written
    assert back.envelope.model_dump(exclude={"interchange_control_number"}) == (
        group.envelope.model_dump(exclude={"interchange_control_number"})
    )


def test_structure_errors_name_the_segment() -> None:
    text = sample("imsweb_x12-parser__src_test_resources_837_5010_x12_999_rejected.txt").replace(
        b"IK5*R*5", b"IK5*Q*5"
    )
    with pytest.raises(X999Error, match=r"IK501 .* \(at segment 7, byte offset"):
        parse_999(text)
    not_999 = (DATA / "835" / "azoner_pyx12__pyx12_tests_835_mult_loops.txt").read_bytes()
    with pytest.raises(X12Error, match="GS01 is not FA"):
        parse_999(not_999)


def test_the_999_answering_a_clean_835_accepts_it() -> None:
    data = (DATA / "835" / "azoner_pyx12__pyx12_tests_835_mult_loops.txt").read_bytes()
    report = validate_x12(data)
    assert report.ok
    text = acknowledge(data, report.findings, control_number=12, created_at=NOW)
    assert validate_x12(text).ok
    (group,) = parse_999(text.encode()).groups
    assert (group.functional_id, group.status, group.accepted) == ("HP", "A", 1)
    assert [t.status for t in group.transactions] == ["A"]
    # back to the 835's sender, from its receiver
    assert (group.envelope.isa_sender_id, group.envelope.isa_receiver_id) == ("00AA", "D00000")


def test_the_999_answering_a_faulty_835_rejects_it_with_segment_and_element_errors() -> None:
    data = (
        DATA / "835" / "LinuxForHealth_x12__src_tests_resources_835_005010X221A1_managed-care.835"
    ).read_bytes()
    report = validate_x12(data)
    assert not report.ok
    text = acknowledge(data, report.findings, control_number=13, created_at=NOW)
    assert validate_x12(text).ok
    (group,) = parse_999(text.encode()).groups
    (tx,) = group.transactions
    assert tx.status == "R" and tx.error_codes == ["5"]
    assert tx.segment_errors and all(e.position for e in tx.segment_errors)
    assert group.status == "R" and group.accepted == 0
