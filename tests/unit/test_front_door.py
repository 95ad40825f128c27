"""Acknowledgements applied to claim records (`workers.claims.front_door`, pure)."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from schemas.acknowledgements import (
    AckEnvelope,
    AckSource,
    ClaimFrontDoor,
    ClaimRejected,
    ClaimStatus,
    ClaimStatusReceived,
    ElementError,
    LineStatus,
    SegmentError,
    StatusInfo,
    TransactionAcknowledged,
    TransactionResponse,
)
from schemas.state import ClaimRecord, ClaimVersionSent
from tests import claim_factories as f
from workers.claims import front_door
from workers.claims.changes import resend_version

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
ENV = AckEnvelope(
    isa_sender_qualifier="ZZ",
    isa_sender_id="RECEIVER01",
    isa_receiver_qualifier="ZZ",
    isa_receiver_id="SENDER01",
    interchange_control_number="5",
    gs_sender_code="RECEIVER01",
    gs_receiver_code="SENDER01",
    group_control_number="5",
    version="005010X231A1",
    usage="T",
)


def record(claim_json: str | None = None) -> ClaimRecord:
    claim = f.commercial_claim()
    return ClaimRecord.new(
        patient_control_number=claim.patient_control_number,
        receiver_id=claim.receiver_id,
        claim_identity="visit:1",
        status="submitted",
        current_json=claim_json or claim.model_dump_json(),
        sources_json=[],
        versions=[
            ClaimVersionSent(
                claim_id=claim.claim_id, frequency="1", file_name="a.x12", interchange=1, sent_at=T0
            )
        ],
        front_door_at=T0,
    )


def source(name: str = "ack.txt") -> AckSource:
    return AckSource(
        file_name=name, file_sha256="0" * 64, transaction_control_number="0001", ingested_at=T0
    )


def ack_999(
    ack_id: str, status: str = "A", errors: list[SegmentError] | None = None
) -> TransactionAcknowledged:
    return TransactionAcknowledged.new(
        ack_id=ack_id,
        receiver_id="RCV1",
        group_control_number="1",
        functional_id="HC",
        group_status="A" if status in ("A", "E") else "R",
        response=TransactionResponse(
            transaction_set_id="837",
            control_number="0001",
            implementation="005010X222A1",
            status=status,
            error_codes=[] if status in ("A", "E") else ["5"],
            segment_errors=errors or [],
        ),
        envelope=ENV,
        source=source(),
    )


def ack_277(
    ack_id: str, category: str, code: str = "20", entity: str | None = None, kind: str = "277CA"
) -> ClaimStatusReceived:
    claim = f.commercial_claim()
    status = StatusInfo(
        category=category,
        code=code,
        entity=entity,
        effective_date=T0.date(),
        action="WQ",
        amount=None,
    )
    return ClaimStatusReceived.new(
        ack_id=ack_id,
        receiver_id="RCV1",
        kind=kind,
        batch_reference="0000000010001",
        payer_name="Example Health Plan",
        payer_id="EXHP1",
        claim=ClaimStatus(
            patient_control_number=claim.patient_control_number,
            trace_number=claim.patient_control_number,
            payer_claim_number="PAYER123" if category.startswith("A2") else None,
            billing_provider_npi=claim.billing_provider.npi,
            statuses=[status],
            service_from=claim.lines[0].service_date,
            service_to=claim.lines[0].service_date,
            lines=[
                LineStatus(
                    line_control_number=claim.lines[0].line_control_number,
                    procedure=claim.lines[0].procedure,
                    charge=claim.lines[0].charge,
                    units=None,
                    statuses=[status.model_copy(update={"action": "U"})],
                    service_date=claim.lines[0].service_date,
                )
            ]
            if category == "A7"
            else [],
        ),
        envelope=ENV.model_copy(update={"version": "005010X214"}),
        source=source("ack.277"),
    )


def current_id() -> str:
    return f.commercial_claim().claim_id


def test_999_acceptance_means_received_and_277ca_acceptance_means_accepted() -> None:
    rec = record()
    step = front_door.apply_verdict(rec, front_door.verdict_of_999(ack_999("K1"), current_id()), T0)
    assert step.record.front_door == "received"
    (event,) = step.events
    assert isinstance(event, ClaimFrontDoor) and (event.previous, event.status) == (
        "sent",
        "received",
    )
    step = front_door.apply_verdict(
        step.record, front_door.verdict_of_277(ack_277("K2", "A2"), current_id()), T0
    )
    assert step.record.front_door == "accepted"
    assert [type(e) for e in step.events] == [ClaimFrontDoor]


def test_a_277ca_rejection_goes_to_the_rejections_queue_with_readable_reasons() -> None:
    step = front_door.apply_verdict(
        record(), front_door.verdict_of_277(ack_277("K3", "A7", "562", "85"), current_id()), T0
    )
    assert step.record.front_door == "rejected"
    rejected = [e for e in step.events if isinstance(e, ClaimRejected)]
    assert len(rejected) == 1
    reasons = rejected[0].reasons
    assert [(r.level, r.code) for r in reasons] == [("claim", "A7:562:85"), ("line", "A7:562:85")]
    assert (
        "National Provider Identifier" in reasons[0].text and "billing provider" in reasons[0].text
    )
    assert reasons[1].line_control_number == f.commercial_claim().lines[0].line_control_number
    assert reasons[1].line_number == 1 and reasons[0].line_number is None


def test_a_line_status_naming_a_line_we_did_not_send_says_so() -> None:
    status = ack_277("K20", "A7", "562", "85")
    line = status.claim.lines[0].model_copy(update={"line_control_number": "NOPE-9"})
    odd = status.model_copy(update={"claim": status.claim.model_copy(update={"lines": [line]})})
    step = front_door.apply_verdict(record(), front_door.verdict_of_277(odd, current_id()), T0)
    (line_reason,) = [r for r in step.record.acknowledgements[-1].reasons if r.level == "line"]
    assert line_reason.line_number is None and "not a line of this claim" in line_reason.text


def test_a_999_rejection_explains_the_segment_and_element() -> None:
    errors = [
        SegmentError(
            segment_id="NM1",
            position=12,
            loop_id="2010",
            code="8",
            elements=[ElementError(position="9", reference="67", code="7")],
        )
    ]
    verdict = front_door.verdict_of_999(ack_999("K4", "R", errors), current_id())
    assert verdict.outcome == "rejected"
    codes = [(r.level, r.code, r.text) for r in verdict.reasons]
    assert ("transaction", "IK5-5", "One or more segments in error") in codes
    assert ("segment", "IK3-8/IK4-7", "NM109: Invalid code value") in codes


def test_repeated_acknowledgements_change_nothing() -> None:
    rec = record()
    verdict = front_door.verdict_of_277(ack_277("K5", "A7", "562", "85"), current_id())
    first = front_door.apply_verdict(rec, verdict, T0)
    again = front_door.apply_verdict(first.record, verdict, T0 + dt.timedelta(hours=1))
    assert again.duplicate and again.events == [] and again.record == first.record


@pytest.mark.parametrize("with_rejection", [False, True])
def test_arrival_order_does_not_change_the_outcome(with_rejection: bool) -> None:
    verdicts = [
        front_door.verdict_of_999(ack_999("K6"), current_id()),
        front_door.verdict_of_277(ack_277("K7", "A2"), current_id()),
        front_door.verdict_of_277(ack_277("K8", "P1", kind="277"), current_id()),
    ]
    if with_rejection:
        verdicts.append(front_door.verdict_of_277(ack_277("K9", "A7", "562", "85"), current_id()))
    finals = set()
    rejections = set()
    for order in itertools.permutations(verdicts):
        rec = record()
        count = 0
        for verdict in order:
            step = front_door.apply_verdict(rec, verdict, T0)
            rec = step.record
            count += sum(isinstance(e, ClaimRejected) for e in step.events)
        finals.add(rec.front_door)
        rejections.add(count)
    assert finals == {"rejected" if with_rejection else "accepted"}
    assert rejections == {1 if with_rejection else 0}


def test_an_acknowledgement_of_an_older_version_leaves_the_latest_alone() -> None:
    rec = record()
    old_id = current_id()
    rejected = front_door.apply_verdict(
        rec, front_door.verdict_of_277(ack_277("K10", "A7", "562", "85"), old_id), T0
    ).record
    resent = resend_version(f.commercial_claim())
    assert (resent.frequency, resent.version, resent.replaces, resent.payer_claim_number) == (
        "1",
        2,
        None,
        None,
    )
    assert resent.patient_control_number == f.commercial_claim().patient_control_number
    after_resend = rejected.model_copy(
        update={"current_json": resent.model_dump_json(), "front_door": "sent"}
    )
    # the old rejection arrives again under another id: the new version stays "sent"
    late = front_door.apply_verdict(
        after_resend, front_door.verdict_of_277(ack_277("K11", "A7", "562", "85"), old_id), T0
    )
    assert late.record.front_door == "sent" and late.events == []
    accepted = front_door.apply_verdict(
        late.record, front_door.verdict_of_277(ack_277("K12", "A2"), resent.claim_id), T0
    )
    assert accepted.record.front_door == "accepted"


def test_status_responses_and_unknown_categories_do_not_move_the_front_door() -> None:
    rec = record()
    step = front_door.apply_verdict(
        rec, front_door.verdict_of_277(ack_277("K13", "F2", "88", kind="277"), current_id()), T0
    )
    assert step.record.front_door == "sent" and step.events == []
    assert step.record.acknowledgements[-1].outcome == "status"
    assert front_door.category_outcome("E0") == "status"
    assert front_door.category_outcome("A9") == "rejected"  # an A-category we do not know


def test_follow_up_after_the_configured_days_without_an_835() -> None:
    rec = front_door.apply_verdict(
        record(), front_door.verdict_of_277(ack_277("K14", "A2"), current_id()), T0
    ).record
    assert not front_door.needs_follow_up(rec, T0 + dt.timedelta(days=29), 30)
    assert front_door.needs_follow_up(rec, T0 + dt.timedelta(days=30), 30)
    remitted = rec.model_copy(update={"remitted_at": T0 + dt.timedelta(days=3)})
    assert not front_door.needs_follow_up(remitted, T0 + dt.timedelta(days=40), 30)
    assert not front_door.needs_follow_up(record(), T0 + dt.timedelta(days=40), 30)  # never acked


def test_a_277_names_the_version_it_acknowledges_through_the_echoed_bht03() -> None:
    rec = record()
    second = ClaimVersionSent(
        claim_id="V2", frequency="1", file_name="b.x12", interchange=7, sent_at=T0
    )
    rec = rec.model_copy(update={"versions": [*rec.versions, second]})
    first_id = rec.versions[0].claim_id
    assert front_door.version_acknowledged(rec, "0000000010001") == first_id  # interchange 1
    assert front_door.version_acknowledged(rec, "0000000070001") == "V2"
    assert front_door.version_acknowledged(rec, "0000000990001") == "V2"  # unknown: latest
    assert front_door.version_acknowledged(rec, None) == "V2"
    assert front_door.version_acknowledged(rec, "ABC") == "V2"
