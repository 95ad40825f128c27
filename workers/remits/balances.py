"""What is really owed, per original claim (pure).

An original claim and the claims that follow it to the next payer (its
secondary, or a crossover the primary made itself) are one balance: the charge
is counted once, and each part of it is in exactly one place::

    charge = insurance paid + contractual adjustments + final patient responsibility
             + insurance outstanding + written off - insurance credit

* **insurance paid**: what the payers paid on the claims (reversals net out;
  interest and provider-level offsets are not claim money; a recoupment that no
  posted reversal accounts for is taken off, and what it takes beyond a credit
  the claim had is owed again, as an open amount to work; a refund of a
  payer's credit is taken off);
* **contractual adjustments**: what the payers' contracts take off (CO-45 ...),
  never billed to anyone;
* **final patient responsibility**: what the *last* payer left to the patient --
  the primary's share waits while a secondary has still to answer (it is then
  "waiting for the next payer", insurance outstanding), and after the secondary
  answered it is the secondary's share; a secondary that denies, or does not
  answer in ``cob_wait``, leaves the primary's share to the patient;
* **insurance outstanding**: charge no payer has answered yet, amounts denied
  (open until appealed or written off) and amounts waiting for the next payer;
* **written off**: write-offs, each counted for no more than is still open;
* **insurance credit**: paid more than the claim's charge allows.

Every component is computed on its own, so the identity is a check that the
postings add up, not a definition; :func:`ClaimBalance.problem` says when it
fails.  Insurance A/R ages from the date of service (buckets 0-30, 31-60,
61-90, 91-120, 120+ days).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from schemas.adjustments import classify
from schemas.reconciliation import ClaimLedger
from workers.remits.provider_adjustments import recouped

ZERO = Decimal("0.00")
BUCKETS = (("0-30", 0, 30), ("31-60", 31, 60), ("61-90", 61, 90), ("91-120", 91, 120),
           ("120+", 121, 10**6))  # fmt: skip
#: What a payer's answer says, by adjustment class, for one ledger.
_KINDS = ("contractual", "patient", "denial", "exhausted", "coordination", "prior-payer")


def _money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


def _shares(ledger: ClaimLedger) -> dict[str, Decimal]:
    shares = dict.fromkeys(("deductible", "coinsurance", "copay", "other"), ZERO)
    names = {"1": "deductible", "2": "coinsurance", "3": "copay"}
    for posting in ledger.postings:
        for adj in posting.adjustment_detail:
            if classify(adj.group, adj.reason) == "patient":
                shares[names.get(adj.reason, "other")] += adj.amount
    return shares


def _last_posted(ledger: ClaimLedger) -> date | None:
    return max((p.posted_at.date() for p in ledger.postings), default=None)


@dataclass(frozen=True)
class Answer:
    """One payer's answer on one claim, summed over its postings (reversals net out)."""

    answered: bool
    paid: Decimal
    by_class: dict[str, Decimal]
    denied: bool

    @classmethod
    def of(cls, ledger: ClaimLedger) -> Answer:
        by_class = dict.fromkeys(_KINDS, ZERO)
        for posting in ledger.postings:
            for adj in posting.adjustment_detail:
                by_class[classify(adj.group, adj.reason)] += adj.amount
        paid = sum((p.paid for p in ledger.postings), ZERO)
        undone = {p.reverses for p in ledger.postings if p.reverses}
        live = [
            p for p in ledger.postings if p.category != "reversed" and p.posting_id not in undone
        ]
        denied = bool(live) and all(p.category == "denied" for p in live)
        return cls(bool(live), paid, by_class, denied)


@dataclass(frozen=True)
class ClaimBalance:
    """The balance of one original claim with the claims that followed it."""

    patient_control_number: str
    clinic_id: str
    payer_id: str
    date_of_service: date | None
    charge: Decimal
    paid: Decimal
    contractual: Decimal
    patient_responsibility: Decimal
    unanswered: Decimal
    denials_open: Decimal
    waiting_next_payer: Decimal
    written_off: Decimal
    credit: Decimal
    secondary: str | None = None
    notes: list[str] = field(default_factory=list)
    patient_id: str | None = None
    #: the final patient responsibility by kind: deductible (PR-1), coinsurance
    #: (PR-2), copay (PR-3), other
    patient_shares: dict[str, Decimal] = field(default_factory=dict)
    #: when the patient's share became final (the last payer's answer was posted)
    patient_due_from: date | None = None
    #: credit given back to the payers (already taken off ``paid``)
    refunded: Decimal = ZERO
    #: codes the payer does not cover, billed to the patient under their waiver (not
    #: part of ``charge``: never sent to a payer)
    non_covered_patient: Decimal = ZERO

    @property
    def insurance_outstanding(self) -> Decimal:
        return self.unanswered + self.denials_open + self.waiting_next_payer

    def problem(self) -> str | None:
        """Why the identity does not hold to the cent, or None."""
        right = (
            self.paid
            + self.contractual
            + self.patient_responsibility
            + self.insurance_outstanding
            + self.written_off
            - self.credit
        )
        if _money(self.charge) == _money(right):
            return None
        return (
            f"claim {self.patient_control_number}: charge {self.charge:.2f} != paid "
            f"{self.paid:.2f} + contractual {self.contractual:.2f} + patient "
            f"{self.patient_responsibility:.2f} + outstanding {self.insurance_outstanding:.2f} "
            f"+ written off {self.written_off:.2f} - credit {self.credit:.2f}"
        )


def _family(ledgers: Iterable[ClaimLedger]) -> list[tuple[ClaimLedger, ClaimLedger | None]]:
    """Original claims (not secondaries), each with its secondary claim's ledger."""
    by_pcn = {ledger.patient_control_number: ledger for ledger in ledgers if ledger.submitted}
    secondaries = {
        ledger.submitted[-1].primary_claim: ledger
        for ledger in by_pcn.values()
        if ledger.submitted[-1].primary_claim is not None
    }
    return [
        (ledger, secondaries.get(pcn))
        for pcn, ledger in sorted(by_pcn.items())
        if ledger.submitted[-1].primary_claim is None
    ]


def claim_balance(
    primary: ClaimLedger,
    secondary: ClaimLedger | None,
    now: datetime,
    cob_wait: timedelta = timedelta(days=45),
) -> ClaimBalance:
    """The balance of one original claim (see the module's identity)."""
    version = primary.submitted[-1]
    charge = primary.charge
    first = Answer.of(primary)
    notes: list[str] = []
    shares, due_from = _shares(primary), _last_posted(primary)
    paid = first.paid
    contractual = first.by_class["contractual"]
    denials = first.by_class["denial"] + first.by_class["coordination"]
    waiting = ZERO
    counted_second = False
    final_patient = first.by_class["patient"]
    left = first.by_class["patient"] + first.by_class["exhausted"]
    expects_next = version.next_payer_id is not None and not (
        primary.coordination or ""
    ).startswith(("crossover", "cob-review"))
    if not expects_next:
        denials += first.by_class["exhausted"]
    elif secondary is None:
        # the secondary claim is being built: the primary's leftovers wait for it
        waiting, final_patient = (left, ZERO) if first.answered else (ZERO, ZERO)
        if first.answered:
            notes.append("waiting for the secondary claim")
    else:
        second = Answer.of(secondary)
        asked_at = secondary.submitted[0].submitted_at
        if second.answered and not second.denied:
            counted_second = True
            paid += second.paid
            contractual += second.by_class["contractual"]
            denials += second.by_class["denial"] + second.by_class["coordination"]
            denials += second.by_class["exhausted"]
            final_patient = second.by_class["patient"]
            shares, due_from = _shares(secondary), _last_posted(secondary)
            waiting = max(secondary.owed - second.paid, ZERO) - (
                second.by_class["contractual"]
                + second.by_class["patient"]
                + second.by_class["denial"]
                + second.by_class["coordination"]
                + second.by_class["exhausted"]
            )
            waiting = max(waiting, ZERO)
        elif second.denied or now - asked_at >= cob_wait:
            # the next payer will not pay: the patient owes the primary's patient share
            # (exhausted benefits, a CO amount, stay the payers' side: open until worked)
            final_patient = first.by_class["patient"]
            denials += first.by_class["exhausted"]
            due_from = _last_posted(secondary) if second.denied else (asked_at + cob_wait).date()
            notes.append("secondary denied" if second.denied else "secondary did not answer")
        else:
            waiting, final_patient = left, ZERO
            notes.append("waiting for the secondary's answer")
    # a claim no payer answered is owed in full; an answered one is accounted for by
    # its answer (an 835 claim balances: CLP03 = CLP04 + its adjustments)
    unanswered = charge if not first.answered and version.frequency != "8" else ZERO
    # money given back to the payers (refunds of their credit) is not paid any more
    refunded = sum((r.amount for r in primary.refunds), ZERO)
    if secondary is not None:
        refunded += sum((r.amount for r in secondary.refunds), ZERO)
    paid -= refunded
    # a recoupment (PLB WO/72) no posted reversal accounts for takes money back: it
    # first uses up a credit the claim had, the rest is owed again (open, to work)
    recovered = recouped(primary)
    if secondary is not None and counted_second:
        recovered += recouped(secondary)
    if recovered > 0:
        before = paid + contractual + final_patient + unanswered + denials + waiting
        reopened = max(recovered - max(before - charge, ZERO), ZERO)
        paid -= recovered
        denials += reopened
        notes.append(f"payer recouped {recovered:.2f}")
    open_before = denials + unanswered
    write_offs = [*primary.write_offs, *(secondary.write_offs if secondary else [])]
    # a write-off counts for no more than is still open: money arriving later undoes it
    written = min(sum((w.amount for w in write_offs), ZERO), max(open_before, ZERO))
    from_denials = min(written, max(denials, ZERO))
    denials -= from_denials
    unanswered -= written - from_denials
    accounted = paid + contractual + final_patient + unanswered + denials + waiting + written
    credit = accounted - charge if accounted > charge else ZERO
    return ClaimBalance(
        patient_control_number=primary.patient_control_number,
        clinic_id=version.clinic_id,
        payer_id=version.payer_id,
        date_of_service=version.date_of_service,
        charge=_money(charge),
        paid=_money(paid),
        contractual=_money(contractual),
        patient_responsibility=_money(final_patient),
        unanswered=_money(unanswered),
        denials_open=_money(denials),
        waiting_next_payer=_money(waiting),
        written_off=_money(written),
        credit=_money(credit),
        secondary=secondary.patient_control_number if secondary else None,
        notes=notes,
        patient_id=version.patient_id,
        patient_shares={k: _money(v) for k, v in shares.items()} if final_patient else {},
        patient_due_from=due_from if final_patient else None,
        refunded=_money(refunded),
        non_covered_patient=_money(version.patient_charges),
    )


def balances(
    ledgers: Iterable[ClaimLedger], now: datetime, cob_wait: timedelta = timedelta(days=45)
) -> list[ClaimBalance]:
    """Every original claim's balance."""
    return [claim_balance(p, s, now, cob_wait) for p, s in _family(ledgers)]


def bucket(age_days: int) -> str:
    return next(name for name, low, high in BUCKETS if low <= max(age_days, 0) <= high)


def aging(rows: Iterable[ClaimBalance], today: date) -> dict[tuple[str, str], dict[str, Decimal]]:
    """Insurance A/R per clinic and payer, by days since the date of service."""
    out: dict[tuple[str, str], dict[str, Decimal]] = {}
    for row in rows:
        owed = row.insurance_outstanding
        if owed <= 0:
            continue
        age = (today - row.date_of_service).days if row.date_of_service else 0
        empty = dict.fromkeys((name for name, _, _ in BUCKETS), ZERO)
        totals = out.setdefault((row.clinic_id, row.payer_id), empty)
        totals[bucket(age)] += owed
    return out
