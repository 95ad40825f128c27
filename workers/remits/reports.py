"""Accounts-receivable, denial, credit and COB reports from the reconciliation ledgers.

The ledgers are read from their compacted changelog (``state.reconcile.claims``,
latest value per claim), so the reports need no running worker.  Every money
figure comes from :mod:`workers.remits.balances`: an original claim and its
secondary are one balance, nothing counted twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal

from schemas.adjustments import classify
from schemas.provider_adjustments import plb_text
from schemas.reconciliation import ClaimLedger
from workers.remits import balances
from workers.remits.patient_ledger import PatientAccount
from workers.remits.provider_adjustments import recouped
from workers.remits.reconcile import NEEDS_WORK, code_texts
from workers.runtime.settings import Settings

Table = tuple[list[list[str]], list[str]]


def load_ledgers(settings: Settings, timeout_s: float = 10.0) -> list[ClaimLedger]:
    from workers.runtime.topic_scan import read_latest

    latest = read_latest(settings, "state.reconcile.claims", timeout_s)
    return [ClaimLedger.parse_json(v) for v in latest.values()]


def aging_report(ledgers: Sequence[ClaimLedger], today: date | None = None) -> Table:
    """Insurance A/R per clinic and payer, by days since the date of service."""
    day = today or datetime.now(UTC).date()
    now = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    table = balances.aging(balances.balances(ledgers, now), day)
    names = [name for name, _, _ in balances.BUCKETS]
    rows = []
    for (clinic, payer), buckets in sorted(table.items()):
        total = sum(buckets.values(), Decimal(0))
        rows.append([clinic, payer, *(f"{buckets[n]:.2f}" for n in names), f"{total:.2f}"])
    return rows, ["clinic", "payer", *names, "total"]


def denials_report(ledgers: Sequence[ClaimLedger], today: date | None = None) -> Table:
    """Open denials: what payers denied that nobody has appealed or written off yet,
    per claim, with the reasons in words."""
    day = today or datetime.now(UTC).date()
    now = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    by_pcn = {ledger.patient_control_number: ledger for ledger in ledgers}
    carc = code_texts("carc")
    rows = []
    for row in balances.balances(ledgers, now):
        if row.denials_open <= 0:
            continue
        family = [by_pcn[row.patient_control_number]]
        if row.secondary and row.secondary in by_pcn:
            family.append(by_pcn[row.secondary])
        codes = sorted(
            {
                f"{a.group}-{a.reason}"
                for ledger in family
                for p in ledger.postings
                for a in p.adjustment_detail
                if a.amount > 0 and classify(a.group, a.reason) in (*NEEDS_WORK, "exhausted")
            }
        )
        codes += sorted(
            {
                f"PLB-{p.adjustment.reason}"
                for ledger in family
                if recouped(ledger) > 0
                for p in ledger.provider_adjustments
                if p.kind == "recoupment" and p.adjustment.amount > 0
            }
        )
        words = "; ".join(
            plb_text(c[4:]) if c.startswith("PLB-") else carc.get(c.split("-", 1)[1], c)
            for c in codes
        )[:80]
        age = (day - row.date_of_service).days if row.date_of_service else 0
        rows.append(
            [
                row.patient_control_number,
                row.clinic_id,
                row.payer_id,
                str(row.date_of_service or ""),
                balances.bucket(age),
                f"{row.denials_open:.2f}",
                ",".join(codes),
                words,
            ]
        )
    return rows, ["claim", "clinic", "payer", "date of service", "age", "open", "reasons", "text"]


def credits_report(
    ledgers: Sequence[ClaimLedger],
    today: date | None = None,
    accounts: Iterable[PatientAccount] = (),
) -> Table:
    """Credit balances, never dropped until resolved: claims a payer paid more on than
    their charge allows (refund the payer: ``claims credit refund --to payer``, or let
    it recoup), and patients who paid more than they owe (refund them, or the credit
    applies to their next charges at that clinic by itself)."""
    day = today or datetime.now(UTC).date()
    now = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    rows = [
        [
            "insurance",
            row.clinic_id,
            row.patient_control_number,
            row.payer_id,
            f"{row.charge:.2f}",
            f"{row.paid + row.refunded:.2f}",
            f"{row.refunded:.2f}",
            f"{row.credit:.2f}",
        ]
        for row in balances.balances(ledgers, now)
        if row.credit > 0
    ]
    rows += [
        [
            "patient",
            account.clinic_id,
            account.patient_id,
            "",
            f"{account.charged:.2f}",
            f"{account.paid:.2f}",
            f"{account.refunded:.2f}",
            f"{account.credit:.2f}",
        ]
        for account in sorted(accounts, key=lambda a: (a.clinic_id, a.patient_id))
        if account.credit > 0
    ]
    return rows, ["kind", "clinic", "claim or patient", "payer", "charged", "paid", "refunded",
                  "credit"]  # fmt: skip


def cob_report(ledgers: Sequence[ClaimLedger], today: date | None = None) -> Table:
    """Claims followed through both payers: the primary's answer, then the secondary's
    (or a crossover the primary made itself), and what the patient finally owes."""
    day = today or datetime.now(UTC).date()
    now = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    by_pcn = {ledger.patient_control_number: ledger for ledger in ledgers}
    rows = []
    for row in balances.balances(ledgers, now):
        primary = by_pcn[row.patient_control_number]
        if primary.coordination is None:
            continue
        secondary = by_pcn.get(row.secondary) if row.secondary else None
        if secondary is not None:
            status = "secondary paid" if secondary.postings else "secondary sent"
        elif primary.coordination.startswith("crossover"):
            status = "crossover (forwarded by the primary)"
        elif primary.coordination.startswith("cob-review"):
            status = "coverage order under review"
        else:
            status = "secondary requested"
        rows.append(
            [
                row.patient_control_number,
                row.payer_id,
                f"{primary.paid:.2f}",
                row.secondary or "",
                secondary.submitted[-1].payer_id if secondary else "",
                f"{secondary.paid:.2f}" if secondary else "",
                f"{row.waiting_next_payer:.2f}",
                f"{row.patient_responsibility:.2f}",
                status,
            ]
        )
    return rows, [
        "claim",
        "primary payer",
        "primary paid",
        "secondary claim",
        "secondary payer",
        "secondary paid",
        "waiting",
        "patient owes",
        "status",
    ]
