"""Claim status through the claims stage's real handlers (no Kafka; the test's clock):
a 276 when an accepted claim has no 835 after the follow-up period, again at the
inquiry interval, on an operator's command, never for a payer that does not answer
276s; and a 277 answer on the record and the work queue."""

from __future__ import annotations

import asyncio
import json
import stat
from datetime import timedelta
from pathlib import Path

import pytest

from tests import factories as f
from tests.unit.test_claims_days import DAY_ENDS, GRACE, Claims, visit
from tests.unit.test_front_door import ack_277
from tests.x12_second_opinion import second_opinion_276


def inquiries(claims: Claims) -> list[Path]:
    folder = claims.wiring.settings.outbox_dir / "276"
    return sorted(folder.glob("*.x12")) if folder.exists() else []


async def accepted_claim(claims: Claims) -> str:
    """A claim sent and accepted by the payer's 277CA; its CLM01."""
    await claims.visit(visit("s1", 10, 9))
    claims.at(DAY_ENDS + GRACE + timedelta(seconds=61))
    await claims.tick()
    [sent] = claims.submitted()
    pcn: str = sent["patient_control_number"]
    await claims.send("acks.inbound", b"rcv1", answer(pcn, "ca-1", "A2", "277CA"))
    return pcn


def answer(pcn: str, ack_id: str, category: str, kind: str, code: str = "20") -> bytes:
    ack = ack_277(ack_id, category, code=code, kind=kind)
    claim = ack.claim.model_copy(update={"patient_control_number": pcn})
    ack = ack.model_copy(update={"claim": claim, "receiver_id": "rcv1", "source_entity": "PR"})
    return ack.model_dump_json().encode()


@pytest.fixture
def claims(tmp_path: Path) -> Claims:
    return Claims(tmp_path, now=DAY_ENDS - timedelta(hours=10))


def test_a_claim_with_no_835_after_the_follow_up_period_gets_a_276(claims: Claims) -> None:
    async def run() -> None:
        await accepted_claim(claims)
        claims.at(claims.wiring.time + timedelta(days=29))
        await claims.tick()
        assert inquiries(claims) == []
        claims.at(claims.wiring.time + timedelta(days=2))
        await claims.tick()
        [first] = inquiries(claims)
        assert stat.S_IMODE(first.stat().st_mode) == 0o600
        text = first.read_text()
        assert second_opinion_276(text) == []
        assert "REF*EJ*" in text and "TRN*1*" in text and "-S1~" in text
        claims.at(claims.wiring.time + timedelta(days=1))
        await claims.tick()
        assert len(inquiries(claims)) == 1  # not again before the interval
        claims.at(claims.wiring.time + timedelta(days=14))
        await claims.tick()
        assert len(inquiries(claims)) == 2
        assert "-S2~" in inquiries(claims)[1].read_text()

    asyncio.run(run())


def test_an_operator_asks_at_once_and_a_silent_payer_is_never_asked(claims: Claims) -> None:
    async def run() -> None:
        pcn = await accepted_claim(claims)
        await claims.command("status", pcn)
        [asked] = inquiries(claims)
        assert f"REF*EJ*{pcn}~" in asked.read_text()
        payer = f.payer(receiver_id="rcv1", answers_claim_status=False)
        claims.wiring.mirrors["partner_mirror"].on_record(
            "ref.payers", payer["payer_id"].encode(), json.dumps(payer).encode()
        )
        claims.at(claims.wiring.time + timedelta(days=60))
        await claims.tick()
        assert len(inquiries(claims)) == 1

    asyncio.run(run())


def test_a_277_that_needs_a_person_is_a_work_item_until_a_later_answer(claims: Claims) -> None:
    async def run() -> None:
        pcn = await accepted_claim(claims)
        await claims.send("acks.inbound", b"rcv1", answer(pcn, "st-1", "R4", "277", code="21"))
        [item] = claims.out("claims.status-attention")
        assert item["state"] == "information-requested" and item["codes"] == ["R4:21"]
        claims.at(claims.wiring.time + timedelta(days=60))
        await claims.tick()
        assert inquiries(claims) == []  # a person has it: no automatic 276
        await claims.send("acks.inbound", b"rcv1", answer(pcn, "st-2", "F1", "277", code="65"))
        settled = [r for r in claims.sink.sent if r.topic == "claims.status-attention"]
        assert settled[-1].value is None and settled[-1].key == pcn.encode()

    asyncio.run(run())
