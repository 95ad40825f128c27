"""Account for every message of a run, from the topics themselves (pure).

Every received ``SessionCompleted`` message that is not a duplicate ends in exactly
one of: billed, self-pay, cancelled, held, rejected (conflicting duplicates
included) or dead-lettered -- or it is still *pending* while the pipeline works.
Over original claims (a primary and its secondary counted once), charges = insurance
paid + contractual adjustments + final patient responsibility + insurance outstanding
+ written off - insurance credits (:mod:`workers.remits.balances`), from the
reconciliation's own ledgers; for every 835, BPR02 = claims paid - provider-level
adjustments.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from schemas.documents import SuperbillIssued, SuperbillVoided
from schemas.patient_ledger import CreditRefund, PatientPayment
from schemas.reconciliation import ClaimLedger, RemittanceTransaction
from workers.remits import balances, patient_ledger, provider_adjustments

ZERO = Decimal("0.00")

FINAL = ("billed", "self_pay", "cancelled", "held", "rejected", "dead_lettered")


@dataclass
class TopicData:
    """Decoded messages per logical topic: (partition, offset, key, value dict | None, headers)."""

    messages: dict[
        str, list[tuple[int, int, bytes | None, dict[str, Any] | None, dict[str, bytes]]]
    ] = field(default_factory=dict)

    def values(self, topic: str) -> list[dict[str, Any]]:
        return [v for _, _, _, v, _ in self.messages.get(topic, []) if v is not None]


@dataclass
class Accounting:
    per_message: dict[str, str]  # source ref -> outcome (or "duplicate" / "pending")
    sessions: dict[str, int]
    claims: dict[str, str | int]
    remits: dict[str, int | str]
    problems: list[str]
    claim_numbers: list[str] = field(default_factory=list)
    ar: dict[str, str] = field(default_factory=dict)
    cases: dict[str, int] = field(default_factory=dict)

    @property
    def pending(self) -> int:
        return sum(1 for v in self.per_message.values() if v == "pending")


def _decode(raw: bytes | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def classify_sessions(data: TopicData) -> tuple[dict[str, str], Counter[str]]:
    dead = {
        (
            h.get("claims.dlq.original.partition", b"").decode(),
            h.get("claims.dlq.original.offset", b"").decode(),
        )
        for _, _, _, _, h in data.messages.get("sessions.completed.dlq", [])
    }
    duplicates = {v.get("source") for v in data.values("sessions.duplicates")}
    conflicting = {
        v["session"]["event_id"]
        for v in data.values("sessions.rejected")
        if v.get("reason") == "conflicting-duplicate" and v.get("session")
    }
    enriched = {
        v["session_key"]: v
        for v in data.values("sessions.enriched")
        if v.get("event_type") == "session.enriched"
    }
    held = {v["session_key"] for v in data.values("sessions.held")}
    rejected = {
        v["session_key"]
        for v in data.values("sessions.rejected")
        if v.get("reason") != "conflicting-duplicate"
    }
    cancelled = {v["session_key"] for v in data.values("sessions.cancelled")}
    claimed = {k for v in data.values("claims.submitted") for k in v.get("session_keys", [])}
    charges_dead = {
        (val or {}).get("session_key")
        for _, _, _, val, _ in data.messages.get("charges.billable.dlq", [])
    }
    out: dict[str, str] = {}
    cancels = Counter[str]()
    for partition, offset, _key, value, _h in data.messages.get("sessions.completed", []):
        ref = f"sessions.completed:{partition}:{offset}"
        if (str(partition), str(offset)) in dead or value is None:
            out[ref] = "dead_lettered"
            continue
        if value.get("event_type") == "session.cancelled":
            cancels["events"] += 1
            continue
        if ref in duplicates:
            out[ref] = "duplicate"
            continue
        if value.get("event_id") in conflicting:
            out[ref] = "rejected"
            continue
        key = f"{value.get('clinic_id')}:{value.get('session_id')}"
        if key in cancelled:
            out[ref] = "cancelled"
        elif key in enriched:
            e = enriched[key]
            if not e.get("billed_to_payer"):
                out[ref] = "self_pay"
            elif key in rejected:
                out[ref] = "rejected"  # no billable units / scrub failed
            elif key in charges_dead:
                out[ref] = "dead_lettered"
            elif key in claimed:
                out[ref] = "billed"
            else:
                out[ref] = "pending"
        elif key in rejected:
            out[ref] = "rejected"
        elif key in held:
            out[ref] = "held"
        else:
            out[ref] = "pending"
    return out, cancels


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def ledgers_of(data: TopicData) -> list[ClaimLedger]:
    """The reconciliation's ledgers as its changelog holds them (the latest per claim)."""
    latest: dict[bytes, dict[str, Any]] = {}
    for _, _, key, value, _ in data.messages.get("state.reconcile.claims", []):
        if key is not None and value is not None:
            latest[key] = value
    return [ClaimLedger.model_validate(v, strict=False) for v in latest.values()]


def patient_accounts(
    data: TopicData, rows: list[balances.ClaimBalance]
) -> dict[tuple[str, str], patient_ledger.PatientAccount]:
    """Every patient's account: final shares, self-pay visits, front-desk payments."""
    documents = data.values("documents.issued")
    superbills = patient_ledger.standing(
        [SuperbillIssued.model_validate(v, strict=False) for v in documents
         if v.get("event_type") == "superbill.issued"],
        [SuperbillVoided.model_validate(v, strict=False) for v in documents
         if v.get("event_type") == "superbill.voided"],
    )  # fmt: skip
    payments = [
        PatientPayment.model_validate(v, strict=False) for v in data.values("payments.patient")
    ]
    refunds = [CreditRefund.model_validate(v, strict=False) for v in data.values("ledger.refunds")]
    return patient_ledger.accounts(rows, superbills, payments, refunds)


def plb_in_flight(data: TopicData) -> int:
    """PLB items not yet linked, paired or queued (what a reconciling wait waits on)."""
    inbound = data.values("remits.835.inbound")
    transactions = [v for v in inbound if v.get("event_type") == "remit.transaction"]
    counts = plb_accounting(data, transactions, ledgers_of(data))
    return int(counts["plb_in_flight"])


def plb_accounting(
    data: TopicData, transactions: list[dict[str, Any]], ledgers: list[ClaimLedger]
) -> dict[str, int | str]:
    """Where every PLB item is: linked to a claim (by our number or the payer's),
    paired (a forward balance), on the work queue, or still on its way."""
    items = [
        item
        for t in transactions
        for item in provider_adjustments.items_of(
            RemittanceTransaction.model_validate(t, strict=False)
        )
    ]
    links = {
        p.plb_id: p.linked_by
        for ledger in ledgers
        for p in ledger.provider_adjustments
        if p.plb_id
    }
    queued: dict[str, bool] = {}
    for _, _, key, value, _ in data.messages.get("remits.provider-adjustments", []):
        if key is not None:
            queued[key.decode()] = value is not None
    paired = {
        i.plb_id
        for fb in provider_adjustments.forward_balances(items)
        if fb.pair is not None
        for i in (fb.item, fb.pair)
    }
    interest = sum((-i.adjustment.amount for i in items if i.kind == "interest"), ZERO)
    placed = [i for i in items if i.plb_id in links or i.plb_id in paired or queued.get(i.plb_id)]
    return {
        "plb_linked": sum(1 for i in items if i.plb_id in links),
        "plb_linked_by_payer_claim_number": sum(
            1 for i in items if links.get(i.plb_id) == "payer-claim-number"
        ),
        "plb_on_work_queue": sum(1 for i in items if queued.get(i.plb_id)),
        "plb_in_flight": len(items) - len(placed),
        "interest": _money(interest),
    }


def account(data: TopicData, remit_files: int = 0, now: datetime | None = None) -> Accounting:
    per_message, _ = classify_sessions(data)
    counts = Counter(per_message.values())
    sessions = {
        "received": len(per_message),
        "duplicates": counts["duplicate"],
        **{name: counts[name] for name in FINAL},
        "pending": counts["pending"],
    }
    problems: list[str] = []
    if sum(counts[n] for n in FINAL) + counts["duplicate"] + counts["pending"] != len(per_message):
        problems.append("a received session has no single outcome")

    latest_claim: dict[str, dict[str, Any]] = {}
    for v in data.values("claims.submitted"):
        pcn = v["patient_control_number"]
        if pcn not in latest_claim or v["version"] >= latest_claim[pcn]["version"]:
            latest_claim[pcn] = v
    ledgers = ledgers_of(data)
    rows = balances.balances(ledgers, now or datetime.now(UTC))
    problems += [p for p in (row.problem() for row in rows) if p is not None]

    def total(values: list[Decimal]) -> str:
        return _money(sum(values, Decimal(0)))

    denied = {v["patient_control_number"] for v in data.values("claims.denied")}
    claims: dict[str, str | int] = {
        "count": len(latest_claim),
        # a claim is one patient's day: it may carry several sessions
        "sessions": len({k for claim in latest_claim.values() for k in claim["session_keys"]}),
        # 837 files (edi.outbound announces the 270 and 276 inquiries too)
        "files": sum(
            1 for v in data.values("edi.outbound") if v.get("transaction", "837") == "837"
        ),
        "charges": total([r.charge for r in rows]),
        "paid": total([r.paid for r in rows]),
        "contractual_adjustments": total([r.contractual for r in rows]),
        "patient_responsibility": total([r.patient_responsibility for r in rows]),
        "denied": len(denied),  # claims with a denial item raised
    }
    patients = list(patient_accounts(data, rows).values())
    side = patient_ledger.totals(patients)
    self_pay = sum((c.amount for a in patients for c in a.charges if c.kind == "self-pay"), ZERO)
    shares = sum((r.patient_responsibility for r in rows), ZERO)
    waived = sum((r.non_covered_patient for r in rows if r.patient_id), ZERO)
    owed = shares + self_pay + waived
    if owed != side["paid"] - side["refunded"] + side["outstanding"] - side["credits"]:
        problems.append(
            "patients: final shares + self-pay + waived non-covered charges != payments "
            "- refunds + outstanding - credits"
        )
    ar: dict[str, str] = {
        "insurance_outstanding": total([r.insurance_outstanding for r in rows]),
        "patient_outstanding": _money(side["outstanding"]),
        "denials_open": total([r.denials_open for r in rows]),
        "written_off": total([r.written_off for r in rows]),
        "insurance_credits": total([r.credit for r in rows]),
        "patient_credits": _money(side["credits"]),
        "patient_payments": _money(side["paid"]),
        "self_pay_charges": _money(self_pay),
    }
    inbound = data.values("remits.835.inbound")
    payments = [v for v in inbound if v.get("event_type") == "remit.claim-payment"]
    transactions = [v for v in inbound if v.get("event_type") == "remit.transaction"]
    plb = [a for t in transactions for a in t.get("provider_adjustments", [])]
    for t in transactions:  # cash: BPR02 = sum of CLP04 - sum of PLB
        own = t.get("provider_adjustments", [])
        plb_total = sum((Decimal(a["amount"]) for a in own), Decimal(0))
        if Decimal(t["payment"]["amount"]) != Decimal(t["paid_total"]) - plb_total:
            problems.append(f"remittance {t['remittance_id']}: BPR02 != claims paid - PLB")
    remits: dict[str, int | str] = {
        "files": remit_files,
        "claim_payments": len({(v["remittance_id"], v["index"]) for v in payments}),
        "unmatched": len({v["posting_id"] for v in data.values("remits.unmatched")}),
        "provider_adjustments": len(plb),
        "provider_adjustments_amount": _money(sum((Decimal(a["amount"]) for a in plb), Decimal(0))),
        **plb_accounting(data, transactions, ledgers),
    }
    seen = cases_seen(data, latest_claim, rows, patients)
    return Accounting(
        per_message, sessions, claims, remits, problems, sorted(latest_claim), ar, seen
    )


def cases_seen(
    data: TopicData,
    latest_claim: dict[str, dict[str, Any]],
    rows: list[balances.ClaimBalance],
    patients: list[patient_ledger.PatientAccount],
) -> dict[str, int]:
    """How often each case a billing company meets every week happened, counted from
    what the engine produced (not from what the demo meant to do)."""
    submitted = data.values("claims.submitted")
    postings = [v["posting"] for v in data.values("claims.adjudicated")]
    inbound = data.values("remits.835.inbound")
    return {
        "code_pair_dropped": sum(
            1 for c in latest_claim.values()
            if any(d["reason"] == "code-pair" for d in c["claim"].get("dropped", []))
        ),
        "days_with_several_visits": sum(
            1 for c in latest_claim.values() if len(c["session_keys"]) > 1
        ),
        "reversals": sum(1 for p in postings if p["category"] == "reversed"),
        "replacement_claims": sum(1 for v in submitted if v["frequency"] == "7"),
        "secondary_claims": sum(
            1 for c in latest_claim.values() if c["claim"].get("primary_claim")
        ),
        "paid_nothing_for_the_deductible": sum(
            1 for p in postings
            if p["category"] == "patient-responsibility" and Decimal(p["paid"]) == 0
        ),
        "line_denials": sum(1 for v in data.values("claims.denied") if v.get("scope") == "line"),
        "paper_eobs": len({v["remittance_id"] for v in inbound
                           if v.get("event_type") == "remit.claim-payment"
                           and v["remittance_id"].startswith("EOB")}),
        "front_desk_payments": len(data.values("payments.patient")),
        "credit_balances": sum(1 for r in rows if r.credit > 0)
        + sum(1 for a in patients if a.credit > 0),
    }  # fmt: skip
