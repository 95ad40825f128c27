"""``claims report prescriptions``: what prescribing physicians need to hear.

Reads ``prescriptions.attention`` (no worker needed) and lists each event once
(by its id: a redelivered session re-sends the same ids), newest first per
prescription: progress reports due, visits running out, prescriptions expiring.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from schemas.outcomes import PrescriptionAttention

HEADERS = [
    "clinic",
    "prescription",
    "patient",
    "prescriber NPI",
    "kind",
    "visits",
    "valid until",
    "date of service",
    "message",
]


def rows(events: Iterable[PrescriptionAttention], kind: str | None = None) -> list[list[str]]:
    unique: dict[str, PrescriptionAttention] = {}
    for e in events:
        unique.setdefault(e.attention_id, e)
    chosen = [e for e in unique.values() if kind is None or e.kind == kind]
    chosen.sort(key=lambda e: (e.clinic_id, e.prescription_id, e.visits_used, e.kind))
    return [
        [
            e.clinic_id,
            e.prescription_id,
            e.patient_id,
            e.prescriber_npi,
            e.kind,
            f"{e.visits_used}/{e.visits_authorized}",
            e.valid_until.isoformat() if e.valid_until else "",
            e.date_of_service.isoformat(),
            e.message,
        ]
        for e in chosen
    ]


def as_json(table: list[list[str]]) -> str:
    return json.dumps([dict(zip(HEADERS, r, strict=True)) for r in table], indent=2)


def load_events(settings: Any) -> list[PrescriptionAttention]:
    from workers.runtime.topic_scan import scan_topics

    events = []
    for _name, record in scan_topics(settings, ("prescriptions.attention",)):
        if record.value:
            try:
                events.append(PrescriptionAttention.parse_json(record.value))
            except ValueError:
                continue
    return events
