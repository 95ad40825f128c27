"""The deposits processor (faust edge around :mod:`workers.deposits.matching`).

It runs in the ``reconcile`` worker.  Deposits (``deposits.inbound``, keyed by
deposit id) and the 835 transaction summaries that move money
(``remits.835.inbound``, read beside the reconciliation; claim payments are
passed by) are forwarded to the internal topic ``deposits.match``.  That topic
has a single partition, so every deposit and every 835 meet in one place: the
table ``deposits.book`` keeps what waits (one key per item, ``remittance:<id>``
or ``deposit:<id>``) and ``deposits.seen`` what was already decided, so a
message delivered twice, or a file loaded twice, is matched once.  A timer
sends a tick to ``deposits.match`` so that what has waited too long is raised
even when nothing arrives; every other message there sweeps as well.

Outputs: ``deposits.reconciled`` (matched, not a payer's), the work queues
``deposits.unfunded`` and ``deposits.unremitted`` (tombstones when matched).
"""

from __future__ import annotations

import json
from typing import Any

import structlog

from schemas.deposits import (
    Deposit,
    DepositMatched,
    DepositNotFromPayer,
    DepositUnremitted,
    OpenDeposit,
    OpenRemittance,
    RemittanceToFund,
    RemittanceUnfunded,
)
from schemas.reconciliation import RemittanceTransaction
from workers.deposits import matching
from workers.runtime.app import Wiring
from workers.runtime.codec import decode, encode
from workers.runtime.failures import InvalidInput
from workers.runtime.processing import Scope
from workers.runtime.records import Incoming, Outgoing

log = structlog.stdlib.get_logger("claims.deposits")

PROCESSOR = "deposits"
MATCH = "deposits.match"
TICK = b'{"tick": true}'


def parse_match(raw: bytes) -> Deposit | RemittanceToFund | None:
    """A message of ``deposits.match``: a deposit, an 835 to fund, or a tick (None)."""
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    if data.get("tick") is True:
        return None
    if data.get("event_type") == "deposit.remittance":
        return RemittanceToFund.parse_json(raw)
    return Deposit.parse_json(raw)


class DepositBook:
    """The table ``deposits.book`` as a :class:`matching.Book`."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def load(self) -> matching.Book:
        remittances: list[OpenRemittance] = []
        deposits: list[OpenDeposit] = []
        for key, value in list(self.table.items()):
            if value is None:
                continue
            if key.startswith(b"remittance:"):
                remittances.append(OpenRemittance.parse_json(value))
            elif key.startswith(b"deposit:"):
                deposits.append(OpenDeposit.parse_json(value))
        remittances.sort(key=lambda r: r.remittance.remittance_id)
        deposits.sort(key=lambda d: d.deposit.deposit_id)
        return matching.Book(tuple(remittances), tuple(deposits))

    def save(self, before: matching.Book, after: matching.Book) -> None:
        old = {**_entries(before)}
        new = {**_entries(after)}
        for key in old.keys() - new.keys():
            del self.table[key]
        for key, value in new.items():
            if old.get(key) != value:
                self.table[key] = value


def _entries(book: matching.Book) -> dict[bytes, bytes]:
    out = {f"remittance:{r.remittance.remittance_id}".encode(): encode(r) for r in book.remittances}
    out.update({f"deposit:{d.deposit.deposit_id}".encode(): encode(d) for d in book.deposits})
    return out


def register(w: Wiring) -> None:
    if w.catalogue.partitions(MATCH) != 1:
        raise RuntimeError(f"{MATCH} must have one partition: every deposit meets every 835")
    book = DepositBook(w.table("deposits.book", "state.deposits.book"))
    seen = w.table("deposits.seen", "state.deposits.seen")
    settings = w.settings

    async def on_remittance(msg: Incoming, scope: Scope) -> list[Outgoing]:
        value = msg.value
        if value is None or b'"remit.transaction"' not in value:
            return []  # claim payments (and whatever the reconciliation refuses) are not ours
        try:
            tx = RemittanceTransaction.parse_json(value)
        except ValueError:
            return []  # the reconciliation dead-letters it
        scope.bind(remittance_id=tx.remittance_id)
        funding = matching.funding_of(tx, w.now())
        if isinstance(funding, str):
            w.metrics.outcome(PROCESSOR, "remittance-moves-no-money")
            log.info("835 moves no money: nothing to match", remittance_id=tx.remittance_id)
            return []
        return [Outgoing(MATCH, tx.remittance_id.encode(), encode(funding), partition=0)]

    async def on_deposit(msg: Incoming, scope: Scope) -> list[Outgoing]:
        deposit = decode(Deposit, msg.value)
        scope.bind(deposit_id=deposit.deposit_id)
        if msg.key_text != deposit.deposit_id:
            raise InvalidInput("key-mismatch", "key is not the deposit id")
        return [Outgoing(MATCH, msg.key, msg.value, partition=0)]

    def route(outputs: list[matching.Output]) -> list[Outgoing]:
        out: list[Outgoing] = []
        for o in outputs:
            if isinstance(o, matching.Closed):
                out.append(Outgoing(o.queue, o.key.encode(), None))
                w.metrics.outcome(PROCESSOR, f"{o.queue.rsplit('.', 1)[-1]}-closed")
            elif isinstance(o, DepositMatched):
                seen[o.deposit_id.encode()] = b"matched"
                for r in o.remittances:
                    seen[r.remittance_id.encode()] = b"matched"
                out.append(Outgoing("deposits.reconciled", o.deposit_id.encode(), encode(o)))
                w.metrics.outcome(PROCESSOR, f"matched-{o.rule}")
                log.info(
                    "deposit matched",
                    deposit_id=o.deposit_id,
                    remittances=[r.remittance_id for r in o.remittances],
                    rule=o.rule,
                )
            elif isinstance(o, DepositNotFromPayer):
                seen[o.deposit_id.encode()] = b"not-from-payer"
                out.append(Outgoing("deposits.reconciled", o.deposit_id.encode(), encode(o)))
                w.metrics.outcome(PROCESSOR, "not-from-payer")
            elif isinstance(o, RemittanceUnfunded):
                key = o.remittance.remittance_id
                out.append(Outgoing(matching.UNFUNDED, key.encode(), encode(o)))
                w.metrics.outcome(PROCESSOR, "unfunded")
                log.warning("835 without its deposit", remittance_id=key, days=o.business_days)
            elif isinstance(o, DepositUnremitted):
                key = o.deposit.deposit_id
                out.append(Outgoing(matching.UNREMITTED, key.encode(), encode(o)))
                w.metrics.outcome(PROCESSOR, "unremitted")
                log.warning("deposit without its 835", deposit_id=key, days=o.business_days)
        return out

    async def on_match(msg: Incoming, scope: Scope) -> list[Outgoing]:
        item = decode(parse_match, msg.value)
        now = w.now()
        before = book.load()
        current = before
        outputs: list[matching.Output] = []
        if item is not None:
            item_id = item.deposit_id if isinstance(item, Deposit) else item.remittance_id
            scope.bind(item_id=item_id)
            waiting = any(
                r.remittance.remittance_id == item_id for r in current.remittances
            ) or any(d.deposit.deposit_id == item_id for d in current.deposits)
            if waiting or seen.get(item_id.encode()) is not None:
                w.metrics.outcome(PROCESSOR, "duplicate")
                log.info("already received: matched once", item_id=item_id)
            else:
                if isinstance(item, Deposit):
                    step = matching.on_deposit(current, item, now)
                else:
                    step = matching.on_remittance(current, item, now)
                current, outputs = step.book, list(step.outputs)
        swept = matching.sweep(
            current,
            now.date(),
            now,
            unfunded_days=settings.deposits_unfunded_days,
            unremitted_days=settings.deposits_unremitted_days,
        )
        book.save(before, swept.book)
        return route([*outputs, *swept.outputs])

    async def tick() -> None:
        await w.sink.send(Outgoing(MATCH, b"tick", TICK, partition=0))

    w.consume("remits.835.inbound", PROCESSOR, on_remittance)
    w.consume("deposits.inbound", PROCESSOR, on_deposit)
    w.consume(MATCH, PROCESSOR, on_match)
    w.timer(settings.deposits_sweep_interval_s, tick, name="deposits_sweep_tick")
