"""Coordination of benefits: the other payer on a claim, and the secondary claim (pure).

A session enriched with a next coverage (``SessionEnriched.next_coverage``, e.g. a
health plan behind auto PIP, or a secondary plan) gives its primary claim an
``OtherPayer`` for that coverage (loops 2320/2330, no adjudication yet).  When
the primary payer's 835 leaves something unpaid, :func:`secondary_claim` builds
the claim to the next payer:

* CLM01 = the primary's CLM01 + ``S`` (so both claims keep their own ledgers and
  the link is visible), version 1, frequency 1; ``primary_claim`` names the
  primary; lines are the primary's lines (same codes, units and charges) with
  their own REF*6R;
* subscriber, payer and filing indicator are the next coverage's (SBR01 ``S``);
* ``other_payers`` holds the primary payer as adjudicated: its paid amount
  (2320 AMT*D), claim-level adjustments (2320 CAS), its claim number (2330B
  REF*F8) and per line (2430) the paid amount, the adjustments and the
  adjudication date, matched to our lines by REF*6R (else procedure and date).

Every line must balance (charge = paid + adjustments), and so must the claim
(charge = paid + claim adjustments + line adjustments); otherwise
:class:`SecondaryRefused` says which line and by how much.  Which 835 outcomes
call for a secondary claim is :func:`needs_secondary`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from edi.x837p import cob_balance_problems
from schemas.billing import BillableSession
from schemas.claims import (
    CasAdjustment,
    Claim,
    LineAdjudication,
    OtherPayer,
    PayerParty,
)
from schemas.coordination import secondary_pcn
from schemas.remittance import Adjustment, ClaimPayment, ServicePayment
from workers.claims.assemble import line_control_number, subscriber_and_patient

_GROUPS = ("CO", "CR", "OA", "PI", "PR")


class SecondaryRefused(ValueError):
    """The secondary claim cannot be built (the message says why)."""


def _cas(adjustments: Sequence[Adjustment]) -> list[CasAdjustment]:
    out = []
    for a in adjustments:
        if a.group not in _GROUPS:
            raise SecondaryRefused(f"adjustment group {a.group} is not a CAS group code")
        out.append(
            CasAdjustment(
                group=a.group,  # type: ignore[arg-type]  # a str, checked against _GROUPS above
                reason=a.reason,
                amount=a.amount,
                quantity=a.quantity,
            )
        )
    return out


def _match(claim: Claim, service: ServicePayment, taken: set[int]) -> int | None:
    """Our line number for a service payment: by REF*6R, else procedure and date."""
    for line in claim.lines:
        if service.line_control_number and service.line_control_number == line.line_control_number:
            return line.line_number
    procedure = service.original_procedure or service.procedure
    for line in claim.lines:
        if line.line_number in taken or line.procedure != procedure:
            continue
        if service.service_date is None or service.service_date == line.service_date:
            return line.line_number
    return None


def primary_as_other_payer(primary: Claim, payment: ClaimPayment, paid_on: date) -> OtherPayer:
    """The primary payer and its adjudication of ``primary`` (from its 835 claim payment)."""
    lines: list[LineAdjudication] = []
    taken: set[int] = set()
    for service in payment.services:
        number = _match(primary, service, taken)
        if number is None:
            raise SecondaryRefused(
                "the primary's 835 adjudicates a service line the claim does not have "
                f"({service.procedure or 'no procedure'})"
            )
        taken.add(number)
        procedure = service.procedure or primary.lines[number - 1].procedure
        lines.append(
            LineAdjudication(
                line_number=number,
                procedure=procedure,
                modifiers=list(service.modifiers),
                paid=service.paid,
                units=service.units if service.units > 0 else Decimal(1),
                adjustments=_cas(service.adjustments),
                adjudicated_on=paid_on,
            )
        )
    if payment.services and len(taken) != len(primary.lines):
        missing = sorted({ln.line_number for ln in primary.lines} - taken)
        raise SecondaryRefused(f"the primary's 835 does not adjudicate line(s) {missing}")
    subscriber = primary.subscriber
    relationship = primary.patient.relationship if primary.patient else "18"
    if subscriber.member_id is None:
        raise SecondaryRefused("the primary claim's subscriber has no member id (2330A NM109)")
    return OtherPayer(
        responsibility="P",
        relationship=relationship,
        group_number=subscriber.group_number,
        filing_indicator=subscriber.filing_indicator,
        subscriber_name=subscriber.name,
        member_id=subscriber.member_id,
        payer_name=primary.payer.name,
        payer_id=primary.payer.payer_id,
        payer_ref=primary.payer_id,
        receiver_id=primary.receiver_id,
        payer_claim_number=payment.payer_claim_control_number,
        prior_authorization=primary.prior_authorization,
        referral_number=primary.referral_number,
        paid=payment.paid,
        claim_adjustments=_cas(payment.adjustments),
        adjudicated_on=None if lines else paid_on,
        lines=lines,
    )


def secondary_claim(
    primary: Claim,
    sources: Sequence[BillableSession],
    payment: ClaimPayment,
    paid_on: date,
) -> Claim:
    """The claim to the next payer after the primary's ``payment`` (see the module)."""
    if not sources:
        raise SecondaryRefused("the primary claim's billable sessions are not known")
    enriched = sources[0].enriched
    coverage, payer = enriched.next_coverage, enriched.next_payer
    if coverage is None or payer is None:
        raise SecondaryRefused("the patient has no next coverage on the date of service")
    filing = coverage.filing_indicator or payer.default_filing_indicator
    subscriber, patient = subscriber_and_patient(sources[0], coverage, filing)
    pcn = secondary_pcn(primary.patient_control_number)
    primary_payer = primary_as_other_payer(primary, payment, paid_on)
    lines = [
        ln.model_copy(
            update={
                "line_control_number": line_control_number(pcn, 1, ln.line_number),
                "expected_allowed": None,
            }
        )
        for ln in primary.lines
    ]
    claim = Claim.model_validate(
        primary.model_copy(
            update={
                "claim_id": f"{pcn}-1",
                "patient_control_number": pcn,
                "version": 1,
                "frequency": "1",
                "replaces": None,
                "payer_claim_number": None,
                "receiver_id": payer.receiver_id,
                "payer_id": payer.payer_id,
                "payer": PayerParty(name=payer.name, payer_id=payer.edi_payer_id),
                "subscriber": subscriber,
                "patient": patient,
                "payer_wants_initial_treatment_date": payer.sends_initial_treatment_date,
                "lines": lines,
                "expected_allowed_total": None,
                "other_payers": [primary_payer],
                "primary_claim": primary.patient_control_number,
                # the primary's authorization and referral are its own: they go in
                # its 2330B; 2300 names only the next payer's (none kept yet)
                "prior_authorization": None,
                "referral_number": None,
            }
        ).model_dump(),
        strict=False,
    )
    problems = cob_balance_problems(claim)
    if problems:
        raise SecondaryRefused(
            "the primary's adjudication does not balance: " + "; ".join(problems)
        )
    return claim
