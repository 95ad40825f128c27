"""The claims processor's release decisions, through its real handlers without Kafka.

An arrival checks its batch from a kept summary; a tick checks the table.  These
tests change the pending table behind the processor's back (as a changelog replay
would) and check that a release still follows the table: nothing released that is
not there, nothing held past the next tick, and no endless release loop.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from schemas.billing import BillableSession, billing_key
from tests import claim_factories as cf
from tests import factories as f
from tests.fakes import FakeSink, FakeTable, FakeWiring
from tests.pipeline import billable
from workers.claims import processor as claims_processor
from workers.claims import stored_records
from workers.runtime.partitioning import partition_for
from workers.runtime.processing import MessageRunner
from workers.runtime.records import Incoming
from workers.runtime.settings import Settings

#: the test's "now" (the factories date sessions a few days before the real today)
START = datetime.now(UTC).replace(microsecond=0)


class Claims:
    """The registered claims processor, fed one message at a time."""

    def __init__(self, tmp_path: Path, batch_max_claims: int, batch_max_age_s: int) -> None:
        settings = Settings(
            outbox_dir=tmp_path / "outbox", claims_validate=False, claims_day_grace_h=0
        )
        self.sink = FakeSink()
        self.wiring = FakeWiring(self.sink, settings, now=START)
        claims_processor.register(self.wiring)
        partner = cf.partner_data(
            batch_max_claims=batch_max_claims, batch_max_age_s=batch_max_age_s
        )
        mirror = self.wiring.mirrors["partner_mirror"]
        mirror.on_record("ref.partners", b"rcv1", json.dumps(partner).encode())
        self.runner = MessageRunner("claims", "g", self.sink, metrics=self.wiring.metrics)
        self.partitions = self.wiring.catalogue.partitions("charges.billable")
        self.offset = 0

    @property
    def sources(self) -> FakeTable:
        """Sessions' entries, by session key: pending until a claim record names them."""
        return self.wiring.tables["claims.sources"]

    @property
    def pending(self) -> list[bytes]:
        """The keys of the sessions' entries no claim record names yet."""
        records = self.wiring.tables["claims.records"]
        claimed = {k for raw in records.values() for k in stored_records.decode(raw).session_keys}
        assert not self.wiring.tables["claims.pending"]  # sessions live in the sources table
        return [k for k in self.sources if k.decode() not in claimed]

    def released(self) -> list[dict[str, Any]]:
        return [json.loads(r.value or b"{}") for r in self.sink.sent if r.topic == "edi.outbound"]

    async def send(self, topic: str, key: bytes, value: bytes) -> None:
        self.offset += 1
        msg = Incoming(topic, partition_for(key, self.partitions), self.offset, 0, key, value, ())
        result = await asyncio.wait_for(self.runner.process(msg, self.wiring.handlers[topic]), 10)
        assert result.status == "ok", result

    async def session(self, session_id: str) -> None:
        # one patient per session: each is a claim of its own (a day is one claim)
        b = billable(
            session=f.session(session_id=session_id, patient_id=f"p{session_id}"),
            patient=f.patient(patient_id=f"p{session_id}"),
            payer=f.payer(receiver_id="rcv1"),
            now=self.wiring.time,
        )
        key = billing_key(b.receiver_id, b.clinic_id, True).encode()
        await self.send("charges.billable", key, b.model_dump_json().encode())

    async def tick(self) -> None:
        await self.send("state.claims.ticks", b"rcv1", b'{"tick": true}')


@pytest.fixture
def claims(tmp_path: Path) -> Any:
    return lambda **kw: Claims(tmp_path, **kw)


def test_a_full_batch_is_released_on_the_arrival_that_fills_it(claims: Any) -> None:
    c = claims(batch_max_claims=2, batch_max_age_s=600)

    async def run() -> None:
        await c.session("s1")
        assert c.released() == [] and len(c.pending) == 1
        await c.session("s2")
        [released] = c.released()
        assert released["claim_count"] == 2 and len(c.pending) == 0

    asyncio.run(run())


def test_an_entry_gone_from_the_table_does_not_fill_a_batch(claims: Any) -> None:
    """The summary still counts an entry the table no longer holds: the arrival the
    summary thinks fills the batch finds one claim in the table and releases
    nothing; the tick after the age limit releases what is there."""
    c = claims(batch_max_claims=2, batch_max_age_s=600)

    async def run() -> None:
        await c.session("s1")
        [gone] = c.pending
        del c.sources[gone]  # replayed away behind the processor's back
        await c.session("s2")  # the summary says 2 claims: full
        assert c.released() == []
        assert len(c.pending) == 1
        assert c.wiring.metrics.outcomes[("claims", "batch-summary-resynced")] == 1
        c.wiring.time = START + timedelta(seconds=601)
        await c.tick()
        [released] = c.released()
        assert released["claim_count"] == 1 and len(c.pending) == 0

    asyncio.run(run())


@pytest.mark.timeout(60)
def test_an_old_entry_gone_from_the_table_does_not_make_the_release_loop(claims: Any) -> None:
    """The summary's oldest entry is gone from the table: the next arrival is not
    released by its age (and the release does not go round for ever on a batch the
    table says is empty); the young claim leaves on a tick once it is old itself."""
    c = claims(batch_max_claims=5, batch_max_age_s=600)

    async def run() -> None:
        await c.session("s1")
        [gone] = c.pending
        del c.sources[gone]
        c.wiring.time = START + timedelta(seconds=601)
        await c.session("s2")  # the summary's oldest entry is past the age limit
        assert c.released() == [] and len(c.pending) == 1
        await c.tick()
        assert c.released() == []
        c.wiring.time = START + timedelta(seconds=1202)
        await c.tick()
        [released] = c.released()
        assert released["claim_count"] == 1 and len(c.pending) == 0

    asyncio.run(run())


def test_self_pay_sessions_come_on_their_own_topic_and_older_ones_are_moved(
    claims: Any,
) -> None:
    """The claims stage reads ``charges.billable`` with one agent (payers' sessions)
    and superbills from ``charges.self-pay``; a self-pay session left on
    ``charges.billable`` from before (key ``self-pay:<clinic>``) is moved there as it
    came, and gets its superbill; a payer's session on the self-pay topic is
    dead-lettered, not billed to the patient."""
    c = claims(batch_max_claims=1, batch_max_age_s=3600)
    assert [h.__name__ for _, h in c.wiring.lanes["charges.billable"]] == ["on_charges"]
    assert [h.__name__ for _, h in c.wiring.lanes["charges.self-pay"]] == ["issue_superbill"]

    def self_pay(session_id: str, kind: str = "hsa") -> BillableSession:
        coverage = {"coverage_id": kind, "kind": kind, "effective_from": "2020-01-01"}
        return billable(
            session=f.session(session_id=session_id),
            patient=f.patient(payer_id=None, coverages=[coverage]),
            now=c.wiring.time,
        )

    hsa, older = self_pay("s9"), self_pay("s8", "self_pay")
    asyncio.run(c.send("charges.self-pay", b"c1", hsa.model_dump_json().encode()))
    value = older.model_dump_json().encode()
    asyncio.run(c.send("charges.billable", billing_key(None, "c1", False).encode(), value))
    [moved] = c.sink.on("charges.self-pay")
    assert (moved.key, moved.value) == (b"c1", value)
    asyncio.run(c.send("charges.self-pay", moved.key or b"", moved.value or b""))
    asyncio.run(c.session("s1"))
    issued = [json.loads(r.value or b"{}") for r in c.sink.on("documents.issued")]
    assert [d["session_key"] for d in issued] == ["c1:s9", "c1:s8"]
    submitted = [json.loads(r.value or b"{}") for r in c.sink.on("claims.submitted")]
    assert len(submitted) == 1 and submitted[0]["claim"]["session_keys"] == ["c1:s1"]

    payer = billable(
        session=f.session(session_id="s2"), payer=f.payer(receiver_id="rcv1"), now=c.wiring.time
    )
    c.offset += 1
    msg = Incoming("charges.self-pay", 0, c.offset, 0, b"c1", payer.model_dump_json().encode())
    handler = c.wiring.handlers["charges.self-pay"]
    result = asyncio.run(asyncio.wait_for(c.runner.process(msg, handler), 10))
    assert result.status != "ok"
    [dead] = c.sink.on("charges.self-pay.dlq")
    assert dict(dead.headers)["claims.dlq.error.reason"] == b"misrouted"
    assert len(c.sink.on("documents.issued")) == 2


def test_a_cancelled_self_pay_visit_voids_its_superbill(claims: Any) -> None:
    """The clinic cancels a self-pay visit after its superbill was issued: the PDF
    leaves the outbox and the patient's account charges nothing for it."""
    from schemas.billing import ChargesWithdrawn
    from schemas.documents import SuperbillIssued, SuperbillVoided
    from schemas.outcomes import SessionWithdrawn
    from workers.remits import patient_ledger

    c = claims(batch_max_claims=1, batch_max_age_s=3600)
    visit = billable(
        session=f.session(session_id="s7"),
        patient=f.patient(
            payer_id=None,
            coverages=[{"coverage_id": "own", "kind": "self_pay", "effective_from": "2020-01-01"}],
        ),
        now=c.wiring.time,
    )
    key = visit.clinic_id.encode()
    asyncio.run(c.send("charges.self-pay", key, visit.model_dump_json().encode()))
    pdf = c.wiring.settings.outbox_dir / "superbills" / "c1" / "superbill_c1_s7.pdf"
    assert pdf.exists()
    withdrawn = ChargesWithdrawn.new(
        session_key="c1:s7",
        receiver_id=None,
        withdrawn=SessionWithdrawn.new(
            session_key="c1:s7",
            clinic_id="c1",
            session_id="s7",
            patient_id=visit.patient_id,
            cancel_event_id="cancel-1",
            state_at_cancel="enriched",
            billed_to_payer=False,
            withdrawn_at=c.wiring.time,
        ),
    )
    asyncio.run(c.send("charges.self-pay", key, withdrawn.model_dump_json().encode()))
    assert not pdf.exists()
    issued, voided = [json.loads(r.value or b"{}") for r in c.sink.on("documents.issued")]
    assert (issued["event_type"], voided["event_type"]) == ("superbill.issued", "superbill.voided")
    standing = patient_ledger.standing(
        [SuperbillIssued.model_validate(issued, strict=False)],
        [SuperbillVoided.model_validate(voided, strict=False)],
    )
    assert standing == []
    assert patient_ledger.accounts([], standing, []) == {}


def test_a_moved_self_pay_message_keeps_its_value_and_own_headers_only() -> None:
    """What the claims stage moves to ``charges.self-pay`` is the message as the units
    stage wrote it: its value and its own headers, keyed by clinic; a replay's or a
    dead letter's marks stay behind (the superbill lane would take it for a replay)."""
    from workers.claims.superbill_lane import moved_to_self_pay
    from workers.runtime.dead_letters import PREFIX, REPLAY_PREFIX

    headers = (
        ("claims.event_type", b"BillableSession"),
        (f"{REPLAY_PREFIX}of", b"x"),
        (f"{PREFIX}error.reason", b"y"),
    )
    msg = Incoming("charges.billable", 3, 7, 0, b"self-pay:c12", b'{"v":1}', headers)
    [moved] = moved_to_self_pay(msg)
    assert (moved.topic, moved.key, moved.value) == ("charges.self-pay", b"c12", b'{"v":1}')
    assert moved.headers == (("claims.event_type", b"BillableSession"),)
