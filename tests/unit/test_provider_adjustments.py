"""Provider-level adjustments (835 PLB) are linked to the claim they name -- by our
claim number or the payer's -- and never lost: the reconciliation's real handlers
(no Kafka), with the messages they send to themselves fed back in, and the pure
rules for what a PLB item does to a claim's money."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from schemas.provider_adjustments import (
    LinkProviderAdjustmentCommand,
    PlbRoute,
    ProviderAdjustmentItem,
)
from schemas.reconciliation import (
    Balance,
    ClaimLedger,
    ClaimReference,
    RemittanceSource,
    RemittanceTransaction,
)
from schemas.remittance import Payee, Payer, Payment, ProviderAdjustment
from tests import factories as f
from tests.fakes import FakeSink, FakeWiring
from tests.unit.test_reconcile import ledger_with, payment, submitted
from workers.ops.overview import Overview
from workers.remits import balances, reconcile
from workers.remits import processor as remits_processor
from workers.remits import provider_adjustments as plb
from workers.runtime.partitioning import partition_for
from workers.runtime.processing import MessageRunner
from workers.runtime.records import Incoming, Outgoing

D = Decimal
NOW = datetime(2026, 4, 2, tzinfo=UTC)
PAYER = Payer(name="Payer p1", id="1999999999")


def transaction(
    *items: tuple[str, str | None, str],
    claims: tuple[tuple[str, str | None], ...] = (),
    trace: str = "P1",
    paid_on: date = date(2026, 4, 1),
) -> RemittanceTransaction:
    """A transaction summary with PLB items ``(reason, reference, amount)``."""
    adjustments = [
        ProviderAdjustment(
            provider_id=f.CLINIC_NPI, date=date(2026, 12, 31), reason=r, reference=ref,
            amount=D(a),
        )
        for r, ref, a in items
    ]  # fmt: skip
    pay = Payment(
        amount=D("0.00"), credit_debit="C", method="NON", date=paid_on, trace_number=trace,
        payer_trace_id="1999999999",
    )  # fmt: skip
    return RemittanceTransaction.new(
        remittance_id=f"R{trace}",
        payer=PAYER,
        payee=Payee(name="Clinic c1", npi=f.CLINIC_NPI),
        payment=pay,
        claim_count=len(claims),
        paid_total=D("0.00"),
        provider_adjustments=adjustments,
        claims=[ClaimReference(patient_control_number=p, payer_claim_number=n) for p, n in claims],
        balance=Balance(ok=True),
        source=RemittanceSource(
            file_name=f"{trace}.835", file_sha256="0" * 64, transaction_control_number="0001",
            ingested_at=NOW,
        ),
    )  # fmt: skip


class Reconcile:
    """The registered reconciliation; what it sends to its own topics is fed back in."""

    def __init__(self) -> None:
        self.sink = FakeSink()
        self.wiring = FakeWiring(self.sink, now=NOW)
        remits_processor.register(self.wiring)
        self.runner = MessageRunner("reconcile", "g", self.sink, metrics=self.wiring.metrics)
        self.partitions = self.wiring.catalogue.partitions("claims.submitted")
        self.offset = 0
        self.queue = Overview()

    async def send(self, topic: str, key: bytes, value: bytes | None) -> None:
        pending = [Outgoing(topic, key, value)]
        while pending:
            record = pending.pop(0)
            assert record.key is not None
            self.offset += 1
            partition = partition_for(record.key, self.partitions)
            msg = Incoming(topic := record.topic, partition, self.offset, 0, record.key,
                           record.value, ())  # fmt: skip
            seen = len(self.sink.sent)
            result = await asyncio.wait_for(
                self.runner.process(msg, self.wiring.handlers[topic]), 10
            )
            assert result.status == "ok", result
            for out in self.sink.sent[seen:]:
                if out.topic in self.wiring.handlers:
                    pending.append(out)
                self.queue.apply(out.topic, 0, self.offset, out.key, out.value)

    def run(self, topic: str, key: str, value: Any) -> None:
        asyncio.run(self.send(topic, key.encode(), value.model_dump_json().encode()))

    def ledger(self, pcn: str) -> ClaimLedger:
        return ClaimLedger.parse_json(self.wiring.tables["reconcile.claims"][pcn.encode()])

    def queued(self) -> list[dict[str, Any]]:
        return [i.body for i in self.queue.queue("remits.provider-adjustments")]


@pytest.fixture
def recon() -> Reconcile:
    return Reconcile()


def claim_paid(recon: Reconcile, paid: str = "170.00", payer_claim: str = "PAYER-1") -> str:
    """A submitted claim (charge 170.00) with the payer's answer posted."""
    sub = submitted()
    pcn = sub.patient_control_number
    recon.run("claims.submitted", pcn, sub)
    adjustments = (("CO", "45", f"{D(170) - D(paid):.2f}"),) if D(paid) < 170 else ()
    answer = payment(pcn, paid=paid, adjustments=adjustments, payer_claim=payer_claim)
    recon.run("remits.835.inbound", pcn, answer)
    return pcn


def test_a_plb_naming_the_payers_claim_number_links_to_the_claim_and_recoups(
    recon: Reconcile,
) -> None:
    """The payer takes back 30.00 months later, naming only its own claim number."""
    pcn = claim_paid(recon, paid="130.00")
    tx = transaction(("WO", "PAYER-1", "30.00"), trace="P9")
    recon.run("remits.835.inbound", tx.remittance_id, tx)
    [linked] = recon.ledger(pcn).provider_adjustments
    assert (linked.plb_id, linked.linked_by, linked.kind) == (
        "RP9/1",
        "payer-claim-number",
        "recoupment",
    )
    row = balances.claim_balance(recon.ledger(pcn), None, NOW)
    assert row.problem() is None
    assert (row.paid, row.denials_open) == (D("100.00"), D("30.00"))
    assert recon.queued() == []


def test_a_plb_naming_a_claim_of_its_own_transaction_links_before_the_payment_posts(
    recon: Reconcile,
) -> None:
    sub = submitted()
    pcn = sub.patient_control_number
    recon.run("claims.submitted", pcn, sub)
    tx = transaction(("L6", "NEWNUM-7", "-4.25"), claims=((pcn, "NEWNUM-7"),), trace="P2")
    recon.run("remits.835.inbound", tx.remittance_id, tx)  # the summary first
    [linked] = recon.ledger(pcn).provider_adjustments
    assert (linked.kind, linked.linked_by) == ("interest", "payer-claim-number")


def test_interest_linked_to_a_claim_is_income_not_claim_money(recon: Reconcile) -> None:
    pcn = claim_paid(recon, paid="130.00")
    before = balances.claim_balance(recon.ledger(pcn), None, NOW)
    tx = transaction(("L6", pcn, "-2.10"), trace="P3")
    recon.run("remits.835.inbound", tx.remittance_id, tx)
    after = balances.claim_balance(recon.ledger(pcn), None, NOW)
    assert recon.ledger(pcn).provider_adjustments[0].kind == "interest"
    assert (after.paid, after.credit, after.insurance_outstanding) == (
        before.paid,
        before.credit,
        before.insurance_outstanding,
    )
    rows, headers = plb.report([tx], [recon.ledger(pcn)])
    [row] = [dict(zip(headers, r, strict=True)) for r in rows]
    assert (row["payer"], row["month"], row["interest"], row["unlinked"]) == (
        "1999999999",
        "2026-04",
        "2.10",
        "0",
    )


def test_a_plb_naming_nothing_goes_to_the_work_queue_until_an_operator_links_it(
    recon: Reconcile,
) -> None:
    pcn = claim_paid(recon)
    tx = transaction(("WO", "NOBODY-1", "12.00"), ("L6", None, "-1.00"), trace="P4")
    recon.run("remits.835.inbound", tx.remittance_id, tx)
    queued = {q["item"]["plb_id"]: q for q in recon.queued()}
    assert set(queued) == {"RP4/1", "RP4/2"}
    first = queued["RP4/1"]
    assert first["item"]["adjustment"]["amount"] == "12.00"
    assert first["item"]["file_name"] == "P4.835"
    assert (first["kind"], first["reason_text"]) == ("recoupment", "overpayment recovery")
    assert "neither our claim number nor a payer's" in first["message"]
    assert "no reference" in queued["RP4/2"]["message"]
    assert recon.ledger(pcn).provider_adjustments == []
    item = ProviderAdjustmentItem.model_validate(first["item"], strict=False)
    command = LinkProviderAdjustmentCommand.new(
        action="link-plb",
        patient_control_number=pcn,
        item=item,
        reason="payer's letter names this claim",
        requested_by="ops1",
        requested_at=NOW,
    )
    recon.run("remits.commands", pcn, command)
    [linked] = recon.ledger(pcn).provider_adjustments
    assert linked.linked_by == "operator"
    assert {q["item"]["plb_id"] for q in recon.queued()} == {"RP4/2"}


def test_forward_balances_pair_across_remittances(recon: Reconcile) -> None:
    held = transaction(("FB", "FB-2026-11", "50.00"), trace="P5", paid_on=date(2026, 4, 1))
    recon.run("remits.835.inbound", held.remittance_id, held)
    [waiting] = recon.queued()
    assert "waiting for the remittance that returns it" in waiting["message"]
    back = transaction(("FB", "FB-2026-11", "-50.00"), trace="P6", paid_on=date(2026, 5, 1))
    recon.run("remits.835.inbound", back.remittance_id, back)
    assert recon.queued() == []
    rows, headers = plb.report([held, back], [])
    table = {r[1]: dict(zip(headers, r, strict=True)) for r in rows}
    assert (table["2026-04"]["fb withheld"], table["2026-04"]["fb open"]) == ("50.00", "0.00")
    assert (table["2026-05"]["fb returned"], table["2026-05"]["unlinked"]) == ("50.00", "0")


def test_a_recoupment_a_posted_reversal_accounts_for_takes_nothing_twice() -> None:
    """The payer reversed 130.00 in a CLP loop, paid 120.00 corrected, and collects the
    cash of the difference with a later WO: the claim's money is 120.00 paid."""
    sub = submitted()
    pcn = sub.patient_control_number
    ledger = reconcile.on_claim_payment(ledger_with(sub), payment(pcn), NOW).ledger
    reversal = payment(pcn, status="22", charge="-170.00", paid="-130.00",
                       adjustments=(("CO", "45", "-40.00"),), trace="T2")  # fmt: skip
    correction = payment(pcn, paid="120.00", adjustments=(("CO", "45", "50.00"),),
                         trace="T2", index=2)  # fmt: skip
    for step in (reversal, correction):
        ledger = reconcile.on_claim_payment(ledger, step, NOW).ledger
    tx = transaction(("WO", pcn, "-10.00"), trace="T2")  # deferred in the same 835
    later = transaction(("WO", pcn, "10.00"), trace="T3")  # collected later
    for item in [*plb.items_of(tx), *plb.items_of(later)]:
        ledger = plb.link(ledger, item, "claim-number")
    assert plb.recouped(ledger) == 0
    row = balances.claim_balance(ledger, None, NOW)
    assert row.problem() is None
    assert (row.paid, row.insurance_outstanding) == (D("120.00"), 0)


def test_a_recoupment_first_uses_up_the_claims_credit() -> None:
    """The payer paid 130.00 twice on a 170.00 charge (credit 130.00 beyond its own
    answer, plus its contractual 40.00 counted twice: credit 170.00) and recoups
    200.00: the credit is gone and 30.00 is owed again."""
    sub = submitted()
    pcn = sub.patient_control_number
    ledger = reconcile.on_claim_payment(ledger_with(sub), payment(pcn), NOW).ledger
    ledger = reconcile.on_claim_payment(ledger, payment(pcn, trace="T7"), NOW).ledger
    assert balances.claim_balance(ledger, None, NOW).credit == D("170.00")
    [item] = plb.items_of(transaction(("WO", pcn, "200.00"), trace="T4"))
    row = balances.claim_balance(plb.link(ledger, item, "claim-number"), None, NOW)
    assert row.problem() is None
    assert (row.paid, row.credit, row.denials_open) == (D("60.00"), 0, D("30.00"))


def test_an_item_is_linked_once() -> None:
    sub = submitted()
    ledger = ledger_with(sub)
    [item] = plb.items_of(transaction(("WO", sub.patient_control_number, "5.00")))
    once = plb.link(ledger, item, "claim-number")
    assert plb.link(once, item, "claim-number") == once


def test_dispatch_prefers_the_transactions_own_claims() -> None:
    tx = transaction(
        ("WO", "PCN-A", "1.00"),
        ("WO", "CLP07-B", "2.00"),
        ("WO", "ELSEWHERE", "3.00"),
        ("FB", "PCN-A", "4.00"),
        claims=(("PCN-A", "CLP07-A"), ("PCN-B", "CLP07-B")),
    )
    sent = plb.dispatch(tx, NOW)
    routes: list[tuple[str, PlbRoute]] = [d.route for d in sent if d.route is not None]
    assert [(k, r.target, r.linked_by) for k, r in routes] == [
        ("PCN-A", "PCN-A", "claim-number"),
        ("PCN-B", "PCN-B", "payer-claim-number"),
        ("ELSEWHERE", None, "claim-number"),
        ("PCN-A", None, "claim-number"),  # forward balances pair by reference
    ]


def test_the_report_counts_recoupments_deferrals_and_what_changed_claims() -> None:
    sub = submitted()
    pcn = sub.patient_control_number
    ledger = reconcile.on_claim_payment(ledger_with(sub), payment(pcn, paid="130.00"), NOW).ledger
    tx = transaction(("WO", pcn, "30.00"), ("72", "ZZ", "-5.00"), ("CS", None, "1.50"), trace="R1")
    for item in plb.items_of(tx)[:1]:
        ledger = plb.link(ledger, item, "claim-number")
    rows, headers = plb.report([tx], [ledger])
    [row] = [dict(zip(headers, r, strict=True)) for r in rows]
    assert (row["recouped"], row["deferred"], row["against claims"]) == ("30.00", "5.00", "30.00")
    assert (row["other"], row["unlinked"]) == ("1.50", "2")


def test_plb_reason_codes_are_data() -> None:
    from schemas.provider_adjustments import plb_kind, plb_text

    assert [plb_kind(c) for c in ("L6", "WO", "72", "FB", "CS", "??")] == [
        "interest",
        "recoupment",
        "recoupment",
        "forward-balance",
        "other",
        "other",
    ]
    assert plb_text("WO") == "overpayment recovery"
    raw = json.loads(
        __import__("importlib.resources").resources.files("schemas")
        .joinpath("data/plb_reasons.json").read_text("utf-8")
    )  # fmt: skip
    assert raw["codes"]["L6"]["kind"] == "interest"
