"""Synthetic reference data and events for tests (no real person is described)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from schemas.identifiers import npi_with_check_digit

CLINIC_NPI = npi_with_check_digit("123456789")
THERAPIST_NPI = npi_with_check_digit("223456789")
PRESCRIBER_NPI = npi_with_check_digit("323456789")
#: Dates relative to today so that timely-filing windows hold in broker tests.
TODAY = date.today()
RX_ISSUED = (TODAY - timedelta(days=60)).isoformat()
DOS = (TODAY - timedelta(days=3)).isoformat()

BAD_NPI = CLINIC_NPI[:-1] + str((int(CLINIC_NPI[-1]) + 1) % 10)

ADDRESS = {"line1": "100 Test Way", "city": "Springfield", "state": "IL", "postal_code": "62701"}
#: a billing provider's address: a street address with ZIP+4 (005010X222A1 2010AA)
CLINIC_ADDRESS = {**ADDRESS, "postal_code": "627011234"}


def clinic(clinic_id: str = "c1", **over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "schema_version": 1,
        "clinic_id": clinic_id,
        "name": f"Clinic {clinic_id}",
        "npi": CLINIC_NPI,
        "tax_id": "123456789",
        "address": CLINIC_ADDRESS,
        "price_list": [
            {"code": "97124", "amount": "40.00", "effective_from": "2020-01-01"},
            {"code": "97140", "amount": "45.00", "effective_from": "2020-01-01"},
            {"code": "97010", "amount": "15.00", "effective_from": "2020-01-01"},
        ],
    }
    data.update(over)
    return data


def therapist(clinic_id: str = "c1", therapist_id: str = "t1", **over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "schema_version": 1,
        "clinic_id": clinic_id,
        "therapist_id": therapist_id,
        "name": {"first_name": "Tess", "last_name": "Therapist"},
        "npi": THERAPIST_NPI,
    }
    data.update(over)
    return data


def payer(payer_id: str = "p1", **over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "schema_version": 1,
        "payer_id": payer_id,
        "name": f"Payer {payer_id}",
        "kind": "commercial",
        "edi_payer_id": "PAYER" + payer_id.upper(),
        "receiver_id": "rcv1",
        "unit_policy": "ama",
        "timely_filing_days": 180,
        "fee_schedule": [
            {"code": "97124", "amount": "30.00", "effective_from": "2020-01-01"},
            {"code": "97140", "amount": "35.00", "effective_from": "2020-01-01"},
        ],
    }
    data.update(over)
    return data


def patient(
    clinic_id: str = "c1", patient_id: str = "pt1", payer_id: str | None = "p1", **over: Any
) -> dict[str, Any]:
    coverages: list[dict[str, Any]] = []
    if payer_id is not None:
        coverages.append(
            {
                "coverage_id": "cov1",
                "kind": "insurance",
                "payer_id": payer_id,
                "member_id": "MBR-ZQX-4471",
                "effective_from": "2020-01-01",
            }
        )
    data: dict[str, Any] = {
        "schema_version": 1,
        "clinic_id": clinic_id,
        "patient_id": patient_id,
        "name": {"first_name": "Zephyrine", "last_name": "Quillfeather"},
        "birth_date": "1980-04-02",
        "sex": "F",
        "address": {**ADDRESS, "line1": "42 Larkspur Lane"},
        "coverages": coverages,
    }
    data.update(over)
    return data


def prescription(
    clinic_id: str = "c1", prescription_id: str = "rx1", patient_id: str = "pt1", **over: Any
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "schema_version": 1,
        "clinic_id": clinic_id,
        "prescription_id": prescription_id,
        "patient_id": patient_id,
        "prescriber": {
            "name": {"first_name": "Paula", "last_name": "Prescriber"},
            "npi": PRESCRIBER_NPI,
        },
        "issued_on": RX_ISSUED,
        "visits_authorized": 12,
        "diagnosis_codes": ["M54.50", "M62.830"],
    }
    data.update(over)
    return data


def session(
    clinic_id: str = "c1",
    session_id: str = "s1",
    patient_id: str = "pt1",
    therapist_id: str = "t1",
    dos: str = DOS,
    **over: Any,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "schema_version": 1,
        "event_id": str(uuid.uuid4()),
        "event_type": "session.completed",
        "occurred_at": datetime.now(UTC).isoformat(),
        "clinic_id": clinic_id,
        "session_id": session_id,
        "patient_id": patient_id,
        "therapist_id": therapist_id,
        "date_of_service": dos,
        "techniques": [
            {"technique": "swedish_massage", "minutes": 30, "body_region": "back"},
            {"technique": "myofascial_release", "minutes": 23, "body_region": "neck"},
        ],
    }
    data.update(over)
    return data


def cancel(
    clinic_id: str = "c1", session_id: str = "s1", patient_id: str = "pt1", **over: Any
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "schema_version": 1,
        "event_id": str(uuid.uuid4()),
        "event_type": "session.cancelled",
        "occurred_at": datetime.now(UTC).isoformat(),
        "clinic_id": clinic_id,
        "session_id": session_id,
        "patient_id": patient_id,
        "reason": "entered in error",
    }
    data.update(over)
    return data
