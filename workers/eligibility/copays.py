"""Copays to collect at the front desk, from the payers' 271 answers (pure).

A 271 tells the front desk what the patient pays at each visit (``EB*B``: a copay,
``EB06`` ``27`` per visit).  For every insured visit (an enriched session billed to
a payer), the copay is taken from the latest answer about the visit's coverage
(``<clinic_id>:<patient_id>:<payer_id>``) that says the coverage is active on the
date of service, preferring a copay for physical medicine or massage (``PT``,
``AE``, ``BE``) over the plan's general one (``30``), and an in-network amount over
an out-of-network one.  What the front desk took for the visit (``payments.patient``
naming the session, else the patient's unassigned payments on the same day) is set
against it, so the clinic sees what is still to collect::

    to collect = max(copay - collected, 0)

A visit with no answer, an answer that does not say the coverage is active on the
day, or no per-visit copay in it, is listed with its reason and nothing to collect:
eligibility is advisory, and the 835 settles the patient's share in the end (the
statement then shows a copay taken here as a payment).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from schemas.eligibility import CostShare, EligibilityResponse
from schemas.outcomes import SessionEnriched, SessionWithdrawn
from schemas.patient_ledger import PatientPayment

ZERO = Decimal("0.00")

#: service types a massage visit's copay is listed under, most specific first
PHYSICAL_MEDICINE = frozenset({"PT", "AE", "BE"})
PLAN = frozenset({"30"})
#: EB06 time periods a per-visit copay may carry (none, or 27: visit)
PER_VISIT = (None, "27")

HEADERS = [
    "clinic",
    "patient",
    "session",
    "date of service",
    "payer",
    "copay",
    "collected",
    "to collect",
    "status",
]


@dataclass(frozen=True)
class Visit:
    clinic_id: str
    patient_id: str
    session_id: str
    date_of_service: date
    payer_id: str

    @property
    def coverage_key(self) -> str:
        return f"{self.clinic_id}:{self.patient_id}:{self.payer_id}"


@dataclass(frozen=True)
class CopayLine:
    visit: Visit
    copay: Decimal | None
    collected: Decimal
    status: str

    @property
    def to_collect(self) -> Decimal:
        return max((self.copay or ZERO) - self.collected, ZERO)

    def cells(self) -> list[str]:
        v = self.visit
        return [
            v.clinic_id,
            v.patient_id,
            v.session_id,
            v.date_of_service.isoformat(),
            v.payer_id,
            "" if self.copay is None else f"{self.copay:.2f}",
            f"{self.collected:.2f}",
            f"{self.to_collect:.2f}",
            self.status,
        ]


def insured_visits(messages: Iterable[SessionEnriched | SessionWithdrawn]) -> list[Visit]:
    """Visits billed to a payer, each once (its latest decision), withdrawn ones left out."""
    latest: dict[str, SessionEnriched | SessionWithdrawn] = {}
    for m in messages:
        if isinstance(m, SessionWithdrawn):
            latest[m.session_key] = m
            continue
        seen = latest.get(m.session_key)
        if isinstance(seen, SessionWithdrawn):
            continue  # a withdrawal follows its enrichment; a redelivered copy comes later
        if seen is None or (m.decision or 0) >= (seen.decision or 0):
            latest[m.session_key] = m
    visits = []
    for m in latest.values():
        if not isinstance(m, SessionEnriched) or not m.billed_to_payer:
            continue
        payer_id = m.coverage.payer_id
        if payer_id is None:
            continue
        visits.append(
            Visit(
                clinic_id=m.session.clinic_id,
                patient_id=m.session.patient_id,
                session_id=m.session.session_id,
                date_of_service=m.session.date_of_service,
                payer_id=payer_id,
            )
        )
    visits.sort(key=lambda v: (v.clinic_id, v.date_of_service, v.patient_id, v.session_id))
    return visits


def visit_copay(answer: EligibilityResponse, day: date) -> tuple[Decimal | None, str]:
    """The per-visit copay an answer gives for a massage visit on ``day``, and why."""
    if answer.rejections and answer.status != "active":
        return None, "the payer could not answer (AAA)"
    active = answer.active_on(day)
    if active is False:
        return None, "coverage inactive on the date of service"
    if active is None:
        return None, "the 271 does not say the coverage is active"
    per_visit = [c for c in answer.copays if c.period in PER_VISIT]
    for kinds in (PHYSICAL_MEDICINE, PLAN):
        found = [c for c in per_visit if kinds & set(c.service_types)]
        if found:
            return _in_network_first(found).amount, "from the 271"
    return ZERO, "no per-visit copay in the 271"


def _in_network_first(shares: Sequence[CostShare]) -> CostShare:
    order = {"Y": 0, "W": 1, None: 2, "U": 3, "N": 4}
    return min(shares, key=lambda c: order.get(c.in_network, 5))


def front_desk(
    visits: Iterable[Visit],
    answers: Iterable[EligibilityResponse],
    payments: Iterable[PatientPayment],
) -> list[CopayLine]:
    """Each insured visit with its copay, what was collected for it, and the status."""
    latest: dict[str, EligibilityResponse] = {}
    for a in answers:
        key = a.key
        if key is None:
            continue
        seen = latest.get(key)
        if seen is None or (a.asked_on or date.min) >= (seen.asked_on or date.min):
            latest[key] = a
    by_session: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    same_day: dict[tuple[str, str, date], Decimal] = defaultdict(lambda: ZERO)
    for p in payments:
        if p.session_id is not None:
            by_session[(p.clinic_id, p.session_id)] += p.amount
        else:
            same_day[(p.clinic_id, p.patient_id, p.paid_on)] += p.amount
    lines = []
    for v in visits:
        answer = latest.get(v.coverage_key)
        if answer is None:
            copay, why = None, "no 271 answer for the coverage"
        else:
            copay, why = visit_copay(answer, v.date_of_service)
        collected = by_session.get((v.clinic_id, v.session_id), ZERO)
        day = (v.clinic_id, v.patient_id, v.date_of_service)
        if copay:
            # an unassigned payment the same day pays this visit's copay (once)
            take = min(same_day.get(day, ZERO), max(copay - collected, ZERO))
            if take:
                same_day[day] -= take
                collected += take
        if copay is None:
            status = why
        elif copay == 0:
            status = why if why != "from the 271" else "no copay"
        elif collected >= copay:
            status = "collected"
        elif collected > 0:
            status = "partly collected"
        else:
            status = "to collect"
        lines.append(CopayLine(v, copay, collected, status))
    return lines


def totals(lines: Sequence[CopayLine]) -> dict[str, Decimal]:
    return {
        "copays": sum((line.copay or ZERO for line in lines), ZERO),
        "collected": sum((line.collected for line in lines), ZERO),
        "to_collect": sum((line.to_collect for line in lines), ZERO),
    }
