"""The operations overview folds topics into the same picture whatever the read order."""

from __future__ import annotations

import itertools
import json
from datetime import date

from pydantic import SecretStr

from workers.ops.dashboard import usable_token
from workers.ops.overview import Overview
from workers.ops.queues import QueueItem
from workers.runtime.settings import Settings

MESSAGES = [
    (
        "sessions.held",
        {"session_key": "c1:s1", "reason": "rx-missing", "checked_at": "2026-03-01T10:00:00Z"},
    ),
    ("sessions.enriched", {"event_type": "session.enriched", "session_key": "c1:s1"}),
    (
        "sessions.held",
        {"session_key": "c1:s2", "reason": "unknown-patient", "checked_at": "2026-03-01T10:00:00Z"},
    ),
    (
        "sessions.rejected",
        {
            "session_key": "c1:s3",
            "reason": "no-active-coverage",
            "rejected_at": "2026-03-01T10:00:00Z",
        },
    ),
    (
        "sessions.held",
        {"session_key": "c1:s4", "reason": "rx-missing", "checked_at": "2026-03-01T10:00:00Z"},
    ),
    (
        "sessions.rejected",
        {"session_key": "c1:s4", "reason": "hold-expired", "rejected_at": "2026-04-01T10:00:00Z"},
    ),
    (
        "claims.submitted",
        {
            "patient_control_number": "P1",
            "version": 1,
            "frequency": "1",
            "clinic_id": "c1",
            "payer_id": "acme",
            "charge_total": "170.00",
            "submitted_at": "2026-03-02T10:00:00Z",
        },
    ),
    (
        "claims.submitted",
        {
            "patient_control_number": "P2",
            "version": 1,
            "frequency": "1",
            "clinic_id": "c1",
            "payer_id": "acme",
            "charge_total": "80.00",
            "submitted_at": "2026-03-02T10:00:00Z",
        },
    ),
    (
        "claims.adjudicated",
        {
            "patient_control_number": "P1",
            "paid_total": "130.00",
            "outstanding": "0.00",
            "posting": {
                "posting_id": "R1#1",
                "category": "paid-in-full",
                "posted_at": "2026-03-20T10:00:00Z",
            },
        },
    ),
    (
        "claims.denied",
        {
            "patient_control_number": "P2",
            "posting_id": "R1#3",
            "reasons": [],
            "denied_at": "2026-03-20T10:00:00Z",
        },
    ),
    ("remits.unmatched", {"posting_id": "R1#2", "patient_control_number": "P9"}),
    # P2 rejected at the front door (open); P1's version 0 rejection was resent as version 1
    ("claims.rejections", {"patient_control_number": "P2", "version": 1, "reasons": []}),
    ("claims.rejections", {"patient_control_number": "P1", "version": 0, "reasons": []}),
    # P3's late visit waits for the payer's claim number (open)
    ("claims.changes-waiting", {"patient_control_number": "P3", "changes": ["correct: x"]}),
    # a PLB item that names no claim (open)
    (
        "remits.provider-adjustments",
        {"item": {"plb_id": "R7/1", "adjustment": {"reason": "WO", "amount": "12.00"}}},
    ),
]


def fold(order) -> dict:
    o = Overview()
    for i, (topic, body) in enumerate(order):
        o.apply(topic, 0, i, None, json.dumps(body).encode())
    o.apply(
        "sessions.completed.dlq",
        0,
        0,
        b"k",
        b"x",
        [
            ("claims.dlq.original.topic", b"sessions.completed"),
            ("claims.dlq.error.reason", b"undecodable"),
        ],
    )
    return o.summary(today=date(2026, 4, 5), now=0)


def test_a_rejection_closed_without_resending_leaves_the_queue() -> None:
    o = Overview()
    o.apply(
        "claims.rejections",
        0,
        0,
        b"P5",
        json.dumps({"patient_control_number": "P5", "version": 1, "reasons": []}).encode(),
    )
    assert [i.body["patient_control_number"] for i in o.queue("claims.rejections")] == ["P5"]
    o.apply("claims.rejections", 0, 1, b"P5", None)  # the tombstone of a closed claim
    assert o.queue("claims.rejections") == []


def test_a_denial_stays_open_until_appealed_or_written_off() -> None:
    """A line denied on a paid claim is open though the claim was paid; a write-off of
    that line closes it; a whole-claim denial closes when the claim is sent again."""
    o = Overview()
    line = {
        "patient_control_number": "P7",
        "posting_id": "R2#1",
        "scope": "line",
        "line_control_number": "P7-1-2",
        "reasons": [],
        "denied_at": "2026-03-20T10:00:00Z",
    }
    o.apply("claims.denied", 0, 0, b"P7", json.dumps(line).encode())
    paid = {"patient_control_number": "P7", "posting": {"posting_id": "R2#1",
            "category": "partially-paid", "posted_at": "2026-03-20T10:00:00Z"}}  # fmt: skip
    o.apply("claims.adjudicated", 0, 1, b"P7", json.dumps(paid).encode())
    assert len(o.queue("claims.denied")) == 1
    written = {"patient_control_number": "P7", "write_off": {"line_control_number": "P7-1-2"}}
    o.apply("claims.write-offs", 0, 2, b"P7", json.dumps(written).encode())
    assert o.queue("claims.denied") == []
    whole = {**line, "patient_control_number": "P8", "posting_id": "R2#2", "scope": "claim",
             "line_control_number": None}  # fmt: skip
    o.apply("claims.denied", 0, 3, b"P8", json.dumps(whole).encode())
    assert len(o.queue("claims.denied")) == 1
    again = {"patient_control_number": "P8", "version": 2, "frequency": "7", "clinic_id": "c1",
             "payer_id": "acme", "charge_total": "80.00", "submitted_at": "2026-03-25T10:00:00Z"}  # fmt: skip
    o.apply("claims.submitted", 0, 4, b"P8", json.dumps(again).encode())
    assert o.queue("claims.denied") == []


def test_changes_waiting_leave_their_queue_when_they_are_sent() -> None:
    o = Overview()
    body = {"patient_control_number": "P6", "changes": ["correct: late visit"]}
    o.apply("claims.changes-waiting", 0, 0, b"P6", json.dumps(body).encode())
    assert [i.body["patient_control_number"] for i in o.queue("claims.changes-waiting")] == ["P6"]
    o.apply("claims.changes-waiting", 0, 1, b"P6", None)  # the payer's number arrived
    assert o.queue("claims.changes-waiting") == []


def test_the_same_picture_in_any_order() -> None:
    expected = fold(MESSAGES)
    assert expected["queues"] == {
        "sessions.held": 1,
        "sessions.rejected": 2,
        "claims.denied": 1,
        "claims.rejections": 1,
        "claims.changes-waiting": 1,
        "claims.status-attention": 0,
        "claims.cob-review": 0,
        "remits.unmatched": 1,
        "remits.provider-adjustments": 1,
        "claims.attachments": 0,
        "remits.review": 0,
        "deposits.unfunded": 0,
        "deposits.unremitted": 0,
        "partners.delivery-failed": 0,
    }
    assert expected["dead_letters_total"] == 1
    assert expected["claims_by_clinic"] == [
        {
            "clinic": "c1",
            "claims": "2",
            "charges": "250.00",
            "paid": "130.00",
            "outstanding": "80.00",
        }
    ]
    assert expected["aging"][0]["31-60"] == "80.00"
    for order in itertools.islice(itertools.permutations(MESSAGES), 0, 4000, 97):
        assert fold(list(order)) == expected


def test_a_resolved_dead_letter_no_longer_counts() -> None:
    o = Overview()
    o.apply(
        "sessions.completed.dlq",
        0,
        5,
        b"k",
        b"x",
        [("claims.dlq.original.topic", b"sessions.completed")],
    )
    o.apply(
        "ops.dead-letters.status", 0, 0, b"sessions.completed.dlq:0:5", b'{"status": "resolved"}'
    )
    assert o.summary()["dead_letters_total"] == 0


def test_the_dashboard_is_off_without_a_strong_token() -> None:
    assert usable_token(Settings()) is None
    assert usable_token(Settings(dashboard_token=SecretStr("REPLACE_ME"))) is None
    assert usable_token(Settings(dashboard_token=SecretStr("short"))) is None
    assert usable_token(Settings(dashboard_token=SecretStr("x" * 24))) == "x" * 24


def test_an_undelivered_837_leaves_the_queue_once_uploaded() -> None:
    o = Overview()
    body = {
        "receiver_id": "CH1",
        "interchange": 17,
        "file_name": "CH1_000000017.837",
        "reason": "host-key-changed",
        "message": "the server's host key changed",
        "raised_at": "2026-11-02T09:00:00+00:00",
    }
    o.apply("partners.delivery-failed", 0, 0, b"CH1|17", json.dumps(body).encode())
    [item] = o.queue("partners.delivery-failed")
    assert QueueItem(item.id, item.topic, b"CH1|17", item.body).row()["reason"] == (
        "host-key-changed"
    )
    o.apply("partners.delivery-failed", 0, 1, b"CH1|17", None)  # uploaded after all
    assert o.queue("partners.delivery-failed") == []


def test_a_provider_level_adjustment_leaves_the_queue_when_linked_paired_or_dismissed() -> None:
    o = Overview()
    body = {"item": {"plb_id": "R7/1", "adjustment": {"reason": "FB", "amount": "50.00"}}}
    o.apply("remits.provider-adjustments", 0, 0, b"R7/1", json.dumps(body).encode())
    assert [i.body["item"]["plb_id"] for i in o.queue("remits.provider-adjustments")] == ["R7/1"]
    o.apply("remits.provider-adjustments", 0, 1, b"R7/1", None)
    assert o.queue("remits.provider-adjustments") == []


def test_a_sessions_latest_decision_wins_whatever_order_it_is_read_in() -> None:
    """A session held unknown-patient (decision 1), then rx-missing once the patient
    arrived (decision 2): read in the opposite order, the queue still says rx-missing."""
    o = Overview()
    newer = {"session_key": "c1:s1", "reason": "rx-missing", "decision": 2}
    older = {"session_key": "c1:s1", "reason": "unknown-patient", "decision": 1}
    o.apply("sessions.held", 0, 0, b"c1:pt1", json.dumps(newer).encode())
    o.apply("sessions.held", 1, 0, b"c1:pt1", json.dumps(older).encode())
    assert [i.body["reason"] for i in o.queue("sessions.held")] == ["rx-missing"]
    enriched = {"event_type": "session.enriched", "session_key": "c1:s1", "decision": 3}
    o.apply("sessions.enriched", 0, 0, b"c1:pt1", json.dumps(enriched).encode())
    assert o.queue("sessions.held") == []


def test_the_dashboard_page_names_every_work_queue_the_api_reports() -> None:
    """The page builds its queue rows from the API's answer; each queue has words
    there (a fixed row per queue broke the whole page when a queue was added)."""
    import re
    from pathlib import Path

    from workers.ops import overview

    page = (Path(overview.__file__).parent / "static" / "dashboard.html").read_text()
    labels = set(re.findall(r'^\s*"([a-z.-]+)": "', page, flags=re.MULTILINE))
    assert set(overview.WORK_QUEUES) <= labels
    assert 'getElementById("queue-' not in page
