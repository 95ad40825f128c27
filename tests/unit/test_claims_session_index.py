"""Which claim a session is on, without an index table written per session.

The claims stage asks, for every billable session, whether it is claimed already
and by which claim.  The records answer: each names the sessions placed on it
(``ClaimRecord.session_keys``), the stage keeps the answer in memory as it stores
steps and releases, and builds it again from the records table after a recovery,
where the same session on two records (a primary and its secondary) goes to the one
released last, as it did live.  Records written before the field existed are read
from their claim and sources, and the old index table is still consulted."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from schemas.billing import BillableSession
from schemas.claims import Claim
from schemas.coordination import secondary_pcn
from schemas.state import ClaimRecord, ClaimVersionSent
from schemas.submission import claim_command
from tests import claim_factories as cf
from tests import factories as f
from tests.pipeline import billable
from workers.claims import batching, filing, lifecycle, stored_records
from workers.claims.assemble import assemble_claim
from workers.claims.claimed import claimed_by_stored, index_of_claimed, sessions_of_record
from workers.claims.state import ClaimsState
from workers.runtime.codec import encode

T0 = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


def session(session_id: str, dos: str = "2026-03-02") -> BillableSession:
    return billable(
        session=f.session(session_id=session_id, dos=dos), payer=f.payer(receiver_id="rcv1")
    )


def record(
    sessions: list[BillableSession], *, pcn: str | None = None, sent_at: dt.datetime = T0,
    keys: list[str] | None = None, primary: str | None = None,
) -> ClaimRecord:  # fmt: skip
    claim = assemble_claim(sessions)
    if pcn is not None:
        claim = claim.model_copy(update={"patient_control_number": pcn, "primary_claim": primary})
    sent = ClaimVersionSent(
        claim_id=claim.claim_id, frequency="1", file_name="a.x12", interchange=1, sent_at=sent_at
    )
    return ClaimRecord.new(
        patient_control_number=claim.patient_control_number,
        receiver_id="rcv1",
        claim_identity=sessions[0].session_key,
        status="submitted",
        current_json=claim.model_dump_json(),
        sources_json=[s.model_dump_json() for s in sessions],
        session_keys=keys if keys is not None else [s.session_key for s in sessions],
        versions=[sent],
        front_door_at=sent_at,
    )


def state_over(
    records: dict[bytes, bytes], sessions: dict[bytes, bytes] | None = None
) -> ClaimsState:
    return ClaimsState({}, records, sessions if sessions is not None else {}, {}, 6)


def test_a_stored_step_names_its_sessions_in_memory_and_writes_no_index_table() -> None:
    first, late = session("s1"), session("s2")
    sent = record([first])
    state = state_over({})
    state.put_record(sent)
    state.apply(lifecycle.Step(sessions={first.session_key: sent.patient_control_number}))
    step = lifecycle.charges_arrived(
        late, lifecycle.Source(late.model_dump_json(), None), record=sent, seen=False,
        policy=lifecycle.Policy(), now=T0,
    )  # fmt: skip
    state.apply(step)
    assert state.claim_of_session(first.session_key) == sent.patient_control_number
    assert state.claim_of_session(late.session_key) == sent.patient_control_number
    assert state.claim_of_session("c1:unknown") is None
    assert state.sessions == {}  # nothing written per session


def test_after_a_recovery_the_records_say_which_claim_each_session_is_on() -> None:
    first, late, other = session("s1"), session("s2"), session("s3", "2026-03-03")
    day = record([first, late])
    next_day = record([other])
    records = {r.patient_control_number.encode(): encode(r) for r in (day, next_day)}
    recovered = state_over(records)
    asyncio.run(recovered.rebuild_waiting())
    assert recovered.claim_of_session(first.session_key) == day.patient_control_number
    assert recovered.claim_of_session(late.session_key) == day.patient_control_number
    assert recovered.claim_of_session(other.session_key) == next_day.patient_control_number


def test_a_session_stays_with_its_primary_claim_whatever_was_released_later() -> None:
    """A secondary claim (COB) copies its primary's sessions but claims none of them:
    a visit withdrawn later is taken off the claim it was placed on. Of two primary
    records naming one session, the one released last names it, as it did live,
    whatever order the table holds them in."""
    visit = session("s1")
    primary = record([visit], sent_at=T0)
    secondary = record(
        [visit], pcn="SEC-1", primary=primary.patient_control_number,
        sent_at=T0 + dt.timedelta(days=20),
    )  # fmt: skip
    for table_order in ([primary, secondary], [secondary, primary]):
        raw = [encode(r) for r in table_order]
        assert index_of_claimed(raw) == {visit.session_key: primary.patient_control_number}
    other = record([visit], pcn="OTHER-1", sent_at=T0 + dt.timedelta(days=5))
    replaced = primary.model_copy(
        update={
            "versions": [
                *primary.versions,
                primary.versions[0].model_copy(update={"sent_at": T0 + dt.timedelta(days=40)}),
            ]
        }
    )
    assert index_of_claimed([encode(primary), encode(other)]) == {visit.session_key: "OTHER-1"}
    assert index_of_claimed([encode(replaced), encode(other)]) == {
        visit.session_key: primary.patient_control_number
    }


def test_releasing_a_secondary_claim_leaves_its_sessions_with_the_primary() -> None:
    """Live and after a recovery: the secondary's release names no session, so a
    withdrawal finds the primary claim (a secondary holds no sources to take a visit
    off: routed there, it was voided whole and the primary kept the visit)."""
    visit = session("s1")
    state = state_over({})
    arrive(state, visit)
    [primary_pcn] = release_all(state).sessions.values()
    primary = state.record(primary_pcn)
    assert primary is not None
    claim = Claim.parse_json(primary.current_json)
    follow_pcn = secondary_pcn(primary_pcn)
    follow = claim.model_copy(
        update={"patient_control_number": follow_pcn, "primary_claim": primary_pcn}
    )
    submit = claim_command(
        action="submit", patient_control_number=follow_pcn, receiver_id="rcv1",
        requested_at=T0, claim=follow,
    )  # fmt: skip
    step = lifecycle.on_command(
        submit, lifecycle.Source(None, None), record_of=state.record,
        pending_exists=state.has_pending, now=T0,
    )  # fmt: skip
    state.apply(step)
    release = release_all(state)
    assert release.sessions == {}
    assert state.record(follow_pcn) is not None
    assert state.claim_of_session(visit.session_key) == primary_pcn
    rebuilt = ClaimsState(
        {}, dict(state.records), {}, {}, 6, {}, dict(state.sources), dict(state.references)
    )
    asyncio.run(rebuilt.rebuild())
    assert rebuilt.claim_of_session(visit.session_key) == primary_pcn


def test_records_written_before_the_field_are_read_from_their_claim_and_sources() -> None:
    first, late = session("s1"), session("s2")
    old = record([first], keys=[])
    # a late visit added to the record's sources, not yet on a claim version
    old = old.model_copy(update={"sources_json": [*old.sources_json, late.model_dump_json()]})
    assert sessions_of_record(old) == [first.session_key, late.session_key]
    claimed = claimed_by_stored(encode(old))
    assert claimed is not None and claimed.session_keys == [first.session_key, late.session_key]
    assert claimed_by_stored(b"not json") is None and claimed_by_stored(b"[]") is None


def test_the_old_index_table_still_answers_for_what_no_record_names() -> None:
    legacy = {b"c1:s9": b"PCN-OLD"}
    state = state_over({}, legacy)
    asyncio.run(state.rebuild_waiting())
    assert state.claim_of_session("c1:s9") == "PCN-OLD"
    assert state.claim_of_session("c1:s8") is None


def test_a_release_through_the_state_keeps_the_index_and_the_records_agree() -> None:
    """Every session a release names is in its record's ``session_keys``: a state
    rebuilt from the records answers as the live one did."""
    visit = session("s1")
    entry_key, entry = (
        f"rcv1|{visit.enriched.clinic.npi}|{visit.session_key}",
        lifecycle.charges_arrived(
            visit, lifecycle.Source(visit.model_dump_json(), None), record=None, seen=False,
            policy=lifecycle.Policy(), now=T0,
        ).pending[0][1],
    )  # fmt: skip
    partner = cf.partner(receiver_id="rcv1")
    numbers = batching.reserve(1)[0]
    assembled = filing.assemble([(entry_key, entry)], lambda k, e: visit)
    plan = filing.render(assembled, partner, numbers, T0)
    live = state_over({})
    release = filing.released(
        plan, partner, name="f.x12", path=Path("/out/f.x12"), data=b"x",
        digest="d", validated=True, record_of=live.record, now=T0,
    )  # fmt: skip
    live.apply_release(release)
    assert live.sessions == {}
    for session_key, pcn in release.sessions.items():
        stored = live.record(pcn)
        assert stored is not None and session_key in stored.session_keys
    rebuilt = state_over(dict(live.records))
    asyncio.run(rebuilt.rebuild_waiting())
    assert {k: rebuilt.claim_of_session(k) for k in release.sessions} == release.sessions


def test_ticks_go_to_partitions_with_batches_and_to_all_once_a_check_period() -> None:
    """An idle claims stage ticks each partition once per overdue-check period (the
    276 and changes-waiting sweeps), not every tick interval; a partition with a
    batch waiting is ticked every time (its batch may come of age)."""
    from workers.claims.processor import OVERDUE_CHECK_EVERY, TickSchedule

    visit = session("s1")
    step = lifecycle.charges_arrived(
        visit, lifecycle.Source(visit.model_dump_json(), None), record=None, seen=False,
        policy=lifecycle.Policy(), now=T0,
    )  # fmt: skip
    state = state_over({})
    schedule = TickSchedule()
    assert schedule.partitions(state, T0) == list(range(6))  # the first tick: all
    assert schedule.partitions(state, T0 + dt.timedelta(seconds=1)) == []  # idle
    state.apply(step)
    [(key, entry, _)] = step.pending
    waiting = [p for p in range(6) if state.batches(p)]
    assert len(waiting) == 1
    assert schedule.partitions(state, T0 + dt.timedelta(seconds=2)) == waiting
    state.drop_pending(key)
    assert schedule.partitions(state, T0 + dt.timedelta(seconds=3)) == []
    assert schedule.partitions(state, T0 + OVERDUE_CHECK_EVERY) == list(range(6))
    assert entry.receiver_id == "rcv1"


# --- the sources table: a session's entry stays as its claim's source ------------


def arrive(state: ClaimsState, visit: BillableSession, record: ClaimRecord | None = None) -> None:
    source = lifecycle.Source(visit.model_dump_json(), None)
    policy = lifecycle.Policy()
    step = lifecycle.charges_arrived(
        visit, source, record=record, seen=False, policy=policy, now=T0
    )
    state.apply(step)


def release_all(state: ClaimsState) -> filing.Release:
    partner = cf.partner(receiver_id="rcv1")
    [(receiver, batch_key)] = [b for p in range(6) for b in state.batches(p)]
    entries = state.pending_of(receiver, batch_key)
    assembled = filing.assemble(entries, state.billable_of)
    plan = filing.render(assembled, partner, batching.reserve(1)[0], T0)
    release = filing.released(
        plan, partner, name="f.x12", path=Path("/out/f.x12"), data=b"x", digest="d",
        validated=True, record_of=state.record, now=T0,
    )  # fmt: skip
    state.apply_release(release)
    return release


def test_a_claim_record_names_its_sources_and_is_read_whole() -> None:
    """The released session's entry is not deleted: it stays in the sources table
    as the claim's source, and the record keeps its session key instead of a copy
    of the billable message (about 9 KB a claim); read back, the record is whole."""
    visit = session("s1")
    state = state_over({})
    arrive(state, visit)
    assert list(state.sources) == [visit.session_key.encode()] and state.pending == {}
    [pcn] = release_all(state).sessions.values()
    assert list(state.sources) == [visit.session_key.encode()]  # kept: no tombstone
    assert not [b for p in range(6) for b in state.batches(p)]  # and no longer pending
    stored = stored_records.decode(state.records[pcn.encode()])
    assert (stored.source_keys, stored.sources_json) == ([visit.session_key], [])
    whole = state.record(pcn)
    assert whole is not None and whole.sources_json == [lifecycle.kept_copy(visit)]
    assert whole.source_keys == []
    # storing the whole record again names the source again, copies nothing
    state.put_record(whole.model_copy(update={"front_door": "accepted"}))
    again = stored_records.decode(state.records[pcn.encode()])
    assert (again.source_keys, again.sources_json, again.front_door) == (
        [visit.session_key], [], "accepted"
    )


def test_after_a_recovery_only_unclaimed_entries_are_pending() -> None:
    claimed, waiting = session("s1"), session("s2", "2026-03-03")
    live = state_over({})
    arrive(live, claimed)
    [pcn] = release_all(live).sessions.values()
    arrive(live, waiting)
    recovered = ClaimsState(
        {}, dict(live.records), {}, {}, 6, {}, dict(live.sources), dict(live.references)
    )
    asyncio.run(recovered.rebuild())
    [(receiver, batch_key)] = [b for p in range(6) for b in recovered.batches(p)]
    [(key, entry)] = recovered.pending_of(receiver, batch_key)
    assert key.endswith("|" + waiting.session_key) and entry.kind == "session"
    assert recovered.has_pending(key)
    assert recovered.claim_of_session(claimed.session_key) == pcn
    whole = recovered.record(pcn)
    assert whole is not None and whole.sources_json == [lifecycle.kept_copy(claimed)]


def test_a_late_visit_stays_inline_and_the_record_reads_both() -> None:
    first, late = session("s1"), session("s2")
    state = state_over({})
    arrive(state, first)
    [pcn] = release_all(state).sessions.values()
    sent = state.record(pcn)
    assert sent is not None
    arrive(state, late, record=sent)  # the day's claim left: a correction waits
    stored = stored_records.decode(state.records[pcn.encode()])
    assert stored.source_keys == [first.session_key]
    assert stored.sources_json == [lifecycle.kept_copy(late)]
    whole = state.record(pcn)
    assert whole is not None
    assert whole.sources_json == [lifecycle.kept_copy(first), lifecycle.kept_copy(late)]


def test_a_withdrawn_pending_session_leaves_the_sources_table() -> None:
    visit = session("s1")
    state = state_over({})
    arrive(state, visit)
    [(receiver, batch_key)] = [b for p in range(6) for b in state.batches(p)]
    [(key, _)] = state.pending_of(receiver, batch_key)
    state.drop_pending(key)
    assert state.sources == {} and not state.has_pending(key)


def test_an_entry_of_the_old_pending_table_is_released_and_its_source_copied() -> None:
    """Entries written before the sources table (a session's entry in
    ``claims.pending``, with its billable message) are released as before: the
    entry leaves the pending table and the record keeps the source inline."""
    visit = session("s1")
    step = lifecycle.charges_arrived(
        visit, lifecycle.Source(visit.model_dump_json(), None), record=None, seen=False,
        policy=lifecycle.Policy(), now=T0,
    )  # fmt: skip
    [(key, entry, _)] = step.pending
    state = ClaimsState({key.encode(): encode(entry)}, {}, {}, {}, 6, {}, {})
    asyncio.run(state.rebuild())
    [pcn] = release_all(state).sessions.values()
    assert state.pending == {} and state.sources == {}
    stored = stored_records.decode(state.records[pcn.encode()])
    assert (stored.source_keys, stored.sources_json) == ([], [lifecycle.kept_copy(visit)])
    assert state.claim_of_session(visit.session_key) == pcn
