"""The operations overview folds topics into the same picture whatever the read order."""

from __future__ import annotations

import itertools
import json
from datetime import date

from pydantic import SecretStr

from workers.ops.dashboard import usable_token
from workers.ops.overview import Overview
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
    ("claims.denied", {"patient_control_number": "P2", "reasons": []}),
    ("remits.unmatched", {"posting_id": "R1#2", "patient_control_number": "P9"}),
    # P2 rejected at the front door (open); P1's version 0 rejection was resent as version 1
    ("claims.rejections", {"patient_control_number": "P2", "version": 1, "reasons": []}),
    ("claims.rejections", {"patient_control_number": "P1", "version": 0, "reasons": []}),
    # P3's late visit waits for the payer's claim number (open)
    ("claims.changes-waiting", {"patient_control_number": "P3", "changes": ["correct: x"]}),
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
        "remits.unmatched": 1,
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
