"""Run the pure cores in-process to get realistic intermediate records for tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from schemas.billing import BillableSession
from schemas.events import parse_session_event
from schemas.outcomes import SessionEnriched
from schemas.reference import Clinic, Patient, Payer, Prescription, Therapist
from schemas.state import PatientState
from tests import factories as f
from tests.fakes import FakeCatalog
from workers.enrich import rules
from workers.pricing.code_lists import default_code_lists
from workers.pricing.session import price_session

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def model(cls: Any, data: dict[str, Any]) -> Any:
    return cls.parse_json(json.dumps(data))


def enriched(
    *,
    session: dict[str, Any] | None = None,
    patient: dict[str, Any] | None = None,
    payer: dict[str, Any] | None = None,
    clinic: dict[str, Any] | None = None,
    rx: dict[str, Any] | None = None,
    other_payers: list[dict[str, Any]] | None = None,
    therapists: list[dict[str, Any]] | None = None,
    now: datetime = NOW,
) -> SessionEnriched:
    state = rules.with_patient(PatientState.new(), model(Patient, patient or f.patient()))
    prescription = model(Prescription, rx or f.prescription(issued_on="2026-01-01"))
    state = rules.with_prescription(state, prescription.prescription_id, prescription)
    event = parse_session_event(json.dumps(session or f.session(dos="2026-03-02")))
    catalog = FakeCatalog(
        [model(Clinic, clinic or f.clinic())],
        [model(Therapist, t) for t in therapists or [f.therapist()]],
        [model(Payer, p) for p in [payer or f.payer(), *(other_payers or [])]],
    )
    out = rules.on_session_completed(state, event, catalog, now).outcomes[0]
    assert isinstance(out, SessionEnriched), out
    return out


def billable(now: datetime = NOW, **kw: Any) -> BillableSession:
    priced = price_session(enriched(now=now, **kw), default_code_lists(), now)
    assert priced.billable is not None, priced.message
    return priced.billable
