"""A claim record's life (`workers.claims.lifecycle`), as pure functions: no faust,
no fakes of the wiring, no patched clock -- inputs in, a `Step` out."""

from __future__ import annotations

import datetime as dt

import pytest

from schemas.acknowledgements import ClaimStatusReceived
from schemas.billing import BillableSession, ChargesWithdrawn
from schemas.coordination import secondary_pcn
from schemas.outcomes import SessionWithdrawn
from schemas.state import ClaimRecord, ClaimVersionSent, PendingChange, Transmission
from schemas.submission import (
    ClaimCommand,
    RecordPayerClaimNumber,
    SubmitClaim,
    VoidClaim,
    claim_command,
)
from tests import claim_factories as cf
from tests import factories as f
from tests.pipeline import billable
from workers.claims import lifecycle
from workers.claims.assemble import assemble_claim
from workers.claims.lifecycle import Source

T0 = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
SOURCE = Source('{"x": 1}', None)
POLICY = lifecycle.Policy()


def session(session_id: str = "s1") -> BillableSession:
    return billable(
        session=f.session(session_id=session_id, dos="2026-03-02"), payer=f.payer(receiver_id="rcv1")
    )


def sent_record(b: BillableSession, **over: object) -> ClaimRecord:
    claim = assemble_claim([b])
    data: dict[str, object] = {
        "patient_control_number": claim.patient_control_number,
        "receiver_id": claim.receiver_id,
        "claim_identity": b.session_key,
        "status": "submitted",
        "current_json": claim.model_dump_json(),
        "sources_json": [b.model_dump_json()],
        "versions": [
            ClaimVersionSent(
                claim_id=claim.claim_id, frequency="1", file_name="a.x12", interchange=1, sent_at=T0
            )
        ],
        "front_door_at": T0,
    }
    data.update(over)
    return ClaimRecord.new(**data)


def command(action: str, record: ClaimRecord, **fields: object) -> ClaimCommand:
    return claim_command(
        action=action,
        patient_control_number=record.patient_control_number,
        receiver_id=record.receiver_id,
        requested_at=T0,
        **fields,
    )


def run(
    cmd: ClaimCommand, record: ClaimRecord | None, pending: set[str] | None = None
) -> lifecycle.Step:
    records = {record.patient_control_number: record} if record else {}
    return lifecycle.on_command(
        cmd,
        SOURCE,
        record_of=records.get,
        pending_exists=(pending or set()).__contains__,
        now=T0,
    )


# --- sessions -------------------------------------------------------------------------


def test_a_new_session_becomes_a_pending_entry_of_its_receiver_and_provider() -> None:
    b = session()
    step = lifecycle.charges_arrived(b, SOURCE, record=None, seen=False, policy=POLICY, now=T0)
    [(key, entry, kept)] = step.pending
    assert key == f"rcv1|{b.enriched.clinic.npi}|{b.session_key}"
    assert (entry.kind, entry.received_at) == ("session", T0)
    assert entry.claim_identity == f"c1:{b.patient_id}:{b.enriched.coverage.coverage_id}:2026-03-02"
    assert kept is b and step.outcomes == ["claim-pending"]
    assert step.release == [("rcv1", b.enriched.clinic.npi)]


def test_a_session_seen_before_changes_nothing() -> None:
    step = lifecycle.charges_arrived(session(), SOURCE, record=None, seen=True, policy=POLICY, now=T0)
    assert step.outcomes == ["duplicate"] and not step.pending and not step.records


def test_in_day_mode_a_session_for_a_claim_already_sent_waits_as_a_correction() -> None:
    """Without the payer's claim number the reassembly waits on the record."""
    first, late = session("s1"), session("s2")
    record = sent_record(first)
    step = lifecycle.charges_arrived(late, SOURCE, record=record, seen=False, policy=POLICY, now=T0)
    [stored] = step.records
    assert len(stored.sources_json) == 2
    assert [(c.action, c.reassemble) for c in stored.waiting] == [("correct", True)]
    assert step.sessions == {late.session_key: lifecycle.placement(late).pcn}
    assert stored.session_keys == [first.session_key, late.session_key]
    assert not step.pending


def test_a_withdrawn_pending_session_is_dropped_and_a_claimed_one_voided() -> None:
    b = session()
    withdrawn = ChargesWithdrawn.new(
        session_key=b.session_key,
        receiver_id="rcv1",
        withdrawn=SessionWithdrawn.new(
            session_key=b.session_key,
            clinic_id="c1",
            patient_id=b.patient_id,
            session_id=b.session_id,
            cancel_event_id="00000000-0000-4000-8000-000000000001",
            state_at_cancel="enriched",
            billed_to_payer=True,
            receiver_id="rcv1",
            withdrawn_at=T0,
        ),
    )
    step = lifecycle.charges_withdrawn(
        withdrawn, SOURCE, pending="k", record=None, now=T0
    )
    assert step.dropped == ["k"] and step.outcomes == ["withdrawn-before-claim"]
    record = sent_record(b, payer_claim_number="PAYER-1")
    step = lifecycle.charges_withdrawn(
        withdrawn, SOURCE, pending=None, record=record, now=T0
    )
    [(_, entry, _)] = step.pending
    assert cf.Claim.parse_json(entry.claim_json or "").frequency == "8"
    assert step.outcomes == ["void-requested"] and step.records[0].waiting == []
    voided = record.model_copy(update={"status": "voided"})
    assert lifecycle.charges_withdrawn(
        withdrawn, SOURCE, pending=None, record=voided, now=T0
    ) == lifecycle.Step()


# --- changes and the payer's claim number ---------------------------------------------------


def test_a_void_waits_for_the_payer_claim_number_then_goes_as_frequency_8() -> None:
    record = sent_record(session())
    step = run(command("void", record, reason="entered in error"), record)
    [waiting] = step.records
    assert [c.action for c in waiting.waiting] == ["void"] and not step.pending
    assert step.release_receiver == "rcv1"
    step = run(command("payer-claim-number", waiting, payer_claim_number="PCN-9"), waiting)
    [stored] = step.records
    assert stored.payer_claim_number == "PCN-9" and stored.waiting == []
    assert stored.remitted_at == T0
    [(key, entry, _)] = step.pending
    version = cf.Claim.parse_json(entry.claim_json or "")
    assert (version.frequency, version.payer_claim_number, version.version) == ("8", "PCN-9", 2)
    assert key.endswith(f"|{version.claim_id}")


def test_two_waiting_changes_become_consecutive_versions() -> None:
    record = sent_record(session(), payer_claim_number=None)
    change = PendingChange(action="correct", line_units={1: 1}, requested_at=T0)
    record = record.model_copy(update={"waiting": [change]})
    step = run(command("void", record), record.model_copy(update={"payer_claim_number": "N1"}))
    versions = [cf.Claim.parse_json(e.claim_json or "") for _, e, _ in step.pending]
    assert [(v.version, v.frequency) for v in versions] == [(2, "7"), (3, "8")]
    assert versions[1].replaces == versions[0].claim_id


def test_a_correction_that_cannot_apply_is_refused_with_a_warning_not_an_error() -> None:
    record = sent_record(session(), payer_claim_number="N1")
    step = run(command("correct", record, line_units={9: 1}), record)
    assert not step.pending and step.records[0].waiting == []
    assert [n.event for n in step.notes] == ["claim change refused"]


def test_a_command_for_an_unknown_claim_is_refused_naming_the_rule() -> None:
    record = sent_record(session())
    with pytest.raises(lifecycle.Refused) as refused:
        run(command("void", record), None)
    assert refused.value.reason == "unknown-claim"


# --- the front door ------------------------------------------------------------------------


def test_a_rejected_claim_is_resent_as_a_new_original_once() -> None:
    record = sent_record(session(), front_door="rejected")
    step = run(command("resend", record), record)
    [(key, entry, _)] = step.pending
    version = cf.Claim.parse_json(entry.claim_json or "")
    assert (version.frequency, version.version, version.payer_claim_number) == ("1", 2, None)
    assert step.outcomes == ["rejected-claim-resent"]
    again = run(command("resend", record), record, pending={key})
    assert again.outcomes == ["duplicate"] and not again.pending


def test_voiding_a_rejected_claim_closes_it_without_sending() -> None:
    record = sent_record(session(), front_door="rejected")
    step = run(command("void", record), record)
    assert step.records[0].status == "voided" and step.closed == [record.patient_control_number]
    assert not step.pending and step.release_receiver is None


def test_only_a_rejected_claim_can_be_resent() -> None:
    record = sent_record(session(), front_door="accepted")
    with pytest.raises(lifecycle.Refused) as refused:
        run(command("resend", record), record)
    assert refused.value.reason == "not-rejected"


def test_a_999_for_an_unknown_file_is_refused() -> None:
    from tests.unit.test_front_door import ack_999

    with pytest.raises(lifecycle.Refused) as refused:
        lifecycle.on_999(ack_999("a1"), transmission_of=lambda n: None, record_of=lambda p: None, now=T0)
    assert refused.value.reason == "unknown-transmission"


def test_a_999_reaches_every_claim_of_its_file_and_counts_a_missing_record() -> None:
    from tests.unit.test_front_door import ack_999
    from tests.unit.test_front_door import record as fd_record

    record = fd_record()
    sent = Transmission.new(
        receiver_id="RCV1",
        file_name="a.x12",
        interchange=1,
        claims={record.patient_control_number: "X-1", "GONE1": "GONE1-1"},
        sent_at=T0,
    )
    step = lifecycle.on_999(
        ack_999("a1"),
        transmission_of={1: sent}.get,
        record_of={record.patient_control_number: record}.get,
        now=T0,
    )
    assert "999-claim-without-record" in step.outcomes and step.outcomes[-1] == "999-applied"
    assert [n.level for n in step.notes] == ["error"]
    assert len(step.records) == 1


# --- coordination of benefits --------------------------------------------------------------


def test_a_secondary_request_builds_the_claim_once_as_a_submit_command() -> None:
    from tests.unit.test_secondary_claims import commercial_then_secondary_plan, primary_payment

    primary = commercial_then_secondary_plan()
    record = sent_record(primary)
    payment, paid_on = primary_payment(assemble_claim([primary]))
    step = run(command("secondary", record, remittance=payment, paid_on=paid_on), record)
    [submit] = step.commands
    assert isinstance(submit, SubmitClaim) and submit.receiver_id == "rcv2"
    assert submit.claim.patient_control_number == secondary_pcn(record.patient_control_number)
    [stored] = step.records
    assert stored.secondary_pcn == submit.claim.patient_control_number
    again = run(command("secondary", stored, remittance=payment, paid_on=paid_on), stored)
    assert again.outcomes == ["duplicate"] and not again.commands


def test_the_command_contract_has_one_model_per_action() -> None:
    record = sent_record(session())
    assert isinstance(command("void", record), VoidClaim)
    number = command("payer-claim-number", record, payer_claim_number="N")
    assert isinstance(number, RecordPayerClaimNumber)
    with pytest.raises(ValueError, match="payer_claim_number"):
        command("payer-claim-number", record)
    with pytest.raises(ValueError, match="line_units"):
        command("void", record, line_units={1: 2})


# --- the payer's claim number from a 277CA ------------------------------------------------


def _status(record: ClaimRecord, source_entity: str) -> ClaimStatusReceived:
    from tests.unit.test_front_door import ack_277

    ack = ack_277("ca-1", "A1", code="20")
    claim = ack.claim.model_copy(
        update={
            "patient_control_number": record.patient_control_number,
            "payer_claim_number": "PAYER-ICN-5",
        }
    )
    return ack.model_copy(update={"claim": claim, "source_entity": source_entity})


def test_a_payers_own_277ca_number_lets_a_void_go_before_the_835() -> None:
    record = sent_record(session())
    waiting = run(command("void", record), record).records[0]
    step = lifecycle.on_277(
        _status(waiting, "PR"), record_of={record.patient_control_number: waiting}.get, now=T0
    )
    [(_, entry, _)] = step.pending
    void = cf.Claim.parse_json(entry.claim_json or "")
    assert (void.frequency, void.payer_claim_number) == ("8", "PAYER-ICN-5")
    assert step.records[-1].payer_claim_number == "PAYER-ICN-5"
    assert step.records[-1].remitted_at is None  # a 277CA is not an adjudication


def test_a_clearinghouses_277ca_number_is_its_own_and_does_not_count() -> None:
    record = sent_record(session())
    waiting = run(command("void", record), record).records[0]
    step = lifecycle.on_277(
        _status(waiting, "AY"), record_of={record.patient_control_number: waiting}.get, now=T0
    )
    assert not step.pending and step.records[-1].payer_claim_number is None


def test_a_late_visit_waits_for_the_835_even_with_the_payers_number() -> None:
    """The replacement of a day must not cross the original in the payer's system:
    a 277CA number alone does not release it; the 835 does."""
    first, late = session("s1"), session("s2")
    record = sent_record(first)
    arrived = Source(late.model_dump_json(), None)
    step = lifecycle.charges_arrived(late, arrived, record=record, seen=False, policy=POLICY, now=T0)
    waiting = step.records[-1]
    numbered = lifecycle.on_277(
        _status(waiting, "PR"), record_of={record.patient_control_number: waiting}.get, now=T0
    )
    assert not numbered.pending and len(numbered.records[-1].waiting) == 1
    paid = run(
        command("payer-claim-number", numbered.records[-1], payer_claim_number="PAYER-ICN-5"),
        numbered.records[-1],
    )
    [(_, entry, _)] = paid.pending
    assert cf.Claim.parse_json(entry.claim_json or "").frequency == "7"
