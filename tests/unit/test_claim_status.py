"""Claim status: what a 277 status response (005010X212) does to a claim record,
as pure functions (`workers.claims.lifecycle.status_answered` through `on_277`)."""

from __future__ import annotations

import datetime as dt

import pytest

from schemas.acknowledgements import ClaimStatusReceived, StatusInfo
from schemas.state import ClaimRecord
from schemas.submission import RecordPayerClaimNumber
from tests.unit.test_claims_lifecycle import T0, command, sent_record, session
from tests.unit.test_front_door import ack_277
from workers.claims import front_door, lifecycle

LATER = T0 + dt.timedelta(days=3)


def status_response(record: ClaimRecord, ack_id: str, *stcs: str) -> ClaimStatusReceived:
    """A payer's 277 answer about ``record``'s claim with the STCs ``cat:code[:entity]``."""
    ack = ack_277(ack_id, "P1", kind="277")
    statuses = []
    for stc in stcs:
        category, code, *entity = stc.split(":")
        statuses.append(
            StatusInfo(category=category, code=code, entity=entity[0] if entity else None,
                       effective_date=T0.date(), action=None, amount=None)
        )
    claim = ack.claim.model_copy(
        update={
            "patient_control_number": record.patient_control_number,
            "trace_number": "TRACE-1",
            "statuses": statuses,
        }
    )
    return ack.model_copy(update={"claim": claim, "source_entity": "PR"})


def accepted_record() -> ClaimRecord:
    """A sent claim the payer's 277CA accepted (A2)."""
    record = sent_record(session())
    ca = ack_277("ca-1", "A2", kind="277CA")
    ca = ca.model_copy(update={"claim": ca.claim.model_copy(
        update={"patient_control_number": record.patient_control_number})})
    [accepted] = answer(record, ca).records
    assert accepted.front_door == "accepted"
    return accepted


def answer(record: ClaimRecord, ack: ClaimStatusReceived, now: dt.datetime = T0) -> lifecycle.Step:
    return lifecycle.on_277(ack, record_of={record.patient_control_number: record}.get, now=now)


@pytest.mark.parametrize(
    ("category", "state"),
    [
        ("P1", "pending"), ("P3", "pending"), ("A2", "pending"), ("Z9", "pending"),
        ("F0", "finalized"), ("F1", "finalized"), ("F2", "finalized"), ("F3", "finalized"),
        ("F3F", "finalized"), ("F4", "finalized"),
        ("R1", "information-requested"), ("R4", "information-requested"),
        ("A3", "rejected"), ("A4", "rejected"), ("A6", "rejected"), ("A7", "rejected"),
        ("A8", "rejected"), ("E0", "rejected"), ("E2", "rejected"), ("D0", "rejected"),
    ],
)
def test_each_category_says_where_the_claim_stands(category: str, state: str) -> None:
    assert front_door.payer_state(category) == state


@pytest.mark.parametrize(
    ("stcs", "state", "needs_person"),
    [
        (["P1:20"], "pending", False),
        (["F1:65"], "finalized", False),
        (["R4:21"], "information-requested", True),
        (["A4:35"], "rejected", True),
        (["E0:21"], "rejected", True),
        (["F1:65", "R4:21"], "information-requested", True),  # what asks most of us wins
    ],
)
def test_a_status_response_moves_the_claims_payer_status_in_words(
    stcs: list[str], state: str, needs_person: bool
) -> None:
    record = accepted_record()
    step = answer(record, status_response(record, "st-1", *stcs))
    [stored] = step.records
    status = stored.payer_status
    assert status is not None
    assert (status.state, status.needs_person) == (state, needs_person)
    assert status.codes == stcs and status.trace_number == "TRACE-1"
    assert stored.front_door == "accepted"  # a status response says nothing of the front door
    assert not step.events
    assert f"payer-status-{state}" in step.outcomes and "277-applied" in step.outcomes
    assert bool(step.status_attention) is needs_person
    assert (stored.status_attention_at is not None) is needs_person


def test_codes_are_told_in_words() -> None:
    record = accepted_record()
    step = answer(record, status_response(record, "st-1", "F1:65", "A4:35", "R4:164:IL"))
    status = step.records[0].payer_status
    assert status is not None
    assert status.words == [
        "Finalized: payment - Claim or line paid",
        "Acknowledged: not found - Claim not found",
        "Request for more information: documentation - Entity's contract or member number "
        "(subscriber)",
    ]
    [item] = step.status_attention
    assert item.state == "rejected" and item.codes == ["F1:65", "A4:35", "R4:164:IL"]
    assert item.message.startswith("F1:65 Finalized: payment - Claim or line paid; A4:35 ")
    assert "check the payer, member id and claim" in item.message


def test_the_work_item_is_settled_by_a_later_answer_that_needs_no_one() -> None:
    record = accepted_record()
    asked = answer(record, status_response(record, "st-1", "R4:21")).records[0]
    again = answer(asked, status_response(asked, "st-2", "R4:21"), LATER)
    assert len(again.status_attention) == 1 and not again.status_settled  # still open
    pending = answer(asked, status_response(asked, "st-3", "P1:20"), LATER)
    assert pending.status_settled == [record.patient_control_number]
    assert pending.records[0].status_attention_at is None
    assert "status-attention-settled" in pending.outcomes
    quiet = answer(record, status_response(record, "st-4", "P1:20"))
    assert not quiet.status_settled and not quiet.status_attention  # nothing was open


def test_an_835_settles_the_work_item() -> None:
    record = accepted_record()
    asked = answer(record, status_response(record, "st-1", "A4:35")).records[0]
    cmd = command("payer-claim-number", asked, payer_claim_number="ICN9")
    assert isinstance(cmd, RecordPayerClaimNumber)
    step = lifecycle.record_payer_claim_number(asked, cmd, LATER)
    assert step.status_settled == [record.patient_control_number]
    assert step.records[-1].status_attention_at is None
    assert step.records[-1].remitted_at == LATER


def test_the_same_answer_twice_changes_nothing_and_a_277ca_sets_no_payer_status() -> None:
    record = accepted_record()
    ack = status_response(record, "st-1", "R4:21")
    asked = answer(record, ack).records[0]
    repeated = answer(asked, ack)
    assert repeated.records == [] and repeated.status_attention == []
    assert repeated.outcomes == ["acknowledgement-repeated", "277-applied"]
    fresh = sent_record(session())
    ca = ack_277("ca-9", "A2", kind="277CA")
    ca = ca.model_copy(update={"claim": ca.claim.model_copy(
        update={"patient_control_number": fresh.patient_control_number})})
    front = answer(fresh, ca)
    assert front.records[0].payer_status is None and not front.status_attention
