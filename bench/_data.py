"""Realistic benchmark data made by the project's own cores (synthetic people only).

* :func:`realistic_claims`: 837P claim models produced the way the workers produce
  them -- a session event goes through enrichment (``workers.enrich.rules``),
  pricing (``workers.pricing.session.price_session``) and claim assembly
  (``workers.claims.assemble.assemble_claim``).  Four clinics (four billing
  providers), two therapists each, three payers (a commercial AMA plan, a CMS
  plan with GP modifiers, an auto-PIP carrier), one patient in six a child on a
  parent's policy, 2 to 4 service lines per claim (97124, 97140, 97010, 97530:
  CMS/AMA units, NCCI pair edits with XS, an untimed code), 1 to 3 diagnoses.
* :func:`render_837_files`: those claims as 837P files of at most 500 claims
  (the default batch limit), rendered by :func:`edi.x837p.render_837p`.
* :func:`realistic_835`: the payer simulator's answer to those files
  (:func:`workers.payer_sim.adjudicate.adjudicate` + ``render_answers``):
  one interchange per payer, one transaction per billing provider, payments with
  CO-45, deductibles, coinsurance, denials, reversals and PLB interest.
* :func:`write_tiled_835`: a very large 835 (one transaction of any number of
  claims) written piece by piece from a simulated block of claims, for the
  memory benchmark.

Everything is deterministic (fixed dates, seeded choices).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

#: The "now" of every generated record (claims, files, remittances).
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
BATCH_LIMIT = 500
PLACEHOLDER = "QQQQ"

_FIRST = ["Avery", "Blake", "Casey", "Devon", "Emery", "Finley", "Harper", "Jordan", "Kendall"]
_LAST = ["Abernathy", "Brightwater", "Castellano", "Dunmore", "Everhart", "Galloway", "Ingram"]
_STREETS = ["Maple Ave", "Harbor St", "Cedar Ln", "Birch Rd", "Willow Way", "Summit Dr"]
_CITIES = [
    ("Springfield", "IL", "627011234"),
    ("Albany", "NY", "122071234"),
    ("Salem", "OR", "973011234"),
]
_DIAGNOSES = ["M54.50", "M54.2", "M62.830", "M79.18", "M54.6", "M25.511", "G44.209"]
#: (technique, minutes range, body region): the first n of these make an n-line claim.
_TECHNIQUES = [
    ("swedish_massage", (20, 40), "lower_back"),
    ("myofascial_release", (10, 30), "neck"),
    ("hot_cold_pack", (8, 15), "lower_back"),
    ("rehabilitative_stretching", (10, 25), "shoulder"),
]
_PRICES = {"97124": "40.00", "97140": "45.00", "97010": "15.00", "97530": "50.00"}
_FEES = {"97124": "30.00", "97140": "35.00", "97010": "10.00", "97530": "38.00"}
PAYERS = ("p1", "p2", "p3")


def _repo_on_path() -> None:
    import sys

    repo = str(Path(__file__).resolve().parents[1])
    if repo not in sys.path:
        sys.path.insert(0, repo)


def _model(cls: Any, data: dict[str, Any]) -> Any:
    return cls.parse_json(json.dumps(data))


def _dated(table: dict[str, str]) -> list[dict[str, str]]:
    return [
        {"code": code, "amount": amount, "effective_from": "2020-01-01"}
        for code, amount in table.items()
    ]


class _World:
    """Clinics, therapists and payers, and the enrichment catalogue over them."""

    def __init__(self, clinics: int) -> None:
        _repo_on_path()
        from schemas.identifiers import npi_with_check_digit
        from schemas.reference import Clinic, Payer, Therapist
        from tests import factories as f
        from tests.fakes import FakeCatalog
        from workers.pricing.code_lists import default_code_lists

        self.f = f
        self.clinics = [f"c{n + 1}" for n in range(clinics)]
        clinic_models, therapists = [], []
        for n, clinic_id in enumerate(self.clinics):
            city, state, postal = _CITIES[n % len(_CITIES)]
            clinic_models.append(
                _model(
                    Clinic,
                    f.clinic(
                        clinic_id,
                        name=f"{_LAST[n % len(_LAST)]} Medical Massage {n + 1}",
                        npi=npi_with_check_digit(f"1{n:04d}6789"),
                        tax_id=f"{n + 10}3456789"[:9],
                        claim_prefix=f"CL{n}",
                        phone=f"555555{n:04d}",
                        address={
                            "line1": f"{100 + n} {_STREETS[n % len(_STREETS)]}",
                            "city": city,
                            "state": state,
                            "postal_code": postal,
                        },
                        price_list=_dated(_PRICES),
                    ),
                )
            )
            for t in (1, 2):
                therapists.append(
                    _model(
                        Therapist,
                        f.therapist(
                            clinic_id,
                            f"t{t}",
                            name={"first_name": _FIRST[(n + t) % 9], "last_name": "Therapist"},
                            npi=npi_with_check_digit(f"2{n:04d}{t:04d}"),
                        ),
                    )
                )
        stretching = {
            "technique": "rehabilitative_stretching",
            "code": "97530",
            "effective_from": "2020-01-01",
        }
        common = {"code_map": [stretching], "fee_schedule": _dated(_FEES)}
        gp = [{"rule_id": "gp", "modifier": "GP", "effective_from": "2020-01-01"}]
        payers = [
            _model(Payer, f.payer("p1", name="Acme Health Plan", **common)),
            _model(
                Payer,
                f.payer(
                    "p2",
                    name="Blue Valley Plan",
                    kind="bcbs",
                    unit_policy="cms",
                    modifier_rules=gp,
                    default_filing_indicator="BL",
                    **common,
                ),
            ),
            _model(
                Payer,
                f.payer(
                    "p3",
                    name="Roadway Auto Insurance",
                    kind="auto",
                    unit_policy="cms",
                    default_filing_indicator="AM",
                    **common,
                ),
            ),
        ]
        self.catalog = FakeCatalog(clinic_models, therapists, payers)
        self.code_lists = default_code_lists()

    def patient(self, rng: random.Random, clinic_id: str, patient_id: str, payer: str) -> Any:
        from schemas.reference import Patient

        city, state, postal = rng.choice(_CITIES)
        address = {
            "line1": f"{rng.randint(1, 999)} {rng.choice(_STREETS)}",
            "city": city,
            "state": state,
            "postal_code": postal,
        }
        coverage: dict[str, Any] = {
            "coverage_id": "cov1",
            "kind": "insurance",
            "payer_id": payer,
            "member_id": f"M{rng.randint(10**8, 10**9 - 1)}",
            "group_number": f"G{rng.randint(1000, 9999)}" if payer != "p3" else None,
            "effective_from": "2020-01-01",
        }
        if payer == "p3":
            coverage["related_cause"] = {
                "cause": "auto_accident",
                "accident_date": "2026-01-20",
                "accident_state": state,
                "claim_number": f"PIP{rng.randint(10000, 99999)}",
            }
        if payer != "p3" and rng.random() < 1 / 6:  # a child on a parent's policy
            coverage["relationship"] = "child"
            coverage["subscriber"] = {
                "name": {"first_name": rng.choice(_FIRST), "last_name": rng.choice(_LAST)},
                "member_id": coverage.pop("member_id"),
                "birth_date": "1979-06-11",
                "sex": rng.choice("FM"),
                "address": address,
            }
        data = self.f.patient(
            clinic_id,
            patient_id,
            payer_id=None,
            name={"first_name": rng.choice(_FIRST), "last_name": rng.choice(_LAST)},
            birth_date=(date(1950, 1, 1) + timedelta(days=rng.randint(0, 20000))).isoformat(),
            sex=rng.choice("FM"),
            address=address,
            coverages=[coverage],
        )
        return _model(Patient, data)

    def claim(self, n: int, rng: random.Random, payers: Sequence[str]) -> Any:
        """One claim through enrichment, pricing and assembly."""
        from schemas.events import parse_session_event
        from schemas.outcomes import SessionEnriched
        from schemas.reference import Prescription
        from schemas.state import PatientState
        from workers.claims.assemble import assemble_claim
        from workers.enrich import rules
        from workers.pricing.session import price_session

        f = self.f
        clinic_id = self.clinics[n % len(self.clinics)]
        payer = payers[n % len(payers)]
        patient_id, rx_id = f"pt{n}", f"rx{n}"
        state = rules.with_patient(
            PatientState.new(), self.patient(rng, clinic_id, patient_id, payer)
        )
        diagnoses = rng.sample(_DIAGNOSES, rng.randint(1, 3))
        rx = _model(
            Prescription,
            f.prescription(
                clinic_id,
                rx_id,
                patient_id,
                issued_on="2026-01-05",
                diagnosis_codes=diagnoses,
                prior_authorization=f"PA{rng.randint(10**6, 10**7 - 1)}"
                if rng.random() < 0.7
                else None,
            ),
        )
        state = rules.with_prescription(state, rx_id, rx)
        lines = 2 + n % 3
        techniques = [
            {"technique": t, "minutes": rng.randint(*minutes), "body_region": region}
            for t, minutes, region in _TECHNIQUES[:lines]
        ]
        event = parse_session_event(
            json.dumps(
                f.session(
                    clinic_id,
                    f"s{n}",
                    patient_id,
                    therapist_id=f"t{1 + n % 2}",
                    dos=(date(2026, 2, 2) + timedelta(days=n % 28)).isoformat(),
                    techniques=techniques,
                    event_id=f"00000000-0000-4000-8000-{n:012d}",
                    occurred_at=NOW.isoformat(),
                )
            )
        )
        outcome = rules.on_session_completed(state, event, self.catalog, NOW).outcomes[0]
        if not isinstance(outcome, SessionEnriched):
            raise RuntimeError(f"session {n} was not enriched: {outcome!r}")
        priced = price_session(outcome, self.code_lists, NOW)
        if priced.billable is None:
            raise RuntimeError(f"session {n} was not priced: {priced.message}")
        return assemble_claim([priced.billable])


def realistic_claims(
    count: int,
    *,
    clinics: int = 4,
    payers: Sequence[str] = PAYERS,
    distinct: int = 500,
    pcn_suffix: str = "",
    seed: int = 7,
) -> list[Any]:
    """``count`` claim models (see the module docstring).

    At most ``distinct`` claims go through the cores; the rest are copies of those
    under new claim numbers (the cost per claim of rendering and parsing does not
    depend on where a claim came from).  Every claim is renamed
    ``<clinic prefix><7 digits><pcn_suffix>`` so numbers are unique and predictable.
    """
    world = _World(clinics)
    rng = random.Random(seed)
    base = [world.claim(n, rng, payers) for n in range(min(count, distinct))]
    return [_renamed(base[n % len(base)], n, pcn_suffix) for n in range(count)]


def _renamed(claim: Any, n: int, suffix: str) -> Any:
    pcn = f"{claim.patient_control_number[:3]}{n:07d}{suffix}"
    lines = [
        line.model_copy(update={"line_control_number": f"{pcn}-1-{line.line_number}"})
        for line in claim.lines
    ]
    return claim.model_copy(
        update={"patient_control_number": pcn, "claim_id": f"{pcn}-1", "lines": lines}
    )


def partner() -> Any:
    _repo_on_path()
    from tests.claim_factories import partner as factory_partner

    return factory_partner()


def render_837(claims: Sequence[Any], control: int = 1) -> str:
    """One 837P interchange holding ``claims`` (any number)."""
    from edi.x837p import render_837p
    from schemas.claims import ControlNumbers

    numbers = ControlNumbers(interchange=control, group=control, transaction=control)
    return render_837p(claims, partner(), numbers, NOW).text


def render_837_files(claims: Sequence[Any]) -> Iterator[str]:
    """``claims`` as 837P files of at most :data:`BATCH_LIMIT` claims each."""
    for number, first in enumerate(range(0, len(claims), BATCH_LIMIT), start=1):
        yield render_837(claims[first : first + BATCH_LIMIT], control=number)


def realistic_835(claims: Sequence[Any]) -> str:
    """The payer simulator's 835 answer to ``claims`` sent as 837P files."""
    from edi.x837p import read_837p
    from workers.payer_sim.adjudicate import adjudicate, render_answers
    from workers.payer_sim.rules import default_rules

    received = [c for text in render_837_files(claims) for c in read_837p(text.encode())]
    answers = adjudicate(received, default_rules(), now=NOW)
    return render_answers(answers, now=NOW)


def write_tiled_835(out: TextIO, claims: int, *, block: int = 1000) -> dict[str, Any]:
    """Write an 835 answering ``claims`` claims in ONE transaction to ``out``.

    A block of ``block`` claims (one clinic, one payer) is answered by the payer
    simulator with claim numbers ending in a placeholder; the transaction's claim
    loops are then written ``claims // block`` times with the placeholder
    replaced by the copy's number (so every CLP01 and REF*6R is unique), and BPR02
    and SE01 are recomputed so the transaction still balances.  Writing is
    streamed: memory does not grow with ``claims``.  The simulator answers a few
    claims with a reversal and a correction, so the file holds a few percent more
    claim payments (CLP) than ``claims``: ``claim_payments`` in the result.
    """
    from edi.x835 import parse_835

    if claims % block:
        raise ValueError("claims must be a multiple of block")
    copies = claims // block
    text = realistic_835(realistic_claims(block, clinics=1, payers=("p1",), pcn_suffix=PLACEHOLDER))
    (remittance,) = list(parse_835(text.encode()))
    assert remittance.balance.ok
    segments = text.split("~\n")
    assert segments[-1] == "", "expected one segment per line"
    segments = segments[:-1]
    first_clp = next(i for i, s in enumerate(segments) if s.startswith("CLP*"))
    end = next(
        i for i in range(first_clp, len(segments)) if segments[i].startswith(("PLB*", "SE*"))
    )
    head, body, tail = segments[:first_clp], segments[first_clp:end], segments[end:]
    assert not any(PLACEHOLDER in s for s in head)
    plb = sum((a.amount for a in remittance.provider_adjustments), Decimal(0))
    paid = remittance.payment.amount + plb  # sum of CLP04 in the block
    total = paid * copies - plb
    assert total > 0
    for i, segment in enumerate(head):
        if segment.startswith("BPR*"):
            elements = segment.split("*")
            elements[2] = f"{total:.2f}"
            head[i] = "*".join(elements)
    for i, segment in enumerate(tail):
        if segment.startswith("SE*"):
            elements = segment.split("*")
            elements[1] = str(int(elements[1]) + (copies - 1) * len(body))
            tail[i] = "*".join(elements)
    body_text = "".join(s + "~\n" for s in body)
    out.write("".join(s + "~\n" for s in head))
    for copy in range(copies):
        out.write(body_text.replace(PLACEHOLDER, f"{copy:04d}"))
    out.write("".join(s + "~\n" for s in tail).replace(PLACEHOLDER, "0000"))
    return {
        "claims": claims,
        "block": block,
        "copies": copies,
        "claim_payments": copies * len(remittance.claims),
        "segments": len(head) + copies * len(body) + len(tail),
    }


def count_claims(text: str) -> int:
    return sum(1 for line in text.split("~") if line.lstrip().startswith("CLP*"))
