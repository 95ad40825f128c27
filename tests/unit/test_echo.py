"""A hand-off this process wrote comes back as the model it was written from
(:mod:`schemas.echo`); anything else is validated as before."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from schemas import echo
from schemas.billing import BillableSession, parse_charges
from schemas.outcomes import SessionEnriched, parse_enriched_topic
from tests import pipeline
from tests.fakes import FakeSink, FakeWiring
from workers.demo import synthetic
from workers.enrich import processor as enrich_processor
from workers.enrich.processor import outcome_records
from workers.runtime.codec import decode, encode_compact, encode_handoff
from workers.runtime.partitioning import partition_for
from workers.runtime.processing import MessageRunner, RetryPolicy, Scope
from workers.runtime.records import Incoming
from workers.units import processor as units_processor


def test_an_enriched_session_written_here_is_read_back_without_validation() -> None:
    """The units stage gets the very model the enrichment stage wrote."""
    enriched = pipeline.enriched()
    [record] = outcome_records("c1:p1", [enriched])

    assert decode(parse_enriched_topic, record.value) is enriched


def test_the_units_stage_hands_its_billable_sessions_on_the_same_way() -> None:
    """The units stage's own output, read by the claims stage's parser, is the model
    it priced; and its input came back from the enrichment stage's write."""
    enriched = pipeline.enriched()
    [incoming] = outcome_records("c1:p1", [enriched])
    sink = FakeSink()
    wiring = FakeWiring(sink, now=pipeline.NOW)
    units_processor.register(wiring)

    msg = Incoming("sessions.enriched", 0, 0, 0, incoming.key, incoming.value, ())
    [out] = asyncio.run(wiring.handlers["sessions.enriched"](msg, Scope()))

    billable = decode(parse_charges, out.value)
    assert isinstance(billable, BillableSession)
    assert billable.enriched is enriched
    assert decode(parse_charges, out.value) is billable  # asked twice: the same model


def test_bytes_that_differ_at_all_are_validated() -> None:
    """Equal content written differently (another process, another encoder) is
    validated: an equal model, not the kept one."""
    billable = pipeline.billable()
    raw = encode_handoff(billable)

    again = BillableSession.parse_json(raw + b" ")

    assert again == billable
    assert again is not billable


def test_text_is_never_taken_from_what_was_kept() -> None:
    """Only the bytes a stage sent are looked up; a table's text is parsed."""
    billable = pipeline.billable()
    raw = encode_handoff(billable)

    assert BillableSession.parse_json(raw.decode()) is not billable


def test_a_plain_compact_write_is_not_kept() -> None:
    """Tables and kept copies (``encode_compact``) are not remembered: their readers
    keep their own parsed copies, and some are built by ``model_copy``."""
    billable = pipeline.billable()
    raw = encode_compact(billable)

    assert BillableSession.parse_json(raw) is not billable


def test_the_bytes_of_another_contract_are_refused_not_handed_back() -> None:
    """An enriched session's bytes read as a billable session fail validation, as
    they did before anything was kept."""
    enriched = pipeline.enriched()
    raw = encode_handoff(enriched)

    with pytest.raises(ValidationError):
        BillableSession.parse_json(raw)
    assert SessionEnriched.parse_json(raw) is enriched


def test_only_the_latest_writes_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(echo, "KEPT", 2)
    first = pipeline.billable()
    raws = [
        encode_handoff(b)
        for b in [
            first,
            *(
                first.model_validate({**first.model_dump(), "session_key": k})
                for k in ("c1:s2", "c1:s3")
            ),
        ]
    ]

    assert BillableSession.parse_json(raws[0]) is not first
    assert BillableSession.parse_json(raws[0]) == first
    assert BillableSession.parse_json(raws[2]).session_key == "c1:s3"
    assert len(echo._kept) == 2


def test_under_verification_a_model_that_does_not_read_back_as_itself_fails() -> None:
    """The test suite validates every hit anyway: a write kept under bytes that say
    something else is caught, not handed on."""
    billable = pipeline.billable()
    other = billable.model_copy(update={"session_key": "c1:other"})
    raw = encode_compact(billable)
    echo.remember(raw, other)

    with pytest.raises(AssertionError, match="does not read back as itself"):
        BillableSession.parse_json(raw)


def test_without_verification_a_hit_is_not_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    """In production a hit costs a dictionary lookup: the kept model is returned as is
    (shown here by keeping one under bytes that say something else)."""
    monkeypatch.setattr(echo._options, "verify", False)
    billable = pipeline.billable()
    other = billable.model_copy(update={"session_key": "c1:other"})
    raw = encode_compact(billable)
    echo.remember(raw, other)

    assert BillableSession.parse_json(raw) is other


def test_every_hand_off_of_the_demo_world_reads_back_as_the_model_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The demo's sessions (AMA and CMS payers, self-pay, held, late, duplicate and
    malformed ones) through the real enrichment and units handlers, in one process:
    each enriched and billable session written is kept, and validating its bytes
    afresh gives a model equal to the one kept (what a hit hands on)."""
    monkeypatch.setattr(echo, "KEPT", 10_000)  # every write of the run stays to be checked
    data = synthetic.generate(clinics=2, sessions=120, seed=11, today=date(2026, 3, 10))
    sink = FakeSink()
    wiring = FakeWiring(sink, now=datetime(2026, 3, 10, 12, 0, tzinfo=UTC))
    enrich_processor.register(wiring)
    units_processor.register(wiring)
    mirror = wiring.mirrors["reference_mirror"]
    runner = MessageRunner(
        processor="test", consumer_group="claims-test", sink=sink, retry=RetryPolicy(attempts=1)
    )
    keys = {
        "clinics": lambda r: r["clinic_id"],
        "therapists": lambda r: f"{r['clinic_id']}:{r['therapist_id']}",
        "payers": lambda r: r["payer_id"],
        "patients": lambda r: f"{r['clinic_id']}:{r['patient_id']}",
        "prescriptions": lambda r: f"{r['clinic_id']}:{r['prescription_id']}",
        "authorizations": lambda r: f"{r['clinic_id']}:{r['authorization_id']}",
    }
    inputs: list[tuple[str, bytes, bytes]] = [
        (f"ref.{kind}", key_of(r).encode(), json.dumps(r).encode())
        for kind, key_of in keys.items()
        for r in getattr(data, kind)
    ]
    inputs += [("sessions.completed", k.encode(), v) for k, v in data.sessions]

    async def run() -> None:
        offset = 0
        queue = list(inputs)
        while queue:
            topic, key, value = queue.pop(0)
            offset += 1
            if topic in ("ref.clinics", "ref.therapists", "ref.payers"):
                mirror.on_record(topic, key, value)
                continue
            handler = wiring.handlers.get(topic)
            if handler is None:
                continue
            before = len(sink.sent)
            part = partition_for(key, wiring.catalogue.partitions(topic))
            await runner.process(Incoming(topic, part, offset, 0, key, value, ()), handler)
            queue += [
                (r.topic, r.key or b"", r.value or b"")
                for r in sink.sent[before:]
                if r.topic in wiring.handlers
            ]

    asyncio.run(run())

    written = {
        "sessions.enriched": SessionEnriched,
        "charges.billable": BillableSession,
        "charges.self-pay": BillableSession,
    }
    seen: dict[str, int] = {}
    for record in sink.sent:
        cls = written.get(record.topic)
        if cls is None or record.value is None or b"withdrawn" in record.value:
            continue
        kept = echo._kept.get(record.value)
        assert kept is not None, record.topic
        assert cls.model_validate_json(record.value) == kept
        seen[record.topic] = seen.get(record.topic, 0) + 1
    assert seen.get("sessions.enriched", 0) >= 60, seen
    assert seen.get("charges.billable", 0) >= 40, seen
    assert seen.get("charges.self-pay", 0) >= 2, seen
    dead = [r for r in sink.delivered if r.topic.endswith(".dlq")]
    assert len(dead) == 3  # the demo's three malformed sessions, nothing else
    assert not [r for r in dead if any(b"AssertionError" in (v or b"") for _, v in r.headers)]
