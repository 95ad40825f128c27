"""Provider-level adjustments (PLB): linked to claims, never lost (pure).

**Linking.**  A PLB item's reference names a claim by our claim number (CLP01)
as often as by the payer's (CLP07).  It is tried, in order, against the claims
paid in its own transaction (so an item and the payment it concerns need not
arrive in any order), our claim numbers, and the index of every payer claim
number a posted payment carried.  An item with no reference, or one that names
nothing we know, is raised on the ``remits.provider-adjustments`` work queue
with its amount, reason and file.

**Money.**  Only a recoupment (``WO``, ``72``, ``WU``) can change a claim's
balance, and only for the part its claim's posted reversals do not already
account for: a payer that reverses a payment in a CLP loop and collects the
cash with a later ``WO`` takes the money back once, not twice (a negative
recoupment is the payer deferring that collection: not claim money).  Interest
(``L6``) is income reported per payer and month, never posted against a
charge.  Forward balances (``FB``) are matched in pairs across remittances: the
amount withheld in one and returned in another, by payer and reference.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from schemas.provider_adjustments import (
    LinkedBy,
    PlbRoute,
    ProviderAdjustmentItem,
    ProviderAdjustmentUnlinked,
    plb_text,
)
from schemas.reconciliation import ClaimLedger, LinkedProviderAdjustment, RemittanceTransaction

ZERO = Decimal("0.00")


def items_of(tx: RemittanceTransaction) -> list[ProviderAdjustmentItem]:
    """The transaction's PLB items, each with its id and where it came from."""
    return [
        ProviderAdjustmentItem(
            plb_id=f"{tx.remittance_id}/{n}",
            remittance_id=tx.remittance_id,
            payer_id=tx.payer.id,
            payer_name=tx.payer.name,
            payment_date=tx.payment.date,
            file_name=tx.source.file_name,
            adjustment=adjustment,
        )
        for n, adjustment in enumerate(tx.provider_adjustments, start=1)
    ]


def unlinked(
    item: ProviderAdjustmentItem, message: str, now: datetime
) -> ProviderAdjustmentUnlinked:
    return ProviderAdjustmentUnlinked.new(
        item=item,
        kind=item.kind,
        reason_text=plb_text(item.adjustment.reason),
        message=message,
        raised_at=now,
    )


@dataclass(frozen=True)
class Dispatch:
    """Where one item goes first: ``(key, route)`` on ``remits.plb``, or the queue."""

    route: tuple[str, PlbRoute] | None = None
    queue: ProviderAdjustmentUnlinked | None = None


def dispatch(tx: RemittanceTransaction, now: datetime) -> list[Dispatch]:
    """Send each PLB item of a transaction towards the claim it names."""
    ours = {c.patient_control_number for c in tx.claims}
    theirs = {c.payer_claim_number: c.patient_control_number for c in tx.claims
              if c.payer_claim_number}  # fmt: skip
    out = []
    for item in items_of(tx):
        ref = (item.adjustment.reference or "").strip()
        if not ref:
            out.append(
                Dispatch(queue=unlinked(item, "the item names no claim (no reference)", now))
            )
        elif item.kind == "forward-balance":
            out.append(Dispatch(route=(ref, PlbRoute.new(item=item))))
        elif ref in ours:
            out.append(Dispatch(route=(ref, PlbRoute.new(item=item, target=ref))))
        elif ref in theirs:
            route = PlbRoute.new(item=item, target=theirs[ref], linked_by="payer-claim-number")
            out.append(Dispatch(route=(theirs[ref], route)))
        else:
            out.append(Dispatch(route=(ref, PlbRoute.new(item=item))))
    return out


@dataclass(frozen=True)
class Decision:
    """What to do with a routed item at its key's partition: link it to the ledger
    there, send it on to the claim the payer's number names, raise it on the work
    queue, or (a forward balance) close the queue item of the one it pairs with."""

    link: LinkedBy | None = None
    forward: tuple[str, PlbRoute] | None = None
    queue: ProviderAdjustmentUnlinked | None = None
    closes: str | None = None


def pair_forward_balance(
    item: ProviderAdjustmentItem, waiting: list[ProviderAdjustmentItem], now: datetime
) -> tuple[list[ProviderAdjustmentItem], Decision]:
    """Match a forward balance with the open one of the same payer and reference for
    the opposite amount (``waiting``: the open ones under its reference).  Unmatched,
    it waits -- on the work queue, so a withholding never returned stays visible."""
    if any(w.plb_id == item.plb_id for w in waiting):
        return waiting, Decision()
    for n, other in enumerate(waiting):
        if other.payer_id == item.payer_id and other.adjustment.amount == -item.adjustment.amount:
            return [*waiting[:n], *waiting[n + 1 :]], Decision(closes=other.plb_id)
    message = (
        "forward balance withheld; waiting for the remittance that returns it"
        if item.adjustment.amount > 0
        else "forward balance returned with no withholding on record"
    )
    return [*waiting, item], Decision(queue=unlinked(item, message, now))


def decide(
    route: PlbRoute, claim_known: bool, payer_numbers: dict[str, str], now: datetime
) -> Decision:
    """``claim_known``: the key is a submitted claim; ``payer_numbers``: payer id ->
    our claim number, for the key as a payer's claim number (the index)."""
    item = route.item
    if route.target is not None:
        if claim_known:
            return Decision(link=route.linked_by)
        return Decision(queue=unlinked(item, "the claim it names has not been submitted", now))
    if claim_known:
        return Decision(link="claim-number")
    pcn = payer_numbers.get(item.payer_id or "")
    if pcn is None and len(set(payer_numbers.values())) == 1:
        pcn = next(iter(payer_numbers.values()))
    if pcn is not None:
        forward = PlbRoute.new(item=item, target=pcn, linked_by="payer-claim-number")
        return Decision(forward=(pcn, forward))
    return Decision(
        queue=unlinked(item, "the reference is neither our claim number nor a payer's", now)
    )


def link(ledger: ClaimLedger, item: ProviderAdjustmentItem, linked_by: LinkedBy) -> ClaimLedger:
    """The ledger with the item linked (once per item)."""
    if any(p.plb_id == item.plb_id for p in ledger.provider_adjustments):
        return ledger
    linked = LinkedProviderAdjustment(
        remittance_id=item.remittance_id,
        adjustment=item.adjustment,
        plb_id=item.plb_id,
        kind=item.kind,
        linked_by=linked_by,
        payment_date=item.payment_date,
    )
    return ledger.model_copy(
        update={"provider_adjustments": [*ledger.provider_adjustments, linked]}
    )


def recouped(ledger: ClaimLedger) -> Decimal:
    """What recoupments took back from the claim beyond what its posted reversals
    already account for (never negative)."""
    taken = sum(
        (p.adjustment.amount for p in ledger.provider_adjustments
         if p.kind == "recoupment" and p.adjustment.amount > 0),
        ZERO,
    )  # fmt: skip
    reversed_ = sum((-p.paid for p in ledger.postings if p.category == "reversed"), ZERO)
    return max(taken - max(reversed_, ZERO), ZERO)


# --- the report -----------------------------------------------------------------------


@dataclass
class ForwardBalance:
    item: ProviderAdjustmentItem
    pair: ProviderAdjustmentItem | None = None


def forward_balances(items: Iterable[ProviderAdjustmentItem]) -> list[ForwardBalance]:
    """FB items in payment order, each paired with the first later item of the same
    payer and reference for the opposite amount (a withholding and its return)."""
    fbs = sorted((i for i in items if i.kind == "forward-balance"),
                 key=lambda i: (i.payment_date or date.min, i.plb_id))  # fmt: skip
    out: list[ForwardBalance] = []
    for item in fbs:
        key = (item.payer_id, item.adjustment.reference)
        match = next(
            (
                fb
                for fb in out
                if fb.pair is None
                and (fb.item.payer_id, fb.item.adjustment.reference) == key
                and fb.item.adjustment.amount == -item.adjustment.amount
            ),
            None,
        )
        if match is not None:
            match.pair = item
        else:
            out.append(ForwardBalance(item))
    return out


REPORT_COLUMNS = [
    "payer",
    "month",
    "interest",
    "recouped",
    "deferred",
    "against claims",
    "fb withheld",
    "fb returned",
    "fb open",
    "other",
    "unlinked",
]


def report(
    transactions: Sequence[RemittanceTransaction], ledgers: Sequence[ClaimLedger]
) -> tuple[list[list[str]], list[str]]:
    """Interest, recoupments and forward balances per payer and month (of payment).

    Signs as a biller reads them: interest received; recouped (taken back) and
    deferred (a take-back the payer put off); "against claims" the part of the
    recoupments that changed claim balances; forward balances withheld, returned
    and still open; other offsets (net, positive = withheld); unlinked items."""
    linked = {p.plb_id for ledger in ledgers for p in ledger.provider_adjustments if p.plb_id}
    effect = {
        p.plb_id: ledger
        for ledger in ledgers
        for p in ledger.provider_adjustments
        if p.plb_id and p.kind == "recoupment"
    }
    items = [i for tx in transactions for i in items_of(tx)]
    fbs = forward_balances(items)
    open_fb = {fb.item.plb_id for fb in fbs if fb.pair is None}
    linked |= {i.plb_id for fb in fbs if fb.pair is not None for i in (fb.item, fb.pair)}
    figures: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(
        lambda: dict.fromkeys(REPORT_COLUMNS[2:], ZERO)
    )
    counted: set[str] = set()
    for item in items:
        month = f"{item.payment_date:%Y-%m}" if item.payment_date else "unknown"
        row = figures[(item.payer_id or item.payer_name or "?", month)]
        amount = item.adjustment.amount
        if item.kind == "interest":
            row["interest"] -= amount
        elif item.kind == "recoupment":
            row["recouped" if amount > 0 else "deferred"] += abs(amount)
            ledger = effect.get(item.plb_id)
            if ledger is not None and ledger.patient_control_number not in counted:
                counted.add(ledger.patient_control_number)
                row["against claims"] += recouped(ledger)
        elif item.kind == "forward-balance":
            row["fb withheld" if amount > 0 else "fb returned"] += abs(amount)
            if item.plb_id in open_fb:
                row["fb open"] += amount
        else:
            row["other"] += amount
        if item.plb_id not in linked:
            row["unlinked"] += 1
    rows = [
        [payer, month, *(f"{v:.2f}" if k != "unlinked" else f"{v:.0f}" for k, v in row.items())]
        for (payer, month), row in sorted(figures.items())
    ]
    return rows, REPORT_COLUMNS
