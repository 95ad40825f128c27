"""``claims report copays``: what the front desk collects at each insured visit.

Reads the topics themselves (no worker needed): the visits on
``sessions.enriched``, the payers' latest 271 answers on
``eligibility.responses`` and the front-desk payments on ``payments.patient``;
the figures come from :mod:`workers.eligibility.copays`.
"""

from __future__ import annotations

import json
from datetime import date

from schemas.eligibility import EligibilityResponse
from schemas.outcomes import SessionEnriched, SessionWithdrawn, parse_enriched_topic
from schemas.patient_ledger import PatientPayment
from workers.eligibility import copays
from workers.runtime.settings import Settings


def load_lines(
    settings: Settings, clinic: str | None = None, month: str | None = None
) -> list[copays.CopayLine]:
    from workers.runtime.topic_scan import parse_each, read_latest, scan_topics

    messages: list[SessionEnriched | SessionWithdrawn] = []
    for _name, record in scan_topics(settings, ("sessions.enriched",)):
        if record.value:
            try:
                messages.append(parse_enriched_topic(record.value))
            except ValueError:
                continue  # a dead-lettered shape never reached this topic; an older one
    visits = [
        v
        for v in copays.insured_visits(messages)
        if (clinic is None or v.clinic_id == clinic)
        and (month is None or v.date_of_service.isoformat().startswith(month))
    ]
    answers = parse_each(
        read_latest(settings, "eligibility.responses").values(), EligibilityResponse
    )
    payments = parse_each(read_latest(settings, "payments.patient").values(), PatientPayment)
    return copays.front_desk(visits, answers, payments)


def as_json(lines: list[copays.CopayLine], today: date) -> str:
    return json.dumps(
        {
            "as_of": today.isoformat(),
            "visits": [dict(zip(copays.HEADERS, line.cells(), strict=True)) for line in lines],
            "totals": {k: f"{v:.2f}" for k, v in copays.totals(lines).items()},
        },
        indent=2,
    )
