"""A session's entry in ``claims.sources`` names its reference copies.

Every entry keeps its ``charges.billable`` message so that its claim can be
priced again; most of that message is the clinic (with its price list), payer
(with its fee schedule) and therapist enrich copied in, the same in every session
of the clinic and payer.  The entry stores each copy once per partition in
``claims.references`` and names it;
read back, the message is the one stored, byte for byte.  Entries stored whole
before this format are read as they are."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest

from schemas.billing import BillableSession
from schemas.state import PendingEntry
from tests import factories as f
from tests.pipeline import billable
from workers.claims import kept_sources, lifecycle
from workers.claims.state import ClaimsState
from workers.runtime.codec import compact_json, encode_compact

T0 = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
PAYER = f.payer(receiver_id="rcv1")


def visit(session_id: str, patient_id: str = "pt1") -> BillableSession:
    event = f.session(session_id=session_id, patient_id=patient_id, dos="2026-03-02")
    return billable(session=event, payer=PAYER, patient=f.patient(patient_id=patient_id))


def entry_of(b: BillableSession) -> PendingEntry:
    return PendingEntry.new(
        receiver_id="rcv1",
        batch_key="1234567893",
        claim_identity=b.session_key,
        kind="session",
        source_json=lifecycle.kept_copy(b),
        received_at=T0,
    )


def test_an_entry_reads_back_whole_and_is_smaller_even_with_its_copies() -> None:
    """The first session of a clinic and payer writes the copies too: even then,
    the message is no longer escaped inside the entry's JSON, so the two weigh
    less than the entry did; later sessions write the entry alone."""
    b = visit("s1")
    entry = entry_of(b)
    packed = kept_sources.pack(entry, partition=3)
    assert kept_sources.unpack(packed.value, packed.references) == entry
    assert kept_sources.source_text(packed.value, packed.references) == entry.source_json
    copies = sum(len(copy) for copy in packed.references.values())
    assert len(packed.value) + copies < len(encode_compact(entry))
    assert len(packed.value) < 0.75 * len(encode_compact(entry))
    parts = {key.decode().split(":")[1] for key in packed.references}
    assert parts == {"clinic", "payer", "therapist"}  # no next payer in this session
    assert all(key.startswith(b"p3:") for key in packed.references)
    for copy in packed.references.values():  # each a copy's JSON, not in the entry
        assert isinstance(json.loads(copy), dict) and copy not in packed.value


def test_sessions_that_share_reference_data_name_the_same_copies_per_partition() -> None:
    first, second, other = visit("s1"), visit("s2"), visit("s3", patient_id="pt2")
    a = kept_sources.pack(entry_of(first), 0)
    b = kept_sources.pack(entry_of(second), 0)
    c = kept_sources.pack(entry_of(other), 0)
    elsewhere = kept_sources.pack(entry_of(first), 1)
    assert a.references == b.references == c.references  # another patient: same copies
    assert not set(a.references) & set(elsewhere.references)
    assert b'"pt2"' in c.value and b'"pt2"' not in a.value  # the patient stays inline


def test_the_copies_stored_apart_are_the_parts_themselves() -> None:
    """The parts are found in the message's text, not written again: each copy is
    exactly the part as the stage writes it (the clinic with its price list, the
    payer with its fee schedule)."""
    b = visit("s1")
    packed = kept_sources.pack(entry_of(b), 2)
    for key, copy in packed.references.items():
        part = key.decode().split(":")[1]
        assert copy.decode() == compact_json(getattr(b.enriched, part))
    assert b'"price_list"' in packed.references[next(k for k in packed.references if b":clinic:" in k)]


def test_an_entry_stored_whole_before_the_format_is_read_as_it_is() -> None:
    entry = entry_of(visit("s1"))
    old = encode_compact(entry)
    assert kept_sources.unpack(old, {}) == entry
    assert kept_sources.source_text(old, {}) == entry.source_json


@pytest.mark.parametrize(
    "text", ["{}", '{ "not": "as this stage writes it" }'], ids=["unreadable", "foreign"]
)
def test_a_message_the_stage_cannot_read_is_kept_whole(text: str) -> None:
    entry = entry_of(visit("s1")).model_copy(update={"source_json": text})
    packed = kept_sources.pack(entry, 0)
    assert packed.references == {}
    assert kept_sources.unpack(packed.value, {}) == entry


def test_a_message_written_another_way_keeps_its_copies_inline() -> None:
    """A copy is named only where it appears exactly as this stage writes it."""
    b = visit("s1")
    spaced = json.dumps(json.loads(lifecycle.kept_copy(b)), indent=1)
    entry = entry_of(b).model_copy(update={"source_json": spaced})
    packed = kept_sources.pack(entry, 0)
    assert packed.references == {}
    assert kept_sources.unpack(packed.value, {}).source_json == spaced


def test_an_entry_without_a_message_round_trips() -> None:
    entry = entry_of(visit("s1")).model_copy(update={"source_json": None})
    packed = kept_sources.pack(entry, 0)
    assert kept_sources.unpack(packed.value, {}) == entry
    assert kept_sources.source_text(packed.value, {}) is None


def test_a_missing_reference_is_an_error_naming_it() -> None:
    b = visit("s1")
    packed = kept_sources.pack(entry_of(b), 0)
    lost = next(k for k in packed.references if b":clinic:" in k)
    left = {k: v for k, v in packed.references.items() if k != lost}
    with pytest.raises(RuntimeError, match=lost.decode()):
        kept_sources.unpack(packed.value, left)


def test_the_state_writes_each_copy_once_and_a_recovery_reads_the_entries_back() -> None:
    state = ClaimsState({}, {}, {}, {}, 6)
    visits = [visit("s1"), visit("s2"), visit("s3", patient_id="pt2")]
    for b in visits:
        step = lifecycle.charges_arrived(
            b, lifecycle.Source(None, None), record=None, seen=False,
            policy=lifecycle.Policy(), now=T0,
        )  # fmt: skip
        state.apply(step)
    written = dict(state.references)
    [partition] = {int(key.split(b":")[0][1:]) for key in written}
    first = kept_sources.pack(entry_of(visits[0]), partition).references
    assert written == first  # three sessions, the copies once
    recovered = ClaimsState({}, {}, {}, {}, 6, {}, dict(state.sources), written)
    asyncio.run(recovered.rebuild())
    found = {
        key.rsplit("|", 1)[1]: e.source_json
        for p in range(6)
        for batch in recovered.batches(p)
        for key, e in recovered.pending_of(*batch)
    }
    assert found == {b.session_key: lifecycle.kept_copy(b) for b in visits}
