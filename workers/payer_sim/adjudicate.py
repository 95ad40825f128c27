"""Adjudication (pure): claims read from an 837P and the rules in, 835 remittances out.

:func:`adjudicate` answers every claim; :func:`render_answers` writes the 835
text.  No clock, no randomness, no I/O: ``now`` is passed in and every choice
that looks random is a hash of CLM01 (see :mod:`workers.payer_sim.rules`).

How one claim is answered
-------------------------
* **Frequency 8 (void)**: when the payer's ``voids.reverse`` selects the claim
  and the rules would have paid it (the claim's content adjudicated as an
  original pays something), a reversal -- CLP02 ``22``, CLP07 the claim's
  ``REF*F8``, and that adjudication with every amount negated (same CAS codes,
  same units); otherwise an acknowledgement: CLP02 ``22`` with zero charge and
  payment and no lines.
* **Frequency 7 (replacement)**: with the payer's earlier answers
  (``history``), the adjudication the claim's ``REF*F8`` names is reversed first
  (CLP02 22, amounts negated), then the replacement is adjudicated as below.
* **Otherwise** (1 original, 7 replacement): the first ``patient-not-recognised``
  denial that selects the claim makes it CLP02 ``4``; else each line is denied
  by the first denial rule that covers it, or priced: allowed = the fee schedule
  x units (else ``percent_of_charge`` of the charge), at most the charge, CO-45
  for the difference, then the patient's share (PR-3 copay, PR-1 deductible,
  PR-2 coinsurance) and paid = allowed - patient share.  A denied line carries
  its whole charge as one CAS and its remark codes as ``LQ*HE``.  A secondary
  claim's line (one with a 2430 from the payer before) is paid at most what that
  payer left to the patient: OA-23 for what it settled, this payer's payment,
  and the rest PR-2 (or this payer's denial of it).  CLP02 is 1, 2
  or 3 by SBR01 (primary, secondary, tertiary); CLP04 = the lines' payments.
* **Reversal and correction**: a paid claim selected by ``reversals`` is
  answered with its reversal (CLP02 22, amounts negated) followed by a
  corrected adjudication (allowed x ``corrected_allowed_percent``), optionally
  preceded by the original payment itself.
* **Interest**: a paid claim selected by ``interest`` earns a PLB ``L6``
  (negative: money added) with the claim's CLM01 as reference.

A line's charge that the claim total does not account for (CLM02 differs from
the sum of the lines, which our own 837s never do) is a claim-level CO-16 with
``MOA`` remark M54, so every claim balances.

One 835 per payer
-----------------
Claims are grouped by payer (NM1*PR NM109) and by who sent them (the 837's ISA
sender and GS02): each group is **one interchange** from that payer (ISA
sender: the payer's ``isa_id``) back to the submitter, holding one functional
group with **one transaction set per payee** (billing provider), in order of
first appearance.  Per transaction: BPR02 = sum of CLP04 - sum of PLB; when
that would be negative (a take-back bigger than the payments), a negative PLB
``WO`` defers the rest so BPR02 is 0 (then BPR01 ``H``, BPR04 ``NON``).  pyx12
reads a second PLB segment as a second (forbidden) footer loop, so a
transaction keeps to one PLB of at most six adjustments: when more interest
items than that would be needed, they are summed into one ``L6`` without a
reference.  TRN02 = the 837's ISA13 + 6 digits of a hash of the payer and
submitter + the transaction's number; TRN03/BPR10 = the payer's
``company_id``; BPR16 and DTM*405 = ``now``'s date; PLB02 the end of the
payer's fiscal year; ISA13/GS06 a hash of the 837's sender, ISA13, payer and
submitter (distinct within one answer).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Final, Literal, TypeAlias

from edi.x835 import check_balance, render_835_interchange
from schemas.adjudication import (
    ClaimDetails,
    ClaimReceived,
    LineReceived,
    NameDetails,
    RemittanceAdvice,
    RemittanceDetails,
    ServiceDetails,
)
from schemas.claims import PersonOrOrganisation
from schemas.remittance import (
    Adjustment,
    Balance,
    ClaimPayment,
    Payee,
    Payer,
    Payment,
    ProviderAdjustment,
    Remark,
    Remittance,
    ServicePayment,
)
from workers.payer_sim.rules import DenialRule, PayerRules, SimulatorRules

__all__ = ["CLP06_CODES", "PayerAnswer", "adjudicate", "answer_claim", "render_answers"]

_ZERO: Final = Decimal(0)
_CENT: Final = Decimal("0.01")
_HUNDRED: Final = Decimal(100)
#: CLP06 codes of the 835 (a narrower list than SBR09 of the 837).
CLP06_CODES: Final = frozenset(
    {"12", "13", "14", "15", "16", "17", "AM", "CH", "DS", "HM", "LM", "MA", "MB", "MC", "OF",
     "TV", "VA", "WC", "ZZ"}
)  # fmt: skip
_STATUS_BY_RESPONSIBILITY: Final = {"P": "1", "S": "2", "T": "3"}
_MAX_PLB: Final = 6


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(_CENT, rounding=ROUND_HALF_UP)


def _digits(text: str, count: int) -> str:
    """``count`` decimal digits derived from ``text`` (SHA-256)."""
    value = int(hashlib.sha256(text.encode("utf-8")).hexdigest(), 16)
    return str(value % 10**count).zfill(count)


# --- one payer's answer ----------------------------------------------------------------


@dataclass(frozen=True)
class PayerAnswer:
    """One 835 interchange: a payer's answer to the claims one submitter sent it."""

    payer_id: str
    sender_id: str
    receiver_qualifier: str
    receiver_id: str
    gs_receiver_code: str
    usage: Literal["P", "T"]
    control_number: int
    advices: tuple[RemittanceAdvice, ...]


@dataclass
class _Answered:
    """What one claim contributes to its transaction."""

    payments: list[tuple[ClaimPayment, ClaimDetails]] = field(default_factory=list)
    interest: list[ProviderAdjustment] = field(default_factory=list)


@dataclass
class _Context:
    """What adjudicating one claim needs besides the claim."""

    rules: PayerRules
    payer_id: str
    provider_id: str
    fiscal_date: dt.date
    #: what this payer answered before, by (CLP01, CLP07): a replacement reverses it
    history: Mapping[tuple[str, str], ClaimPayment] = field(default_factory=dict)


# --- pricing one line -------------------------------------------------------------------


def _allowed(line: LineReceived, rules: PayerRules, percent: Decimal) -> Decimal:
    """The allowed amount of a line: fee x units, else a share of the charge; at most the charge."""
    fee = rules.fee_schedule.get(line.procedure)
    amount = fee * line.units if fee is not None else line.charge * rules.percent_of_charge / 100
    amount = _cents(amount * percent / _HUNDRED)
    if line.charge > 0:
        amount = max(amount, _CENT)  # CO-45 must never take the whole charge
    return min(amount, line.charge)


@dataclass
class _Share:
    """The patient's share still to take from the claim's lines (copay, deductible)."""

    copay: Decimal
    deductible: Decimal
    coinsurance_percent: Decimal


def _patient_share(allowed: Decimal, share: _Share) -> list[Adjustment]:
    """PR-1/2/3 of one line, taking the copay and deductible from ``share`` as it goes."""
    base = allowed
    copay = min(share.copay, base)
    base -= copay
    share.copay -= copay
    deductible = min(share.deductible, base)
    base -= deductible
    share.deductible -= deductible
    coinsurance = _cents(base * share.coinsurance_percent / _HUNDRED)
    amounts = (("1", deductible), ("2", coinsurance), ("3", copay))
    return [Adjustment(group="PR", reason=r, amount=a) for r, a in amounts if a > 0]


def _priced_line(
    line: LineReceived, rules: PayerRules, share: _Share, percent: Decimal
) -> tuple[ServicePayment, ServiceDetails]:
    allowed = _allowed(line, rules, percent)
    adjustments = []
    if line.charge > allowed:
        adjustments.append(Adjustment(group="CO", reason="45", amount=line.charge - allowed))
    responsibility = _patient_share(allowed, share)
    paid = allowed - sum((a.amount for a in responsibility), _ZERO)
    return (
        _service(line, paid, (*adjustments, *responsibility), ()),
        ServiceDetails(allowed=allowed, service_date_end=line.service_date_end),
    )


def _denied_line(line: LineReceived, rule: DenialRule) -> tuple[ServicePayment, ServiceDetails]:
    adjustments = (Adjustment(group=rule.group, reason=rule.carc, amount=line.charge),)
    remarks = tuple(Remark(qualifier="HE", code=code) for code in rule.rarcs)
    return (
        _service(line, _ZERO, adjustments, remarks),
        ServiceDetails(service_date_end=line.service_date_end),
    )


def _after_prior_payer(
    service: ServicePayment, line: LineReceived, denial: DenialRule | None
) -> ServicePayment:
    """A secondary payer (the line has a 2430 from the payer before) pays at most what
    that payer left to the patient -- traditional coordination of benefits: OA-23 for
    what the payer before settled (its payment and its own adjustments), then this
    payer's payment, and the rest the patient's (PR-2), or this payer's denial."""
    if line.prior_paid is None:
        return service
    left = max(sum((a.amount for a in line.prior_adjustments if a.group == "PR"), _ZERO), _ZERO)
    left = min(left, line.charge)
    settled = line.charge - left
    adjustments = [Adjustment(group="OA", reason="23", amount=settled)] if settled else []
    if denial is not None:
        if left:
            adjustments.append(Adjustment(group=denial.group, reason=denial.carc, amount=left))
        return service.model_copy(update={"paid": _ZERO, "adjustments": tuple(adjustments)})
    paid = min(service.paid, left)
    if left - paid:
        adjustments.append(Adjustment(group="PR", reason="2", amount=left - paid))
    return service.model_copy(update={"paid": paid, "adjustments": tuple(adjustments)})


def _service(
    line: LineReceived,
    paid: Decimal,
    adjustments: tuple[Adjustment, ...],
    remarks: tuple[Remark, ...],
) -> ServicePayment:
    return ServicePayment(
        procedure=line.procedure,
        modifiers=line.modifiers,
        charge=line.charge,
        paid=paid,
        units=line.units,
        line_control_number=line.line_control_number,
        service_date=line.service_date,
        adjustments=adjustments,
        remarks=remarks,
    )


# --- one claim ----------------------------------------------------------------------------


def _person(name: PersonOrOrganisation, identifier: str | None) -> NameDetails:
    person = name.kind == "person"
    return NameDetails(
        entity_type="1" if person else "2",
        last_name=name.last_or_organisation_name[:60],
        first_name=name.first_name[:35] if person and name.first_name else None,
        middle_name=name.middle_name[:25] if person and name.middle_name else None,
        id_qualifier="MI" if identifier else None,
        identifier=identifier,
    )


def _member_id(claim: ClaimReceived) -> str | None:
    member = claim.subscriber.member_id
    return member if member is not None and len(member) >= 2 else None


def _claim_details(
    claim: ClaimReceived, services: Sequence[ServiceDetails], remarks: tuple[str, ...] = ()
) -> ClaimDetails:
    """Names (patient, and the insured when the patient is not the subscriber) and dates."""
    member = _member_id(claim)
    if claim.patient is None:
        patient, insured = _person(claim.subscriber.name, member), None
    else:
        patient = _person(claim.patient.name, None)
        insured = _person(claim.subscriber.name, member) if member else None
    return ClaimDetails(
        patient=patient,
        insured=insured,
        facility_code=claim.place_of_service[:2],
        frequency=claim.frequency[:1],
        claim_remarks=remarks,
        received=claim.envelope.created,
        services=tuple(services),
    )


def _filing_indicator(claim: ClaimReceived, rules: PayerRules) -> str:
    """CLP06: SBR09 mapped by the payer's rules, else as is when the 835 allows it, else ZZ."""
    sbr09 = claim.subscriber.filing_indicator or ""
    mapped = rules.filing_indicators.get(sbr09, sbr09)
    return mapped if mapped in CLP06_CODES else "ZZ"


def _claim_number(context: _Context, claim: ClaimReceived, role: str) -> str:
    """CLP07: the payer's claim control number, derived from the claim (and its role)."""
    key = "|".join(
        (context.payer_id, claim.patient_control_number, claim.frequency,
         claim.payer_claim_number or "", role)
    )  # fmt: skip
    return f"{context.rules.claim_number_prefix}{_digits(key, 12)}"


def _first_denial(
    rules: PayerRules, claim: ClaimReceived, line: LineReceived | None
) -> DenialRule | None:
    """The first denial rule that selects the claim (and covers ``line`` when given)."""
    pcn, authorization = claim.patient_control_number, claim.prior_authorization
    for rule in rules.denials:
        if line is None and rule.kind != "patient-not-recognised":
            continue
        if line is not None and rule.kind == "patient-not-recognised":
            continue
        if line is not None and not rule.select.covers_line(line.procedure):
            continue
        if rule.select.picks(rule.id, pcn, authorization):
            return rule
    return None


def _status(claim: ClaimReceived) -> str:
    return _STATUS_BY_RESPONSIBILITY.get(claim.subscriber.payer_responsibility, "1")


def _adjudicated(
    context: _Context, claim: ClaimReceived, claim_number: str, percent: Decimal = _HUNDRED
) -> tuple[ClaimPayment, ClaimDetails]:
    """The claim's adjudication (no reversal, no interest), its allowed amounts x ``percent``."""
    rules = context.rules
    unrecognised = _first_denial(rules, claim, None)
    share = _share(rules, claim)
    services: list[ServicePayment] = []
    extras: list[ServiceDetails] = []
    for line in claim.lines:
        denial = unrecognised or _first_denial(rules, claim, line)
        if denial is not None:
            service, extra = _denied_line(line, denial)
        else:
            service, extra = _priced_line(line, rules, share, percent)
        service = _after_prior_payer(service, line, denial)
        services.append(service)
        extras.append(extra)
    claim_adjustments: tuple[Adjustment, ...] = ()
    remarks: tuple[str, ...] = ()
    unbilled = claim.total_charge - sum((line.charge for line in claim.lines), _ZERO)
    if unbilled:
        claim_adjustments = (Adjustment(group="CO", reason="16", amount=unbilled),)
        remarks = ("M54",)
    responsibility = sum(
        (a.amount for s in services for a in s.adjustments if a.group == "PR"), _ZERO
    )
    payment = ClaimPayment(
        patient_control_number=claim.patient_control_number,
        status_code="4" if unrecognised is not None else _status(claim),
        charge=claim.total_charge,
        paid=sum((s.paid for s in services), _ZERO),
        patient_responsibility=responsibility or None,
        filing_indicator=_filing_indicator(claim, rules),
        payer_claim_control_number=claim_number,
        adjustments=claim_adjustments,
        services=tuple(services),
        remarks=tuple(Remark(qualifier="HE", code=code) for code in remarks[:5]),
    )
    return payment, _claim_details(claim, extras, remarks)


def _share(rules: PayerRules, claim: ClaimReceived) -> _Share:
    share = rules.patient_share
    deductible = share.deductible
    in_deductible = deductible is not None and deductible.select.picks(
        "deductible", claim.patient_control_number, claim.prior_authorization
    )
    return _Share(
        copay=share.copay,
        deductible=deductible.amount if deductible is not None and in_deductible else _ZERO,
        coinsurance_percent=share.coinsurance_percent,
    )


def _negated_adjustments(adjustments: Iterable[Adjustment]) -> tuple[Adjustment, ...]:
    return tuple(a.model_copy(update={"amount": -a.amount}) for a in adjustments)


def _reversal(payment: ClaimPayment, details: ClaimDetails) -> tuple[ClaimPayment, ClaimDetails]:
    """CLP02 22: the same claim with every amount negated (same CAS codes, same units)."""
    services = tuple(
        s.model_copy(
            update={
                "charge": -s.charge,
                "paid": -s.paid,
                "adjustments": _negated_adjustments(s.adjustments),
            }
        )
        for s in payment.services
    )
    responsibility = payment.patient_responsibility
    reversed_payment = payment.model_copy(
        update={
            "status_code": "22",
            "charge": -payment.charge,
            "paid": -payment.paid,
            "patient_responsibility": None if responsibility is None else -responsibility,
            "adjustments": _negated_adjustments(payment.adjustments),
            "services": services,
        }
    )
    extras = tuple(
        e.model_copy(update={"allowed": None if e.allowed is None else -e.allowed})
        for e in details.services
    )
    return reversed_payment, details.model_copy(update={"services": extras})


def _void(context: _Context, claim: ClaimReceived) -> _Answered:
    """A void: the original's reversal when it was paid, else a zero acknowledgement."""
    rules = context.rules
    original_number = claim.payer_claim_number or _claim_number(context, claim, "original")
    if rules.voids.reverse.picks("voids", claim.patient_control_number, None):
        payment, details = _adjudicated(context, claim, original_number)
        if payment.paid > 0:
            return _Answered(payments=[_reversal(payment, details)])
    acknowledgement = ClaimPayment(
        patient_control_number=claim.patient_control_number,
        status_code="22",
        charge=_ZERO,
        paid=_ZERO,
        filing_indicator=_filing_indicator(claim, rules),
        payer_claim_control_number=original_number,
    )
    return _Answered(payments=[(acknowledgement, _claim_details(claim, ()))])


def _interest(
    context: _Context, claim: ClaimReceived, payment: ClaimPayment
) -> list[ProviderAdjustment]:
    rule = context.rules.interest
    paid = payment.paid
    if rule is None or paid <= 0:
        return []
    if not rule.select.picks("interest", claim.patient_control_number, None):
        return []
    amount = _cents(paid * rule.annual_percent / _HUNDRED * rule.days_late / Decimal(365))
    if amount <= 0:
        return []
    return [
        ProviderAdjustment(
            provider_id=context.provider_id,
            date=context.fiscal_date,
            reason="L6",
            reference=(
                payment.payer_claim_control_number
                if rule.reference == "payer-claim-number"
                else None
            )
            or claim.patient_control_number,
            amount=-amount,
        )
    ]


def _replaced(context: _Context, claim: ClaimReceived) -> list[tuple[ClaimPayment, ClaimDetails]]:
    """A replacement (frequency 7) first reverses the adjudication it replaces -- the
    one its REF*F8 names, when the payer's history has it."""
    if claim.frequency != "7" or not claim.payer_claim_number:
        return []
    prior = context.history.get((claim.patient_control_number, claim.payer_claim_number))
    if prior is None:
        return []
    return [_reversal(prior, _claim_details(claim, ()))]


def _answer(context: _Context, claim: ClaimReceived) -> _Answered:
    if claim.frequency == "8":
        return _void(context, claim)
    rules = context.rules
    replaced = _replaced(context, claim)
    original = _adjudicated(context, claim, _claim_number(context, claim, "original"))
    reversal_rule = rules.reversals
    payments = [original]
    if (
        reversal_rule is not None
        and original[0].paid > 0
        and reversal_rule.select.picks("reversals", claim.patient_control_number, None)
    ):
        corrected = _adjudicated(
            context,
            claim,
            _claim_number(context, claim, "correction"),
            reversal_rule.corrected_allowed_percent,
        )
        payments = [original] if reversal_rule.include_original else []
        payments += [_reversal(*original), corrected]
    return _Answered(
        payments=[*replaced, *payments], interest=_interest(context, claim, payments[-1][0])
    )


def answer_claim(
    claim: ClaimReceived, rules: SimulatorRules, *, now: dt.datetime
) -> tuple[list[tuple[ClaimPayment, ClaimDetails]], list[ProviderAdjustment]]:
    """One claim's CLP loops (with their details) and PLB items, as its payer answers it."""
    answered = _answer(_context(claim, rules, now), claim)
    return answered.payments, answered.interest


def _context(
    claim: ClaimReceived,
    rules: SimulatorRules,
    now: dt.datetime,
    history: Mapping[tuple[str, str], ClaimPayment] | None = None,
) -> _Context:
    payer_rules = rules.for_payer(claim.payer.id)
    provider = claim.billing_provider
    return _Context(
        rules=payer_rules,
        payer_id=claim.payer.id,
        provider_id=provider.npi or provider.tax_id or provider.name[:50],
        fiscal_date=payer_rules.fiscal_period_date(now.date()),
        history=history or {},
    )


def history_of(payments: Iterable[ClaimPayment]) -> dict[tuple[str, str], ClaimPayment]:
    """Earlier answers by (CLP01, CLP07), reversals left out (the latest one wins)."""
    return {
        (p.patient_control_number, p.payer_claim_control_number): p
        for p in payments
        if p.status_code != "22" and p.payer_claim_control_number
    }


# --- one transaction per payee ----------------------------------------------------------


def _company_id(rules: PayerRules, payer_id: str) -> str:
    return rules.company_id or "1" + _digits(f"company|{payer_id}", 9)


def _isa_id(rules: PayerRules, payer_id: str) -> str:
    return rules.isa_id or re.sub(r"[^A-Z0-9]", "", payer_id.upper())[:15] or "PAYERSIM"


def _limited(interest: list[ProviderAdjustment], room: int) -> list[ProviderAdjustment]:
    """Interest items, summed into one unreferenced L6 when more than ``room`` of them."""
    if len(interest) <= room:
        return interest
    total = sum((item.amount for item in interest), _ZERO)
    return [interest[0].model_copy(update={"reference": None, "amount": total})]


def _provider_adjustments(
    claims: Sequence[ClaimPayment], interest: list[ProviderAdjustment], context: _Context
) -> list[ProviderAdjustment]:
    """The PLB items: interest, and a negative WO when the payments would not cover take-backs."""
    paid = sum((c.paid for c in claims), _ZERO)
    net = paid - sum((item.amount for item in interest), _ZERO)
    if net >= 0:
        return _limited(interest, _MAX_PLB)
    reversed_claims = [c for c in claims if c.status_code == "22"] or list(claims)
    deferral = ProviderAdjustment(
        provider_id=context.provider_id,
        date=context.fiscal_date,
        reason="WO",
        reference=reversed_claims[0].patient_control_number,
        amount=net,
    )
    return [*_limited(interest, _MAX_PLB - 1), deferral]


@dataclass(frozen=True)
class _Batch:
    """The claims of one payer, from one submitter, for one payee."""

    claims: tuple[ClaimReceived, ...]
    number: int  # the transaction's position in the interchange, from 1


def _transaction(
    batch: _Batch,
    rules: SimulatorRules,
    now: dt.datetime,
    trace_stem: str,
    history: Mapping[tuple[str, str], ClaimPayment],
) -> RemittanceAdvice:
    first = batch.claims[0]
    context = _context(first, rules, now, history)
    payments: list[tuple[ClaimPayment, ClaimDetails]] = []
    interest: list[ProviderAdjustment] = []
    for claim in batch.claims:
        answered = _answer(context, claim)
        payments += answered.payments
        interest += answered.interest
    claims = [payment for payment, _ in payments]
    plb = _provider_adjustments(claims, interest, context)
    amount = sum((c.paid for c in claims), _ZERO) - sum((p.amount for p in plb), _ZERO)
    payer_rules = context.rules
    company = _company_id(payer_rules, context.payer_id)
    method = payer_rules.payment_method if amount > 0 else "NON"
    if method == "ACH" and payer_rules.bank is None:
        method = "CHK"  # an ACH payment names the banks (BPR05-BPR15): without them, a check
    provider = first.billing_provider
    remittance = Remittance(
        control_number=f"{batch.number:04d}",
        payer=Payer(name=payer_rules.name or first.payer.name, id=context.payer_id),
        payee=Payee(name=provider.name, npi=provider.npi, tax_id=provider.tax_id),
        payment=Payment(
            amount=amount,
            credit_debit="C",
            method=method,
            date=now.date(),
            trace_number=f"{trace_stem}{batch.number:03d}",
            payer_trace_id=company,
        ),
        claims=tuple(claims),
        provider_adjustments=tuple(plb),
        balance=Balance(ok=True),
    )
    remittance = remittance.model_copy(update={"balance": check_balance(remittance)})
    details = RemittanceDetails(
        payer_address=payer_rules.address,
        payer_contact=payer_rules.technical_contact,
        bank=payer_rules.bank if method == "ACH" else None,
        production_date=now.date(),
        claims=tuple(extra for _, extra in payments),
    )
    return RemittanceAdvice(remittance=remittance, details=details)


# --- grouping and the whole answer ---------------------------------------------------------


#: ISA05, ISA06, GS02 and ISA15 of the 837 (who to answer).
_Submitter: TypeAlias = tuple[str, str, str, str]
#: A payer id and a submitter: one interchange.
_GroupKey: TypeAlias = tuple[str, _Submitter]
#: Name, NPI and tax id of a billing provider: one transaction set.
_PayeeKey: TypeAlias = tuple[str, str | None, str | None]


def _submitter(claim: ClaimReceived) -> _Submitter:
    envelope = claim.envelope
    return (
        envelope.isa_sender_qualifier,
        envelope.isa_sender_id,
        envelope.gs_sender_code,
        envelope.usage,
    )


def _payee(claim: ClaimReceived) -> _PayeeKey:
    provider = claim.billing_provider
    return provider.name, provider.npi, provider.tax_id


def _groups(
    claims: Iterable[ClaimReceived],
) -> dict[_GroupKey, dict[_PayeeKey, list[ClaimReceived]]]:
    """Claims by (payer, submitter), then by payee, each in order of first appearance."""
    groups: dict[_GroupKey, dict[_PayeeKey, list[ClaimReceived]]] = {}
    for claim in claims:
        key = (claim.payer.id, _submitter(claim))
        groups.setdefault(key, {}).setdefault(_payee(claim), []).append(claim)
    return groups


def _control_number(seed: str, taken: set[int]) -> int:
    number = int(_digits(seed, 9)) or 1
    while number in taken:
        number = number % 999_999_999 + 1
    taken.add(number)
    return number


def adjudicate(
    claims: Iterable[ClaimReceived],
    rules: SimulatorRules,
    *,
    now: dt.datetime,
    history: Iterable[ClaimPayment] = (),
) -> list[PayerAnswer]:
    """Every payer's answer to ``claims`` (one :class:`PayerAnswer` per payer and submitter).

    ``history``: the claim payments the payers sent before; a replacement claim
    (frequency 7) is answered with the reversal of the adjudication its REF*F8
    names, then its own -- as payers do, so the first payment is not counted twice.
    Without it a replacement is answered like an original."""
    known = history_of(history)
    answers = []
    taken: set[int] = set()
    for (payer_id, submitter), payees in _groups(claims).items():
        first = next(iter(payees.values()))[0]
        envelope = first.envelope
        payer_rules = rules.for_payer(payer_id)
        seed = "|".join((*submitter, envelope.interchange_control_number, payer_id))
        isa13 = re.sub(r"[^0-9]", "", envelope.interchange_control_number)[-9:].zfill(9)
        trace_stem = isa13 + _digits(f"trace|{seed}", 6)
        batches = [
            _Batch(tuple(batch), number) for number, batch in enumerate(payees.values(), start=1)
        ]
        qualifier, sender_id, gs_sender, usage = submitter
        answers.append(
            PayerAnswer(
                payer_id=payer_id,
                sender_id=_isa_id(payer_rules, payer_id),
                receiver_qualifier=qualifier or "ZZ",
                receiver_id=sender_id,
                gs_receiver_code=gs_sender,
                usage="P" if usage == "P" else "T",
                control_number=_control_number(f"isa|{seed}", taken),
                advices=tuple(
                    _transaction(b, rules, now, trace_stem, known) for b in batches
                ),
            )
        )
    return answers


def render_answers(answers: Sequence[PayerAnswer], *, now: dt.datetime) -> str:
    """The 835 text of ``answers``: their interchanges one after the other."""
    return "".join(
        render_835_interchange(
            answer.advices,
            sender_id=answer.sender_id,
            receiver_id=answer.receiver_id,
            receiver_qualifier=answer.receiver_qualifier,
            gs_receiver_code=answer.gs_receiver_code,
            control_number=answer.control_number,
            created_at=now,
            usage=answer.usage,
        )
        for answer in answers
    )
