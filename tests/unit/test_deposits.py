"""Deposits matched to 835 remittances (ERA/EFT reassociation): the pure core, business
days, the processor on a fake wiring (queues open and close, duplicates, dead letters)
and the report."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from schemas.deposits import (
    Deposit,
    DepositMatched,
    DepositNotFromPayer,
    DepositSource,
    DepositUnremitted,
    RemittanceToFund,
    RemittanceUnfunded,
    deposit_id,
)
from schemas.reconciliation import RemittanceSource, RemittanceTransaction
from schemas.remittance import Balance, Payee, Payer, Payment
from tests.fakes import FakeSink, FakeWiring
from workers.deposits import matching, report
from workers.deposits import processor as deposits_processor
from workers.deposits.bank_days import business_days_between, reserve_holidays
from workers.deposits.matching import Book, Closed
from workers.ops.overview import Overview
from workers.runtime.processing import MessageRunner
from workers.runtime.records import Incoming, Outgoing

D = Decimal
NOW = datetime(2026, 4, 2, 15, tzinfo=UTC)  # a Thursday
EIN = "1512345678"


def remit(
    rid: str, amount: str, trace: str = "TR100200", paid_on: date = date(2026, 4, 1),
    payer_trace_id: str | None = EIN, payer_id: str | None = "PAYERP1",
) -> RemittanceToFund:  # fmt: skip
    return RemittanceToFund.new(
        remittance_id=rid, payer_id=payer_id, payer_name="Acme", payer_trace_id=payer_trace_id,
        trace_number=trace, amount=D(amount), method="ACH", payment_date=paid_on,
        file_name="a.835", received_at=NOW,
    )  # fmt: skip


def deposit(
    amount: str, trace: str | None = "TR100200", on: date = date(2026, 4, 2),
    payer_trace_id: str | None = EIN, payer_id: str | None = None, n: int = 1,
) -> Deposit:  # fmt: skip
    fields: dict[str, Any] = {
        "account_ending": "6789", "deposited_on": on, "amount": D(amount), "type_code": "165",
        "bank_reference": None, "customer_reference": None, "trace_number": trace,
        "payer_trace_id": payer_trace_id, "payer_id": payer_id,
    }  # fmt: skip
    return Deposit.new(
        deposit_id=deposit_id(occurrence=n, **fields),
        source=DepositSource(
            file_name="bank.bai2", file_sha256="0" * 64, format="bai2", record=4, ingested_at=NOW
        ),
        **fields,
    )


def run(book: Book, *items: Deposit | RemittanceToFund) -> tuple[Book, list[Any]]:
    outputs: list[Any] = []
    for item in items:
        if isinstance(item, Deposit):
            step = matching.on_deposit(book, item, NOW)
        else:
            step = matching.on_remittance(book, item, NOW)
        book = step.book
        outputs += step.outputs
    return book, outputs


def matched(outputs: list[Any]) -> list[DepositMatched]:
    return [o for o in outputs if isinstance(o, DepositMatched)]


# --- matching ------------------------------------------------------------------------------


@pytest.mark.parametrize("deposit_first", [True, False])
def test_exact_trace_payer_and_amount_match_in_either_order(deposit_first: bool) -> None:
    items = [deposit("125.50"), remit("R1", "125.50")]
    book, out = run(Book(), *(items if deposit_first else items[::-1]))
    (m,) = matched(out)
    assert m.rule == "trace" and [r.remittance_id for r in m.remittances] == ["R1"]
    assert book == Book()


def test_the_bank_shows_the_trace_with_a_prefix_and_leading_zeros() -> None:
    _, out = run(Book(), remit("R1", "80.00", trace="0000100200"), deposit("80.00", "ACH100200"))
    assert [m.rule for m in matched(out)] == ["trace-with-prefix"]
    _, out = run(Book(), remit("R1", "80.00", trace="100200"), deposit("80.00", "000100200"))
    assert [m.rule for m in matched(out)] == ["trace"]


def test_a_short_trace_is_not_matched_at_the_end_of_a_longer_one() -> None:
    book, out = run(Book(), remit("R1", "80.00", trace="200"), deposit("80.00", "ACH100200"))
    assert matched(out) == [] and len(book.remittances) == len(book.deposits) == 1


def test_one_deposit_pays_several_835s_of_one_trace() -> None:
    book, out = run(
        Book(),
        remit("R1", "100.00"),
        deposit("175.25"),
        remit("R2", "75.25"),
    )
    (m,) = matched(out)
    assert sorted(r.remittance_id for r in m.remittances) == ["R1", "R2"]
    assert m.amount == D("175.25") and book == Book()


def test_an_exact_amount_wins_over_the_sum() -> None:
    _, out = run(Book(), remit("R1", "100.00"), remit("R2", "100.00"), deposit("100.00"))
    assert [r.remittance_id for r in matched(out)[0].remittances] == ["R1"]


def test_outside_three_business_days_of_bpr16_nothing_matches() -> None:
    # Wednesday 2026-04-01 to Tuesday 2026-04-07: four business days
    book, out = run(Book(), remit("R1", "60.00"), deposit("60.00", on=date(2026, 4, 7)))
    assert matched(out) == [] and len(book.deposits) == 1
    _, out = run(Book(), remit("R1", "60.00"), deposit("60.00", on=date(2026, 4, 6)))
    assert len(matched(out)) == 1
    _, out = run(Book(), remit("R1", "60.00"), deposit("60.00", on=date(2026, 3, 27)))
    assert len(matched(out)) == 1  # the deposit may come before the 835


def test_another_payers_trace_id_does_not_match() -> None:
    book, out = run(Book(), remit("R1", "60.00"), deposit("60.00", payer_trace_id="1999999999"))
    assert matched(out) == [] and len(book.deposits) == 1


def test_the_ein_without_its_leading_1_is_the_same_payer() -> None:
    _, out = run(Book(), remit("R1", "60.00"), deposit("60.00", payer_trace_id="512345678"))
    assert len(matched(out)) == 1


def test_a_deposit_without_trace_matches_the_one_835_of_its_payer_amount_and_window() -> None:
    _, out = run(
        Book(), remit("R1", "60.00"), deposit("60.00", trace=None, payer_trace_id=None,
                                              payer_id="PAYERP1"),
    )  # fmt: skip
    assert [m.rule for m in matched(out)] == ["payer-amount-date"]
    book, out = run(
        Book(), remit("R1", "60.00"), remit("R2", "60.00", trace="TR9"),
        deposit("60.00", trace=None, payer_trace_id=None, payer_id="PAYERP1"),
    )  # fmt: skip
    assert matched(out) == [] and len(book.deposits) == 1  # only a trace tells them apart


def test_a_credit_with_no_trace_and_no_payer_is_not_a_payers_and_never_waits() -> None:
    book, out = run(Book(), deposit("42.00", trace=None, payer_trace_id=None))
    (note,) = out
    assert isinstance(note, DepositNotFromPayer) and book == Book()
    swept = matching.sweep(book, date(2026, 5, 1), NOW, unfunded_days=5, unremitted_days=5)
    assert swept.outputs == []


def tx(amount: str, *, method: str = "ACH", handling: str = "I") -> RemittanceTransaction:
    return RemittanceTransaction.new(
        remittance_id="R1", payer=Payer(name="Acme", id="PAYERP1"), payee=Payee(name="Clinic"),
        payment=Payment(amount=D(amount), credit_debit="C", method=method, date=date(2026, 4, 1),
                        trace_number="TR1", payer_trace_id=EIN, handling=handling),
        claim_count=0, paid_total=D(amount), balance=Balance(ok=True),
        source=RemittanceSource(file_name="a.835", file_sha256="0" * 64,
                                transaction_control_number="0001", ingested_at=NOW),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("transaction", "why"),
    [
        (tx("0.00", method="NON", handling="H"), "BPR02"),
        (tx("-5.00"), "BPR02"),
        (tx("12.00", handling="H"), "BPR01"),
        (tx("12.00", method="NON"), "BPR04"),
    ],
)
def test_835s_that_move_no_money_are_skipped(transaction: RemittanceTransaction, why: str) -> None:
    skipped = matching.funding_of(transaction, NOW)
    assert isinstance(skipped, str) and why in skipped
    funded = matching.funding_of(tx("12.00"), NOW)
    assert isinstance(funded, RemittanceToFund) and funded.trace_number == "TR1"


# --- work items ------------------------------------------------------------------------------


def test_queues_open_after_n_business_days_once_and_close_when_the_match_arrives() -> None:
    book, _ = run(Book(), remit("R1", "60.00"), deposit("99.00", trace="TR555"))
    early = matching.sweep(book, date(2026, 4, 2), NOW, unfunded_days=5, unremitted_days=5)
    assert early.outputs == []
    late = matching.sweep(book, date(2026, 4, 8), NOW, unfunded_days=5, unremitted_days=5)
    kinds = sorted(type(o).__name__ for o in late.outputs)
    assert kinds == ["RemittanceUnfunded"]  # the deposit of 04-02 has waited 4 days
    later = matching.sweep(late.book, date(2026, 4, 9), NOW, unfunded_days=5, unremitted_days=5)
    assert [type(o).__name__ for o in later.outputs] == ["DepositUnremitted"]
    again = matching.sweep(later.book, date(2026, 4, 30), NOW, unfunded_days=5,
                           unremitted_days=5)  # fmt: skip
    assert again.outputs == []  # raised once
    _, out = run(later.book, deposit("60.00", trace="TR100200", on=date(2026, 4, 3)),
                 remit("R9", "99.00", trace="TR555", paid_on=date(2026, 4, 3)))  # fmt: skip
    closes = [o for o in out if isinstance(o, Closed)]
    assert closes == [Closed("deposits.unfunded", "R1"), Closed("deposits.unremitted",
                      later.book.deposits[0].deposit.deposit_id)]  # fmt: skip


def test_business_days_skip_weekends_and_reserve_holidays() -> None:
    assert business_days_between(date(2026, 4, 3), date(2026, 4, 6)) == 1  # Friday to Monday
    assert business_days_between(date(2026, 4, 6), date(2026, 4, 3)) == -1
    # Thanksgiving 2026-11-26; Christmas 2027-12-25 is a Saturday: not moved
    assert date(2026, 11, 26) in reserve_holidays(2026)
    assert date(2027, 12, 24) not in reserve_holidays(2027)
    # New Year's Day 2023 was a Sunday: observed Monday 2023-01-02
    assert date(2023, 1, 2) in reserve_holidays(2023)
    assert business_days_between(date(2026, 11, 25), date(2026, 11, 27)) == 1


# --- the processor -----------------------------------------------------------------------------


class Deposits:
    """The registered processor; what it sends to its own topics is fed back in."""

    def __init__(self, **settings: Any) -> None:
        from workers.runtime.settings import Settings

        self.sink = FakeSink()
        self.wiring = FakeWiring(self.sink, settings=Settings(**settings), now=NOW)
        deposits_processor.register(self.wiring)
        self.runner = MessageRunner("deposits", "g", self.sink, metrics=self.wiring.metrics)
        self.offset = 0
        self.queues = Overview()

    def send(self, topic: str, key: bytes | None, value: bytes | None) -> list[str]:
        """Process one message (and what it sends to the processor's own topics); the
        statuses of every message processed."""
        return asyncio.run(self._send(topic, key, value))

    async def _send(self, topic: str, key: bytes | None, value: bytes | None) -> list[str]:
        statuses = []
        pending = [Outgoing(topic, key, value)]
        while pending:
            record = pending.pop(0)
            self.offset += 1
            msg = Incoming(record.topic, 0, self.offset, 0, record.key, record.value, ())
            seen = len(self.sink.sent)
            result = await self.runner.process(msg, self.wiring.handlers[record.topic])
            statuses.append(result.status)
            for out in self.sink.sent[seen:]:
                if out.topic in self.wiring.handlers:
                    pending.append(out)
                self.queues.apply(out.topic, 0, self.offset, out.key, out.value)
        return statuses

    def on(self, topic: str) -> list[Outgoing]:
        return self.sink.on(topic)


def test_the_processor_matches_raises_and_closes_through_its_own_topics() -> None:
    p = Deposits(deposits_unfunded_days=0, deposits_unremitted_days=0)
    transaction = tx("60.00")
    p.send("remits.835.inbound", b"R1", transaction.model_dump_json().encode())
    assert [i.body["remittance"]["remittance_id"] for i in p.queues.queue("deposits.unfunded")] \
        == ["R1"]  # fmt: skip
    d = deposit("60.00", trace="TR1")
    p.send("deposits.inbound", d.deposit_id.encode(), d.model_dump_json().encode())
    (event,) = p.on("deposits.reconciled")
    assert DepositMatched.parse_json(event.value or b"").remittances[0].remittance_id == "R1"
    assert p.queues.queue("deposits.unfunded") == []
    assert p.wiring.tables["deposits.book"] == {}
    orphan = deposit("9.99", trace="NOPE1234")
    p.send("deposits.inbound", orphan.deposit_id.encode(), orphan.model_dump_json().encode())
    (item,) = p.queues.queue("deposits.unremitted")
    assert DepositUnremitted.model_validate(item.body, strict=False).deposit == orphan


def test_a_deposit_or_835_delivered_twice_is_matched_once() -> None:
    p = Deposits()
    d = deposit("60.00", trace="TR1")
    for _ in range(2):
        p.send("deposits.inbound", d.deposit_id.encode(), d.model_dump_json().encode())
    for _ in range(2):
        p.send("remits.835.inbound", b"R1", tx("60.00").model_dump_json().encode())
    assert len(p.on("deposits.reconciled")) == 1
    assert p.wiring.tables["deposits.book"] == {}
    assert p.wiring.metrics.outcomes[("deposits", "duplicate")] == 2


def test_claim_payments_and_moneyless_835s_are_passed_by() -> None:
    p = Deposits()
    assert p.send("remits.835.inbound", b"P1", b'{"event_type": "remit.claim-payment"}') == ["ok"]
    p.send("remits.835.inbound", b"R1", tx("0.00", method="NON").model_dump_json().encode())
    assert p.on("deposits.match") == []


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        (b"D1", b"not json", "undecodable"),
        (b"D1", b'{"event_type": "deposit.received", "schema_version": 1}', "schema-invalid"),
        (b"OTHER", None, "key-mismatch"),
    ],
)
def test_a_bad_deposit_message_is_a_dead_letter(key: bytes, value: bytes | None,
                                                reason: str) -> None:  # fmt: skip
    p = Deposits()
    if value is None:
        value = deposit("1.00").model_dump_json().encode()
    assert p.send("deposits.inbound", key, value) == ["dead-lettered"]
    (dead,) = p.on("deposits.inbound.dlq")
    assert dict(dead.headers)["claims.dlq.error.reason"] == reason.encode()


def test_a_tick_sweeps_what_has_waited() -> None:
    p = Deposits(deposits_unfunded_days=2)
    p.send("remits.835.inbound", b"R1", tx("60.00").model_dump_json().encode())
    assert p.on("deposits.unfunded") == []
    p.wiring.time = datetime(2026, 4, 3, 9, tzinfo=UTC)
    p.send("deposits.match", b"tick", b'{"tick": true}')
    (raised,) = p.on("deposits.unfunded")
    assert RemittanceUnfunded.parse_json(raised.value or b"").business_days == 2


# --- the report ----------------------------------------------------------------------------------


def test_the_report_posts_against_deposits_per_payer_and_month() -> None:
    r1 = remit("R1", "100.00", paid_on=date(2026, 3, 31))
    r2 = remit("R2", "50.00", trace="TR2")
    r3 = remit("R3", "20.00", trace="TR3", payer_id="EXHP1", payer_trace_id="1888888888")
    d1 = deposit("100.00", on=date(2026, 4, 1))  # pays R1 (March) in April
    d2 = deposit("7.00", trace="TR999", n=2)  # a payer's money with no 835
    d3 = deposit("5.00", trace=None, payer_trace_id=None, n=3)  # not a payer's
    decided = [
        DepositMatched.new(
            deposit_id=d1.deposit_id, amount=d1.amount, deposited_on=d1.deposited_on,
            remittances=[{"remittance_id": "R1", "payer_id": "PAYERP1", "amount": "100.00",
                          "payment_date": "2026-03-31", "trace_number": "TR100200"}],
            rule="trace", matched_at=NOW,
        ),
        DepositNotFromPayer.new(deposit_id=d3.deposit_id, amount=d3.amount,
                                deposited_on=d3.deposited_on, reason="x", decided_at=NOW),
    ]  # fmt: skip
    table = report.rows([r1, r2, r3], [d1, d2, d3, d1], decided, unfunded=["R2"],
                        unremitted=[d2.deposit_id])  # fmt: skip
    assert [r.cells() for r in table] == [
        ["PAYERP1", "2026-03", "100.00", "100.00", "0.00", "0", "0"],
        ["EXHP1", "2026-04", "20.00", "0.00", "-20.00", "0", "0"],
        ["PAYERP1", "2026-04", "50.00", "7.00", "-43.00", "1", "1"],
    ]
    assert [r.month for r in report.rows([r1, r2, r3], [d1], decided, "2026-03")] == ["2026-03"]
    assert report.totals(table) == {"posted": "170.00", "deposited": "107.00",
                                    "difference": "-63.00"}  # fmt: skip
