"""Synthetic 837P claims and trading partners for tests (no real person or provider).

Every NPI is built with :func:`schemas.identifiers.npi_with_check_digit`, so it
passes the Luhn check.  ``*_data`` functions return plain dictionaries (easy to
change one field, or to write as JSON lines); the others return models.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from schemas.claims import Claim, ControlNumbers, TradingPartner
from schemas.identifiers import npi_with_check_digit

CLINIC_NPI = npi_with_check_digit("123456789")
SECOND_CLINIC_NPI = npi_with_check_digit("133456789")
THERAPIST_NPI = npi_with_check_digit("223456789")
PRESCRIBER_NPI = npi_with_check_digit("323456789")
MASSAGE_TAXONOMY = "225700000X"
CLINIC_TAXONOMY = "261QR0400X"

CREATED_AT = datetime(2025, 3, 14, 9, 26, 31, tzinfo=UTC)
NUMBERS = ControlNumbers(interchange=1001, group=1001, transaction=1001)

CLINIC_ADDRESS: dict[str, Any] = {
    "line1": "100 Test Way",
    "line2": "Suite 2",
    "city": "Springfield",
    "state": "IL",
    "postal_code": "627010001",
}
HOME_ADDRESS: dict[str, Any] = {
    "line1": "12 Sample Street",
    "city": "Springfield",
    "state": "IL",
    "postal_code": "62702",
}


def partner_data(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "schema_version": 1,
        "receiver_id": "rcv1",
        "name": "Test Clearinghouse",
        "receiver_code": "TESTCH01",
        "isa_sender_id": "SENDER01",
        "isa_receiver_id": "RECEIVER01",
        "gs_sender_code": "SENDER01",
        "gs_receiver_code": "RECEIVER01",
        "usage": "T",
        "submitter": {
            "name": "Test Billing Co",
            "id": "SUB0001",
            "contact_name": "Billing Desk",
            "contact_phone": "5555550100",
        },
    }
    data.update(over)
    return data


def partner(**over: Any) -> TradingPartner:
    return TradingPartner.new(**partner_data(**over))


def billing_provider_data(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Springfield Massage Clinic",
        "npi": CLINIC_NPI,
        "tax_id": "123456789",
        "taxonomy_code": CLINIC_TAXONOMY,
        "address": CLINIC_ADDRESS,
        "contact_phone": "5555550111",
    }
    data.update(over)
    return data


def person(last: str, first: str, middle: str | None = None) -> dict[str, Any]:
    name: dict[str, Any] = {
        "kind": "person",
        "last_or_organisation_name": last,
        "first_name": first,
    }
    if middle is not None:
        name["middle_name"] = middle
    return name


def organisation(name: str) -> dict[str, Any]:
    return {"kind": "organisation", "last_or_organisation_name": name}


def line_data(number: int = 1, **over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "line_number": number,
        "procedure": "97140",
        "modifiers": ["GP"],
        "charge": "90.00",
        "units": 2,
        "diagnosis_pointers": [1],
        "service_date": "2025-03-03",
        "line_control_number": f"PCN1001-1-L{number}",
    }
    data.update(over)
    return data


def commercial_claim_data(**over: Any) -> dict[str, Any]:
    """A commercial (CI) claim: the patient is the subscriber, two lines."""
    data: dict[str, Any] = {
        "schema_version": 1,
        "claim_id": "PCN1001-1",
        "patient_control_number": "PCN1001",
        "version": 1,
        "frequency": "1",
        "session_keys": ["c1:s1"],
        "clinic_id": "c1",
        "receiver_id": "rcv1",
        "payer_id": "p1",
        "billing_provider": billing_provider_data(),
        "subscriber": {
            "name": person("Sample", "Pat", "Q"),
            "member_id": "MBR123456",
            "group_number": "GRP001",
            "filing_indicator": "CI",
            "relationship": "18",
            "birth_date": "1980-05-17",
            "sex": "F",
            "address": HOME_ADDRESS,
        },
        "payer": {"name": "Example Health Plan", "payer_id": "EXHP1"},
        "rendering": {
            "name": person("Therapist", "Tess"),
            "npi": THERAPIST_NPI,
            "taxonomy_code": MASSAGE_TAXONOMY,
        },
        "referring": {"name": person("Prescriber", "Paula"), "npi": PRESCRIBER_NPI},
        "place_of_service": "11",
        "prior_authorization": "AUTH778899",
        "diagnosis_codes": ["M5450", "M6283"],
        "lines": [
            line_data(1, diagnosis_pointers=[1, 2]),
            line_data(
                2,
                procedure="97124",
                modifiers=["GP", "XS"],
                charge="40.00",
                units=1,
                diagnosis_pointers=[2],
            ),
        ],
        "total_charge": "130.00",
    }
    data.update(over)
    return data


def auto_pip_claim_data(**over: Any) -> dict[str, Any]:
    """Auto PIP (AM): CLM11 AA with the state, DTP*439, REF*Y4 on the subscriber."""
    data = commercial_claim_data(
        claim_id="PCN2002-1",
        patient_control_number="PCN2002",
        payer={"name": "Example Auto Insurance", "payer_id": "EXAUTO"},
        related_causes={"codes": ["AA"], "state": "NY", "accident_date": "2025-02-20"},
        initial_treatment_date="2025-02-24",
        prior_authorization=None,
        lines=[line_data(1, line_control_number="PCN2002-1-L1", diagnosis_pointers=[1, 2])],
        diagnosis_codes=["S134XXA", "M6283"],
        total_charge="90.00",
    )
    data["subscriber"] = {
        **data["subscriber"],
        "group_number": None,
        "filing_indicator": "AM",
        "property_casualty_claim_number": "PIP55501",
    }
    data.update(over)
    return data


def workers_comp_claim_data(**over: Any) -> dict[str, Any]:
    """Workers' compensation (WC): the employer subscribes, the worker is the patient (PAT*20)."""
    data = commercial_claim_data(
        claim_id="PCN3003-1",
        patient_control_number="PCN3003",
        payer={"name": "Example Comp Carrier", "payer_id": "EXWC1"},
        subscriber={
            "name": organisation("Acme Widgets Inc"),
            "member_id": "WCPOL4455",
            "filing_indicator": "WC",
        },
        patient={
            "relationship": "20",
            "name": person("Worker", "Wes"),
            "birth_date": "1975-11-02",
            "sex": "M",
            "address": HOME_ADDRESS,
            "property_casualty_claim_number": "WC2025001",
        },
        related_causes={"codes": ["EM"], "accident_date": "2025-01-15"},
        prior_authorization=None,
        referral_number="REF3003",
        lines=[line_data(1, line_control_number="PCN3003-1-L1", diagnosis_pointers=[1])],
        diagnosis_codes=["S39012A"],
        total_charge="90.00",
    )
    data.update(over)
    return data


def replacement_claim_data(**over: Any) -> dict[str, Any]:
    """Version 2 of the commercial claim: frequency 7 with the payer's claim number."""
    data = commercial_claim_data(
        claim_id="PCN1001-2",
        version=2,
        frequency="7",
        replaces="PCN1001-1",
        payer_claim_number="PAYERCLM0001",
    )
    data.update(over)
    return data


def void_claim_data(**over: Any) -> dict[str, Any]:
    """Version 3 of the commercial claim: frequency 8 (void) with the payer's claim number."""
    data = commercial_claim_data(
        claim_id="PCN1001-3",
        version=3,
        frequency="8",
        replaces="PCN1001-2",
        payer_claim_number="PAYERCLM0001",
    )
    data.update(over)
    return data


def claim(data: dict[str, Any]) -> Claim:
    return Claim.new(**copy.deepcopy(data))


def commercial_claim(**over: Any) -> Claim:
    return claim(commercial_claim_data(**over))


def auto_pip_claim(**over: Any) -> Claim:
    return claim(auto_pip_claim_data(**over))


def workers_comp_claim(**over: Any) -> Claim:
    return claim(workers_comp_claim_data(**over))


def replacement_claim(**over: Any) -> Claim:
    return claim(replacement_claim_data(**over))


def void_claim(**over: Any) -> Claim:
    return claim(void_claim_data(**over))


def many_claims(count: int, **over: Any) -> list[Claim]:
    """``count`` commercial claims with distinct control numbers, one billing provider."""
    claims = []
    for n in range(count):
        pcn = f"PCN{n:07d}"
        lines = [
            line_data(1, line_control_number=f"{pcn}-L1", diagnosis_pointers=[1, 2]),
            line_data(
                2, procedure="97124", charge="40.00", units=1, line_control_number=f"{pcn}-L2"
            ),
        ]
        claims.append(
            commercial_claim(
                claim_id=f"{pcn}-1",
                patient_control_number=pcn,
                lines=lines,
                total_charge="130.00",
                **over,
            )
        )
    return claims
