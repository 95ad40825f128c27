"""999/277 files to ``acks.inbound`` messages (`workers.inbound.acknowledgements`), no broker."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from edi.x837p import read_837p, render_837p
from schemas.acknowledgements import ClaimStatusReceived, TransactionAcknowledged
from tests import claim_factories as f
from workers.inbound.acknowledgements import AckIngestError, messages
from workers.payer_sim.acknowledge import acknowledge_837

DATA = Path(__file__).resolve().parents[1] / "data"
NOW = dt.datetime(2026, 3, 2, 9, 15, tzinfo=dt.UTC)


@pytest.fixture
def acks(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    claims = f.many_claims(2)
    text = render_837p(claims, f.partner(), f.NUMBERS, f.CREATED_AT).text
    answer = acknowledge_837(
        list(read_837p(text.encode())),
        now=NOW,
        reject={claims[0].patient_control_number: ("A7", "562", "85")},
    )
    p999, p277 = tmp_path / "front.999", tmp_path / "front.277"
    p999.write_text(answer.ack_999)
    p277.write_text(answer.ack_277)
    return p999, p277, [c.patient_control_number for c in claims]


def test_a_999_becomes_one_message_per_transaction_keyed_by_the_receiver(
    acks: tuple[Path, Path, list[str]],
) -> None:
    p999, _, _ = acks
    partner = f.partner()
    report, out = messages(p999, [partner], now=NOW)
    assert (report.kind, report.published, report.accepted, report.rejected) == ("999", 1, 1, 0)
    (msg,) = out
    assert msg.topic == "acks.inbound" and msg.key == partner.receiver_id.encode()
    event = TransactionAcknowledged.parse_json(msg.value or b"")
    assert int(event.group_control_number) == f.NUMBERS.group
    assert (
        event.response is not None and int(event.response.control_number) == f.NUMBERS.transaction
    )
    assert dict(msg.headers)["claims.source.file"] == b"front.999"


def test_a_277ca_becomes_one_message_per_claim_with_stable_ids(
    acks: tuple[Path, Path, list[str]],
) -> None:
    _, p277, pcns = acks
    first = list(messages(p277, [f.partner()], now=NOW)[1])
    again = list(messages(p277, [f.partner()], now=NOW + dt.timedelta(days=1))[1])
    events = [ClaimStatusReceived.parse_json(m.value or b"") for m in first]
    assert [e.claim.patient_control_number for e in events] == pcns
    assert {e.kind for e in events} == {"277CA"}
    assert [json.loads(m.value or b"")["ack_id"] for m in first] == [
        json.loads(m.value or b"")["ack_id"] for m in again
    ], "the same file ingested twice carries the same ids"


def test_acknowledgements_of_834_enrolment_are_skipped() -> None:
    path = DATA / "999" / "azoner_pyx12__pyx12_tests_834_lui_id_5010.999.txt"
    report, out = messages(path, [f.partner()], now=NOW)
    assert list(out) == [] and len(report.skipped) == 4
    assert "type BE" in report.skipped[0]


def test_an_unknown_sender_is_refused_with_its_isa_id() -> None:
    path = DATA / "277" / "imsweb_x12-parser__src_test_resources_277_5010_x12_277CA_rejected.txt"
    with pytest.raises(AckIngestError, match=r"EMEDNYBAT.*ref\.partners"):
        messages(path, [f.partner()], now=NOW)
    known = f.partner(isa_receiver_id="EMEDNYBAT", receiver_id="NYDOH")
    report, out = messages(path, [known], now=NOW)
    assert len(list(out)) == 1 and report.receivers == {"NYDOH"}


def test_partners_sharing_an_isa_id_are_told_apart_by_gs() -> None:
    path = DATA / "277" / "imsweb_x12-parser__src_test_resources_277_5010_x12_277CA_rejected.txt"
    a = f.partner(isa_receiver_id="EMEDNYBAT", receiver_id="A", gs_receiver_code="OTHER")
    b = f.partner(isa_receiver_id="EMEDNYBAT", receiver_id="B", gs_receiver_code="EMEDNYBAT")
    report, _ = messages(path, [a, b], now=NOW)
    assert report.receivers == {"B"}


def test_an_835_is_not_an_acknowledgement() -> None:
    path = DATA / "835" / "azoner_pyx12__pyx12_tests_835_mult_loops.txt"
    with pytest.raises(AckIngestError, match="835 remittance"):
        messages(path, [f.partner()], now=NOW)


def test_a_partner_can_ask_for_a_999_for_its_835s() -> None:
    from workers.inbound.acknowledgements import wants_999

    data = (DATA / "835" / "azoner_pyx12__pyx12_tests_835_mult_loops.txt").read_bytes()
    sender = data[35:50].decode().strip()  # ISA06
    quiet = f.partner(isa_receiver_id=sender)
    asking = f.partner(isa_receiver_id=sender, acknowledge_835=True)
    other = f.partner(isa_receiver_id="SOMEONEELSE", acknowledge_835=True)
    assert not wants_999(data, [quiet, other])
    assert wants_999(data, [asking])
    assert not wants_999(b"not x12", [asking])


def test_a_999_refusing_our_inquiries_says_so_and_publishes_nothing(tmp_path: Path) -> None:
    """A clearinghouse's 999 rejecting one of our 276 groups (and accepting a 270
    group): nothing is published for claims, and the report names the refused
    group, so no one waits for 277 answers that will never come."""
    sample = DATA / "999" / "imsweb_x12-parser__src_test_resources_837_5010_x12_999_rejected.txt"
    text = sample.read_text()
    refused = text.replace("AK1*HC*28*005010X223A2", "AK1*HR*28*005010X212")
    accepted = (
        text.replace("AK1*HC*28*005010X223A2", "AK1*HS*29*005010X279A1")
        .replace("IK5*R*5", "IK5*A")
        .replace("AK9*R*1*1*0", "AK9*A*1*1*1")
    )
    (tmp_path / "inquiries.999").write_text(refused)
    report, out = messages(tmp_path / "inquiries.999", [f.partner()], now=NOW)
    assert list(out) == [] and report.published == 0
    assert len(report.refused_inquiries) == 1
    line = report.refused_inquiries[0]
    assert "group 28 of 276 claim status inquiries was rejected" in line
    assert "1 of 1 transaction sets get no answer" in line
    (tmp_path / "ok.999").write_text(accepted)
    report, out = messages(tmp_path / "ok.999", [f.partner()], now=NOW)
    assert list(out) == [] and report.refused_inquiries == []
    assert "type HS" in report.skipped[0]
