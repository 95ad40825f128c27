"""ERA/EFT reassociation: deposits matched to the 835 transactions they pay (pure).

**What waits.**  An 835 transaction that moves money (BPR02 above zero, BPR01 not
``H``, BPR04 not ``NON``) waits for its deposit; a deposit from a payer (it
carries a trace number or names a payer) waits for its 835.  A credit with
neither is not a payer's payment: it is recorded as such and never worked.

**Matching.**  A deposit and an 835 match when

* their traces agree: the 835's ``TRN02`` and the deposit's trace, both
  normalised (letters and digits only, upper case, leading zeros dropped), are
  equal -- or the bank's shows characters *before* the 835's (``trace-with-prefix``;
  the 835's trace must then have at least :data:`MIN_SUFFIX` characters);
* their payers agree when the deposit names one: ``TRN03`` of the addenda or the
  CSV's payer id against the 835's ``TRN03`` and payer id (``1`` + EIN and the EIN
  are the same id);
* the deposit's date is within :data:`WINDOW_DAYS` business days of ``BPR16``
  (CAQH CORE 370: the ERA and the EFT within three business days of each other);
* the amounts are equal -- one 835's ``BPR02``, or the sum of every waiting 835
  with the same trace and payer (a payer that splits one payment over several
  transactions).

A deposit without a trace but naming a payer matches the one waiting 835 of
that payer for the same amount in the window (``payer-amount-date``); two such
835s and it waits, since only a trace can tell them apart.  Among several
candidates the exact trace wins over a prefixed one, then the oldest payment.

**Work items.**  :func:`sweep` raises an 835 still waiting
``unfunded_days`` business days after ``BPR16`` on ``deposits.unfunded`` and a
deposit waiting ``unremitted_days`` business days after its date on
``deposits.unremitted``; a match closes what was raised (:class:`Closed`, a
tombstone on the queue).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Final

from schemas.deposits import (
    Deposit,
    DepositMatched,
    DepositNotFromPayer,
    DepositUnremitted,
    MatchedRemittance,
    MatchRule,
    OpenDeposit,
    OpenRemittance,
    RemittanceToFund,
    RemittanceUnfunded,
)
from schemas.reconciliation import RemittanceTransaction
from workers.deposits.bank_days import business_days_between

#: Business days between BPR16 and the deposit's date that still match.
WINDOW_DAYS: Final = 3
#: The shortest 835 trace matched at the end of a longer bank trace.
MIN_SUFFIX: Final = 4
UNFUNDED: Final = "deposits.unfunded"
UNREMITTED: Final = "deposits.unremitted"

_NOT_ALNUM = re.compile(r"[^A-Z0-9]")


def normal_trace(text: str | None) -> str:
    """Letters and digits only, upper case, leading zeros dropped."""
    return _NOT_ALNUM.sub("", (text or "").upper()).lstrip("0")


def _payer_forms(text: str | None) -> set[str]:
    """An id and, for ``1`` + a nine-digit EIN (TRN03's form), the EIN too."""
    value = normal_trace(text)
    if not value:
        return set()
    forms = {value}
    if len(value) == 10 and value.isdigit() and value.startswith("1"):
        forms.add(value[1:])
    elif len(value) == 9 and value.isdigit():
        forms.add("1" + value)
    return forms


# --- what waits ------------------------------------------------------------------------


def funding_of(tx: RemittanceTransaction, now: datetime) -> RemittanceToFund | str:
    """The 835 transaction as money to wait for, or why it moves none."""
    payment = tx.payment
    if payment.amount <= 0:
        return "BPR02 is not above zero: no money moves"
    if (payment.handling or "").upper() == "H":
        return "BPR01 H: a notification only"
    if (payment.method or "").upper() == "NON":
        return "BPR04 NON: no payment"
    if (payment.credit_debit or "C").upper() != "C":
        return "BPR03 is not C: a debit to the provider is not a deposit"
    return RemittanceToFund.new(
        remittance_id=tx.remittance_id,
        payer_id=tx.payer.id,
        payer_name=tx.payer.name,
        payer_trace_id=payment.payer_trace_id,
        trace_number=payment.trace_number,
        amount=payment.amount,
        method=payment.method,
        payment_date=payment.date,
        file_name=tx.source.file_name,
        received_at=now,
    )


def _paid_on(r: RemittanceToFund) -> date:
    return r.payment_date or r.received_at.date()


def from_a_payer(deposit: Deposit) -> bool:
    return bool(
        normal_trace(deposit.trace_number)
        or normal_trace(deposit.payer_trace_id)
        or normal_trace(deposit.payer_id)
    )


# --- the book ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Book:
    """What waits: 835s for their money, payers' deposits for their 835."""

    remittances: tuple[OpenRemittance, ...] = ()
    deposits: tuple[OpenDeposit, ...] = ()


@dataclass(frozen=True)
class Closed:
    """A work item to close (a tombstone on ``queue`` for ``key``)."""

    queue: str
    key: str


Output = DepositMatched | DepositNotFromPayer | RemittanceUnfunded | DepositUnremitted | Closed


@dataclass(frozen=True)
class Step:
    book: Book
    outputs: list[Output] = field(default_factory=list)


def _trace_rule(deposit: Deposit, remittance: RemittanceToFund) -> MatchRule | None:
    ours, theirs = normal_trace(deposit.trace_number), normal_trace(remittance.trace_number)
    if not ours or not theirs:
        return None
    if ours == theirs:
        return "trace"
    if len(theirs) >= MIN_SUFFIX and ours.endswith(theirs):
        return "trace-with-prefix"
    return None


def _same_payer(deposit: Deposit, remittance: RemittanceToFund) -> bool:
    named = _payer_forms(deposit.payer_trace_id) | _payer_forms(deposit.payer_id)
    if not named:
        return True
    known = _payer_forms(remittance.payer_trace_id) | _payer_forms(remittance.payer_id)
    return bool(named & known)


def _in_window(deposit: Deposit, remittance: RemittanceToFund) -> bool:
    return abs(business_days_between(_paid_on(remittance), deposit.deposited_on)) <= WINDOW_DAYS


def _group_key(r: RemittanceToFund) -> tuple[str, str]:
    return normal_trace(r.trace_number), normal_trace(r.payer_trace_id) or normal_trace(r.payer_id)


def _order(r: OpenRemittance) -> tuple[date, str]:
    return _paid_on(r.remittance), r.remittance.remittance_id


def _candidates(
    deposit: Deposit, waiting: Iterable[OpenRemittance]
) -> list[tuple[OpenRemittance, MatchRule]]:
    out: list[tuple[OpenRemittance, MatchRule]] = []
    for open_r in waiting:
        r = open_r.remittance
        if not _same_payer(deposit, r) or not _in_window(deposit, r):
            continue
        rule = _trace_rule(deposit, r)
        if rule is not None:
            out.append((open_r, rule))
    return sorted(out, key=lambda c: (c[1] != "trace", _order(c[0])))


def _choose(
    deposit: Deposit, waiting: Sequence[OpenRemittance]
) -> tuple[list[OpenRemittance], MatchRule] | None:
    """The 835(s) this deposit pays among those waiting, and by which rule."""
    if normal_trace(deposit.trace_number):
        candidates = _candidates(deposit, waiting)
        for open_r, rule in candidates:
            if open_r.remittance.amount == deposit.amount:
                return [open_r], rule
        groups: dict[tuple[str, str], list[tuple[OpenRemittance, MatchRule]]] = {}
        for open_r, rule in candidates:
            groups.setdefault(_group_key(open_r.remittance), []).append((open_r, rule))
        for members in groups.values():
            if len(members) > 1 and sum(m.remittance.amount for m, _ in members) == deposit.amount:
                rule = "trace" if all(r == "trace" for _, r in members) else "trace-with-prefix"
                return sorted((m for m, _ in members), key=_order), rule
        return None
    if not (_payer_forms(deposit.payer_trace_id) | _payer_forms(deposit.payer_id)):
        return None
    same = [
        open_r
        for open_r in waiting
        if open_r.remittance.amount == deposit.amount
        and _same_payer(deposit, open_r.remittance)
        and _in_window(deposit, open_r.remittance)
    ]
    if len(same) == 1:
        return same, "payer-amount-date"
    return None


def _matched(
    book: Book,
    deposit: OpenDeposit,
    paid: list[OpenRemittance],
    rule: MatchRule,
    now: datetime,
) -> Step:
    ids = {p.remittance.remittance_id for p in paid}
    event = DepositMatched.new(
        deposit_id=deposit.deposit.deposit_id,
        amount=deposit.deposit.amount,
        deposited_on=deposit.deposit.deposited_on,
        remittances=[
            MatchedRemittance(
                remittance_id=p.remittance.remittance_id,
                payer_id=p.remittance.payer_id,
                payer_name=p.remittance.payer_name,
                amount=p.remittance.amount,
                payment_date=p.remittance.payment_date,
                trace_number=p.remittance.trace_number,
            )
            for p in paid
        ],
        rule=rule,
        matched_at=now,
    )
    outputs: list[Output] = [event]
    outputs += [Closed(UNFUNDED, p.remittance.remittance_id) for p in paid if p.raised]
    if deposit.raised:
        outputs.append(Closed(UNREMITTED, deposit.deposit.deposit_id))
    return Step(
        Book(
            remittances=tuple(r for r in book.remittances if r.remittance.remittance_id not in ids),
            deposits=tuple(
                d for d in book.deposits if d.deposit.deposit_id != deposit.deposit.deposit_id
            ),
        ),
        outputs,
    )


def on_deposit(book: Book, deposit: Deposit, now: datetime) -> Step:
    """A deposit arrived: match it, record it as not a payer's, or let it wait."""
    if not from_a_payer(deposit):
        note = DepositNotFromPayer.new(
            deposit_id=deposit.deposit_id,
            amount=deposit.amount,
            deposited_on=deposit.deposited_on,
            reason="no trace number and no payer: not a payer's payment",
            decided_at=now,
        )
        return Step(book, [note])
    waiting = OpenDeposit.new(deposit=deposit)
    chosen = _choose(deposit, book.remittances)
    if chosen is None:
        return Step(Book(book.remittances, (*book.deposits, waiting)))
    paid, rule = chosen
    return _matched(book, waiting, paid, rule, now)


def on_remittance(book: Book, remittance: RemittanceToFund, now: datetime) -> Step:
    """An 835 that moves money arrived: match it (with others of its trace) to a waiting
    deposit, or let it wait."""
    waiting = OpenRemittance.new(remittance=remittance)
    grown = Book((*book.remittances, waiting), book.deposits)
    deposits = sorted(book.deposits, key=lambda d: (d.deposit.deposited_on, d.deposit.deposit_id))
    for open_d in deposits:
        chosen = _choose(open_d.deposit, grown.remittances)
        if chosen is None:
            continue
        paid, rule = chosen
        if any(p.remittance.remittance_id == remittance.remittance_id for p in paid):
            return _matched(grown, open_d, paid, rule, now)
    return Step(grown)


def sweep(
    book: Book, today: date, now: datetime, *, unfunded_days: int, unremitted_days: int
) -> Step:
    """Raise what has waited too long (once each)."""
    outputs: list[Output] = []
    remittances = []
    for open_r in book.remittances:
        r = open_r.remittance
        waited = business_days_between(_paid_on(r), today)
        if not open_r.raised and waited >= unfunded_days:
            outputs.append(
                RemittanceUnfunded.new(
                    remittance=r,
                    business_days=waited,
                    raised_at=now,
                    message=f"{r.amount:.2f} from payer {r.payer_id or r.payer_trace_id or '?'} "
                    f"(trace {r.trace_number or '-'}) has reached no deposit in {waited} "
                    "business day(s): ask the payer and the bank",
                )
            )
            remittances.append(open_r.model_copy(update={"raised": True}))
        else:
            remittances.append(open_r)
    deposits = []
    for open_d in book.deposits:
        d = open_d.deposit
        waited = business_days_between(d.deposited_on, today)
        if not open_d.raised and waited >= unremitted_days:
            outputs.append(
                DepositUnremitted.new(
                    deposit=d,
                    business_days=waited,
                    raised_at=now,
                    message=f"{d.amount:.2f} deposited on {d.deposited_on.isoformat()} "
                    f"(trace {d.trace_number or '-'}) has no 835 in {waited} business day(s): "
                    "ask the payer for the remittance",
                )
            )
            deposits.append(open_d.model_copy(update={"raised": True}))
        else:
            deposits.append(open_d)
    return Step(Book(tuple(remittances), tuple(deposits)), outputs)
