"""Accounts-receivable aging and denial reports from the reconciliation ledgers.

The ledgers are read from their compacted changelog (``state.reconcile.claims``,
latest value per claim), so the reports need no running worker.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal

from schemas.reconciliation import ClaimLedger
from workers.remits.reconcile import code_texts
from workers.runtime.settings import Settings

BUCKETS = (("0-30", 0, 30), ("31-60", 31, 60), ("61-90", 61, 90), ("90+", 91, 10**6))


def load_ledgers(settings: Settings, timeout_s: float = 10.0) -> list[ClaimLedger]:
    from workers.runtime.topic_scan import read_latest

    latest = read_latest(settings, "state.reconcile.claims", timeout_s)
    return [ClaimLedger.parse_json(v) for v in latest.values()]


def aging_report(
    ledgers: list[ClaimLedger], today: date | None = None
) -> tuple[list[list[str]], list[str]]:
    day = today or datetime.now(UTC).date()
    totals: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(
        lambda: {name: Decimal(0) for name, _, _ in BUCKETS}
    )
    for ledger in ledgers:
        if not ledger.submitted or ledger.outstanding <= 0:
            continue
        first = ledger.submitted[0]
        age = (day - first.submitted_at.date()).days
        bucket = next(name for name, low, high in BUCKETS if low <= age <= high)
        totals[(first.clinic_id, first.payer_id)][bucket] += ledger.outstanding
    rows = []
    for (clinic, payer), buckets in sorted(totals.items()):
        total = sum(buckets.values(), Decimal(0))
        rows.append([clinic, payer, *(f"{buckets[n]:.2f}" for n, _, _ in BUCKETS), f"{total:.2f}"])
    return rows, ["clinic", "payer", *(n for n, _, _ in BUCKETS), "total"]


def denials_report(ledgers: list[ClaimLedger]) -> tuple[list[list[str]], list[str]]:
    carc = code_texts("carc")
    counts: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for ledger in ledgers:
        for posting in ledger.postings:
            if posting.category != "denied":
                continue
            main = max(posting.adjustment_detail, key=lambda a: a.amount, default=None)
            if main is None:
                continue
            entry = counts[(main.group, main.reason)]
            entry[0] += 1
            entry[1] += posting.charge
    rows = [
        [f"{group}-{reason}", carc.get(reason, ""), str(int(n)), f"{amount:.2f}"]
        for (group, reason), (n, amount) in sorted(counts.items(), key=lambda i: -i[1][0])
    ]
    return rows, ["reason", "text", "claims", "charges"]


def cob_report(ledgers: list[ClaimLedger]) -> tuple[list[list[str]], list[str]]:
    """Claims followed through both payers: the primary's answer, then the secondary's.

    One row per primary claim that has a next payer and was answered: what the
    primary paid, what became of the rest (a secondary claim and what it paid, or a
    crossover the primary forwarded itself), and the patient's share still owed.
    """
    secondaries = {
        s.submitted[-1].primary_claim: s
        for s in ledgers
        if s.submitted and s.submitted[-1].primary_claim is not None
    }
    rows = []
    for ledger in sorted(ledgers, key=lambda x: x.patient_control_number):
        if ledger.coordination is None:
            continue
        first = ledger.submitted[0] if ledger.submitted else None
        secondary = secondaries.get(ledger.patient_control_number)
        if secondary is not None:
            status = "secondary paid" if secondary.postings else "secondary sent"
            patient_share = secondary.patient_responsibility if secondary.postings else None
        elif ledger.coordination.startswith("crossover"):
            status, patient_share = "crossover (forwarded by the primary)", None
        else:
            status, patient_share = "secondary requested", None
        rows.append(
            [
                ledger.patient_control_number,
                first.payer_id if first else "",
                f"{ledger.paid:.2f}",
                secondary.patient_control_number if secondary else "",
                secondary.submitted[-1].payer_id if secondary else "",
                f"{secondary.paid:.2f}" if secondary else "",
                f"{patient_share:.2f}" if patient_share is not None else "",
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
        "patient owes",
        "status",
    ]
