"""``claims report prescriptions``: what prescribing physicians and payers need to hear.

Reads ``prescriptions.attention`` (no worker needed) and lists each event once
(by its id: a redelivered session re-sends the same ids): per prescription,
progress reports due, visits running out, prescriptions expiring; per payer
authorization, visits running out; per coverage, the visit limits a payer's 271
states.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from schemas.outcomes import AuthorizationAttention, CoverageAttention, PrescriptionAttention

Attention = PrescriptionAttention | AuthorizationAttention | CoverageAttention

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


def rows(events: Iterable[Attention], kind: str | None = None) -> list[list[str]]:
    unique: dict[str, Attention] = {}
    for e in events:
        unique.setdefault(e.attention_id, e)
    chosen = [_cells(e) for e in unique.values() if kind is None or e.kind == kind]
    chosen.sort(key=lambda r: (r[0], r[1], r[4], r[5], r[7]))
    return chosen


def _cells(e: Attention) -> list[str]:
    if isinstance(e, PrescriptionAttention):
        return [
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
    if isinstance(e, AuthorizationAttention):
        return [
            e.clinic_id,
            f"authorization {e.authorization_id} ({e.payer_id})",
            e.patient_id,
            "",
            e.kind,
            f"{e.visits_used}/{e.visits_authorized}",
            e.valid_to.isoformat(),
            e.date_of_service.isoformat(),
            e.message,
        ]
    return [
        e.clinic_id,
        f"coverage {e.payer_id}",
        e.patient_id,
        "",
        e.kind,
        "" if e.visits_left is None else f"{e.visits_left} left",
        "",
        e.asked_on.isoformat() if e.asked_on else "",
        e.message,
    ]


def as_json(table: list[list[str]]) -> str:
    return json.dumps([dict(zip(HEADERS, r, strict=True)) for r in table], indent=2)


def parse(raw: bytes) -> Attention | None:
    """One message of ``prescriptions.attention`` by its event type (None: unknown)."""
    models: dict[bytes, type[Attention]] = {
        b'"prescription.attention"': PrescriptionAttention,
        b'"authorization.attention"': AuthorizationAttention,
        b'"coverage.attention"': CoverageAttention,
    }
    for marker, model in models.items():
        if marker in raw:
            try:
                return model.parse_json(raw)
            except ValueError:
                return None
    return None


def load_events(settings: Any) -> list[Attention]:
    from workers.runtime.topic_scan import scan_topics

    events = []
    for _name, record in scan_topics(settings, ("prescriptions.attention",)):
        if record.value and (event := parse(record.value)) is not None:
            events.append(event)
    return events
