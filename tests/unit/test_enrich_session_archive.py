"""A patient's settled session records leave the state's value in groups.

The enrichment stage writes a patient's state after every session; written
whole, a regular's state grows by a session record a visit.  Once a state holds
more than ``HOT_MAX`` settled records, the oldest are written once to a group of
their own and the value names how many groups there are; reading puts them
back.  The rules always see the whole state, so what they decide cannot change;
a patient with few sessions is stored exactly as before."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta

import pytest

from schemas.events import parse_session_event
from schemas.outcomes import SessionDuplicate, SessionEnriched, SessionWithdrawn
from schemas.reference import Clinic, Patient, Payer, Prescription, Therapist
from schemas.state import PatientState, SessionRecord
from tests import factories as f
from tests.fakes import FakeCatalog
from tests.pipeline import model
from workers.enrich import rules, session_archive
from workers.enrich.processor import PatientStore
from workers.runtime.codec import encode_compact
from workers.runtime.partitioning import partition_for

KEY = "c1:pt1"
FIRST_DAY = date(2026, 1, 5)
T0 = datetime(2026, 1, 1, 9, tzinfo=UTC)


def record(n: int, status: str = "enriched") -> SessionRecord:
    return SessionRecord(
        fingerprint=f"{n:064x}",
        event_ids=[f"e{n}"],
        sources=[f"sessions.completed:0:{n}"],
        status=status,  # type: ignore[arg-type]  # a literal chosen by the test
        payer_id="p1",
        decided_at=T0 + timedelta(days=n),
    )


def with_sessions(count: int, held: frozenset[int] = frozenset()) -> PatientState:
    sessions = {f"s{n}": record(n, "held" if n in held else "enriched") for n in range(count)}
    return PatientState.new().model_copy(update={"sessions": sessions})


def test_a_patient_with_few_sessions_is_stored_as_before() -> None:
    table: dict[bytes, bytes] = {}
    store = PatientStore(table, 6)
    state = with_sessions(session_archive.HOT_MAX)
    store.put(KEY, state)
    assert table == {KEY.encode(): encode_compact(state)}


def test_many_settled_sessions_go_to_groups_written_once_and_read_back_whole() -> None:
    table: dict[bytes, bytes] = {}
    store = PatientStore(table, 6)
    sizes = []
    writes_of_group: dict[bytes, int] = {}
    for count in range(1, 61):
        before = dict(table)
        state = with_sessions(count)
        store.put(KEY, state)
        assert store.get(KEY) == state
        recovered = PatientStore(dict(table), 6)  # another process, from the changelog
        assert recovered.get(KEY) == state
        assert list(recovered.get(KEY).sessions) == list(state.sessions)  # oldest first
        sizes.append(len(table[KEY.encode()]))
        for key, value in table.items():
            if key != KEY.encode() and before.get(key) != value:
                writes_of_group[key] = writes_of_group.get(key, 0) + 1
    assert set(writes_of_group.values()) == {1}, "a group is written once"
    assert len(writes_of_group) >= 5
    assert all(session_archive.is_part_key(k) for k in writes_of_group)
    whole = len(encode_compact(with_sessions(60)))
    assert max(sizes[20:]) < 0.35 * whole, "the value stays small as the history grows"


def test_a_held_session_stays_in_the_state_and_is_found_after_a_recovery() -> None:
    table: dict[bytes, bytes] = {}
    store = PatientStore(table, 6)
    state = with_sessions(40, held=frozenset({2}))
    store.put(KEY, state)
    own = json.loads(session_archive.own_part(table[KEY.encode()]))
    assert "s2" in own["sessions"] and "s3" not in own["sessions"]
    recovered = PatientStore(dict(table), 6)
    asyncio.run(recovered.rebuild_index())
    held = {p: recovered.held_keys(p) for p in range(6) if recovered.held_keys(p)}
    assert held == {partition_for(KEY, 6): [KEY]}
    assert recovered.get(KEY) == state


def test_a_grouped_record_changed_again_is_written_in_the_state_and_wins() -> None:
    table: dict[bytes, bytes] = {}
    store = PatientStore(table, 6)
    state = with_sessions(30)
    store.put(KEY, state)
    assert "s0" not in json.loads(session_archive.own_part(table[KEY.encode()]))["sessions"]
    changed = state.sessions["s0"].model_copy(update={"status": "cancelled"})
    later = state.model_copy(update={"sessions": {**state.sessions, "s0": changed}})
    store.put(KEY, later)
    assert PatientStore(dict(table), 6).get(KEY).sessions["s0"].status == "cancelled"
    assert PatientStore(dict(table), 6).get(KEY) == later


@pytest.mark.parametrize("kept", [5, 29], ids=["few-left", "many-left"])
def test_records_dropped_from_a_grouped_state_regroup_it_from_scratch(kept: int) -> None:
    """The rules never drop a session record; if they did, the groups (written once,
    never changed) could not say so: the state is grouped again from nothing."""
    table: dict[bytes, bytes] = {}
    store = PatientStore(table, 6)
    state = with_sessions(30)
    store.put(KEY, state)
    fewer = state.model_copy(update={"sessions": dict(list(state.sessions.items())[-kept:])})
    store.put(KEY, fewer)
    if kept <= session_archive.HOT_MAX:
        assert table[KEY.encode()] == encode_compact(fewer)
    assert store.get(KEY) == fewer
    assert PatientStore(dict(table), 6).get(KEY) == fewer


def test_a_lost_group_is_an_error_naming_it() -> None:
    table: dict[bytes, bytes] = {}
    PatientStore(table, 6).put(KEY, with_sessions(30))
    del table[session_archive.group_key(KEY, 0).encode()]
    with pytest.raises(RuntimeError, match=r"c1:pt1\|h0"):
        PatientStore(table, 6).get(KEY)


def with_profile(state: PatientState) -> PatientState:
    patient = model(Patient, f.patient())
    rx = model(Prescription, f.prescription(issued_on="2026-01-01"))
    return rules.with_prescription(rules.with_patient(state, patient), "rx1", rx)


def test_a_patients_profile_is_written_when_it_changes_not_with_every_session() -> None:
    """The patient, prescriptions, authorizations and eligibility answers change with
    reference data; a session changes the records and visits.  The profile is stored
    apart once and the value each session writes leaves it out."""
    table: dict[bytes, bytes] = {}
    store = PatientStore(table, 6)
    state = with_profile(with_sessions(1))
    store.put(KEY, state)
    profile_key = session_archive.profile_key(KEY).encode()
    first = table[profile_key]
    assert b"Zephyrine" in first and b"Zephyrine" not in table[KEY.encode()]
    more = state.model_copy(update={"sessions": with_sessions(2).sessions})
    written = dict(table)
    store.put(KEY, more)
    changed = {k for k, v in table.items() if written.get(k) != v}
    assert changed == {KEY.encode()}, "a session writes the value alone"
    renewed = rules.with_prescription(
        store.get(KEY), "rx2", model(Prescription, f.prescription(prescription_id="rx2"))
    )
    store.put(KEY, renewed)
    assert table[profile_key] != first and b"rx2" in table[profile_key]
    for reader in (store, PatientStore(dict(table), 6)):
        assert reader.get(KEY) == renewed


def test_a_lost_profile_is_an_error_naming_it() -> None:
    table: dict[bytes, bytes] = {}
    PatientStore(table, 6).put(KEY, with_profile(with_sessions(2)))
    del table[session_archive.profile_key(KEY).encode()]
    with pytest.raises(RuntimeError, match=r"c1:pt1\|p"):
        PatientStore(table, 6).get(KEY)


def _weekly(n: int, rx_id: str) -> dict[str, object]:
    day = FIRST_DAY + timedelta(weeks=n)
    return f.session(
        session_id=f"w{n:03d}",
        dos=day.isoformat(),
        occurred_at=f"{day.isoformat()}T17:00:00+00:00",
        prescription_id=rx_id,
    )


def test_a_weekly_regular_is_decided_as_with_the_whole_state() -> None:
    """Forty weekly visits on two prescriptions through the rules, stored and read
    back each time: the same outcomes and state as kept in memory; the finished
    prescription's visits leave the value too; a duplicate of an early visit is told
    from its grouped record, and withdrawing it frees its visit as it would have."""
    catalog = FakeCatalog(
        [model(Clinic, f.clinic())], [model(Therapist, f.therapist())], [model(Payer, f.payer())]
    )
    first = f.prescription(issued_on="2026-01-01", visits_authorized=20)
    second = f.prescription(prescription_id="rx2", issued_on="2026-05-20", visits_authorized=40)
    start = rules.with_patient(PatientState.new(), model(Patient, f.patient()))
    start = rules.with_prescription(start, "rx1", model(Prescription, first))
    table: dict[bytes, bytes] = {}
    store = PatientStore(table, 6)
    store.put(KEY, start)
    memory = start
    events = [
        parse_session_event(json.dumps(_weekly(n, "rx1" if n < 20 else "rx2"))) for n in range(40)
    ]
    for n, event in enumerate(events):
        if n == 20:
            memory = rules.with_prescription(memory, "rx2", model(Prescription, second))
            store.put(KEY, rules.with_prescription(store.get(KEY), "rx2", model(Prescription, second)))
        now = datetime.combine(event.date_of_service, datetime.min.time(), UTC) + timedelta(days=1)
        kept = rules.on_session_completed(store.get(KEY), event, catalog, now, source=f"s:0:{n}")
        plain = rules.on_session_completed(memory, event, catalog, now, source=f"s:0:{n}")
        assert kept.outcomes == plain.outcomes and kept.state == plain.state
        assert isinstance(kept.outcomes[0], SessionEnriched)
        store.put(KEY, kept.state)
        memory = plain.state
    own = json.loads(session_archive.own_part(table[KEY.encode()]))
    assert set(own["visits"]) == {"rx2"}, "the finished prescription's visits are grouped"
    assert len(table[KEY.encode()]) < 0.4 * len(encode_compact(memory))
    later = datetime(2026, 12, 1, tzinfo=UTC)
    recovered = PatientStore(dict(table), 6)
    assert recovered.get(KEY) == memory
    again = rules.on_session_completed(recovered.get(KEY), events[0], catalog, later, "s:0:99")
    assert isinstance(again.outcomes[0], SessionDuplicate)
    cancel = parse_session_event(json.dumps(f.cancel(session_id="w000")))
    withdrawn = rules.on_session_cancelled(recovered.get(KEY), cancel, later, "s:0:100")
    expected = rules.on_session_cancelled(memory, cancel, later, "s:0:100")
    assert isinstance(withdrawn.outcomes[0], SessionWithdrawn)
    assert withdrawn.state == expected.state
    assert withdrawn.state.visits["rx1"] != memory.visits["rx1"], "the visit is freed"
    recovered.put(KEY, withdrawn.state)
    assert PatientStore(dict(recovered.table), 6).get(KEY) == expected.state
