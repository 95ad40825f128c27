"""What goes into one 837 file and what releasing it changes (`workers.claims.filing`),
as pure functions over pending entries."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from schemas.billing import BillableSession
from schemas.claims import Claim
from schemas.state import ClaimRecord, PendingEntry, SourceRef
from tests import claim_factories as cf
from tests import factories as f
from tests.pipeline import billable
from workers.claims import batching, filing
from workers.claims.assemble import assemble_claim, claim_identity, new_version

T0 = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
PARTNER = cf.partner(receiver_id="rcv1")
NUMBERS = batching.reserve(41)[0]


def session(session_id: str, dos: str = "2026-03-02") -> BillableSession:
    """A visit; visits on different days are different claims."""
    return billable(
        session=f.session(session_id=session_id, dos=dos), payer=f.payer(receiver_id="rcv1")
    )


def session_entry(b: BillableSession, identity: str | None = None) -> tuple[str, PendingEntry]:
    entry = PendingEntry.new(
        receiver_id="rcv1",
        batch_key=b.enriched.clinic.npi,
        claim_identity=identity or claim_identity(b),
        kind="session",
        source_json=b.model_dump_json(),
        source_ref=SourceRef(topic="charges.billable", partition=0, offset=1, timestamp_ms=0, key="rcv1"),
        received_at=T0,
    )
    return f"rcv1|{entry.batch_key}|{b.session_key}", entry


def version_entry(claim: Claim) -> tuple[str, PendingEntry]:
    entry = PendingEntry.new(
        receiver_id="rcv1",
        batch_key=claim.billing_provider.npi,
        claim_identity=f"v:{claim.claim_id}",
        kind="version",
        claim_json=claim.model_dump_json(),
        received_at=T0,
    )
    return f"rcv1|{entry.batch_key}|{claim.claim_id}", entry


def parsed(_key: str, entry: PendingEntry) -> BillableSession:
    return BillableSession.parse_json(entry.source_json or "")


def test_sessions_of_one_identity_make_one_claim_and_versions_go_alone() -> None:
    a, b = session("s1"), session("s2")
    first = assemble_claim([session("s3", "2026-03-03")])
    entries = [
        session_entry(a),
        session_entry(b),
        version_entry(new_version(first, "8", "PAYER1")),
    ]
    out = filing.assemble(entries, parsed)
    assert not out.refused
    assert [len(c.members) for c in out.candidates] == [2, 1]
    assert out.candidates[0].claim.session_keys == [a.session_key, b.session_key]
    assert out.candidates[1].claim.frequency == "8"


def test_only_one_version_of_a_claim_goes_in_a_file_the_later_waits() -> None:
    claim = assemble_claim([session("s1")])
    v2 = new_version(claim, "7", "PAYER1")
    v3 = new_version(v2, "8", "PAYER1")
    out = filing.assemble([version_entry(v2), version_entry(v3)], parsed)
    assert [c.claim.claim_id for c in out.candidates] == [v2.claim_id]
    assert not out.refused  # the later version is neither sent nor refused: it waits


def test_an_entry_that_cannot_be_assembled_is_refused_alone() -> None:
    key, broken = version_entry(assemble_claim([session("s1")]))
    broken = broken.model_copy(update={"claim_json": "{}"})
    out = filing.assemble([(key, broken), session_entry(session("s2", "2026-03-03"))], parsed)
    [refusal] = out.refused
    assert (refusal.key, refusal.reason) == (key, "render-failed")
    assert "cannot be assembled" in refusal.message and len(out.candidates) == 1


def test_a_claim_that_cannot_be_rendered_is_isolated_and_the_rest_still_go() -> None:
    """A delimiter in a name cannot be rendered: that claim is refused, the file goes."""
    good = session("s1")
    bad = assemble_claim([session("s2", "2026-03-03")])
    tainted = bad.model_copy(
        update={"payer": bad.payer.model_copy(update={"name": "ACME*HEALTH"})}
    )
    assembled = filing.assemble(
        [session_entry(good), version_entry(tainted)], parsed)
    plan = filing.render(assembled, PARTNER, NUMBERS, T0)
    assert plan.file is not None and not plan.whole
    assert [c.claim.patient_control_number for c in plan.claims] == [
        assemble_claim([good]).patient_control_number
    ]
    [refusal] = plan.refused
    assert refusal.reason == "render-failed" and tainted.claim_id in refusal.message


def test_a_batch_that_renders_at_once_is_one_file_with_the_reserved_numbers() -> None:
    assembled = filing.assemble([session_entry(session("s1"))], parsed)
    plan = filing.render(assembled, PARTNER, NUMBERS, T0)
    assert plan.whole and plan.file is not None and not plan.refused
    assert plan.file.control_numbers == NUMBERS and plan.file.claim_count == 1
    assert f"*{NUMBERS.interchange:09d}*" in plan.file.text


def test_the_gate_refuses_every_entry_of_its_file_with_its_findings() -> None:
    assembled = filing.assemble(
        [session_entry(session("s1")), session_entry(session("s2", "2026-03-03"))], parsed)
    plan = filing.render(assembled, PARTNER, NUMBERS, T0)
    refusals = filing.refused_by_gate(plan, ["SE01 wrong", "NM1 missing"])
    assert [r.reason for r in refusals] == ["validation-failed"] * 2
    assert refusals[0].message == "837P validation failed: SE01 wrong; NM1 missing"


def test_a_release_records_new_claims_and_new_versions_and_indexes_the_sessions() -> None:
    new, old = session("s1"), session("s2", "2026-03-03")
    sent_before = assemble_claim([old])
    record = ClaimRecord.new(
        patient_control_number=sent_before.patient_control_number,
        receiver_id="rcv1",
        claim_identity=claim_identity(old),
        status="submitted",
        current_json=sent_before.model_dump_json(),
        sources_json=[old.model_dump_json()],
        front_door="rejected",
    )
    void = new_version(sent_before, "8", "PAYER1")
    assembled = filing.assemble([session_entry(new), version_entry(void)], parsed)
    plan = filing.render(assembled, PARTNER, NUMBERS, T0)
    name = filing.file_name(PARTNER, NUMBERS, T0)
    release = filing.released(
        plan,
        PARTNER,
        name=name,
        path=Path("/out") / name,
        data=b"x",
        digest="d",
        validated=True,
        record_of={record.patient_control_number: record}.get,
        now=T0,
    )
    assert name == "SENDER01_RECEIVER01_000000042_20260310T120000Z.x12"
    created, updated = release.records
    assert created.status == "submitted" and created.sources_json == [new.model_dump_json()]
    assert (updated.status, updated.front_door, len(updated.versions)) == ("voided", "sent", 1)
    assert release.sessions == {
        new.session_key: created.patient_control_number,
        old.session_key: updated.patient_control_number,
    }
    # the records name their sessions themselves (the index is rebuilt from them);
    # the old record, written before the field existed, gets them from its claim
    assert created.session_keys == [new.session_key]
    assert updated.session_keys == [old.session_key]
    assert release.transmission.claims == {
        created.patient_control_number: f"{created.patient_control_number}-1",
        void.patient_control_number: void.claim_id,
    }
    assert release.file.claim_count == 2 and release.file.validated
    assert [e.claim_id for e in release.submitted] == list(release.file.claim_ids)
    assert sorted(release.released_keys) == sorted(k for k, _ in [session_entry(new), version_entry(void)])
