"""The bank's side of the demo: the BAI2 file of the payers' ACH payments (pure).

Each 835 transaction that moves money becomes a credit (type code ``165``,
preauthorized ACH credit) with the CCD+ addenda in its ``88`` text
(``TRN*1*<TRN02>*<TRN03>\\``), as a bank that forwards addenda reports it.  Two
things are wrong on purpose: the first payment never arrives (its 835 ends on
``deposits.unfunded``), and one credit carries a trace no 835 has (it ends on
``deposits.unremitted``).  One trace is shown with a bank prefix, as some banks
do, to exercise that rule.  Whether each ends where it should is counted from
the engine's output, not from here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from schemas.remittance import Remittance

ACCOUNT = "000555000111"
BANK = "987654320"
ORPHAN_TRACE = "DEMO-NO-835-0001"


@dataclass(frozen=True)
class BankFile:
    text: str
    credits: int
    missing: str  # the trace of the payment that never arrives


def moves_money(r: Remittance) -> bool:
    p = r.payment
    return (
        p.amount > 0
        and (p.handling or "").upper() != "H"
        and (p.method or "").upper() != "NON"
        and (p.credit_debit or "C").upper() == "C"
        and bool(p.trace_number)
    )


def _cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


def bai2_file(remittances: Iterable[Remittance], today: date, created: str) -> BankFile:
    """The day's BAI2 file for the money-moving 835s (see the module's doc)."""
    paying = sorted(
        (r for r in remittances if moves_money(r)),
        key=lambda r: (r.payment.trace_number or "", r.payment.payer_trace_id or ""),
    )
    if len(paying) < 2:
        raise ValueError("the demo needs at least two 835s that move money")
    missing, arriving = paying[0], paying[1:]
    details: list[tuple[int, str]] = []
    for n, r in enumerate(arriving):
        trace = r.payment.trace_number or ""
        shown = f"ACH{trace}" if n == 0 else trace  # a bank prefix, once
        details.append((_cents(r.payment.amount), f"TRN*1*{shown}*{r.payment.payer_trace_id}\\"))
    payer = arriving[-1].payment.payer_trace_id or ""
    details.append((_cents(arriving[-1].payment.amount) + 1234, f"TRN*1*{ORPHAN_TRACE}*{payer}\\"))
    as_of = today.strftime("%y%m%d")
    records = [f"03,{ACCOUNT},USD,/"]
    for n, (cents, addenda) in enumerate(details, start=1):
        records.append(f"16,165,{cents},Z,DEMO{n:06d},,HCCLAIMPMT")
        records.append(f"88,{addenda}")
    total = sum(cents for cents, _ in details)
    records.append(f"49,{total},{len(records) + 1}/")
    group = [f"02,CLAIMSDEMO,{BANK},1,{as_of},2400,USD,2/", *records]
    group.append(f"98,{total},1,{len(group) + 1}/")
    lines = [f"01,{BANK},CLAIMSDEMO,{as_of},{created},1,,,2/", *group]
    lines.append(f"99,{total},1,{len(lines) + 1}/")
    return BankFile("\n".join(lines) + "\n", len(details), missing.payment.trace_number or "")
