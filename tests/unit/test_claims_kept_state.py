"""What the claims and enrichment stages keep in their tables, and how small.

The claims stage keeps each billable session it takes (a pending entry, then its
claim's source) without the units stage's lines: a claim prices its whole day
again from the enriched sessions, so the lines were never read.  Table values are
written without the fields at their default; read back through their model they
are the same values.  Records written before either change are read as before."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import pytest
from pydantic import BaseModel

from schemas.acknowledgements import AckNote
from schemas.billing import BillableSession, parse_charges
from schemas.state import (
    ClaimRecord,
    ClaimVersionSent,
    PatientState,
    PendingChange,
    SourceRef,
    Transmission,
)
from tests import factories as f
from tests.pipeline import NOW, billable, model
from workers.claims import lifecycle, stored_records
from workers.claims.assemble import assemble_claim
from workers.claims.state import ClaimsState
from workers.enrich import rules
from workers.runtime.codec import compact_json, encode, encode_compact

T0 = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)

CMS_GP = f.payer(
    "p1",
    receiver_id="rcv1",
    unit_policy="cms",
    modifier_rules=[{"rule_id": "gp", "modifier": "GP", "effective_from": "2020-01-01"}],
)
AMA = f.payer(receiver_id="rcv1")


def visit(session_id: str, payer: dict[str, Any], techniques: list[dict[str, Any]]) -> Any:
    at = f"2026-03-02T{9 + int(session_id[1:]):02d}:00:00+00:00"
    event = f.session(
        session_id=session_id, techniques=techniques, occurred_at=at, dos="2026-03-02"
    )
    return billable(session=event, payer=payer)


def kept(b: BillableSession) -> BillableSession:
    return BillableSession.parse_json(lifecycle.kept_copy(b))


PAIR_SAME_REGION = [
    {"technique": "swedish_massage", "minutes": 20, "body_region": "back"},
    {"technique": "myofascial_release", "minutes": 20, "body_region": "back"},
]
TWO_REGIONS = [
    {"technique": "swedish_massage", "minutes": 30, "body_region": "back"},
    {"technique": "myofascial_release", "minutes": 23, "body_region": "neck"},
]
SHORT = [{"technique": "myofascial_release", "minutes": 10, "body_region": "neck"}]


@pytest.mark.parametrize("payer", [AMA, CMS_GP], ids=["ama", "cms-gp"])
@pytest.mark.parametrize(
    "day",
    [[TWO_REGIONS], [PAIR_SAME_REGION], [SHORT, SHORT], [TWO_REGIONS, SHORT]],
    ids=["one-visit", "pair-edit", "two-short-visits", "two-visits"],
)
def test_a_day_priced_from_the_kept_copies_is_the_claim_priced_from_the_messages(
    payer: dict[str, Any], day: list[list[dict[str, Any]]]
) -> None:
    """Money: the claim (lines, units, modifiers, charges, expected payment,
    pointers) is the same whether its day is priced from the charges.billable
    messages or from what the stage kept of them."""
    messages = [visit(f"s{n + 1}", payer, techniques) for n, techniques in enumerate(day)]
    assert all(m.lines for m in messages)  # the units stage did price each visit
    whole = assemble_claim(messages)
    from_kept = assemble_claim([kept(m) for m in messages])
    assert from_kept == whole
    assert from_kept.lines and from_kept.total_charge == whole.total_charge


def test_the_kept_copy_leaves_out_lines_and_defaults_and_stays_a_charges_message() -> None:
    message = visit("s1", CMS_GP, TWO_REGIONS)
    text = lifecycle.kept_copy(message)
    assert kept(message) == message.model_copy(update={"lines": [], "dropped": []})
    data = json.loads(text)
    assert (data["event_type"], data["schema_version"], data["lines"]) == (
        "charges.billable", 1, []
    )  # fmt: skip
    assert "dropped" not in data and "derivation" not in text
    full = len(message.model_dump_json())
    assert len(text) < full * 0.6, (len(text), full)
    # a stored entry that is dead-lettered carries this copy: replayed, it is read
    # as the billable session it was
    replayed = parse_charges(text.encode())
    assert isinstance(replayed, BillableSession) and replayed.session_key == "c1:s1"


def test_an_arrival_keeps_the_slim_copy_on_its_entry_and_its_origin() -> None:
    message = visit("s1", AMA, TWO_REGIONS)
    ref = SourceRef(topic="charges.billable", partition=2, offset=41, timestamp_ms=1, key="rcv1")
    step = lifecycle.charges_arrived(
        message, lifecycle.Source(message.model_dump_json(), ref),
        record=None, seen=False, policy=lifecycle.Policy(), now=T0,
    )  # fmt: skip
    [(_, entry, _)] = step.pending
    assert entry.source_json == lifecycle.kept_copy(message)
    assert entry.source_ref == ref


class Compact(BaseModel):
    event_type: str = "x.kind"
    n: int = 0
    items: list[int] = []


class Tagged(BaseModel):
    event_type: str
    n: int = 0


def test_compact_json_leaves_out_defaults_but_not_the_kind() -> None:
    assert json.loads(compact_json(Compact())) == {"event_type": "x.kind"}
    assert json.loads(compact_json(Compact(n=2, items=[1]))) == {
        "event_type": "x.kind", "n": 2, "items": [1]
    }  # fmt: skip
    assert json.loads(compact_json(Tagged(event_type="y"))) == {"event_type": "y"}
    assert json.loads(compact_json(Compact(event_type="z"))) == {"event_type": "z"}


def _patient_state() -> PatientState:
    """A patient with a prescription, counted visits, an enriched, a held and a
    cancelled session, as the enrichment rules leave it."""
    from schemas.events import parse_session_event
    from schemas.reference import Clinic, Patient, Payer, Prescription, Therapist
    from tests.fakes import FakeCatalog

    state = rules.with_patient(PatientState.new(), model(Patient, f.patient()))
    rx = model(Prescription, f.prescription(issued_on="2026-01-01"))
    state = rules.with_prescription(state, rx.prescription_id, rx)
    catalog = FakeCatalog(
        [model(Clinic, f.clinic())], [model(Therapist, f.therapist())], [model(Payer, f.payer())]
    )
    for n, therapist in ((1, "t1"), (2, "t9")):  # t9 is unknown: held
        event = parse_session_event(
            json.dumps(f.session(session_id=f"s{n}", therapist_id=therapist, dos="2026-03-02"))
        )
        state = rules.on_session_completed(state, event, catalog, NOW).state
    cancel = parse_session_event(json.dumps(f.cancel(session_id="s3")))
    state = rules.on_session_cancelled(state, cancel, NOW).state
    assert {r.status for r in state.sessions.values()} >= {"enriched", "held"}
    return state


def _record() -> ClaimRecord:
    message = visit("s1", AMA, TWO_REGIONS)
    claim = assemble_claim([message])
    waiting = PendingChange(
        action="void", reason="entered in error", requested_at=T0, source_json="{}"
    )
    note = AckNote(
        ack_id="999:1:1", kind="999", claim_id=claim.claim_id, outcome="accepted",
        file_name="a.999", received_at=T0,
    )  # fmt: skip
    sent = ClaimVersionSent(
        claim_id=claim.claim_id, frequency="1", file_name="a.x12", interchange=7, sent_at=T0
    )
    return ClaimRecord.new(
        patient_control_number=claim.patient_control_number,
        receiver_id="rcv1",
        claim_identity="c1:pt1:cov1:2026-03-02",
        status="submitted",
        current_json=compact_json(claim),  # as the stage files it
        sources_json=[lifecycle.kept_copy(message)],
        session_keys=[message.session_key],
        versions=[sent],
        waiting=[waiting],
        acknowledgements=[note],
        front_door_at=T0,
    )


def _values() -> list[BaseModel]:
    message = visit("s1", CMS_GP, TWO_REGIONS)
    step = lifecycle.charges_arrived(
        message, lifecycle.Source(message.model_dump_json(), None),
        record=None, seen=False, policy=lifecycle.Policy(), now=T0,
    )  # fmt: skip
    [(_, entry, _)] = step.pending
    sent = Transmission.new(
        receiver_id="rcv1", file_name="a.x12", interchange=7, claims={"P1": "P1-1"}, sent_at=T0
    )
    return [entry, _record(), sent, _patient_state()]


@pytest.mark.parametrize("value", _values(), ids=lambda v: type(v).__name__)
def test_a_table_value_reads_back_as_the_same_model_and_is_smaller(value: Any) -> None:
    raw = encode_compact(value)
    assert type(value).parse_json(raw) == value
    if isinstance(value, Transmission):  # no field with a default: the same bytes
        assert raw == encode(value)
    else:
        assert len(raw) < len(encode(value))


def _remitted(record: ClaimRecord) -> ClaimRecord:
    return record.model_copy(update={"remitted_at": T0, "waiting": []})


@pytest.mark.parametrize(
    "writer",
    [stored_records.encode, encode_compact, encode],
    ids=["claim-after", "compact", "as-before"],
)
def test_follow_ups_and_waiting_changes_are_found_in_records_of_either_form(writer: Any) -> None:
    """The stage finds records without an 835 (276 candidates) and records with
    changes waiting by looking at their stored bytes; a field at its default is left
    out of a compact record, so both forms must be recognised."""
    waiting = _record()
    plain = waiting.model_copy(update={"patient_control_number": "PLAIN", "waiting": []})
    paid = _remitted(waiting).model_copy(update={"patient_control_number": "PAID"})
    records = {r.patient_control_number.encode(): writer(r) for r in (waiting, plain, paid)}
    state = ClaimsState({}, records, {}, {}, 1, {}, {})
    asyncio.run(state.rebuild())
    follow = {r.patient_control_number for r in state.follow_up_records(0)}
    assert follow == {waiting.patient_control_number, "PLAIN"}
    assert [r.patient_control_number for r in state.waiting_records(0)] == [
        waiting.patient_control_number
    ]


@pytest.mark.parametrize(
    "writer",
    [stored_records.encode, encode_compact, encode],
    ids=["claim-after", "compact", "as-before"],
)
def test_a_secondary_claim_is_told_from_its_primary_in_records_of_either_form(
    writer: Any,
) -> None:
    """A recovery reads every record without validating it whole; a secondary claim
    (its claim names a primary) names no sessions in the index."""
    from schemas.claims import Claim
    from workers.claims.claimed import claimed_by_stored

    primary = _record()
    claim = Claim.parse_json(primary.current_json)
    follows = claim.model_copy(update={"primary_claim": claim.patient_control_number})
    secondary = primary.model_copy(
        update={"patient_control_number": "SECOND", "current_json": compact_json(follows)}
    )
    assert '"primary_claim"' not in primary.current_json  # compact: left out when null
    first, second = claimed_by_stored(writer(primary)), claimed_by_stored(writer(secondary))
    assert first is not None and second is not None
    assert (first.secondary, second.secondary) == (False, True)


def test_an_enriched_session_is_handed_on_without_its_defaults() -> None:
    """``sessions.enriched`` carries copies of reference data (payer, clinic,
    prescription) whose nulls, empty lists and false flags were a third of it."""
    from schemas.outcomes import SessionEnriched
    from workers.enrich.processor import outcome_records

    enriched = visit("s1", CMS_GP, TWO_REGIONS).enriched
    [record] = outcome_records("c1:pt1", [enriched])
    assert record.topic == "sessions.enriched" and record.value is not None
    data = json.loads(record.value)
    assert data["event_type"] == "session.enriched"
    assert "next_payer" not in data and "effective_to" not in record.value.decode()
    assert SessionEnriched.parse_json(record.value) == enriched
    assert len(record.value) < 0.7 * len(enriched.model_dump_json())


def test_a_patient_state_this_process_wrote_is_read_back_without_parsing() -> None:
    """The enrichment stage reads a patient's state for every session: the state it
    stored last is handed back as it was (no second validation) while the table holds
    the bytes it wrote; other bytes (another worker's, a recovery's) are parsed."""
    from workers.enrich import processor

    store = processor.PatientStore({}, 6)
    state = _patient_state()
    store.put("c1:pt1", state)
    assert store.get("c1:pt1") is state
    other = state.model_copy(update={"sessions": {}})
    store.table[b"c1:pt1"] = encode_compact(other)  # written elsewhere
    read = store.get("c1:pt1")
    assert read == other and read is not other
    assert store.get("c1:pt9") == PatientState.new()


def test_the_patient_states_kept_parsed_are_bounded() -> None:
    from workers.enrich import processor

    store = processor.PatientStore({}, 6)
    first = _patient_state()
    store.put("c1:p0", first)
    for n in range(1, processor.PATIENTS_KEPT + 1):
        store.put(f"c1:p{n}", first)
    assert len(store._kept) == processor.PATIENTS_KEPT
    again = store.get("c1:p0")  # pushed out: read from the table's bytes
    assert again == first and again is not first


def test_a_record_is_stored_with_its_claim_after_it_unescaped() -> None:
    """``current_json`` follows the record instead of being a string inside it:
    about a tenth of the record was the escaping of the claim's quotes."""
    record = _record()
    raw = stored_records.encode(record)
    assert stored_records.decode(raw) == record
    assert raw.endswith(record.current_json.encode())
    assert len(raw) < len(encode_compact(record)) - record.current_json.count('"') + 20
    assert stored_records.decode(encode_compact(record)) == record  # the earlier form


def test_a_claim_with_line_breaks_reads_back_as_it_was() -> None:
    record = _record()
    pretty = json.dumps(json.loads(record.current_json), indent=2)
    again = record.model_copy(update={"current_json": pretty})
    assert stored_records.decode(stored_records.encode(again)).current_json == pretty


def test_a_malformed_stored_record_claims_no_sessions() -> None:
    from workers.claims.claimed import claimed_by_stored

    assert claimed_by_stored(b"2\n{}") is None  # the format's mark, no claim after it
    assert claimed_by_stored(b"2\nnot json\n{}") is None
    framed = stored_records.encode(_record())
    found = claimed_by_stored(framed)
    assert found is not None and found.session_keys == _record().session_keys
