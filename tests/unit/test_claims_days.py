"""A day of service through the claims stage's real handlers (no Kafka; the wiring's
clock is the test's): when a day's claim leaves, what a late or withdrawn visit does,
and what happens to a day that earns nothing.

The clinic is in Illinois (America/Chicago): 2026-03-02 ends at 06:00 UTC on 03-03.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from schemas.billing import BillableSession, ChargesWithdrawn, billing_key
from schemas.outcomes import SessionWithdrawn
from schemas.submission import claim_command
from tests import claim_factories as cf
from tests import factories as f
from tests.fakes import FakeSink, FakeWiring
from tests.pipeline import billable
from workers.claims import processor as claims_processor
from workers.runtime.partitioning import partition_for
from workers.runtime.processing import MessageRunner
from workers.runtime.records import Incoming
from workers.runtime.settings import Settings

DOS = "2026-03-02"
DAY_ENDS = datetime(2026, 3, 3, 6, 0, tzinfo=UTC)  # midnight in Springfield, IL
GRACE = timedelta(hours=72)
CMS = f.payer(receiver_id="rcv1", unit_policy="cms")


class Claims:
    """The registered claims stage, fed one message at a time, with a clock."""

    def __init__(self, tmp_path: Path, now: datetime) -> None:
        settings = Settings(outbox_dir=tmp_path / "outbox", claims_validate=False)
        self.sink = FakeSink()
        self.wiring = FakeWiring(self.sink, settings, now=now)
        claims_processor.register(self.wiring)
        partner = cf.partner_data(batch_max_claims=100, batch_max_age_s=60)
        self.wiring.mirrors["partner_mirror"].on_record(
            "ref.partners", b"rcv1", json.dumps(partner).encode()
        )
        self.runner = MessageRunner("claims", "g", self.sink, metrics=self.wiring.metrics)
        self.partitions = self.wiring.catalogue.partitions("charges.billable")
        self.offset = 0

    def at(self, when: datetime) -> None:
        self.wiring.time = when

    def out(self, topic: str) -> list[dict[str, Any]]:
        return [json.loads(r.value) for r in self.sink.sent if r.topic == topic and r.value]

    def submitted(self) -> list[dict[str, Any]]:
        return self.out("claims.submitted")

    async def send(self, topic: str, key: bytes, value: bytes) -> None:
        self.offset += 1
        msg = Incoming(topic, partition_for(key, self.partitions), self.offset, 0, key, value, ())
        result = await asyncio.wait_for(self.runner.process(msg, self.wiring.handlers[topic]), 10)
        assert result.status == "ok", result

    async def visit(self, b: BillableSession) -> None:
        key = billing_key(b.receiver_id, b.clinic_id, True).encode()
        await self.send("charges.billable", key, b.model_dump_json().encode())

    async def tick(self) -> None:
        for p in range(self.partitions):
            self.offset += 1
            msg = Incoming("state.claims.ticks", p, self.offset, 0, b"tick", b"{}", ())
            await self.runner.process(msg, self.wiring.handlers["state.claims.ticks"])

    async def command(self, action: str, pcn: str, **fields: Any) -> None:
        cmd = claim_command(
            action=action,
            patient_control_number=pcn,
            receiver_id="rcv1",
            requested_at=self.wiring.time,
            **fields,
        )
        await self.send("claims.commands", b"rcv1", cmd.model_dump_json().encode())


def visit(
    session_id: str, minutes: int, hour: int, technique: str = "myofascial_release"
) -> BillableSession:
    return billable(
        session=f.session(
            session_id=session_id,
            dos=DOS,
            techniques=[{"technique": technique, "minutes": minutes, "body_region": "back"}],
            occurred_at=datetime(2026, 3, 2, hour, tzinfo=UTC).isoformat(),
        ),
        payer=CMS,
        now=DAY_ENDS,
    )


@pytest.fixture
def claims(tmp_path: Path) -> Claims:
    return Claims(tmp_path, now=DAY_ENDS - timedelta(hours=10))


def test_a_days_visits_leave_as_one_claim_once_the_day_has_closed(claims: Claims) -> None:
    async def run() -> None:
        await claims.visit(visit("s1", 10, 9))
        await claims.visit(visit("s2", 10, 15))
        claims.at(DAY_ENDS + GRACE - timedelta(minutes=1))
        await claims.tick()  # old enough for any batch, but the day is still open
        assert claims.submitted() == []
        claims.at(DAY_ENDS + GRACE + timedelta(seconds=61))
        await claims.tick()
        [claim] = claims.submitted()
        assert claim["session_keys"] == ["c1:s1", "c1:s2"]
        assert [(ln["procedure"], ln["units"]) for ln in claim["claim"]["lines"]] == [
            ("97140", 1)  # 20 minutes of the day: one unit, not one per visit
        ]

    asyncio.run(run())


def test_a_visit_that_earns_nothing_alone_waits_and_a_day_that_earns_nothing_is_rejected(
    claims: Claims,
) -> None:
    async def run() -> None:
        await claims.visit(visit("s1", 5, 9))  # 5 minutes: no unit alone, not refused
        assert claims.out("sessions.rejected") == [] and claims.out("charges.billable.dlq") == []
        claims.at(DAY_ENDS + GRACE + timedelta(seconds=61))
        await claims.tick()
        assert claims.submitted() == []
        [rejected] = claims.out("sessions.rejected")
        assert (rejected["session_key"], rejected["reason"]) == ("c1:s1", "no-billable-units")
        assert rejected["details"]["stage"] == "claims"
        await claims.tick()
        assert len(claims.out("sessions.rejected")) == 1  # decided once: nothing left pending

    asyncio.run(run())


def test_a_late_visit_replaces_the_days_claim_once_the_payer_numbered_it(
    claims: Claims,
) -> None:
    """Never a second original for the same date: the late visit waits for the 835's
    claim number, then a replacement (frequency 7, REF*F8) carries the whole day."""

    async def run() -> None:
        await claims.visit(visit("s1", 10, 9))
        claims.at(DAY_ENDS + GRACE + timedelta(seconds=61))
        await claims.tick()
        [original] = claims.submitted()
        pcn = original["patient_control_number"]
        await claims.visit(visit("s2", 10, 15))  # reported after the claim left
        await claims.tick()
        assert len(claims.submitted()) == 1  # waits: the payer has not numbered it
        await claims.command("payer-claim-number", pcn, payer_claim_number="PAYER-77")
        claims.at(claims.wiring.time + timedelta(seconds=61))
        await claims.tick()
        _, replacement = claims.submitted()
        assert replacement["patient_control_number"] == pcn
        assert (replacement["frequency"], replacement["claim"]["payer_claim_number"]) == (
            "7",
            "PAYER-77",
        )
        assert replacement["session_keys"] == ["c1:s1", "c1:s2"]
        assert [(ln["procedure"], ln["units"]) for ln in replacement["claim"]["lines"]] == [
            ("97140", 1)
        ]

    asyncio.run(run())


def test_withdrawing_one_visit_of_a_sent_day_replaces_the_claim_without_it(
    claims: Claims,
) -> None:
    async def run() -> None:
        await claims.visit(visit("s1", 30, 9))
        await claims.visit(visit("s2", 20, 15, technique="swedish_massage"))
        claims.at(DAY_ENDS + GRACE + timedelta(seconds=61))
        await claims.tick()
        [original] = claims.submitted()
        pcn = original["patient_control_number"]
        await claims.command("payer-claim-number", pcn, payer_claim_number="PAYER-78")
        withdrawn = ChargesWithdrawn.new(
            session_key="c1:s2",
            receiver_id="rcv1",
            withdrawn=SessionWithdrawn.new(
                session_key="c1:s2",
                clinic_id="c1",
                patient_id="pt1",
                session_id="s2",
                cancel_event_id="e2",
                state_at_cancel="enriched",
                billed_to_payer=True,
                receiver_id="rcv1",
                withdrawn_at=claims.wiring.time,
            ),
        )
        await claims.send("charges.billable", b"rcv1", withdrawn.model_dump_json().encode())
        claims.at(claims.wiring.time + timedelta(seconds=61))
        await claims.tick()
        _, replacement = claims.submitted()
        assert replacement["frequency"] == "7" and replacement["session_keys"] == ["c1:s1"]
        assert [ln["procedure"] for ln in replacement["claim"]["lines"]] == ["97140"]

    asyncio.run(run())


def test_changes_waiting_too_long_for_the_payer_number_become_one_work_item(
    claims: Claims,
) -> None:
    async def run() -> None:
        await claims.visit(visit("s1", 10, 9))
        claims.at(DAY_ENDS + GRACE + timedelta(seconds=61))
        await claims.tick()
        [original] = claims.submitted()
        pcn = original["patient_control_number"]
        await claims.visit(visit("s2", 10, 15))
        claims.at(claims.wiring.time + timedelta(days=29))
        await claims.tick()
        assert claims.out("claims.changes-waiting") == []
        claims.at(claims.wiring.time + timedelta(days=2))
        await claims.tick()
        await claims.tick()
        [item] = claims.out("claims.changes-waiting")
        assert item["patient_control_number"] == pcn and len(item["changes"]) == 1
        assert "claims claim payer-number" in item["message"]
        await claims.command("payer-claim-number", pcn, payer_claim_number="PAYER-79")
        resolved = [r for r in claims.sink.sent if r.topic == "claims.changes-waiting"]
        assert resolved[-1].value is None and resolved[-1].key == pcn.encode()

    asyncio.run(run())


def test_a_day_in_another_clinic_time_zone_closes_at_its_own_midnight(tmp_path: Path) -> None:
    """The clinic's own time zone decides when its day ends (Honolulu is 4 hours
    behind Chicago in March)."""
    hawaii = f.clinic(time_zone="Pacific/Honolulu")
    b = billable(
        session=f.session(session_id="s1", dos=DOS),
        payer=CMS,
        clinic=hawaii,
        now=DAY_ENDS,
    )
    claims = Claims(tmp_path, now=DAY_ENDS)

    async def run() -> None:
        await claims.visit(b)
        claims.at(DAY_ENDS + GRACE + timedelta(hours=1))
        await claims.tick()
        assert claims.submitted() == []  # 01:00 on the 6th in Chicago, 21:00 on the 5th in HI
        claims.at(DAY_ENDS + GRACE + timedelta(hours=4, minutes=2))
        await claims.tick()
        assert len(claims.submitted()) == 1

    asyncio.run(run())
