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
the expected allowed amount is flagged with both amounts.  What an adjustment
means is data (:mod:`schemas.adjustments`): a claim paid nothing because of
deductible or coinsurance (all PR) is patient responsibility, not a denial; a
denial is raised per claim (nothing paid, for a reason to work) and per line (a
line denied on an otherwise answered claim), with the claim's MOA remarks and
the lines' remarks in words.

**Coordination of benefits** (:mod:`schemas.coordination`): the secondary claim
is asked for when the primary leaves patient responsibility or exhausted
benefits, never after a crossover; CO-22/CO-109 (wrong coverage order) put the
claim on the ``claims.cob-review`` work queue.  A secondary claim's ledger owes
at most what the primary left.

**Write-offs** (``claims claim write-off``) give up on an open amount, audited;
a write-off never counts for more than is still open, so money that arrives
later for it reverses it by itself.  **Refunds** (``claims credit refund --to
payer``) give a payer's credit back, at most what the claim has in credit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Literal

from schemas.adjustments import classify, totals
from schemas.coordination import (
    all_adjustments,
    coverage_order_wrong,
    crossed_over,
    left_for_next_payer,
    needs_secondary,
    secondary_pcn,
)
from schemas.patient_ledger import CreditRefund
from schemas.reconciliation import (
    ClaimAdjudicated,
    ClaimCategory,
    ClaimCobReview,
    ClaimDenied,
    ClaimLedger,
    ClaimWrittenOff,
    LineMatch,
    Posting,
    RefundCommand,
    RemittanceClaim,
    RemittanceUnmatched,
    SubmittedVersion,
    WriteOff,
    WriteOffCommand,
)
from schemas.remittance import Adjustment, ClaimPayment, ServicePayment
from schemas.submission import ClaimSubmitted
from workers.remits.provider_adjustments import recouped

TOLERANCE = Decimal("0.01")
#: Adjustment classes that need someone's work (a denial item).
NEEDS_WORK = ("denial", "coordination")


class Refused(Exception):
    """A command that cannot apply (``reason`` names the rule, never a value)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


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
    | ClaimWrittenOff
    | RemittanceUnmatched
    | PayerClaimNumberLearned
    | SecondaryClaimDue
    | ClaimCobReview
    | CreditRefund
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


def _left_by_primary(event: ClaimSubmitted) -> Decimal | None:
    """A secondary claim: what the adjudicated primary left (2320/2430 patient
    responsibility and exhausted benefits)."""
    claim = event.claim
    if claim.primary_claim is None:
        return None
    primary = next((o for o in claim.other_payers if o.paid is not None), None)
    if primary is None:
        return None
    adjustments = [*primary.claim_adjustments, *(a for ln in primary.lines for a in ln.adjustments)]
    classes = totals(adjustments)
    return classes["patient"] + classes["exhausted"]


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
        expected_from_payer=_left_by_primary(event),
        date_of_service=min(ln.service_date for ln in claim.lines),
        patient_id=claim.patient_id,
        patient_charges=sum(
            (d.patient_charge for d in claim.dropped if d.patient_charge is not None),
            Decimal(0),
        )
        if claim.primary_claim is None
        else Decimal(0),
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
    return all_adjustments(claim)


def categorize(claim: ClaimPayment) -> ClaimCategory:
    """What the answer is.  A claim paid nothing because of deductible, coinsurance
    or copay only (all PR, with contractual write-offs) is patient responsibility,
    not a denial; it is denied when nothing was paid for a reason someone must work
    (or exhausted benefits)."""
    status = claim.status_code
    if status == "22":
        return "reversed"
    if status in {"19", "20", "21", "23"}:
        return "forwarded"
    if status == "25":
        return "predetermination"
    classes = totals(a for a in _all_adjustments(claim) if a.amount != 0)
    open_ = classes["denial"] + classes["coordination"] + classes["exhausted"]
    if claim.paid == 0 and claim.charge != 0:
        if open_ == 0 and classes["patient"] > 0:
            return "patient-responsibility"
        return "denied"
    if status == "4" and claim.paid == 0:
        return "denied"
    if open_ != 0:
        return "partially-paid"
    if classes["patient"] != 0:
        return "patient-responsibility"
    return "paid-in-full"


def _needs_work(adjustments: list[Adjustment], exhausted_too: bool) -> Decimal:
    kinds = (*NEEDS_WORK, "exhausted") if exhausted_too else NEEDS_WORK
    return sum((a.amount for a in adjustments if classify(a.group, a.reason) in kinds), Decimal(0))


def _match_line(service: ServicePayment, version: SubmittedVersion) -> LineMatch:
    found = _match_line_only(service, version)
    denied = _needs_work(list(service.adjustments), exhausted_too=version.next_payer_id is None)
    return found.model_copy(update={"denied": denied}) if denied else found


def _match_line_only(service: ServicePayment, version: SubmittedVersion) -> LineMatch:
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
    outputs += denials(ledger, version, posting, claim, now)
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
) -> tuple[str, SecondaryClaimDue | ClaimCobReview | None] | None:
    """Coordination of benefits after a payer's answer: a wrong coverage order goes
    to review; the secondary claim is asked for once, unless the primary forwarded
    the claim itself (crossover)."""
    if coverage_order_wrong(claim):
        reasons = _reasons(
            [a for a in _all_adjustments(claim) if classify(a.group, a.reason) == "coordination"]
        )
        codes = ", ".join(r["group"] + "-" + r["code"] for r in reasons)
        review = ClaimCobReview.new(
            patient_control_number=ledger.patient_control_number,
            clinic_id=version.clinic_id,
            payer_id=version.payer_id,
            reasons=reasons,
            message=f"payer {version.payer_id} says it is not the primary for this claim "
            f"({codes}): fix the patient's coverage order and bill the right payer as primary",
            raised_at=now,
        )
        return "cob-review: wrong coverage order", review
    if version.next_payer_id is None or version.primary_claim is not None:
        return None  # no next payer, or this is already the secondary claim
    if ledger.coordination is not None and ledger.coordination.startswith("secondary"):
        return None  # asked for already
    if crossed_over(claim):
        return f"crossover: the primary forwarded the claim to {version.next_payer_id}", None
    if not needs_secondary(claim):
        return None
    due = SecondaryClaimDue(
        ledger.patient_control_number,
        version.receiver_id,
        claim,
        payment.payment.date or now.date(),
    )
    left = left_for_next_payer(claim)
    pcn = secondary_pcn(ledger.patient_control_number)
    return f"secondary claim requested ({pcn}) for {left:.2f} the primary left", due


def _reasons(adjustments: list[Adjustment]) -> list[dict[str, str]]:
    carc = code_texts("carc")
    return [
        {
            "group": a.group,
            "code": a.reason,
            "text": carc.get(a.reason, "(code not in our list)"),
            "amount": str(a.amount),
        }
        for a in adjustments
    ]


def _remarks(codes: list[str]) -> list[dict[str, str]]:
    rarc = code_texts("rarc")
    return [{"code": c, "text": rarc.get(c, "(code not in our list)")} for c in codes]


def denials(
    ledger: ClaimLedger,
    version: SubmittedVersion,
    posting: Posting,
    claim: ClaimPayment,
    now: datetime,
) -> list[ClaimDenied]:
    """The denial items of one answer: the claim (nothing paid, for a reason to work),
    else each line denied on an otherwise answered claim.  Exhausted benefits are
    the next payer's when there is one, not a denial here."""
    if posting.category in ("reversed", "forwarded", "predetermination"):
        return []
    kinds = NEEDS_WORK if version.next_payer_id else (*NEEDS_WORK, "exhausted")
    claim_remarks = [r.code for r in claim.remarks]
    about = {
        "patient_control_number": ledger.patient_control_number,
        "clinic_id": version.clinic_id,
        "payer_id": version.payer_id,
        "posting_id": posting.posting_id,
        "denied_at": now,
    }
    if posting.category == "denied":
        working = [a for a in _all_adjustments(claim) if classify(a.group, a.reason) in kinds]
        remarks = sorted({*claim_remarks, *(r.code for s in claim.services for r in s.remarks)})
        return [
            ClaimDenied.new(
                **about,
                scope="claim",
                amount=sum((a.amount for a in working), Decimal(0)) or claim.charge,
                reasons=_reasons(working or list(_all_adjustments(claim))),
                remarks=_remarks(remarks),
            )
        ]
    out = []
    for service, line in zip(claim.services, posting.lines, strict=True):
        working = [a for a in service.adjustments if classify(a.group, a.reason) in kinds]
        amount = sum((a.amount for a in working), Decimal(0))
        if amount == 0:
            continue
        remarks = sorted({*claim_remarks, *(r.code for r in service.remarks)})
        out.append(
            ClaimDenied.new(
                **about,
                scope="line",
                line_control_number=line.line_control_number,
                procedure=service.procedure,
                amount=amount,
                reasons=_reasons(working),
                remarks=_remarks(remarks),
            )
        )
    return out


def open_amount(ledger: ClaimLedger, line_control_number: str | None = None) -> Decimal:
    """What the payer leaves open on the claim (or one line), before write-offs:
    the unanswered charge and the amounts denied, net of reversals."""
    if line_control_number is not None:
        return sum(
            (
                ln.denied
                for p in ledger.postings
                for ln in p.lines
                if ln.line_control_number == line_control_number
            ),
            Decimal(0),
        )
    next_payer = bool(ledger.submitted and ledger.submitted[-1].next_payer_id)
    kinds = NEEDS_WORK if next_payer else (*NEEDS_WORK, "exhausted")
    denied = sum(
        (
            a.amount
            for p in ledger.postings
            for a in p.adjustment_detail
            if classify(a.group, a.reason) in kinds
        ),
        Decimal(0),
    )
    return max(ledger.outstanding, Decimal(0)) + denied


def write_off(ledger: ClaimLedger, command: WriteOffCommand, now: datetime) -> Step:
    """Record a write-off of what is open on the claim (or on one of its lines)."""
    if not ledger.submitted:
        raise Refused("unknown-claim", "no submitted claim has this patient control number")
    version = ledger.submitted[-1]
    line = None
    if command.line_number is not None:
        line = f"{ledger.patient_control_number}-{version.version}-{command.line_number}"
        if not any(ln.get("line_control_number") == line for ln in version.lines):
            raise Refused("unknown-line", f"the claim has no line {command.line_number}")
    already = sum(
        (w.amount for w in ledger.write_offs if w.line_control_number == line), Decimal(0)
    )
    available = open_amount(ledger, line) - already
    if available <= 0:
        raise Refused("nothing-open", "nothing is open on the claim (or line) to write off")
    amount = command.amount if command.amount is not None else available
    if amount <= 0 or amount > available:
        raise Refused("amount-too-large", f"at most {available:.2f} is open to write off")
    entry = WriteOff(
        write_off_id=f"W{len(ledger.write_offs) + 1}-{now:%Y%m%d%H%M%S}",
        line_control_number=line,
        amount=amount,
        reason=command.reason,
        operator=command.operator,
        written_off_at=now,
    )
    ledger = ledger.model_copy(update={"write_offs": [*ledger.write_offs, entry]})
    event = ClaimWrittenOff.new(
        patient_control_number=ledger.patient_control_number,
        clinic_id=version.clinic_id,
        payer_id=version.payer_id,
        write_off=entry,
    )
    return Step(ledger, [event])


def refund(ledger: ClaimLedger, command: RefundCommand) -> Step:
    """Record a refund of the payer's credit on the claim: the money goes back, the
    credit is settled (at most what the claim has in credit)."""
    if not ledger.submitted:
        raise Refused("unknown-claim", "no submitted claim has this patient control number")
    entry = command.refund
    if entry.to != "payer" or entry.patient_control_number != ledger.patient_control_number:
        raise Refused("wrong-claim", "the refund is not a payer refund of this claim")
    if any(r.key == entry.key for r in ledger.refunds):
        return Step(ledger, duplicate=True)
    refunded = sum((r.amount for r in ledger.refunds), Decimal(0))
    credit = max(-ledger.outstanding - recouped(ledger), Decimal(0)) - refunded
    if entry.amount > credit:
        raise Refused("more-than-credit", f"the claim has {max(credit, Decimal(0)):.2f} in credit")
    ledger = ledger.model_copy(update={"refunds": [*ledger.refunds, entry]})
    return Step(ledger, [entry])


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
