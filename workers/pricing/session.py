"""One visit priced on its own: the units stage's preview of a visit, and the bill of a
self-pay or HSA visit (pure).

A visit is priced exactly as a day of one visit (:mod:`workers.pricing.day`):
code map, code-pair edits, units, modifiers, caps, charges and expected payment,
then the scrub.  For a visit billed to a payer the lines are a preview: the
claim's lines are the whole day's, priced when the day closes.  So a payer
visit whose minutes alone earn no unit is not refused -- it waits for its day
(``lines`` empty) -- while a visit with nothing billable at all (every
technique unbilled or not allowed) is refused ``no-billable-units``.

Scrub: 1-12 diagnoses, at most four pointers per line, positive units and
charge, valid NPIs for billing, rendering and referring providers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from schemas.billing import BillableLine, BillableSession, DroppedService, ScrubProblem, money
from schemas.identifiers import icd10cm_normalised, npi_valid
from schemas.outcomes import SessionEnriched
from workers.pricing import timed_units
from workers.pricing.code_lists import CodeLists
from workers.pricing.day import MAX_AMOUNT, MAX_POINTERS, price_day, rules_for, services_of

MAX_DIAGNOSES = 12


@dataclass(frozen=True)
class Priced:
    """The outcome of pricing one session: billable, or refused with a reason."""

    billable: BillableSession | None
    reason: Literal["no-billable-units", "scrub-failed"] | None = None
    message: str = ""
    problems: tuple[ScrubProblem, ...] = ()
    dropped: tuple[DroppedService, ...] = ()


def prescription_caps(enriched: SessionEnriched) -> list[tuple[int, str]]:
    """The prescription's unit limit, applied to the whole day of service."""
    rx = enriched.prescription
    if rx is None or rx.max_units_per_visit is None:
        return []
    return [(rx.max_units_per_visit, f"prescription:{rx.prescription_id}:max_units_per_day")]


def price_session(
    enriched: SessionEnriched,
    lists: CodeLists,
    now: datetime,
    self_pay_policy: timed_units.Policy = "ama",
) -> Priced:
    session = enriched.session
    day = session.date_of_service
    payer = enriched.payer
    services, dropped = services_of(enriched, 0, lists)
    rules = rules_for(
        payer,
        enriched.clinic,
        lists,
        day,
        self_pay_policy=self_pay_policy,
        prescription_caps=prescription_caps(enriched),
    )
    diagnoses = _diagnoses(enriched)
    pointers = list(range(1, min(len(diagnoses), MAX_POINTERS) + 1))
    priced = price_day(services, rules, day, pointers=pointers)
    dropped += priced.dropped
    lines = list(priced.lines)
    problems = list(priced.problems)
    waits_for_day = enriched.billed_to_payer and any(d.reason == "zero-units" for d in dropped)
    if not lines and not problems and not waits_for_day:
        detail = "; ".join(f"{d.code or d.techniques[0].technique}: {d.reason}" for d in dropped)
        return Priced(
            None,
            "no-billable-units",
            f"no line of the session has billable units ({detail})",
            dropped=tuple(dropped),
        )
    problems += _scrub(enriched, lines, diagnoses)
    if problems:
        return Priced(
            None,
            "scrub-failed",
            "; ".join(p.message for p in problems),
            tuple(problems),
            tuple(dropped),
        )
    expected_values = [ln.expected_allowed for ln in lines if ln.expected_allowed is not None]
    expected_total = (
        money(sum(expected_values, Decimal(0))) if len(expected_values) == len(lines) else None
    )
    billable = BillableSession.new(
        session_key=session.session_key,
        clinic_id=session.clinic_id,
        patient_id=session.patient_id,
        session_id=session.session_id,
        date_of_service=day,
        billed_to_payer=enriched.billed_to_payer,
        payer_id=payer.payer_id if payer else None,
        receiver_id=payer.receiver_id if payer else None,
        policy=priced.policy,
        total_timed_minutes=priced.total_timed_minutes,
        total_units=sum(ln.units for ln in lines),
        diagnosis_codes=diagnoses,
        lines=lines,
        dropped=dropped,
        charge_total=money(sum((ln.charge for ln in lines), Decimal(0))),
        expected_total=expected_total,
        rules_version=lists.version,
        computed_at=now,
        enriched=enriched,
    )
    return Priced(billable, dropped=tuple(dropped))


def _diagnoses(enriched: SessionEnriched) -> list[str]:
    rx = enriched.prescription
    if rx is None:
        return []
    seen: list[str] = []
    for code in rx.diagnosis_codes:
        norm = icd10cm_normalised(code)
        if norm not in seen:
            seen.append(norm)
    return seen


def _scrub(
    enriched: SessionEnriched, lines: list[BillableLine], diagnoses: list[str]
) -> list[ScrubProblem]:
    problems: list[ScrubProblem] = []
    for ln in lines:
        if ln.units <= 0:
            problems.append(
                ScrubProblem(
                    check="units",
                    line_number=ln.line_number,
                    message=f"line {ln.line_number}: units must be positive",
                )
            )
        if ln.charge <= 0:
            problems.append(
                ScrubProblem(
                    check="charge",
                    line_number=ln.line_number,
                    message=f"line {ln.line_number}: charge must be positive",
                )
            )
        if len(ln.diagnosis_pointers) > MAX_POINTERS:
            problems.append(
                ScrubProblem(
                    check="pointers",
                    line_number=ln.line_number,
                    message=f"line {ln.line_number}: more than {MAX_POINTERS} diagnosis pointers",
                )
            )
    for what, amounts in (
        ("charge", [ln.charge for ln in lines]),
        ("expected allowed amount", [ln.expected_allowed for ln in lines]),
    ):
        if sum((a for a in amounts if a is not None), Decimal(0)) > MAX_AMOUNT:
            problems.append(
                ScrubProblem(
                    check="amount", message=f"the session's total {what} exceeds {MAX_AMOUNT}"
                )
            )
    if not enriched.billed_to_payer:
        return problems
    if not diagnoses:
        problems.append(ScrubProblem(check="diagnoses", message="no diagnosis code to bill"))
    elif len(diagnoses) > MAX_DIAGNOSES:
        problems.append(
            ScrubProblem(check="diagnoses", message=f"more than {MAX_DIAGNOSES} diagnosis codes")
        )
    for role, npi in (
        ("billing provider", enriched.clinic.npi),
        ("rendering provider", enriched.therapist.npi),
    ):
        if not npi_valid(npi):
            problems.append(ScrubProblem(check="npi", message=f"{role} NPI fails its check digit"))
    rx = enriched.prescription
    if rx is None:
        problems.append(
            ScrubProblem(check="referring-provider", message="no referring (prescribing) provider")
        )
    elif not npi_valid(rx.prescriber.npi):
        problems.append(
            ScrubProblem(check="npi", message="referring provider NPI fails its check digit")
        )
    return problems
