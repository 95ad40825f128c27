"""Posted against deposited, per payer and month (pure).

*Posted* is what the 835 transactions that move money say was paid (BPR02), by
payer and the month of their payment date (BPR16).  *Deposited* is what reached
the bank from that payer: a matched deposit counts for the 835s it paid, in
their month, so a payment and its money cancel out even across a month's end;
a payer's deposit not matched counts in its own month, under the payer it names
(TRN03 or the CSV's payer id, shown as the 835s name that payer) or
``(unknown)``.  Credits that are not a payer's are left out.  The difference is
deposited minus posted: below zero, money the 835s announced has not arrived.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from schemas.deposits import Deposit, DepositMatched, DepositNotFromPayer, RemittanceToFund
from workers.deposits.matching import normal_trace

HEADERS = ["payer", "month", "posted", "deposited", "difference", "unfunded", "unremitted"]
UNKNOWN = "(unknown)"
ZERO = Decimal("0.00")


@dataclass
class Row:
    payer: str
    month: str
    posted: Decimal = ZERO
    deposited: Decimal = ZERO
    unfunded: int = 0
    unremitted: int = 0

    @property
    def difference(self) -> Decimal:
        return self.deposited - self.posted

    def cells(self) -> list[str]:
        return [
            self.payer,
            self.month,
            f"{self.posted:.2f}",
            f"{self.deposited:.2f}",
            f"{self.difference:.2f}",
            str(self.unfunded),
            str(self.unremitted),
        ]

    def as_json(self) -> dict[str, object]:
        return {
            "payer": self.payer,
            "month": self.month,
            "posted": f"{self.posted:.2f}",
            "deposited": f"{self.deposited:.2f}",
            "difference": f"{self.difference:.2f}",
            "unfunded": self.unfunded,
            "unremitted": self.unremitted,
        }


def _month(day: date | None) -> str:
    return day.strftime("%Y-%m") if day is not None else "(no date)"


def _payer(r: RemittanceToFund) -> str:
    return r.payer_id or r.payer_trace_id or UNKNOWN


def rows(
    remittances: Iterable[RemittanceToFund],
    deposits: Iterable[Deposit],
    decided: Iterable[DepositMatched | DepositNotFromPayer],
    month: str | None = None,
    *,
    unfunded: Iterable[str] = (),
    unremitted: Iterable[str] = (),
) -> list[Row]:
    """One row per payer and month (``month``: only that ``YYYY-MM``); ``unfunded`` and
    ``unremitted`` are the ids of the open work items."""
    by_id = {r.remittance_id: r for r in remittances}
    deposits = list(deposits)
    payers_by_trace_id: dict[str, str] = {}
    for r in by_id.values():
        for form in (normal_trace(r.payer_trace_id), normal_trace(r.payer_id)):
            if form:
                payers_by_trace_id.setdefault(form, _payer(r))
    table: dict[tuple[str, str], Row] = {}

    def row(payer: str, when: str) -> Row:
        return table.setdefault((payer, when), Row(payer, when))

    for r in by_id.values():
        row(_payer(r), _month(r.payment_date)).posted += r.amount
    matched: dict[str, DepositMatched] = {}
    not_payers: set[str] = set()
    for d in decided:
        if isinstance(d, DepositMatched):
            matched[d.deposit_id] = d
        else:
            not_payers.add(d.deposit_id)
    seen: set[str] = set()
    for deposit in deposits:
        if deposit.deposit_id in seen or deposit.deposit_id in not_payers:
            continue
        seen.add(deposit.deposit_id)
        match = matched.get(deposit.deposit_id)
        if match is not None:
            for paid in match.remittances:
                payer = paid.payer_id or UNKNOWN
                row(payer, _month(paid.payment_date)).deposited += paid.amount
            continue
        named = normal_trace(deposit.payer_trace_id) or normal_trace(deposit.payer_id)
        payer = payers_by_trace_id.get(named, deposit.payer_id or deposit.payer_trace_id or UNKNOWN)
        row(payer, _month(deposit.deposited_on)).deposited += deposit.amount
    open_r = set(unfunded)
    for r in by_id.values():
        if r.remittance_id in open_r:
            row(_payer(r), _month(r.payment_date)).unfunded += 1
    open_d = set(unremitted)
    counted: set[str] = set()
    for deposit in deposits:
        if deposit.deposit_id in open_d and deposit.deposit_id not in counted:
            counted.add(deposit.deposit_id)
            named = normal_trace(deposit.payer_trace_id) or normal_trace(deposit.payer_id)
            payer = payers_by_trace_id.get(
                named, deposit.payer_id or deposit.payer_trace_id or UNKNOWN
            )
            row(payer, _month(deposit.deposited_on)).unremitted += 1
    out = sorted(table.values(), key=lambda r: (r.month, r.payer))
    return [r for r in out if month is None or r.month == month]


def totals(table: list[Row]) -> dict[str, str]:
    posted = sum((r.posted for r in table), ZERO)
    deposited = sum((r.deposited for r in table), ZERO)
    return {
        "posted": f"{posted:.2f}",
        "deposited": f"{deposited:.2f}",
        "difference": f"{deposited - posted:.2f}",
    }
