"""Fuzzing the processors: generated sessions and reference data never crash a processor.

"Crash" means what the per-message loop (:mod:`workers.runtime.processing`) calls
an *unexpected* failure: anything the handler raises other than the engine's own
classified failures (:class:`~workers.runtime.failures.InvalidInput`,
:class:`~workers.runtime.failures.TransientFailure`).  Such a message is
dead-lettered as a defect, so for fuzzing it is a bug to find.

What is generated (hypothesis strategies below):

* valid-by-contract ``SessionCompleted`` / ``SessionCancelled`` events, patients
  (insurance / self-pay / HSA coverages, relationships, subscribers, related
  causes), prescriptions (dates, visits, frequency, allowed techniques and
  regions, diagnosis codes including malformed ones), payers (policies, code
  maps, pair rules, modifier rules, caps, fee schedules, allowed and untimed
  codes), clinics (price lists with codes missing) and therapists, drawn from
  small id pools so that sessions collide, repeat and wait for each other;
* arbitrary bytes, arbitrary JSON, deeply nested JSON and valid documents with
  one field replaced by garbage.

Properties:

* the enrichment core (``on_session_completed``, ``on_session_cancelled``,
  ``reevaluate_held``, ``with_patient``, ``with_prescription``) never raises and
  gives exactly one outcome per new session, at most one per repeat; the state
  stays consistent (visits belong to enriched sessions) and survives its
  changelog's JSON round trip, every outcome its topic's;
* every ``SessionEnriched`` priced by ``price_session`` gives billable lines or a
  ``no-billable-units`` / ``scrub-failed`` refusal, never an exception; billed
  sessions assemble into claims that either render as an 837P (which reads back)
  or are refused with the renderer's typed errors;
* garbage through the decode path raises only ``InvalidInput``;
* the real enrichment and units handlers (``register`` with a fake wiring, no
  Kafka) driven through ``MessageRunner`` never dead-letter a message as
  ``unexpected``.

Runs are reproducible: every test uses ``derandomize=True`` (a seed derived from
the test's name), so CI sees the same examples each time.
"""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import event as tally
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from edi.segments import X12Error
from edi.x837p import read_837p, render_837p
from schemas.billing import BillableSession
from schemas.claims import ControlNumbers, TradingPartner
from schemas.common import TECHNIQUES
from schemas.events import SessionCancelled, SessionCompleted, SessionRetry, parse_session_event
from schemas.identifiers import icd10cm_valid, npi_with_check_digit
from schemas.outcomes import (
    SessionDuplicate,
    SessionEnriched,
    SessionHeld,
    SessionOutcome,
    SessionRejected,
    SessionWithdrawn,
    parse_enriched_topic,
)
from schemas.reference import Clinic, Patient, Payer, Prescription, Therapist
from schemas.state import PatientState, PrescriptionChange, Wakeup
from tests import factories, pipeline
from tests.fakes import FakeCatalog, FakeMirror, FakeSink, FakeWiring
from tests.fuzzing import fuzz
from workers.claims.assemble import UnbillableDay, assemble_claim
from workers.commands.edi837 import builtin_test_partner
from workers.enrich import processor as enrich_processor
from workers.enrich import rules
from workers.pricing.code_lists import default_code_lists
from workers.pricing.session import price_session
from workers.runtime.codec import decode, encode
from workers.runtime.dead_letters import dead_letter_info
from workers.runtime.failures import InvalidInput
from workers.runtime.partitioning import partition_for
from workers.runtime.processing import MessageRunner, RetryPolicy
from workers.runtime.records import Incoming, Outgoing
from workers.units import processor as units_processor

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
LISTS = default_code_lists()
NUMBERS = ControlNumbers(interchange=1, group=1, transaction=1)

#: Small id pools: sessions of the same patient collide, repeat and wait for each other.
CLINICS = ("c1", "c2")
PATIENTS = ("pt1", "pt2")
THERAPISTS = ("t1", "t2")
PAYERS = ("p1", "p2", "p3")
SESSIONS = ("s1", "s2", "s3", "s4", "s5")
PRESCRIPTIONS = ("rx1", "rx2", "rx3")
COVERAGES = ("cov1", "cov2", "cov3")
RECEIVERS = ("rcv1", "rcv2")
CODES = ("97124", "97140", "97010", "97530", "97112", "95831", "97039")
MODIFIERS = ("GP", "KX", "GO", "59", "XS", "XE", "XU", "25")
REGIONS = ("back", "neck", "lower_back", "shoulder")
FILING = ("09", "11", "12", "13", "14", "15", "16", "17", "AM", "BL", "CH", "CI", "DS")
FILING += ("FI", "HM", "LM", "MA", "MB", "MC", "OF", "TV", "VA", "WC", "ZZ")
PAYER_KINDS = ("commercial", "bcbs", "medicare", "medicare_advantage", "medicaid")
PAYER_KINDS += ("tricare", "auto", "workers_comp", "other")
#: Every pooled code priced from 2020 (most clinics have a complete price list).
STANDARD_PRICES = tuple(
    {"code": c, "amount": "40.00", "effective_from": "2020-01-01"} for c in CODES
)
VALID_DIAGNOSES = ("M54.50", "M6283", "S134XXA", "M62.830", "m54.5", "M79.1", "S39012A")


# --- strategies: values ------------------------------------------------------------------


def _shift(day: date, days: int) -> date:
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.max if days > 0 else date.min


def _weighted(common: st.SearchStrategy[Any], rare: st.SearchStrategy[Any], odds: int = 3) -> Any:
    """``common`` ``odds`` times out of ``odds + 1`` (and what examples shrink towards).

    (``st.one_of(a, a, a, b)`` would not do: equal branches count once.)
    """
    return st.sampled_from([True] * odds + [False]).flatmap(lambda c: common if c else rare)


near_dates = st.integers(-900, 3).map(lambda n: TODAY + timedelta(days=n))
any_dates = _weighted(near_dates, st.dates())
#: Printable text with any Unicode (no C0 controls): names, cities, ids.
wild_chars = st.characters(codec="utf-8", min_codepoint=0x20)


def wild_text(max_size: int, min_size: int = 1) -> st.SearchStrategy[str]:
    return st.text(wild_chars, min_size=min_size, max_size=max_size)


def digits(n: int) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=n, max_size=n)


plain_names = st.sampled_from(["Pat", "Sample", "Quill", "O'Neil", "Smith-Jones", "Ng", "José"])
short_text = _weighted(plain_names, wild_text(60))
person_names = st.fixed_dictionaries(
    {"first_name": short_text, "last_name": short_text},
    optional={"middle_name": short_text},
)
org_names = _weighted(st.sampled_from(["Springfield Massage", "Acme Widgets Inc"]), wild_text(60))
external_ids = _weighted(st.from_regex(r"[A-Z0-9]{4,12}", fullmatch=True), wild_text(30))
npis = _weighted(digits(9).map(npi_with_check_digit), digits(10), odds=9)
money = _weighted(
    st.sampled_from(["0.00", "15.00", "40.00", "45.00", "35.5", "0.01"]),
    st.decimals(min_value=0, max_value=Decimal("999999999.99"), places=2).map(str),
)
codes = _weighted(st.sampled_from(CODES), st.from_regex(r"[0-9A-Z]{5}", fullmatch=True))
modifiers = _weighted(st.sampled_from(MODIFIERS), st.from_regex(r"[0-9A-Z]{2}", fullmatch=True))
states = st.from_regex(r"[A-Z]{2}", fullmatch=True)
addresses = st.fixed_dictionaries(
    {
        "line1": _weighted(
            st.sampled_from(["1 Main St", "PO Box 5"]), st.text(min_size=1, max_size=55)
        ),
        "city": _weighted(
            st.sampled_from(["Springfield", "Ann Arbor"]), st.text(min_size=2, max_size=30)
        ),
        "state": states,
        "postal_code": st.from_regex(r"[0-9]{5}([0-9]{4})?", fullmatch=True),
    },
    optional={"line2": st.text(min_size=1, max_size=55)},
)
diagnoses = _weighted(
    st.sampled_from(VALID_DIAGNOSES),
    st.one_of(
        st.tuples(
            st.sampled_from(VALID_DIAGNOSES), st.sampled_from(["\n", " ", ".", "#", "\t", "-"])
        ).map(lambda t: t[0][:7] + t[1]),
        st.text(min_size=1, max_size=10),
    ),
)


@st.composite
def effective(draw: st.DrawFn) -> dict[str, str]:
    """An effective-dated row: mostly open-ended from 2020, sometimes any window."""
    start = draw(_weighted(st.just(date(2020, 1, 1)), any_dates))
    data = {"effective_from": start.isoformat()}
    length = draw(_weighted(st.none(), st.integers(0, 1000)))
    if length is not None:
        data["effective_to"] = _shift(start, length).isoformat()
    return data


def rows(
    body: dict[str, st.SearchStrategy[Any]], max_size: int, min_size: int = 0
) -> st.SearchStrategy[list[Any]]:
    row = st.tuples(st.fixed_dictionaries(body), effective()).map(lambda t: {**t[0], **t[1]})
    return st.lists(row, min_size=min(min_size, max_size), max_size=max_size)


# --- strategies: reference data and events (as the JSON dictionaries of the wire) ----------


#: Unit amounts that cannot be multiplied by a session's units and still fit ``Money``.
huge_amounts = st.sampled_from(["999999999.99", "50000000.00", "2500000.00"])


def priced_at(amounts: st.SearchStrategy[str]) -> st.SearchStrategy[list[dict[str, str]]]:
    """Every pooled code at one amount, from 2020."""
    return amounts.map(
        lambda a: [{"code": c, "amount": a, "effective_from": "2020-01-01"} for c in CODES]
    )


@st.composite
def clinic_data(draw: st.DrawFn, clinic_id: str) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "clinic_id": clinic_id,
        "name": draw(org_names),
        "npi": draw(npis),
        "tax_id": draw(digits(9)),
        "taxonomy_code": draw(
            _weighted(st.just("225700000X"), st.from_regex(r"[0-9]{3}[0-9A-Z]{6}X", fullmatch=True))
        ),
        "address": draw(addresses),
        "phone": draw(st.none() | digits(10)),
        "claim_prefix": draw(st.none() | st.from_regex(r"[A-Z0-9]{2,5}", fullmatch=True)),
        "price_list": draw(
            _weighted(
                rows({"code": codes, "amount": money}, 3).map(
                    lambda r: r + [dict(p) for p in STANDARD_PRICES]  # r wins ties
                ),
                st.one_of(rows({"code": codes, "amount": money}, 8), priced_at(huge_amounts)),
            )
        ),
    }


@st.composite
def therapist_data(draw: st.DrawFn, clinic_id: str, therapist_id: str) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "clinic_id": clinic_id,
        "therapist_id": therapist_id,
        "name": draw(person_names),
        "npi": draw(npis),
        "license_number": draw(st.none() | external_ids),
    }


@st.composite
def payer_data(draw: st.DrawFn, payer_id: str) -> dict[str, Any]:
    few_codes = st.lists(codes, max_size=4)
    return {
        "schema_version": 1,
        "payer_id": payer_id,
        "name": draw(org_names),
        "kind": draw(st.sampled_from(PAYER_KINDS)),
        "edi_payer_id": draw(st.from_regex(r"[A-Za-z0-9]{2,20}", fullmatch=True)),
        "receiver_id": draw(st.sampled_from(RECEIVERS)),
        "unit_policy": draw(st.sampled_from(["cms", "ama"])),
        "pays_massage": draw(_weighted(st.just(True), st.just(False))),
        "requires_prescription": draw(st.booleans()),
        "timely_filing_days": draw(_weighted(st.just(365), st.integers(1, 3650))),
        "max_units_per_visit": draw(st.none() | st.integers(1, 8) | st.integers(1, 96)),
        "default_filing_indicator": draw(st.sampled_from(FILING)),
        "code_map": draw(
            rows({"technique": st.sampled_from(TECHNIQUES), "code": _weighted(codes, st.none())}, 3)
        ),
        "allowed_codes": draw(_weighted(st.none(), few_codes)),
        "untimed_codes": draw(_weighted(st.none(), few_codes)),
        "code_pair_rules": draw(
            rows(
                {
                    "rule_id": st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True),
                    "column1": codes,
                    "column2": codes,
                    "modifier_indicator": st.sampled_from([0, 1]),
                },
                3,
            )
        ),
        "distinct_service_modifier": draw(st.sampled_from(["59", "XS"])),
        "modifier_rules": draw(
            rows(
                {
                    "rule_id": st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True),
                    "modifier": modifiers,
                    "codes": _weighted(st.none(), few_codes),
                },
                *draw(_weighted(st.just((2, 0)), st.just((8, 5)))),  # (max, min): 5+ is too many
            )
        ),
        "fee_schedule": draw(
            _weighted(rows({"code": codes, "amount": money}, 6), priced_at(huge_amounts), odds=7)
        ),
        "sends_initial_treatment_date": draw(st.booleans()),
    }


@st.composite
def subscriber_data(draw: st.DrawFn) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if draw(st.booleans()):
        data["organisation_name"] = draw(org_names)
    else:
        data["name"] = draw(person_names)
    for key, strategy in (
        ("member_id", external_ids),
        ("birth_date", any_dates.map(date.isoformat)),
        ("sex", st.sampled_from(["F", "M", "U"])),
        ("address", addresses),
    ):
        if draw(st.booleans()):
            data[key] = draw(strategy)
    return data


@st.composite
def related_cause_data(draw: st.DrawFn) -> dict[str, Any]:
    cause = draw(st.sampled_from(["auto_accident", "employment", "other_accident"]))
    data: dict[str, Any] = {"cause": cause}
    if cause != "employment" or draw(st.booleans()):
        data["accident_date"] = draw(any_dates).isoformat()
    if cause == "auto_accident" or draw(st.booleans()):
        data["accident_state"] = draw(states)
    if draw(st.booleans()):
        data["claim_number"] = draw(external_ids)
    return data


@st.composite
def coverage_data(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["insurance", "insurance", "self_pay", "hsa"]))
    relationship = draw(st.sampled_from(["self", "self", "spouse", "child", "employee", "other"]))
    data: dict[str, Any] = {
        "coverage_id": draw(st.sampled_from(COVERAGES)),
        "kind": kind,
        "priority": draw(st.integers(1, 3)),
        "relationship": relationship,
        **draw(effective()),
    }
    if kind == "insurance" or draw(st.booleans()):
        data["payer_id"] = draw(st.sampled_from((*PAYERS, "p9")))  # p9: never known
    if relationship == "self" or draw(st.booleans()):
        data["member_id"] = draw(external_ids)
    if relationship != "self" or draw(st.booleans()):
        data["subscriber"] = draw(subscriber_data())
    if draw(st.booleans()):
        data["group_number"] = draw(external_ids)
    if draw(st.booleans()):
        data["filing_indicator"] = draw(st.sampled_from(FILING))
    if draw(st.booleans()):
        data["related_cause"] = draw(related_cause_data())
    return data


@st.composite
def patient_data(draw: st.DrawFn, clinic_id: str, patient_id: str) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "clinic_id": clinic_id,
        "patient_id": patient_id,
        "name": draw(person_names),
        "birth_date": draw(any_dates).isoformat(),
        "sex": draw(st.sampled_from(["F", "M", "U"])),
        "address": draw(addresses),
        "phone": draw(st.none() | digits(10)),
        "coverages": draw(st.lists(coverage_data(), max_size=4)),
    }


@st.composite
def prescription_data(
    draw: st.DrawFn, clinic_id: str, patient_id: str, prescription_id: str
) -> dict[str, Any]:
    issued = draw(_weighted(st.integers(-400, -100).map(lambda n: _shift(TODAY, n)), st.dates()))
    expires = draw(_weighted(st.none(), st.integers(0, 400).map(lambda n: _shift(issued, n))))
    return {
        "schema_version": 1,
        "clinic_id": clinic_id,
        "prescription_id": prescription_id,
        "patient_id": patient_id,
        "prescriber": {"name": draw(person_names), "npi": draw(npis)},
        "issued_on": issued.isoformat(),
        "expires_on": expires.isoformat() if expires else None,
        "visits_authorized": draw(_weighted(st.integers(1, 12), st.integers(1, 365))),
        "frequency_per_week": draw(_weighted(st.none(), st.integers(1, 14))),
        "duration_weeks": draw(_weighted(st.none(), st.integers(1, 104))),
        "diagnosis_codes": draw(
            _weighted(
                st.lists(diagnoses, min_size=1, max_size=3),
                st.lists(diagnoses, min_size=1, max_size=12),
            )
        ),
        "allowed_techniques": draw(
            _weighted(st.none(), st.lists(st.sampled_from(TECHNIQUES), unique=True, max_size=8))
        ),
        "allowed_body_regions": draw(
            _weighted(st.none(), st.lists(st.sampled_from(REGIONS), unique=True, max_size=4))
        ),
        "max_units_per_visit": draw(st.none() | st.integers(1, 96)),
        "prior_authorization": draw(st.none() | external_ids),
        "referral_number": draw(st.none() | external_ids),
    }


timestamps = _weighted(
    st.just(NOW - timedelta(hours=1)),
    st.datetimes(
        min_value=datetime(1900, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.integers(-23 * 60, 23 * 60).map(lambda m: timezone(timedelta(minutes=m))),
    ),
)
#: Any aware datetime at all: near year 1 or 9999 an offset moves it out of range in UTC.
extreme_timestamps = st.datetimes(
    timezones=st.integers(-23 * 60, 23 * 60).map(lambda m: timezone(timedelta(minutes=m)))
)
techniques = st.fixed_dictionaries(
    {
        "technique": st.sampled_from(TECHNIQUES),
        "minutes": _weighted(st.sampled_from([8, 15, 23, 30, 38, 45, 53, 60]), st.integers(1, 240)),
    },
    optional={"body_region": st.sampled_from(REGIONS)},
)


@st.composite
def session_data(
    draw: st.DrawFn, clinic_id: str, patient_id: str, session_id: str
) -> dict[str, Any]:
    many = draw(st.integers(1, 24) if draw(st.integers(0, 9)) == 0 else st.integers(1, 5))
    return {
        "schema_version": 1,
        "event_id": str(draw(st.uuids())),
        "event_type": "session.completed",
        "occurred_at": draw(timestamps).isoformat(),
        "clinic_id": clinic_id,
        "session_id": session_id,
        "patient_id": patient_id,
        "therapist_id": draw(st.sampled_from(THERAPISTS)),
        "date_of_service": draw(
            _weighted(
                st.integers(-100, -1).map(lambda n: _shift(TODAY, n)),
                _weighted(st.integers(-400, 2).map(lambda n: _shift(TODAY, n)), st.dates(), 1),
            )
        ).isoformat(),
        "place_of_service": draw(_weighted(st.just("11"), digits(2))),
        "prescription_id": draw(st.none() | st.sampled_from(PRESCRIPTIONS)),
        "coverage_id": draw(_weighted(st.none(), st.sampled_from(COVERAGES))),
        "techniques": draw(st.lists(techniques, min_size=many, max_size=many)),
        "notes": draw(st.none() | st.text(max_size=40)),
    }


@st.composite
def cancel_data(
    draw: st.DrawFn, clinic_id: str, patient_id: str, session_id: str
) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "event_id": str(draw(st.uuids())),
        "event_type": "session.cancelled",
        "occurred_at": draw(timestamps).isoformat(),
        "clinic_id": clinic_id,
        "session_id": session_id,
        "patient_id": patient_id,
        "reason": draw(_weighted(st.just("entered in error"), st.text(min_size=1, max_size=200))),
    }


@st.composite
def retry_data(draw: st.DrawFn, clinic_id: str, patient_id: str, session_id: str) -> dict[str, Any]:
    """An operator's retry of a session (as ``claims queue retry`` sends it)."""
    data = draw(cancel_data(clinic_id, patient_id, session_id))
    del data["reason"]
    return {
        **data,
        "event_type": "session.retry",
        "session": draw(session_data(clinic_id, patient_id, session_id)),
    }


def wire(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode("utf-8")


def model(cls: Any, data: dict[str, Any]) -> Any:
    """A contract read the way processors read it: from JSON bytes."""
    return cls.parse_json(wire(data))


# --- the stages after enrichment -----------------------------------------------------------

OUTCOME_TYPES = (SessionEnriched, SessionHeld, SessionRejected, SessionDuplicate, SessionWithdrawn)


def assert_round_trip(value: BaseModel, parse: Callable[[bytes], Any]) -> None:
    """What a processor writes, the next one reads back unchanged."""
    assert parse(encode(value)) == value


def price_and_claim(enriched: SessionEnriched, now: datetime) -> str:
    """The units and claims stages for one enriched session; returns what became of it."""
    read = parse_enriched_topic(encode(enriched))
    assert read == enriched
    assert isinstance(read, SessionEnriched)
    priced = price_session(read, LISTS, now)
    if priced.billable is None:
        assert priced.reason in ("no-billable-units", "scrub-failed"), priced
        assert priced.message
        return priced.reason
    assert priced.reason is None
    billable = priced.billable
    assert_round_trip(billable, BillableSession.parse_json)
    assert billable.charge_total == sum((ln.charge for ln in billable.lines), Decimal(0))
    if not billable.billed_to_payer:
        assert billable.lines
        return "self-pay"
    if not billable.lines:  # its minutes alone earn nothing: it waits for its day
        assert any(d.reason == "zero-units" for d in billable.dropped)
        with pytest.raises(UnbillableDay):  # a day of this one visit earns nothing either
            assemble_claim([billable])
        return "waits-for-day"
    claim = assemble_claim([billable])  # the engine's own data: never refused here
    assert claim.total_charge == billable.charge_total
    assert billable.receiver_id is not None
    partner: TradingPartner = builtin_test_partner(billable.receiver_id)
    try:
        rendered = render_837p([claim], partner, NUMBERS, now)
    except X12Error:  # the renderer's typed refusals (delimiters, lengths, parties)
        return "render-refused"
    [back] = read_837p(rendered.text.encode("utf-8"))
    assert back.patient_control_number == claim.patient_control_number
    assert back.total_charge == claim.total_charge
    assert len(back.lines) == len(claim.lines)
    return "claimed"


# --- the enrichment core, step by step -------------------------------------------------------


@dataclass
class World:
    """Reference data, per-patient state and what was emitted, for one generated run."""

    catalog: FakeCatalog
    states: dict[str, PatientState] = field(default_factory=dict)
    now: datetime = NOW
    offset: int = 0
    messages: list[tuple[str, Any, str]] = field(default_factory=list)  # (kind, event, source)
    outcomes: list[SessionOutcome] = field(default_factory=list)
    completed: set[str] = field(default_factory=set)  # session keys with a SessionCompleted
    downstream: list[str] = field(default_factory=list)

    def source(self) -> str:
        self.offset += 1
        return f"sessions.completed:0:{self.offset}"


def check_state(state: PatientState) -> None:
    assert_round_trip(state, PatientState.parse_json)
    for sid, record in state.sessions.items():
        assert record.status in ("enriched", "held", "rejected", "cancelled"), sid
        assert (record.status == "held") == (record.hold is not None), sid
    for rx_id, visits in state.visits.items():
        ids = [v.session_id for v in visits]
        assert len(ids) == len(set(ids)), (rx_id, ids)
        for sid in ids:
            record = state.sessions[sid]
            assert record.status == "enriched", (rx_id, sid, record.status)
            assert record.prescription_id == rx_id


def check_outcomes(world: World, outcomes: list[SessionOutcome], *, repeat: bool) -> None:
    for outcome in outcomes:
        assert isinstance(outcome, OUTCOME_TYPES)
        assert_round_trip(outcome, type(outcome).parse_json)
        if isinstance(outcome, SessionEnriched):
            rx = outcome.prescription
            if rx is not None and not repeat:
                assert outcome.visit_number is not None
                assert outcome.visit_number <= rx.visits_authorized
            world.downstream.append(price_and_claim(outcome, world.now))
            tally(f"downstream: {world.downstream[-1]}")
    world.outcomes += outcomes
    for outcome in outcomes:
        tally(f"outcome: {type(outcome).__name__} {getattr(outcome, 'reason', '')}")


def on_completed(world: World, key: str, event: SessionCompleted, source: str) -> None:
    state = world.states.get(key, PatientState.new())
    before = state.sessions.get(event.session_id)
    redelivery = before is not None and source in before.sources
    step = rules.on_session_completed(state, event, world.catalog, world.now, source=source)
    outs = step.outcomes
    if before is None:
        # a new session: exactly one outcome, about it
        assert len(outs) == 1, outs
        assert isinstance(outs[0], SessionEnriched | SessionHeld | SessionRejected)
        assert outs[0].session_key == event.session_key
        assert step.state.sessions[event.session_id].status in ("enriched", "held", "rejected")
    elif not redelivery:
        # the same session again: counted once, or refused as a conflicting duplicate
        assert len(outs) <= 1, outs
        if outs:
            out = outs[0]
            assert isinstance(out, SessionDuplicate) or (
                isinstance(out, SessionRejected) and out.reason == "conflicting-duplicate"
            ), out
        else:
            assert before.status == "cancelled"
    else:
        assert len(outs) <= 1, outs
    world.completed.add(event.session_key)
    check_outcomes(world, outs, repeat=before is not None)
    world.states[key] = step.state
    check_state(step.state)


def on_retry(world: World, key: str, retry: SessionRetry, source: str) -> None:
    state = world.states.get(key, PatientState.new())
    before = state.sessions.get(retry.session_id)
    step = rules.on_session_retry(state, retry, world.catalog, world.now, source=source)
    assert len(step.outcomes) <= 1, step.outcomes
    if before is None or before.status == "cancelled":
        assert not step.outcomes
    for outcome in step.outcomes:
        assert isinstance(outcome, SessionEnriched | SessionHeld | SessionRejected)
        assert outcome.session_key == retry.session.session_key
    check_outcomes(world, step.outcomes, repeat=True)
    world.states[key] = step.state
    check_state(step.state)


def on_cancelled(world: World, key: str, event: SessionCancelled, source: str) -> None:
    state = world.states.get(key, PatientState.new())
    step = rules.on_session_cancelled(state, event, world.now, source=source)
    assert len(step.outcomes) <= 1
    assert all(isinstance(o, SessionWithdrawn | SessionDuplicate) for o in step.outcomes)
    check_outcomes(world, step.outcomes, repeat=True)
    world.states[key] = step.state
    assert step.state.sessions[event.session_id].status == "cancelled"
    check_state(step.state)


def reevaluate(world: World, key: str, state: PatientState) -> None:
    held = {sid for sid, r in state.sessions.items() if r.status == "held"}
    step = rules.reevaluate_held(state, world.catalog, world.now)
    keys = [o.session_key for o in step.outcomes]
    assert len(keys) == len(set(keys)), keys  # at most one new outcome per held session
    for outcome in step.outcomes:
        assert isinstance(outcome, SessionEnriched | SessionHeld | SessionRejected)
        assert outcome.session_key.split(":", 1)[1] in held
    check_outcomes(world, step.outcomes, repeat=False)
    world.states[key] = step.state
    check_state(step.state)


def final_status(outcome: SessionOutcome) -> str | None:
    """The record status an outcome leaves behind (None: it changes nothing)."""
    if isinstance(outcome, SessionEnriched):
        return "enriched"
    if isinstance(outcome, SessionHeld):
        return "held"
    if isinstance(outcome, SessionRejected) and outcome.reason != "conflicting-duplicate":
        return "rejected"
    if isinstance(outcome, SessionWithdrawn):
        return "cancelled"
    return None


def present(data: st.DataObject, label: str) -> bool:
    """Mostly there: reference data usually exists, sometimes not yet."""
    return bool(data.draw(_weighted(st.just(True), st.just(False), odds=5), label=label))


def draw_world(data: st.DataObject) -> World:
    world = World(FakeCatalog())
    catalog = world.catalog
    for cid in CLINICS:
        if present(data, f"clinic {cid}"):
            catalog.clinics[cid] = model(Clinic, data.draw(clinic_data(cid)))
        for tid in THERAPISTS:
            if present(data, f"therapist {cid}:{tid}"):
                therapist = model(Therapist, data.draw(therapist_data(cid, tid)))
                catalog.therapists[therapist.key] = therapist
        for pid in PATIENTS:
            state = PatientState.new()
            if present(data, f"patient {cid}:{pid}"):
                state = rules.with_patient(state, model(Patient, data.draw(patient_data(cid, pid))))
            for rx_id in PRESCRIPTIONS:
                if data.draw(st.booleans(), label=f"prescription {cid}:{rx_id}"):
                    rx = model(Prescription, data.draw(prescription_data(cid, pid, rx_id)))
                    if rules.prescription_problem(rx) is None:
                        state = rules.with_prescription(state, rx_id, rx)
            world.states[f"{cid}:{pid}"] = state
    for pid in PAYERS:
        if present(data, f"payer {pid}"):
            catalog.payers[pid] = model(Payer, data.draw(payer_data(pid)))
    return world


def run_operation(world: World, data: st.DataObject) -> None:
    cid = data.draw(st.sampled_from(CLINICS))
    pid = data.draw(st.sampled_from(PATIENTS))
    key = f"{cid}:{pid}"
    kind = data.draw(
        st.sampled_from(
            ["session"] * 6
            + ["repeat", "redeliver", "retry", "cancel", "patient", "prescription", "time"]
            + ["catalog"]
        ),
        label="operation",
    )
    if kind == "repeat" and world.messages:
        # the same session sent again: a new message, same or new event id, maybe edited
        _, event, _ = data.draw(st.sampled_from(world.messages))
        if isinstance(event, SessionCompleted):
            changes: dict[str, Any] = {}
            if data.draw(st.booleans()):
                changes["event_id"] = uuid.UUID(int=data.draw(st.integers(0, 2**64)))
            if data.draw(st.booleans()):
                changes["place_of_service"] = "22"  # a conflicting duplicate
            event = event.model_copy(update=changes)
        handle(world, event.patient_key, event, world.source())
    elif kind == "retry" and world.messages:
        # an operator retries a session (after fixing the cause of a rejection)
        _, event, _ = data.draw(st.sampled_from(world.messages))
        if isinstance(event, SessionCompleted):
            body = data.draw(cancel_data(event.clinic_id, event.patient_id, event.session_id))
            del body["reason"]
            body.update(event_type="session.retry", session=event.model_dump(mode="json"))
            on_retry(world, event.patient_key, model(SessionRetry, body), world.source())
    elif kind == "redeliver" and world.messages:
        # the same message again (a retry after a crash): same source
        _, event, source = data.draw(st.sampled_from(world.messages))
        handle(world, event.patient_key, event, source)
    elif kind in ("session", "repeat", "redeliver"):
        sid = data.draw(st.sampled_from(SESSIONS))
        event = model(SessionCompleted, data.draw(session_data(cid, pid, sid)))
        handle(world, key, event, world.source())
    elif kind == "cancel":
        sid = data.draw(st.sampled_from(SESSIONS))
        event = model(SessionCancelled, data.draw(cancel_data(cid, pid, sid)))
        handle(world, key, event, world.source())
    elif kind == "patient":
        patient = None
        if data.draw(_weighted(st.just(True), st.just(False))):
            patient = model(Patient, data.draw(patient_data(cid, pid)))
        state = rules.with_patient(world.states.get(key, PatientState.new()), patient)
        reevaluate(world, key, state)
    elif kind == "prescription":
        rx_id = data.draw(st.sampled_from(PRESCRIPTIONS))
        rx = None
        if data.draw(_weighted(st.just(True), st.just(False))):
            rx = model(Prescription, data.draw(prescription_data(cid, pid, rx_id)))
            if rules.prescription_problem(rx) is not None:
                return  # refused on arrival (ref.rejected): never reaches the state
        state = rules.with_prescription(world.states.get(key, PatientState.new()), rx_id, rx)
        reevaluate(world, key, state)
    elif kind == "time":
        world.now += timedelta(hours=data.draw(st.integers(1, 24 * 40)))
        for key_ in list(world.states):
            reevaluate(world, key_, world.states[key_])
    else:  # catalog: a clinic, therapist or payer arrives, changes or goes
        which = data.draw(st.sampled_from(["clinic", "therapist", "payer"]))
        present = data.draw(st.booleans())
        if which == "clinic":
            world.catalog.clinics.pop(cid, None)
            if present:
                world.catalog.clinics[cid] = model(Clinic, data.draw(clinic_data(cid)))
        elif which == "therapist":
            tid = data.draw(st.sampled_from(THERAPISTS))
            world.catalog.therapists.pop(f"{cid}:{tid}", None)
            if present:
                world.catalog.therapists[f"{cid}:{tid}"] = model(
                    Therapist, data.draw(therapist_data(cid, tid))
                )
        else:
            payer_id = data.draw(st.sampled_from(PAYERS))
            world.catalog.payers.pop(payer_id, None)
            if present:
                world.catalog.payers[payer_id] = model(Payer, data.draw(payer_data(payer_id)))
        for key_ in list(world.states):
            reevaluate(world, key_, world.states[key_])


def handle(world: World, key: str, event: SessionCompleted | SessionCancelled, source: str) -> None:
    if all(src != source for _, _, src in world.messages):
        world.messages.append((type(event).__name__, event, source))
    if isinstance(event, SessionCompleted):
        on_completed(world, key, event, source)
    else:
        on_cancelled(world, key, event, source)


@fuzz(max_examples=70)
@given(st.data())
def test_enrichment_core_gives_one_outcome_per_session_and_never_raises(
    data: st.DataObject,
) -> None:
    world = draw_world(data)
    for _ in range(data.draw(st.integers(1, 25), label="operations")):
        run_operation(world, data)
    # every session that arrived has exactly one standing outcome, the last one sent for it
    last: dict[str, str] = {}
    for outcome in world.outcomes:
        status = final_status(outcome)
        if status is not None:
            last[outcome.session_key] = status
    for session_key in world.completed:
        clinic_id, session_id = session_key.split(":", 1)
        records = [
            s.sessions[session_id]
            for k, s in world.states.items()
            if k.startswith(f"{clinic_id}:") and session_id in s.sessions
        ]
        assert records, session_key
        if session_key in last:
            assert last[session_key] in {r.status for r in records}, (session_key, last)


# --- pricing and claims on their own --------------------------------------------------------


@st.composite
def enriched_sessions(draw: st.DrawFn) -> SessionEnriched:
    """A SessionEnriched as enrichment builds it, from generated reference data."""
    clinic = model(Clinic, draw(clinic_data("c1")))
    therapist = model(Therapist, draw(therapist_data("c1", "t1")))
    payer = model(Payer, draw(payer_data("p1")))
    coverage = draw(coverage_data())
    patient = model(Patient, {**draw(patient_data("c1", "pt1")), "coverages": [coverage]})
    event = model(SessionCompleted, draw(session_data("c1", "pt1", "s1")))
    rx = None
    if draw(_weighted(st.just(True), st.just(False))):
        rx = model(Prescription, draw(prescription_data("c1", "pt1", "rx1")))
        if rules.prescription_problem(rx) is not None:
            rx = None  # refused on arrival: never attached to a session
    billed = patient.coverages[0].kind == "insurance"
    day = event.date_of_service
    return SessionEnriched.new(
        session_key=event.session_key,
        session=event.model_copy(update={"notes": None}),
        enriched_at=NOW,
        clinic=rules._effective_clinic(clinic, day),
        therapist=therapist,
        patient=patient,
        coverage=patient.coverages[0],
        payer=rules._effective_payer(payer, day) if billed else None,
        prescription=rx,
        visit_number=draw(st.integers(1, 30)) if rx else None,
        first_visit_date=day if rx else None,
        billed_to_payer=billed,
        checks=[],
    )


@fuzz(max_examples=200)
@given(enriched_sessions())
def test_every_enriched_session_prices_to_lines_or_a_refusal(enriched: SessionEnriched) -> None:
    result = price_and_claim(enriched, NOW)
    tally(result)
    assert result in (
        "no-billable-units",
        "scrub-failed",
        "self-pay",
        "waits-for-day",
        "render-refused",
        "claimed",
    )


# --- garbage through the decode path ---------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["", "0001-01-01", "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+01:00"]),
    timestamps.map(datetime.isoformat),
    extreme_timestamps.map(datetime.isoformat),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


@st.composite
def mutated_documents(draw: st.DrawFn) -> bytes:
    """A valid document with one value replaced, removed, or a key added."""
    doc = draw(
        st.one_of(
            session_data("c1", "pt1", "s1"),
            cancel_data("c1", "pt1", "s1"),
            patient_data("c1", "pt1"),
            prescription_data("c1", "pt1", "rx1"),
            clinic_data("c1"),
            payer_data("p1"),
            therapist_data("c1", "t1"),
        )
    )
    doc = copy.deepcopy(doc)  # never edit what a strategy may share
    path = draw(st.sampled_from(list(_paths(doc))[1:]))
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
    if action == "replace":
        parent[path[-1]] = draw(json_values)
    elif action == "delete":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[draw(st.text(max_size=8))] = draw(json_values)
    return json.dumps(doc).encode("utf-8")


def _nested(depth: int, wrapped: bool) -> bytes:
    inner = "[" * depth + "]" * depth
    return ('{"event_type":"session.completed","x":' + inner + "}" if wrapped else inner).encode()


deep_nesting = st.builds(_nested, st.integers(1, 5000), st.booleans())
#: A session whose occurred_at is valid ISO 8601 but out of range once moved to UTC.
out_of_range_sessions = st.builds(
    lambda data, when: wire({**data, "occurred_at": when.isoformat()}),
    session_data("c1", "pt1", "s1"),
    extreme_timestamps,
)
garbage = st.one_of(
    st.binary(max_size=300),
    out_of_range_sessions,
    json_values.map(lambda v: json.dumps(v).encode("utf-8")),
    mutated_documents(),
    mutated_documents(),
    deep_nesting,
    st.text(max_size=100).map(lambda t: t.encode("utf-8")),
)

DECODERS: dict[str, Any] = {
    "sessions.completed": parse_session_event,
    "sessions.enriched": parse_enriched_topic,
    "ref.clinics": Clinic,
    "ref.therapists": Therapist,
    "ref.payers": Payer,
    "ref.patients": Patient,
    "ref.prescriptions": Prescription,
    "ref.partners": TradingPartner,
    "state.enrich.prescriptions-by-patient": PrescriptionChange,
    "state.enrich.wakeups": Wakeup,
    "charges.billable": BillableSession,
}


@fuzz(max_examples=300)
@given(garbage)
def test_garbage_through_the_decode_path_is_only_invalid_input(raw: bytes) -> None:
    for what, schema in DECODERS.items():
        try:
            value = decode(schema, raw, what=what)
        except InvalidInput as exc:
            assert exc.reason in ("undecodable", "schema-invalid"), exc.reason
            continue
        if isinstance(value, SessionCompleted):
            # whatever decodes goes through the core without an exception
            state = PatientState.new()
            rules.on_session_completed(state, value, FakeCatalog(), NOW, source="x:0:1")
        elif isinstance(value, SessionCancelled):
            rules.on_session_cancelled(PatientState.new(), value, NOW, source="x:0:1")


# --- the real handlers, end to end without Kafka ----------------------------------------------


@contextmanager
def enrichment_and_units(sink: FakeSink) -> Iterator[tuple[FakeWiring, FakeMirror]]:
    wiring = FakeWiring(sink, now=NOW)
    enrich_processor.register(wiring)
    units_processor.register(wiring)
    yield wiring, wiring.mirrors["reference_mirror"]


@dataclass
class Harness:
    wiring: FakeWiring
    mirror: FakeMirror
    sink: FakeSink
    runner: MessageRunner
    offsets: dict[str, int] = field(default_factory=dict)
    processed: list[Incoming] = field(default_factory=list)
    sessions: list[dict[str, Any]] = field(default_factory=list)  # session events sent

    def incoming(self, topic: str, key: bytes | None, value: bytes | None, part: int) -> Incoming:
        self.offsets[topic] = self.offsets.get(topic, -1) + 1
        return Incoming(topic, part, self.offsets[topic], 1_770_000_000_000, key, value)

    def partition(self, topic: str, key: bytes | None) -> int:
        return partition_for(key, self.wiring.catalogue.partitions(topic)) if key else 0

    async def send(self, msg: Incoming) -> None:
        """Process ``msg`` and every internal message it leads to."""
        queue = [msg]
        while queue:
            current = queue.pop(0)
            if current.topic in ("ref.clinics", "ref.therapists", "ref.payers") and current.key:
                self.mirror.on_record(current.topic, current.key, current.value)
            handler = self.wiring.handlers.get(current.topic)
            if handler is None:
                continue
            before = len(self.sink.sent)
            await self.runner.process(current, handler)
            self.processed.append(current)
            for record in self.sink.sent[before:]:
                if record.topic in self.wiring.handlers:
                    queue.append(self.follow(record))

    def follow(self, record: Outgoing) -> Incoming:
        part = record.partition
        if part is None:
            part = self.partition(record.topic, record.key)
        return self.incoming(record.topic, record.key, record.value, part)


@st.composite
def wakeup_data(draw: st.DrawFn) -> dict[str, Any]:
    """A wake-up as the engine writes it, or with an odd topic, key or record."""
    topic = draw(
        _weighted(
            st.sampled_from(["ref.clinics", "ref.therapists", "ref.payers"]),
            st.none() | st.text(max_size=20),
        )
    )
    record = draw(
        st.one_of(
            clinic_data("c1"),
            therapist_data("c1", "t1"),
            payer_data("p1"),
            st.dictionaries(st.text(max_size=8), json_values, max_size=3),
        )
    )
    return {
        "schema_version": 1,
        "kind": draw(_weighted(st.just("reference"), st.just("sweep"))),
        "topic": topic,
        "key": draw(st.sampled_from(["c1", "c1:t1", "p1", "x"])),
        "record": draw(st.none() | st.just(record)),
        "issued_at": NOW.isoformat(),
    }


@st.composite
def prescription_change_data(draw: st.DrawFn, clinic_id: str, patient_id: str) -> dict[str, Any]:
    """A prescription re-keyed by patient (its ids need not agree: a stray record)."""
    rx_id = draw(st.sampled_from(PRESCRIPTIONS))
    rx = draw(
        st.none() | prescription_data(clinic_id, patient_id, draw(st.sampled_from(PRESCRIPTIONS)))
    )
    return {
        "schema_version": 1,
        "clinic_id": clinic_id,
        "patient_id": patient_id,
        "prescription_id": rx_id,
        "prescription": rx,
    }


def draw_message(data: st.DataObject, h: Harness) -> Incoming:
    cid = data.draw(st.sampled_from(CLINICS))
    pid = data.draw(st.sampled_from(PATIENTS))
    topic = data.draw(
        st.sampled_from(
            ["sessions.completed"] * 5
            + ["ref.clinics", "ref.therapists", "ref.payers", "ref.patients", "ref.prescriptions"]
            + ["state.enrich.wakeups", "state.enrich.prescriptions-by-patient", "sessions.enriched"]
            + ["again"]
        ),
        label="topic",
    )
    if topic == "again" and h.processed:
        return data.draw(st.sampled_from(h.processed))  # a redelivery (same offset)
    if topic == "again":
        topic = "sessions.completed"
    kind = data.draw(st.sampled_from(["valid"] * 6 + ["tombstone", "garbage"]), label="value")
    key: str | None
    value: bytes | None
    if topic == "sessions.completed":
        sid = data.draw(st.sampled_from(SESSIONS))
        key = f"{cid}:{pid}"
        strategy = data.draw(st.sampled_from([session_data] * 4 + [cancel_data, retry_data]))
        body = data.draw(strategy(cid, pid, sid))
        if strategy is session_data:
            h.sessions.append(body)
        elif strategy is retry_data and h.sessions:  # mostly a retry of a session sent before
            earlier = data.draw(st.sampled_from(h.sessions))
            ids = {k: earlier[k] for k in ("clinic_id", "patient_id", "session_id")}
            body = {**body, **ids, "session": earlier}
            key = f"{earlier['clinic_id']}:{earlier['patient_id']}"
        value = wire(body)
    elif topic == "ref.clinics":
        key, value = cid, wire(data.draw(clinic_data(cid)))
    elif topic == "ref.therapists":
        tid = data.draw(st.sampled_from(THERAPISTS))
        key, value = f"{cid}:{tid}", wire(data.draw(therapist_data(cid, tid)))
    elif topic == "ref.payers":
        payer_id = data.draw(st.sampled_from(PAYERS))
        key, value = payer_id, wire(data.draw(payer_data(payer_id)))
    elif topic == "ref.patients":
        key, value = f"{cid}:{pid}", wire(data.draw(patient_data(cid, pid)))
    elif topic == "ref.prescriptions":
        rx_id = data.draw(st.sampled_from(PRESCRIPTIONS))
        key, value = f"{cid}:{rx_id}", wire(data.draw(prescription_data(cid, pid, rx_id)))
    elif topic == "state.enrich.wakeups":
        key, value = "wakeup", wire(data.draw(wakeup_data()))
    elif topic == "state.enrich.prescriptions-by-patient":
        key, value = f"{cid}:{pid}", wire(data.draw(prescription_change_data(cid, pid)))
    else:  # sessions.enriched: what enrichment writes, from generated reference data
        enriched = data.draw(enriched_sessions(), label="enriched")
        key, value = enriched.session.patient_key, encode(enriched)
    if kind == "tombstone":
        value = None
    elif kind == "garbage":
        value = data.draw(garbage, label="garbage")
    key_bytes = key.encode()
    if data.draw(_weighted(st.just(False), st.just(True)), label="odd key"):
        key_bytes = data.draw(st.none() | st.binary(max_size=12))
    part = h.partition(topic, key_bytes)
    if data.draw(_weighted(st.just(False), st.just(True)), label="misrouted"):
        part = data.draw(st.integers(0, 5))
    return h.incoming(topic, key_bytes, value, part)


def unexpected_dead_letters(sink: FakeSink) -> list[dict[str, str]]:
    infos = [dead_letter_info(record.headers) for record in sink.delivered]
    return [info for info in infos if info.get("error.kind") != "invalid-input"]


async def _no_sleep(_: float) -> None:
    return None


@fuzz(max_examples=45)
@given(st.data())
def test_enrichment_and_units_handlers_never_dead_letter_a_defect(data: st.DataObject) -> None:
    sink = FakeSink()
    with enrichment_and_units(sink) as (wiring, mirror):
        runner = MessageRunner(
            processor="enrich",
            consumer_group="claims-fuzz",
            sink=sink,
            retry=RetryPolicy(attempts=1),
            sleep=_no_sleep,
            clock=lambda: NOW,
        )
        h = Harness(wiring, mirror, sink, runner)

        async def run() -> None:
            for _ in range(data.draw(st.integers(1, 30), label="messages")):
                await h.send(draw_message(data, h))

        asyncio.run(run())
    bad = unexpected_dead_letters(sink)
    assert not bad, [
        (
            b.get("original.topic"),
            b.get("error.class"),
            b.get("error.message"),
            b.get("error.stacktrace"),
        )
        for b in bad
    ]


# --- regression tests for what fuzzing found ---------------------------------------------------


def _modifier_rules(*mods: str) -> list[dict[str, Any]]:
    return [
        {"rule_id": f"m{i}", "modifier": m, "effective_from": "2020-01-01"}
        for i, m in enumerate(mods)
    ]


def test_more_than_four_modifiers_is_a_scrub_failure_not_a_crash() -> None:
    # found by test_every_enriched_session_prices_to_lines_or_a_refusal: the line was
    # built (at most 4 modifiers by contract) before the scrub could refuse it
    enriched = pipeline.enriched(
        payer=factories.payer(modifier_rules=_modifier_rules("GP", "KX", "GO", "59", "XE"))
    )
    priced = price_session(enriched, LISTS, pipeline.NOW)
    assert priced.billable is None and priced.reason == "scrub-failed"
    assert {p.check for p in priced.problems} == {"modifiers"}
    assert "more than 4 modifiers" in priced.message
    four = pipeline.enriched(
        payer=factories.payer(modifier_rules=_modifier_rules("GP", "KX", "GO", "59"))
    )
    billable = price_session(four, LISTS, pipeline.NOW).billable
    assert billable is not None and {len(ln.modifiers) for ln in billable.lines} == {4}


def _priced(amount: str, *codes: str) -> list[dict[str, str]]:
    return [{"code": c, "amount": amount, "effective_from": "2020-01-01"} for c in codes]


@pytest.mark.parametrize(
    ("clinic_price", "payer_fee", "message"),
    [
        ("999999999.99", "35.00", "line 1: the charge (2 units) exceeds 999999999.99"),
        ("40.00", "999999999.99", "line 1: the expected allowed amount (2 units) exceeds"),
        ("300000000.00", "35.00", "the session's total charge exceeds 999999999.99"),
        ("40.00", "300000000.00", "the session's total expected allowed amount exceeds"),
    ],
)
def test_amounts_too_large_for_money_are_a_scrub_failure_not_a_crash(
    clinic_price: str, payer_fee: str, message: str
) -> None:
    # found by test_every_enriched_session_prices_to_lines_or_a_refusal: units x a
    # contract-valid unit price did not fit Money (9 digits and 2 decimals) and the
    # BillableLine / BillableSession contract refused it with a ValidationError
    enriched = pipeline.enriched(
        clinic=factories.clinic(price_list=_priced(clinic_price, "97124", "97140")),
        payer=factories.payer(fee_schedule=_priced(payer_fee, "97124", "97140")),
    )
    priced = price_session(enriched, LISTS, pipeline.NOW)
    assert priced.billable is None and priced.reason == "scrub-failed"
    assert {p.check for p in priced.problems} == {"amount"}
    assert message in priced.message


def test_a_diagnosis_code_with_a_trailing_newline_is_refused_on_arrival() -> None:
    # found by test_every_enriched_session_prices_to_lines_or_a_refusal: "$" of the
    # ICD-10-CM pattern also matched before a final newline, so the prescription was
    # accepted and its claim then failed the Claim contract in assemble_claim
    assert not icd10cm_valid("M545\n")
    assert icd10cm_valid("M545") and icd10cm_valid("M54.50")
    rx = model(Prescription, factories.prescription(diagnosis_codes=["M54.50", "M545\n"]))
    problem = rules.prescription_problem(rx)
    assert problem is not None and problem[0] == "rx-bad-diagnosis"
    assert "diagnosis_codes[1]" in problem[1]


@pytest.mark.parametrize(
    "occurred_at",
    ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00", "0001-01-01T00:30:00+00:45"],
)
def test_occurred_at_out_of_range_in_utc_is_invalid_input(occurred_at: str) -> None:
    # found by test_garbage_through_the_decode_path_is_only_invalid_input: the
    # validator's astimezone(UTC) raised OverflowError, which pydantic does not turn
    # into a ValidationError
    for data in (
        factories.session(occurred_at=occurred_at),
        factories.cancel(occurred_at=occurred_at),
    ):
        with pytest.raises(InvalidInput) as caught:
            decode(parse_session_event, wire(data))
        assert caught.value.reason == "schema-invalid"
        assert "occurred_at: is out of range once converted to UTC" in caught.value.message
        assert occurred_at not in caught.value.message


@pytest.mark.parametrize("depth", [2000, 100_000])
def test_deeply_nested_json_is_invalid_input(depth: int) -> None:
    # found by test_enrichment_and_units_handlers_never_dead_letter_a_defect: after
    # pydantic refused the nesting, json.loads (to find the event type) raised
    # RecursionError, which is not a ValueError
    for raw in (
        _nested(depth, wrapped=False),
        _nested(depth, wrapped=True),
        b'{"event_type":"session.withdrawn","x":' + b"[" * depth + b"]" * depth + b"}",
    ):
        for parse in (parse_session_event, parse_enriched_topic):
            with pytest.raises(InvalidInput) as caught:
                decode(parse, raw)
            assert caught.value.reason == "undecodable"


def test_a_wakeup_for_an_unknown_topic_is_invalid_input() -> None:
    # found by test_enrichment_and_units_handlers_never_dead_letter_a_defect: the
    # wake-up handler looked the topic up in the catalogue topics (KeyError)
    body = {
        "schema_version": 1,
        "kind": "reference",
        "topic": "ref.bogus",
        "key": "c1",
        "record": {"x": 1},
        "issued_at": NOW.isoformat(),
    }
    with pytest.raises(InvalidInput) as caught:
        decode(Wakeup, wire(body))
    assert caught.value.reason == "schema-invalid" and "topic" in caught.value.message
    sink = FakeSink()
    with enrichment_and_units(sink) as (wiring, mirror):
        runner = MessageRunner(
            processor="enrich", consumer_group="claims-fuzz", sink=sink, sleep=_no_sleep
        )
        h = Harness(wiring, mirror, sink, runner)
        asyncio.run(h.send(h.incoming("state.enrich.wakeups", b"wakeup", wire(body), 0)))
        for topic in ("ref.clinics", "ref.therapists", "ref.payers"):
            body["topic"] = topic
            asyncio.run(h.send(h.incoming("state.enrich.wakeups", b"wakeup", wire(body), 1)))
    [dead] = [dead_letter_info(r.headers) for r in sink.delivered]
    assert dead["error.kind"] == "invalid-input" and dead["error.reason"] == "schema-invalid"
