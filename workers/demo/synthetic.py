"""Synthetic reference data and session events for the demo (no real person).

Everything is derived from one seed, so a demo run is reproducible: clinics with
price lists; five payers of different kinds (a commercial plan paying AMA units,
a plan paying CMS units with GP and a 97140/97124 pair rule, auto PIP, workers'
compensation, and Medicare, which does not pay massage); trading partners;
patients whose prescriptions are valid, missing, expired or exhausted, a
workers'-comp patient whose employer is the subscriber, a patient with two
health plans (coordination of benefits), self-pay and HSA patients; and
sessions with realistic technique mixes plus the awkward cases a billing
company meets: malformed events, duplicates (same and new event ids), a
conflicting duplicate, a cancellation, a session sent before its prescription,
a code pair on one body region and two visits on one day.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from schemas.identifiers import npi_with_check_digit

FIRST = [
    "Avery",
    "Blake",
    "Casey",
    "Devon",
    "Emery",
    "Finley",
    "Harper",
    "Jordan",
    "Kendall",
    "Logan",
    "Morgan",
    "Parker",
    "Quinn",
    "Reese",
    "Rowan",
    "Sawyer",
    "Skyler",
    "Taylor",
]
LAST = [
    "Abernathy",
    "Brightwater",
    "Castellano",
    "Dunmore",
    "Everhart",
    "Fairbanks",
    "Galloway",
    "Hollister",
    "Ingram",
    "Jessup",
    "Kingsley",
    "Lockhart",
    "Merriweather",
    "Northcott",
    "Oakridge",
    "Pemberton",
    "Quillon",
    "Ravenscroft",
    "Stanhope",
    "Thornbury",
]
STREETS = ["Maple Ave", "Harbor St", "Cedar Ln", "Birch Rd", "Willow Way", "Summit Dr"]
CITIES = [
    ("Springfield", "IL", "62701"),
    ("Albany", "NY", "12207"),
    ("Olympia", "WA", "98501"),
    ("Salem", "OR", "97301"),
    ("Madison", "WI", "53703"),
]
DIAGNOSES = ["M54.50", "M54.2", "M62.830", "M79.18", "M54.6", "S13.4XXA", "M25.511", "G44.209"]
REGIONS = ["neck", "upper_back", "lower_back", "shoulder", "hip", "leg"]
#: (technique, minutes range) mixes a medical-massage therapist really bills
MIXES = [
    [("swedish_massage", (25, 45)), ("myofascial_release", (10, 25))],
    [("myofascial_release", (20, 40)), ("trigger_point_therapy", (8, 20))],
    [("neuromuscular_therapy", (30, 50))],
    [("hot_cold_pack", (8, 12)), ("myofascial_release", (30, 45))],
    [("swedish_massage", (50, 60))],
    [
        ("trigger_point_therapy", (15, 25)),
        ("rehabilitative_stretching", (10, 20)),
        ("muscle_testing", (5, 10)),
    ],
    [("positional_release", (20, 30)), ("swedish_massage", (15, 30))],
]


@dataclass
class Dataset:
    clinics: list[dict[str, Any]] = field(default_factory=list)
    therapists: list[dict[str, Any]] = field(default_factory=list)
    payers: list[dict[str, Any]] = field(default_factory=list)
    partners: list[dict[str, Any]] = field(default_factory=list)
    patients: list[dict[str, Any]] = field(default_factory=list)
    prescriptions: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[dict[str, Any]] = field(default_factory=list)
    late_prescriptions: list[dict[str, Any]] = field(default_factory=list)
    #: (key, value bytes) in the order produced; malformed ones are raw bytes
    sessions: list[tuple[str, bytes]] = field(default_factory=list)
    expected: dict[str, int] = field(default_factory=dict)


def _npi(rng: random.Random) -> str:
    return npi_with_check_digit(str(rng.randint(100_000_000, 999_999_999)))


def _address(rng: random.Random) -> dict[str, str]:
    city, state, zip_code = rng.choice(CITIES)
    return {
        "line1": f"{rng.randint(10, 9999)} {rng.choice(STREETS)}",
        "city": city,
        "state": state,
        "postal_code": zip_code,
    }


def _fees(rng: random.Random, base: dict[str, float], factor: float) -> list[dict[str, Any]]:
    return [
        {"code": code, "amount": f"{amount * factor:.2f}", "effective_from": "2020-01-01"}
        for code, amount in base.items()
    ]


PRICES = {"97124": 42.0, "97140": 48.0, "97010": 18.0, "97110": 45.0, "97530": 50.0}

PAYERS = [
    # payer_id, name, kind, receiver, policy, pays, filing, fee factor, extra
    (
        "acme",
        "Acme Health Plan",
        "commercial",
        "clearinghouse",
        "ama",
        True,
        "CI",
        0.78,
        {
            "max_units_per_visit": 4,
            # the plan does not cover hot/cold packs: billed to the patient with a waiver
            "non_covered_codes": ["97010"],
            "daily_unit_limits": [{"code": "97140", "units": 3}],
            "code_pair_rules": [
                {
                    "rule_id": "acme-97140-97124",
                    "column1": "97140",
                    "column2": "97124",
                    "modifier_indicator": 1,
                    "effective_from": "2020-01-01",
                }
            ],
        },
    ),
    (
        "bluecms",
        "Blue Valley Plan",
        "bcbs",
        "clearinghouse",
        "cms",
        True,
        "BL",
        0.72,
        {
            "sends_billing_taxonomy": True,
            "bundled_codes": ["97010"],  # never paid separately (CMS status B)
            "modifier_rules": [
                {"rule_id": "bluecms-gp", "modifier": "GP", "effective_from": "2020-01-01"}
            ],
            "code_pair_rules": [
                {
                    "rule_id": "bluecms-97140-97124",
                    "column1": "97140",
                    "column2": "97124",
                    "modifier_indicator": 1,
                    "effective_from": "2020-01-01",
                }
            ],
        },
    ),
    (
        "autopip",
        "Roadway Auto Insurance",
        "auto",
        "autopay",
        "ama",
        True,
        "AM",
        0.85,
        {
            "requires_prescription": True,
            "authorization_required": "after-visits",
            "authorization_after_visits": 2,
            "sends_rendering_license": True,
        },
    ),
    (
        "wcstate",
        "State Workers Compensation Fund",
        "workers_comp",
        "wcbureau",
        "cms",
        True,
        "WC",
        0.70,
        {
            "max_units_per_visit": 3,
            "bundled_codes": ["97010"],
            "authorization_required": "always",
            "sends_rendering_license": True,
            # the state's e-billing rules want the physician's order with the bill
            "attachment": {"report_type": "B3", "transmission": "FX"},
        },
    ),
    ("medicare", "Medicare Part B", "medicare", "clearinghouse", "cms", False, "MB", 0.65, {}),
]

RECEIVERS = {
    "clearinghouse": ("Example Clearinghouse", "EXCLEARING"),
    "autopay": ("Roadway Auto Claims", "ROADWAYAUTO"),
    "wcbureau": ("Workers Comp Bureau", "WCBUREAU01"),
}


def _event(
    rng: random.Random,
    clinic: str,
    patient: str,
    therapist: str,
    session_id: str,
    day: date,
    prescription: str | None = None,
) -> dict[str, Any]:
    techniques = []
    regions = rng.sample(REGIONS, 2)
    for i, (technique, (low, high)) in enumerate(rng.choice(MIXES)):
        techniques.append(
            {
                "technique": technique,
                "minutes": rng.randint(low, high),
                "body_region": regions[i % 2],
            }
        )
    event: dict[str, Any] = {
        "schema_version": 1,
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "event_type": "session.completed",
        "occurred_at": datetime.combine(day, datetime.min.time(), UTC).replace(hour=17).isoformat(),
        "clinic_id": clinic,
        "session_id": session_id,
        "patient_id": patient,
        "therapist_id": therapist,
        "date_of_service": day.isoformat(),
        "techniques": techniques,
    }
    if prescription:
        event["prescription_id"] = prescription
    return event


MIN_SESSIONS = 30  # the awkward cases (re-sends, a conflict, a cancellation) need them
MIN_CLINICS = 1


def generate(
    clinics: int = 3, sessions: int = 300, seed: int = 7, today: date | None = None
) -> Dataset:
    if sessions < MIN_SESSIONS:
        raise ValueError(f"sessions: at least {MIN_SESSIONS} are needed, got {sessions}")
    if clinics < MIN_CLINICS:
        raise ValueError(f"clinics: at least {MIN_CLINICS} is needed, got {clinics}")
    rng = random.Random(seed)
    day0 = today or datetime.now(UTC).date()
    data = Dataset()
    for payer_id, name, kind, receiver, policy, pays, filing, factor, extra in PAYERS:
        payer: dict[str, Any] = {
            "schema_version": 1,
            "payer_id": payer_id,
            "name": name,
            "kind": kind,
            "edi_payer_id": f"{payer_id.upper()}01",
            "receiver_id": receiver,
            "unit_policy": policy,
            "pays_massage": pays,
            "timely_filing_days": 180,
            "default_filing_indicator": filing,
            "fee_schedule": _fees(rng, PRICES, factor),
        }
        payer.update(cast(dict[str, Any], extra))
        data.payers.append(payer)
    for receiver, (rname, code) in RECEIVERS.items():
        data.partners.append(
            {
                "schema_version": 1,
                "receiver_id": receiver,
                "name": rname,
                "receiver_code": code,
                "isa_sender_id": "DEMOBILLING",
                "isa_receiver_id": code,
                "gs_sender_code": "DEMOBILLING",
                "gs_receiver_code": code,
                "usage": "T",
                "batch_max_claims": 500,
                "batch_max_age_s": 2,
                "submitter": {
                    "name": "Demo Billing Services",
                    "id": "DEMOBILLING",
                    "contact_name": "Claims Desk",
                    "contact_phone": "5555550100",
                },
            }
        )
    clinic_ids = [f"c{n:02d}" for n in range(1, clinics + 1)]
    for n, cid in enumerate(clinic_ids, start=1):
        data.clinics.append(
            {
                "schema_version": 1,
                "clinic_id": cid,
                "name": f"Harbor Massage Therapy {n}",
                "npi": _npi(rng),
                "tax_id": f"{rng.randint(100_000_000, 999_999_999)}",
                # a billing provider's address: a street address with ZIP+4
                "address": {
                    **(street := _address(rng)),
                    "postal_code": street["postal_code"] + f"{n * 1111:04d}",
                },
                "phone": "5555550142",
                "claim_prefix": f"HM{n}",
                "price_list": _fees(rng, PRICES, 1.0 + 0.05 * n),
            }
        )
        for t in range(1, 4):
            npi = _npi(rng)
            data.therapists.append(
                {
                    "schema_version": 1,
                    "clinic_id": cid,
                    "therapist_id": f"t{t}",
                    "name": {"first_name": rng.choice(FIRST), "last_name": rng.choice(LAST)},
                    "npi": npi,
                    "license_number": f"MA{npi[-6:]}",  # the state massage licence
                }
            )
    per_clinic = max(8, sessions // (clinics * 4))
    # interleaved, so that even a small demo meets every kind of patient
    kinds = [
        "acme",
        "bluecms",
        "cob",
        "rx-missing",
        "autopip",
        "self_pay",
        "acme",
        "wcstate",
        "bluecms",
        "rx-expired",
        "hsa",
        "acme",
        "medicare",
        "bluecms",
        "rx-exhausted",
        "acme",
        "bluecms",
        "acme",
        "bluecms",
    ]
    patients: list[tuple[str, str, str, str | None]] = []  # clinic, patient, kind, rx
    for p in range(1, per_clinic + 1):
        for c_index, cid in enumerate(clinic_ids):
            pid = f"p{p:03d}"
            kind = kinds[((p - 1) * len(clinic_ids) + c_index) % len(kinds)]
            rx = _patient(rng, data, cid, pid, kind, day0)
            patients.append((cid, pid, kind, rx))
    late = patients[0]  # its prescription arrives after its first session
    late_rx = [
        r for r in data.prescriptions if r["clinic_id"] == late[0] and r["patient_id"] == late[1]
    ]
    for r in late_rx:
        data.prescriptions.remove(r)
        data.late_prescriptions.append(r)
    counter = 0
    events: list[dict[str, Any]] = []
    while counter < sessions:
        index = counter % len(patients)
        cid, pid, kind, rx = patients[index]
        visit = counter // len(patients)
        counter += 1
        # a patient's visits are three days apart (28 different days before one repeats);
        # every day is at least two days old, so its claim may leave at once
        dos = day0 - timedelta(days=2 + (visit * 3 + index) % 28)
        therapist = f"t{1 + counter % 3}"
        event = _event(rng, cid, pid, therapist, f"s{counter:05d}", dos)
        if kind == "acme" and counter % 2 == 0:
            event["waiver_on_file"] = True  # signed for what the plan does not cover
        events.append(event)
    events += _day_cases(rng, patients, events, day0)
    for ev in events:
        data.sessions.append((f"{ev['clinic_id']}:{ev['patient_id']}", json.dumps(ev).encode()))
    # the awkward cases
    specials = 0
    for ev in events[5:10]:  # exact re-sends (same event id, a new message)
        data.sessions.append((f"{ev['clinic_id']}:{ev['patient_id']}", json.dumps(ev).encode()))
        specials += 1
    for ev in events[10:15]:  # the same session with a new event id
        again = {**ev, "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4))}
        data.sessions.append((f"{ev['clinic_id']}:{ev['patient_id']}", json.dumps(again).encode()))
        specials += 1
    conflict = dict(events[20])
    conflict["event_id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    conflict["techniques"] = [{"technique": "swedish_massage", "minutes": 55}]
    data.sessions.append(
        (f"{conflict['clinic_id']}:{conflict['patient_id']}", json.dumps(conflict).encode())
    )
    cancelled = events[25]
    data.sessions.insert(
        26,
        (
            f"{cancelled['clinic_id']}:{cancelled['patient_id']}",
            json.dumps(
                {
                    "schema_version": 1,
                    "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "event_type": "session.cancelled",
                    "occurred_at": datetime.now(UTC).isoformat(),
                    "clinic_id": cancelled["clinic_id"],
                    "session_id": cancelled["session_id"],
                    "patient_id": cancelled["patient_id"],
                    "reason": "entered in error",
                }
            ).encode(),
        ),
    )
    malformed = [
        b'{"event_type": "session.completed", "clinic_id": "c01"',
        json.dumps({**events[1], "session_id": "bad-1", "techniques": []}).encode(),
        json.dumps(
            {
                **events[2],
                "session_id": "bad-2",
                "techniques": [{"technique": "reiki", "minutes": 30}],
            }
        ).encode(),
    ]
    for raw in malformed:
        data.sessions.append((f"{events[1]['clinic_id']}:{events[1]['patient_id']}", raw))
    data.expected = {
        "completed_events": len(events) + specials + 1 + len(malformed),
        "cancel_events": 1,
        "malformed": len(malformed),
        "resends": 10,
        "conflicting": 1,
    }
    return data


def _day_cases(
    rng: random.Random,
    patients: list[tuple[str, str, str, str | None]],
    events: list[dict[str, Any]],
    day0: date,
) -> list[dict[str, Any]]:
    """A CMS-payer patient's two awkward days: one visit with a code pair on one body
    region (97140 and 97124 on the lower back: one code is dropped before units are
    counted), and a day of two 10-minute visits (one unit for the day under CMS)."""
    cid, pid, _, _ = next(p for p in patients if p[2] == "bluecms")
    used = {e["date_of_service"] for e in events if (e["clinic_id"], e["patient_id"]) == (cid, pid)}
    free = [d for n in range(2, 40) if (d := day0 - timedelta(days=n)).isoformat() not in used]
    pair_day, busy_day = free[0], free[1]

    def visit(sid: str, day: date, hour: int, techniques: list[dict[str, Any]]) -> dict[str, Any]:
        event = _event(rng, cid, pid, "t1", sid, day)
        moment = datetime.combine(day, datetime.min.time(), UTC).replace(hour=hour)
        return {**event, "occurred_at": moment.isoformat(), "techniques": techniques}

    return [
        visit("s-pair", pair_day, 10, [
            {"technique": "myofascial_release", "minutes": 20, "body_region": "lower_back"},
            {"technique": "swedish_massage", "minutes": 20, "body_region": "lower_back"},
        ]),
        visit("s-am", busy_day, 9, [
            {"technique": "myofascial_release", "minutes": 10, "body_region": "neck"},
        ]),
        visit("s-pm", busy_day, 15, [
            {"technique": "myofascial_release", "minutes": 10, "body_region": "neck"},
        ]),
    ]  # fmt: skip


def _patient(
    rng: random.Random, data: Dataset, cid: str, pid: str, kind: str, day0: date
) -> str | None:
    city = _address(rng)
    first, last = rng.choice(FIRST), rng.choice(LAST)
    member = f"M{rng.randint(10**8, 10**9 - 1)}"
    coverage: dict[str, Any] = {
        "coverage_id": "cov1",
        "kind": "insurance",
        "member_id": member,
        "effective_from": "2020-01-01",
    }
    if kind in (
        "acme",
        "bluecms",
        "autopip",
        "medicare",
        "rx-missing",
        "rx-expired",
        "rx-exhausted",
    ):
        coverage["payer_id"] = {
            "autopip": "autopip",
            "medicare": "medicare",
            "bluecms": "bluecms",
        }.get(kind, "acme")
    if kind == "autopip":
        coverage.update(
            filing_indicator="AM",
            related_cause={
                "cause": "auto_accident",
                "accident_date": (day0 - timedelta(days=90)).isoformat(),
                "accident_state": city["state"],
                "claim_number": f"PIP{rng.randint(10**6, 10**7)}",
            },
        )
    if kind == "wcstate":
        coverage = {
            "coverage_id": "cov1",
            "kind": "insurance",
            "payer_id": "wcstate",
            "relationship": "employee",
            "effective_from": "2020-01-01",
            "filing_indicator": "WC",
            "subscriber": {
                "organisation_name": f"{rng.choice(LAST)} Logistics LLC",
                "member_id": f"WCPOL{rng.randint(10**5, 10**6)}",
            },
            "related_cause": {
                "cause": "employment",
                "accident_date": (day0 - timedelta(days=60)).isoformat(),
                "claim_number": f"WC{rng.randint(10**6, 10**7)}",
            },
        }
    if kind in ("self_pay", "hsa"):
        coverage = {"coverage_id": "own", "kind": kind, "effective_from": "2020-01-01"}
    coverages = [coverage]
    if kind == "cob":  # a health plan, and a spouse's plan behind it
        coverage.update(payer_id="acme", priority=1)
        coverages.append(
            {
                "coverage_id": "cov2",
                "kind": "insurance",
                "payer_id": "bluecms",
                "member_id": f"S{rng.randint(10**8, 10**9 - 1)}",
                "priority": 2,
                "effective_from": "2020-01-01",
            }
        )
    data.patients.append(
        {
            "schema_version": 1,
            "clinic_id": cid,
            "patient_id": pid,
            "name": {"first_name": first, "last_name": last},
            "birth_date": date(
                rng.randint(1950, 2004), rng.randint(1, 12), rng.randint(1, 28)
            ).isoformat(),
            "sex": rng.choice(["F", "M"]),
            "address": city,
            "phone": f"555{rng.randint(1000000, 9999999)}",
            "coverages": coverages,
        }
    )
    if kind in ("rx-missing", "self_pay"):
        return None
    rx_id = f"rx-{pid}"
    issued = day0 - timedelta(days=120 if kind == "rx-expired" else 45)
    prescription: dict[str, Any] = {
        "schema_version": 1,
        "clinic_id": cid,
        "prescription_id": rx_id,
        "patient_id": pid,
        "prescriber": {
            "name": {"first_name": rng.choice(FIRST), "last_name": rng.choice(LAST)},
            "npi": _npi(rng),
        },
        "issued_on": issued.isoformat(),
        "visits_authorized": 1 if kind == "rx-exhausted" else 24,
        "diagnosis_codes": rng.sample(DIAGNOSES, rng.randint(1, 3)),
    }
    if kind == "rx-expired":
        prescription["expires_on"] = (day0 - timedelta(days=60)).isoformat()
    data.prescriptions.append(prescription)
    if kind in ("wcstate", "autopip"):  # these payers authorize visits in advance
        data.authorizations.append(
            {
                "schema_version": 1,
                "clinic_id": cid,
                "authorization_id": f"auth-{pid}",
                "payer_id": kind,
                "patient_id": pid,
                "number": f"{kind[:2].upper()}A{pid[1:]}{cid[1:]}",
                "valid_from": (day0 - timedelta(days=45)).isoformat(),
                "valid_to": (day0 + timedelta(days=45)).isoformat(),
                "visits_authorized": 12,
            }
        )
    return rx_id
