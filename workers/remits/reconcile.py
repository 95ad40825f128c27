"""Reconciliation: claim payments against submitted claims (pure).

**Matching.**  A claim payment belongs to the claim whose patient control
number is its CLP01 (or the claim an operator assigned it to), provided the
payee is that claim's billing provider (NPI, else tax id).  Lines match by the
line control number the payer echoes (REF*6R), else by procedure (the original
one when the payer changed it), modifiers, date and units.  The rule that
matched is recorded on every line.

**Posting.**  Each claim payment is posted once (its id is the remittance id and
its position in the transaction, so the same 835 delivered twice changes
nothing) as an immutable :class:`~schemas.reconciliation.Posting`.  The claim's balance
is derived from its postings: charge = paid + adjustments + outstanding.  A
reversal (CLP02 22) carries negated amounts and nets out the posting it
reverses; its correction is simply the next posting.  A payment that arrives
before its claim waits on the ledger and is posted when the claim shows up.

**Outcomes.**  Paid in full, partially paid, patient responsibility, denied,
reversed, forwarded (crossover) or predetermination; an underpayment against
the expected allowed amount is flagged with both amounts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Literal

from schemas.coordination import CROSSOVER_STATUS, needs_secondary, secondary_pcn
from schemas.reconciliation import (
    ClaimAdjudicated,
    ClaimCategory,
    ClaimDenied,
    ClaimLedger,
    LineMatch,
    LinkedProviderAdjustment,
    Posting,
    RemittanceClaim,
    RemittanceUnmatched,
    SubmittedVersion,
)
from schemas.remittance import Adjustment, ClaimPayment, ProviderAdjustment, ServicePayment
from schemas.submission import ClaimSubmitted

CONTRACTUAL = {("CO", "45"), ("CO", "253")}
TOLERANCE = Decimal("0.01")


@dataclass(frozen=True)
class PayerClaimNumberLearned:
    patient_control_number: str
    receiver_id: str
    payer_claim_number: str


@dataclass(frozen=True)
class SecondaryClaimDue:
    """The primary's answer leaves part of the claim to the next payer."""

    patient_control_number: str
    receiver_id: str
    payment: ClaimPayment
    paid_on: date


Output = (
    ClaimAdjudicated
    | ClaimDenied
    | RemittanceUnmatched
    | PayerClaimNumberLearned
    | SecondaryClaimDue
)


@dataclass
class Step:
    ledger: ClaimLedger
    outputs: list[Output] = field(default_factory=list)
    duplicate: bool = False


@lru_cache(maxsize=2)
def code_texts(kind: Literal["carc", "rarc"]) -> dict[str, str]:
    raw = resources.files("workers.remits").joinpath("data", f"{kind}.json").read_text()
    codes: dict[str, str] = json.loads(raw)["codes"]
    return codes


def submitted_version(event: ClaimSubmitted) -> SubmittedVersion:
    claim = event.claim
    return SubmittedVersion(
        claim_id=event.claim_id,
        version=event.version,
        frequency=event.frequency,
        charge=event.charge_total,
        expected_allowed=event.expected_allowed_total,
        billing_provider_npi=claim.billing_provider.npi,
        billing_tax_id=claim.billing_provider.tax_id,
        clinic_id=event.clinic_id,
        payer_id=event.payer_id,
        receiver_id=event.receiver_id,
        lines=[
            {
                "line_control_number": ln.line_control_number,
                "procedure": ln.procedure,
                "modifiers": ":".join(ln.modifiers),
                "units": ln.units,
                "service_date": ln.service_date.isoformat(),
            }
            for ln in claim.lines
        ],
        submitted_at=event.submitted_at,
        next_payer_id=next(
            (o.payer_ref or o.payer_id for o in claim.other_payers if o.paid is None), None
        ),
        primary_claim=claim.primary_claim,
    )


def on_submitted(ledger: ClaimLedger, event: ClaimSubmitted, now: datetime) -> Step:
    """Record a submitted version; post any payment that was waiting for it."""
    if any(v.claim_id == event.claim_id for v in ledger.submitted):
        return Step(ledger, duplicate=True)
    ledger = ledger.model_copy(update={"submitted": [*ledger.submitted, submitted_version(event)]})
    outputs: list[Output] = []
    waiting = list(ledger.waiting)
    ledger = ledger.model_copy(update={"waiting": []})
    for raw in waiting:
        step = on_claim_payment(ledger, RemittanceClaim.parse_json(raw), now)
        ledger = step.ledger
        outputs += [o for o in step.outputs if not isinstance(o, RemittanceUnmatched)]
    return Step(ledger, outputs)


def _all_adjustments(claim: ClaimPayment) -> list[Adjustment]:
    return [*claim.adjustments, *(a for s in claim.services for a in s.adjustments)]


def categorize(claim: ClaimPayment) -> ClaimCategory:
    status = claim.status_code
    if status == "22":
        return "reversed"
    if status in {"19", "20", "21", "23"}:
        return "forwarded"
    if status == "25":
        return "predetermination"
    if status == "4" or (claim.paid == 0 and claim.charge != 0):
        return "denied"
    adjustments = [a for a in _all_adjustments(claim) if a.amount != 0]
    if any(a.group != "PR" and (a.group, a.reason) not in CONTRACTUAL for a in adjustments):
        return "partially-paid"
    if any(a.group == "PR" for a in adjustments):
        return "patient-responsibility"
    return "paid-in-full"


def _match_line(service: ServicePayment, version: SubmittedVersion) -> LineMatch:
    lines = version.lines
    if service.line_control_number:
        for ln in lines:
            if ln["line_control_number"] == service.line_control_number:
                return LineMatch(
                    line_control_number=service.line_control_number,
                    procedure=service.procedure,
                    rule="line-control-number",
                    charge=service.charge,
                    paid=service.paid,
                )
    procedure = service.original_procedure or service.procedure
    units = service.original_units or service.units
    modifiers = ":".join(service.modifiers)
    for ln in lines:
        same_date = service.service_date is None or ln["service_date"] == (
            service.service_date.isoformat()
        )
        if (
            ln["procedure"] == procedure
            and ln["modifiers"] == modifiers
            and same_date
            and Decimal(str(ln["units"])) == units
        ):
            return LineMatch(
                line_control_number=str(ln["line_control_number"]),
                procedure=service.procedure,
                rule="procedure-date-units",
                charge=service.charge,
                paid=service.paid,
            )
    return LineMatch(
        line_control_number=None,
        procedure=service.procedure,
        rule="unmatched",
        charge=service.charge,
        paid=service.paid,
    )


def _payee_matches(payment: RemittanceClaim, version: SubmittedVersion) -> bool:
    payee = payment.payee
    if payee.npi:
        return payee.npi == version.billing_provider_npi
    if payee.tax_id:
        return payee.tax_id.replace("-", "") == version.billing_tax_id
    return True


def _unmatched(
    ledger: ClaimLedger,
    payment: RemittanceClaim,
    reason: Literal["unknown-claim", "payee-mismatch"],
    message: str,
    now: datetime,
) -> Step:
    raw = payment.model_dump_json()
    known = {RemittanceClaim.parse_json(w).posting_id for w in ledger.waiting}
    if payment.posting_id not in known:
        ledger = ledger.model_copy(update={"waiting": [*ledger.waiting, raw]})
    out = RemittanceUnmatched.new(
        posting_id=payment.posting_id,
        patient_control_number=payment.assigned_to or payment.claim.patient_control_number,
        reason=reason,
        message=message,
        payment=payment,
        reported_at=now,
    )
    return Step(ledger, [out])


def on_claim_payment(ledger: ClaimLedger, payment: RemittanceClaim, now: datetime) -> Step:
    """Post one claim payment (or report it unmatched)."""
    if any(p.posting_id == payment.posting_id for p in ledger.postings):
        return Step(ledger, duplicate=True)
    claim = payment.claim
    if not ledger.submitted:
        return _unmatched(
            ledger,
            payment,
            "unknown-claim",
            "no submitted claim has this patient control number (yet)",
            now,
        )
    version = ledger.submitted[-1]
    if not _payee_matches(payment, version):
        return _unmatched(
            ledger, payment, "payee-mismatch", "the payee is not the claim's billing provider", now
        )
    adjustments = _all_adjustments(claim)
    adjusted = sum((a.amount for a in adjustments), Decimal(0))
    responsibility = sum((a.amount for a in adjustments if a.group == "PR"), Decimal(0))
    category = categorize(claim)
    expected = version.expected_allowed if version.frequency != "8" else None
    underpaid = None
    if expected is not None and category in (
        "paid-in-full",
        "partially-paid",
        "patient-responsibility",
    ):
        allowed = claim.paid + responsibility
        if allowed + TOLERANCE < expected:
            underpaid = expected - allowed
    reverses = None
    if category == "reversed":
        candidates = [
            p
            for p in ledger.postings
            if p.category != "reversed"
            and not any(q.reverses == p.posting_id for q in ledger.postings)
        ]
        same = [p for p in candidates if p.payer_claim_number == claim.payer_claim_control_number]
        pick = (same or candidates)[-1:]
        reverses = pick[0].posting_id if pick else None
    posting = Posting(
        posting_id=payment.posting_id,
        remittance_id=payment.remittance_id,
        status_code=claim.status_code,
        category=category,
        charge=claim.charge,
        paid=claim.paid,
        adjustments=adjusted,
        patient_responsibility=responsibility,
        adjustment_detail=adjustments,
        payer_claim_number=claim.payer_claim_control_number,
        matched_by="assigned" if payment.assigned_to else "patient-control-number",
        lines=[_match_line(s, version) for s in claim.services],
        expected_allowed=expected,
        underpaid_by=underpaid,
        reverses=reverses,
        payment_date=payment.payment.date,
        posted_at=now,
    )
    outputs: list[Output] = []
    postings = [*ledger.postings, posting]
    update: dict[str, object] = {"postings": postings}
    current = current_payer_claim_number(postings)
    if current is not None and current != ledger.payer_claim_number:
        update["payer_claim_number"] = current
        outputs.append(
            PayerClaimNumberLearned(ledger.patient_control_number, version.receiver_id, current)
        )
    ledger = ledger.model_copy(update=update)
    outputs.insert(
        0,
        ClaimAdjudicated.new(
            patient_control_number=ledger.patient_control_number,
            clinic_id=version.clinic_id,
            payer_id=version.payer_id,
            posting=posting,
            charge=ledger.charge,
            paid_total=ledger.paid,
            adjusted_total=ledger.adjusted,
            patient_responsibility_total=ledger.patient_responsibility,
            outstanding=ledger.outstanding,
        ),
    )
    if category == "denied":
        outputs.append(denial(ledger, version, posting, claim, now))
    coordination = _coordination(ledger, version, claim, payment, now)
    if coordination is not None:
        note, due = coordination
        ledger = ledger.model_copy(update={"coordination": note})
        if due is not None:
            outputs.append(due)
    return Step(ledger, outputs)


def current_payer_claim_number(postings: list[Posting]) -> str | None:
    """The payer's claim number of the latest adjudication that has not been reversed:
    after a reversal and a re-adjudication, voids and corrections must name the new
    number (REF*F8), not the reversed one.  None while every adjudication is reversed."""
    reversed_ids = {p.reverses for p in postings if p.reverses}
    for posting in reversed(postings):
        if posting.category == "reversed" or posting.posting_id in reversed_ids:
            continue
        if posting.payer_claim_number:
            return posting.payer_claim_number
    return None


def _coordination(
    ledger: ClaimLedger,
    version: SubmittedVersion,
    claim: ClaimPayment,
    payment: RemittanceClaim,
    now: datetime,
) -> tuple[str, SecondaryClaimDue | None] | None:
    """Coordination of benefits after a primary's answer: ask for the secondary claim
    once, unless the primary forwarded the claim itself (crossover)."""
    if version.next_payer_id is None or version.primary_claim is not None:
        return None  # no next payer, or this is already the secondary claim
    if ledger.coordination is not None and ledger.coordination.startswith("secondary"):
        return None  # asked for already
    if claim.status_code in CROSSOVER_STATUS:
        return f"crossover: the primary forwarded the claim to {version.next_payer_id}", None
    if not needs_secondary(claim):
        return None
    due = SecondaryClaimDue(
        ledger.patient_control_number,
        version.receiver_id,
        claim,
        payment.payment.date or now.date(),
    )
    return f"secondary claim requested ({secondary_pcn(ledger.patient_control_number)})", due


def denial(
    ledger: ClaimLedger,
    version: SubmittedVersion,
    posting: Posting,
    claim: ClaimPayment,
    now: datetime,
) -> ClaimDenied:
    carc, rarc = code_texts("carc"), code_texts("rarc")
    reasons = [
        {
            "group": a.group,
            "code": a.reason,
            "text": carc.get(a.reason, "(code not in our list)"),
            "amount": str(a.amount),
        }
        for a in posting.adjustment_detail
    ]
    remarks = sorted({r.code for s in claim.services for r in s.remarks})
    return ClaimDenied.new(
        patient_control_number=ledger.patient_control_number,
        clinic_id=version.clinic_id,
        payer_id=version.payer_id,
        posting_id=posting.posting_id,
        reasons=reasons,
        remarks=[{"code": c, "text": rarc.get(c, "(code not in our list)")} for c in remarks],
        denied_at=now,
    )


def link_provider_adjustment(
    ledger: ClaimLedger, remittance_id: str, adjustment: ProviderAdjustment
) -> ClaimLedger:
    if any(
        p.remittance_id == remittance_id and p.adjustment == adjustment
        for p in ledger.provider_adjustments
    ):
        return ledger
    linked = LinkedProviderAdjustment(remittance_id=remittance_id, adjustment=adjustment)
    return ledger.model_copy(
        update={"provider_adjustments": [*ledger.provider_adjustments, linked]}
    )


def take_waiting(
    ledger: ClaimLedger, posting_id: str
) -> tuple[ClaimLedger, RemittanceClaim | None]:
    """Remove a waiting (unmatched) payment from the ledger, for assignment elsewhere."""
    keep: list[str] = []
    found: RemittanceClaim | None = None
    for raw in ledger.waiting:
        payment = RemittanceClaim.parse_json(raw)
        if payment.posting_id == posting_id and found is None:
            found = payment
        else:
            keep.append(raw)
    return ledger.model_copy(update={"waiting": keep}), found
