"""Claim assembly, control numbers, batching and changes (no broker, no renderer)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from schemas.claims import TradingPartner
from schemas.state import PendingChange, PendingEntry
from tests import factories as f
from tests.pipeline import NOW, billable
from workers.claims import batching
from workers.claims.assemble import assemble_claim, claim_identity, patient_control_number
from workers.claims.changes import ChangeRefused, apply_change
from workers.runtime.atomic_files import DeliveryError, write_atomically


def test_patient_control_number_is_deterministic_short_and_clinic_specific() -> None:
    b = billable()
    clinic = b.enriched.clinic
    pcn = patient_control_number(clinic, "c1:s1")
    assert pcn == patient_control_number(clinic, "c1:s1")
    assert len(pcn) <= 20 and pcn.isalnum() and pcn.startswith("C1")
    other = clinic.model_copy(update={"clinic_id": "c2"})
    assert patient_control_number(other, "c2:s1") != pcn
    prefixed = clinic.model_copy(update={"claim_prefix": "HMT"})
    assert patient_control_number(prefixed, "c1:s1").startswith("HMT")


def test_a_visit_claim_from_a_billable_session() -> None:
    b = billable()
    claim = assemble_claim([b])
    assert claim.frequency == "1" and claim.version == 1
    assert claim.claim_id == f"{claim.patient_control_number}-1"
    assert claim.session_keys == ["c1:s1"]
    assert claim.billing_provider.npi == f.CLINIC_NPI
    assert claim.subscriber.relationship == "18" and claim.patient is None
    assert claim.subscriber.member_id == "MBR-ZQX-4471"
    assert claim.referring is not None and claim.referring.npi == f.PRESCRIBER_NPI
    assert claim.rendering is not None and claim.rendering.taxonomy_code == "225700000X"
    assert claim.diagnosis_codes == ["M5450", "M62830"]
    assert [ln.line_control_number for ln in claim.lines] == [
        f"{claim.patient_control_number}-1-1",
        f"{claim.patient_control_number}-1-2",
    ]
    assert claim.total_charge == sum(ln.charge for ln in claim.lines)
    assert claim.initial_treatment_date is not None
    assert not claim.payer_wants_initial_treatment_date
    wants = assemble_claim([billable(payer=f.payer(sends_initial_treatment_date=True))])
    assert wants.payer_wants_initial_treatment_date


def test_workers_comp_employer_subscriber_gets_a_patient_loop() -> None:
    patient = f.patient(
        coverages=[
            {
                "coverage_id": "wc",
                "kind": "insurance",
                "payer_id": "p1",
                "relationship": "employee",
                "effective_from": "2026-01-01",
                "filing_indicator": "WC",
                "subscriber": {"organisation_name": "Acme Widgets LLC", "member_id": "POL-778"},
                "related_cause": {
                    "cause": "employment",
                    "accident_date": "2026-01-15",
                    "claim_number": "WC-2026-0042",
                },
            }
        ]
    )
    claim = assemble_claim([billable(patient=patient)])
    assert claim.subscriber.name.kind == "organisation"
    assert claim.subscriber.relationship is None and claim.subscriber.filing_indicator == "WC"
    assert claim.patient is not None and claim.patient.relationship == "20"
    assert claim.patient.property_casualty_claim_number == "WC-2026-0042"
    assert claim.related_causes is not None and claim.related_causes.codes == ["EM"]


def test_auto_pip_carries_state_and_accident_date() -> None:
    patient = f.patient(
        coverages=[
            {
                "coverage_id": "pip",
                "kind": "insurance",
                "payer_id": "p1",
                "member_id": "AUTO-1",
                "effective_from": "2026-01-01",
                "filing_indicator": "AM",
                "related_cause": {
                    "cause": "auto_accident",
                    "accident_date": "2026-02-01",
                    "accident_state": "NY",
                    "claim_number": "PIP-9",
                },
            }
        ]
    )
    claim = assemble_claim([billable(patient=patient)])
    assert claim.related_causes is not None
    assert claim.related_causes.codes == ["AA"] and claim.related_causes.state == "NY"
    assert claim.subscriber.property_casualty_claim_number == "PIP-9"
    assert claim.subscriber.filing_indicator == "AM"


def test_the_visits_of_one_day_are_one_claim_with_one_line_per_code() -> None:
    s1 = billable(
        session=f.session(
            session_id="s1",
            dos="2026-03-02",
            techniques=[{"technique": "myofascial_release", "minutes": 30}],
        )
    )
    s2 = billable(
        session=f.session(
            session_id="s2",
            dos="2026-03-02",
            techniques=[
                {"technique": "myofascial_release", "minutes": 15},
                {"technique": "swedish_massage", "minutes": 30},
            ],
        )
    )
    assert claim_identity(s1) == claim_identity(s2)
    claim = assemble_claim([s1, s2])
    assert [(ln.procedure, ln.units) for ln in claim.lines] == [("97140", 3), ("97124", 2)]
    assert claim.session_keys == ["c1:s1", "c1:s2"]
    other_day = billable(session=f.session(session_id="s3", dos="2026-03-03"))
    with pytest.raises(ValueError, match="share its identity"):
        assemble_claim([s1, other_day])


def test_self_pay_sessions_are_not_claims() -> None:
    patient = f.patient(
        payer_id=None,
        coverages=[{"coverage_id": "own", "kind": "self_pay", "effective_from": "2020-01-01"}],
    )
    with pytest.raises(ValueError, match="not billed to a payer"):
        assemble_claim([billable(patient=patient)])


def change(action: str, **kw: object) -> PendingChange:
    return PendingChange(action=action, requested_at=NOW, **kw)


def test_void_resends_the_whole_claim_with_the_payer_number() -> None:
    original = assemble_claim([billable()])
    void = apply_change(original, change("void"), "PAYER-123", [])
    assert void.frequency == "8" and void.version == 2 and void.replaces == original.claim_id
    assert void.patient_control_number == original.patient_control_number
    assert void.payer_claim_number == "PAYER-123"
    assert void.total_charge == original.total_charge > 0
    assert void.lines[0].line_control_number.endswith("-2-1")


def test_correction_edits_units_and_recomputes_charges() -> None:
    original = assemble_claim([billable()])  # 97124 x2 at 40, 97140 x2 at 45
    fixed = apply_change(original, change("correct", line_units={1: 1, 2: 0}), "P1", [])
    assert fixed.frequency == "7" and [(ln.procedure, ln.units) for ln in fixed.lines] == [
        ("97124", 1)
    ]
    assert fixed.total_charge == Decimal("40.00")
    with pytest.raises(ChangeRefused, match="no line"):
        apply_change(original, change("correct", line_units={9: 1}), "P1", [])
    with pytest.raises(ChangeRefused, match="is a void"):
        apply_change(original, change("correct", line_units={1: 0, 2: 0}), "P1", [])


PARTNER = TradingPartner.new(
    receiver_id="rcv1",
    name="Test Clearinghouse",
    receiver_code="CLEARHOUSE",
    isa_sender_id="BILLCO",
    isa_receiver_id="CLEARHOUSE",
    gs_sender_code="BILLCO",
    gs_receiver_code="CLEARHOUSE",
    batch_max_claims=2,
    batch_max_age_s=60,
    submitter={
        "name": "Billing Co",
        "id": "BILLCO",
        "contact_name": "Desk",
        "contact_phone": "5555550100",
    },
)


def entry(identity: str, age_s: float) -> PendingEntry:
    return PendingEntry.new(
        receiver_id="rcv1",
        batch_key="1234567893",
        claim_identity=identity,
        kind="session",
        source_json="{}",
        received_at=NOW - timedelta(seconds=age_s),
    )


def test_batches_close_on_count_or_age() -> None:
    assert not batching.is_due([entry("a", 10)], PARTNER, NOW)
    assert batching.is_due([entry("a", 61)], PARTNER, NOW)
    assert batching.is_due([entry("a", 1), entry("b", 1)], PARTNER, NOW)
    # two sessions of one claim identity count as one claim
    assert not batching.is_due([entry("a", 1), entry("a", 1)], PARTNER, NOW)
    chosen = batching.take_batch([entry("c", 1), entry("a", 30), entry("b", 20)], PARTNER, NOW)
    assert [e.claim_identity for e in chosen] == ["a", "b"]


def test_a_day_leaves_only_once_it_has_closed_and_waits_from_then() -> None:
    """A day's entries are not due before their day closes, whatever their age; after
    it closes the batch's age counts from the close, not from the arrival."""
    closes = NOW + timedelta(hours=1)
    old = entry("a", 3600).model_copy(update={"release_at": closes})
    assert not batching.is_due(
        [old, entry("b", 1).model_copy(update={"release_at": closes})], PARTNER, NOW
    )
    assert batching.take_batch([old], PARTNER, NOW) == []
    assert not batching.is_due([old], PARTNER, closes + timedelta(seconds=30))
    assert batching.is_due([old], PARTNER, closes + timedelta(seconds=61))
    assert batching.take_batch([old], PARTNER, closes) == [old]


def test_control_numbers_never_repeat_and_wrap_only_at_the_maximum() -> None:
    numbers, last = batching.reserve(41)
    assert (numbers.interchange, numbers.group, numbers.transaction, last) == (42, 42, 42, 42)
    assert batching.reserve(999_999_999)[1] == 1


def test_files_are_written_atomically_owner_only_and_never_overwritten(tmp_path) -> None:
    path = write_atomically(tmp_path / "rcv1", "a.x12", b"ISA...")
    assert path.read_bytes() == b"ISA..." and (path.stat().st_mode & 0o777) == 0o600
    with pytest.raises(DeliveryError, match="never overwritten"):
        write_atomically(tmp_path / "rcv1", "a.x12", b"other")
    assert path.read_bytes() == b"ISA..."
    assert [p.name for p in (tmp_path / "rcv1").iterdir()] == ["a.x12"]
    # every directory it has to create is owner-only, not only the last one
    deep = write_atomically(tmp_path / "out" / "superbills" / "c1", "s.pdf", b"%PDF")
    for d in (tmp_path / "out", tmp_path / "out" / "superbills", deep.parent):
        assert d.stat().st_mode & 0o077 == 0, d


def test_charges_topic_values_are_told_apart_and_bad_ones_named() -> None:
    """``charges.billable`` carries billable sessions and withdrawals; a truncated
    value is refused as undecodable (not an unexpected failure)."""
    from schemas.billing import parse_charges
    from workers.runtime.codec import decode
    from workers.runtime.failures import InvalidInput

    b = billable()
    assert decode(parse_charges, b.model_dump_json().encode()) == b
    # a billable session whose free text mentions the other event type is still one
    mentioned = b.model_copy(update={"session_key": "c1:charges.withdrawn"})
    assert decode(parse_charges, mentioned.model_dump_json().encode()) == mentioned
    with pytest.raises(InvalidInput) as truncated:
        decode(parse_charges, b'{"event_type": "charges.withdrawn", "session_key"')
    assert truncated.value.reason == "undecodable"
    with pytest.raises(InvalidInput) as invalid:
        decode(parse_charges, b'{"event_type": "charges.withdrawn"}')
    assert invalid.value.reason == "schema-invalid" and "session_key" in str(invalid.value)


def test_claims_state_parses_pending_entries_once_and_follows_the_table() -> None:
    """Pending entries are parsed once while the table holds the same bytes; a
    recovered table (other bytes) is read again, never served from the memo."""
    import asyncio

    from workers.claims.state import ClaimsState
    from workers.runtime.codec import encode

    b = billable()
    state = ClaimsState({}, {}, {}, {}, 6)
    first = entry("c1:s1", 0).model_copy(update={"source_json": b.model_dump_json()})
    key = ClaimsState.pending_key(first, "c1:s1")
    state.add_pending(key, first, b)
    ((got_key, got),) = state.pending_of(first.receiver_id, first.batch_key)
    assert got_key == key and got is first and state.billable_of(key, got) is b
    assert state.pending_of(first.receiver_id, first.batch_key)[0][1] is first

    # the changelog restored other bytes under the same key: they are what counts
    # (a session's entry lives in the sources table, by session key)
    assert state.pending == {} and list(state.sources) == [b"c1:s1"]
    later = first.model_copy(update={"received_at": NOW + timedelta(minutes=5)})
    state.sources[b"c1:s1"] = encode(later)
    asyncio.run(state.rebuild_index())
    ((_, restored),) = state.pending_of(first.receiver_id, first.batch_key)
    assert restored == later and restored is not first
    assert state.billable_of(key, restored) == b  # parsed from the entry's source

    state.drop_pending(key)
    assert state.pending_of(first.receiver_id, first.batch_key) == []
    assert not state.has_pending(key)


def test_a_batch_summary_closes_exactly_when_its_entries_would() -> None:
    """The kept summary answers like ``is_due`` over the batch's entries after any
    sequence of arrivals (days open or closed), replacements, removals and clock
    moves, though it recomputes only when something that matters changed."""
    import random

    rng = random.Random(11)
    partner = PARTNER.model_copy(update={"batch_max_claims": 4, "batch_max_age_s": 30})
    for _ in range(200):
        summary = batching.BatchSummary()
        entries: dict[str, PendingEntry] = {}
        now = NOW
        for _step in range(rng.randint(1, 25)):
            key = f"k{rng.randint(0, 8)}"
            roll = rng.random()
            if entries and roll < 0.3:
                gone = rng.choice(sorted(entries))
                summary.remove(gone)
                del entries[gone]
            elif roll < 0.45:
                now += timedelta(seconds=rng.uniform(0, 90))
            else:
                e = entry(f"id{rng.randint(0, 5)}", rng.uniform(0, 60))
                if rng.random() < 0.5:
                    e = e.model_copy(
                        update={"release_at": now + timedelta(seconds=rng.uniform(-60, 120))}
                    )
                summary.add(key, e)
                entries[key] = e
            expected = batching.is_due(list(entries.values()), partner, now)
            assert summary.due(partner, now) == expected
            assert len(summary) == len(entries)


def test_claims_state_checks_a_batch_from_its_summary_and_after_recovery() -> None:
    """``ClaimsState.is_due`` follows arrivals and removals, and after a recovery
    (other bytes in the table) it is built again from the table."""
    import asyncio

    from workers.claims.state import ClaimsState
    from workers.runtime.codec import encode

    partner = PARTNER.model_copy(update={"batch_max_claims": 2, "batch_max_age_s": 60})
    state = ClaimsState({}, {}, {}, {}, 6)
    young = entry("a", 1)
    key_a = ClaimsState.pending_key(young, "c1:s1")
    assert not state.is_due("rcv1", young.batch_key, partner, NOW)
    state.add_pending(key_a, young)
    assert not state.is_due("rcv1", young.batch_key, partner, NOW)  # one young claim
    other = entry("b", 1)
    key_b = ClaimsState.pending_key(other, "c1:s2")
    state.add_pending(key_b, other)
    assert state.is_due("rcv1", young.batch_key, partner, NOW)  # two claims: full
    state.drop_pending(key_b)
    assert not state.is_due("rcv1", young.batch_key, partner, NOW)
    # recovery restores an old entry under the first key: due by age
    state.sources[b"c1:s1"] = encode(entry("a", 120))
    asyncio.run(state.rebuild_index())
    assert state.is_due("rcv1", young.batch_key, partner, NOW)
    state.drop_pending(key_a)
    assert not state.is_due("rcv1", young.batch_key, partner, NOW)
