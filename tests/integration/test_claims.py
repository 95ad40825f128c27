"""The claims processor on the real broker: billable lines -> validated 837P files."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

from edi.validate import validate_x12
from schemas.billing import ChargesWithdrawn, billing_key
from schemas.outcomes import SessionWithdrawn
from tests import factories as f
from tests.broker_support import Cluster, Msg
from tests.pipeline import billable

PARTNER = {
    "schema_version": 1,
    "receiver_id": "rcv1",
    "name": "Test Clearinghouse",
    "receiver_code": "TESTCLEAR",
    "isa_sender_id": "BILLCO",
    "isa_receiver_id": "TESTCLEAR",
    "gs_sender_code": "BILLCO",
    "gs_receiver_code": "TESTCLEAR",
    "usage": "T",
    "batch_max_claims": 3,
    "batch_max_age_s": 2,
    "submitter": {
        "name": "Billing Co",
        "id": "BILLCO",
        "contact_name": "Claims Desk",
        "contact_phone": "5555550100",
    },
}


def send_billable(
    c: Cluster, session_id: str, patient_id: str | None = None, dos: str = f.DOS
) -> str:
    """A visit, by default of its own patient (a patient's day is one claim: one
    patient per visit makes one claim per visit)."""
    patient = patient_id or f"p{session_id}"
    b = billable(
        session=f.session(session_id=session_id, patient_id=patient, dos=dos),
        patient=f.patient(patient_id=patient),
        payer=f.payer(receiver_id="rcv1"),
        now=datetime.now(UTC),
    )
    c.produce(
        "charges.billable",
        billing_key(b.receiver_id, b.clinic_id, True),
        b.model_dump_json().encode(),
    )
    return b.session_key


def isa13(path: Path) -> int:
    text = path.read_text()
    return int(text[90:99])


def claims_worker(c: Cluster, outbox: Path):
    return c.start_worker(
        "claims", CLAIMS_OUTBOX_DIR=str(outbox), CLAIMS_CLAIMS_TICK_INTERVAL_S="0.5"
    )


def test_billable_lines_become_validated_files_and_events(cluster: Cluster, tmp_path: Path) -> None:
    c = cluster
    outbox = tmp_path / "outbox"
    c.produce("ref.partners", "rcv1", PARTNER)
    keys = [send_billable(c, f"s{n}") for n in range(1, 6)]
    send_billable(c, "s1")  # a redelivered session is not claimed twice
    worker = claims_worker(c, outbox)
    submitted = c.read("claims.submitted")
    submitted.wait_for(5, worker=worker, timeout=90)
    files = c.read("edi.outbound").wait_for(2, worker=worker, timeout=90)
    claims = [m.json for m in submitted.settle(quiet=2)]
    assert sorted(s for ev in claims for s in ev["session_keys"]) == sorted(keys)
    assert len(claims) == 5, "one claim per patient's day, the duplicate ignored"
    counts = sorted(m.json["claim_count"] for m in files)
    assert counts == [2, 3], "a full batch of 3 leaves at once, the rest by age"
    paths = sorted((outbox / "rcv1").iterdir())
    assert len(paths) == 2
    for p in paths:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
        report = validate_x12(p.read_text())
        assert report.ok, report.findings
    by_name = {m.json["file_name"]: m.json for m in files}
    for p in paths:
        assert by_name[p.name]["control_numbers"]["interchange"] == isa13(p)
        import hashlib

        assert by_name[p.name]["sha256"] == hashlib.sha256(p.read_bytes()).hexdigest()
    ev = claims[0]
    assert ev["file_name"] in by_name and len(ev["line_control_numbers"]) == len(
        ev["claim"]["lines"]
    )
    assert ev["patient_control_number"] == ev["claim"]["patient_control_number"]

    # control numbers continue across a restart: never reused
    before = {isa13(p) for p in paths}
    assert worker.stop() == 0
    send_billable(c, "s9")
    worker = claims_worker(c, outbox)
    c.read("edi.outbound").wait_for(3, worker=worker, timeout=90)
    after = {isa13(p) for p in (outbox / "rcv1").iterdir()}
    assert len(after) == 3 and max(after) > max(before) and before < after


def withdrawal(session_key: str) -> bytes:
    w = SessionWithdrawn.new(
        session_key=session_key,
        clinic_id="c1",
        session_id=session_key.split(":")[1],
        patient_id="pt1",
        cancel_event_id="e1",
        state_at_cancel="enriched",
        payer_id="p1",
        receiver_id="rcv1",
        billed_to_payer=True,
        withdrawn_at="2026-03-03T10:00:00Z",
    )
    return (
        ChargesWithdrawn.new(session_key=session_key, receiver_id="rcv1", withdrawn=w)
        .model_dump_json()
        .encode()
    )


def test_withdrawn_before_claiming_is_dropped_and_after_claiming_is_voided(
    cluster: Cluster, tmp_path: Path
) -> None:
    c = cluster
    outbox = tmp_path / "outbox"
    c.produce("ref.partners", "rcv1", {**PARTNER, "batch_max_age_s": 3})
    kept = send_billable(c, "s1")
    dropped = send_billable(c, "s2")
    c.produce("charges.billable", "rcv1", withdrawal(dropped))
    worker = claims_worker(c, outbox)
    submitted = c.read("claims.submitted")
    first = submitted.wait_for(1, worker=worker, timeout=90)[0].json
    assert first["session_keys"] == [kept] and first["frequency"] == "1"

    # the claimed session is cancelled: the void waits for the payer's claim number
    c.produce("charges.billable", "rcv1", withdrawal(kept))
    pcn = first["patient_control_number"]
    command = {
        "schema_version": 1,
        "action": "payer-claim-number",
        "patient_control_number": pcn,
        "receiver_id": "rcv1",
        "payer_claim_number": "PAYER0001",
        "requested_at": "2026-03-05T10:00:00Z",
    }
    c.produce("claims.commands", "rcv1", command)
    void: Msg = submitted.wait_for(
        1, where=lambda m: m.json["frequency"] == "8", worker=worker, timeout=90
    )[0]
    body = void.json
    assert body["patient_control_number"] == pcn and body["version"] == 2
    assert body["replaces"] == first["claim_id"]
    assert body["claim"]["payer_claim_number"] == "PAYER0001"
    text = next(p for p in (outbox / "rcv1").iterdir() if p.name == body["file_name"]).read_text()
    assert f"CLM*{pcn}*" in text and ":B:8*" in text and "REF*F8*PAYER0001" in text
    assert len(submitted.settle(quiet=2)) == 2


def test_a_claim_that_cannot_be_rendered_is_dead_lettered_alone(
    cluster: Cluster, tmp_path: Path
) -> None:
    c = cluster
    outbox = tmp_path / "outbox"
    c.produce("ref.partners", "rcv1", PARTNER)
    good = send_billable(c, "s1")
    bad = billable(
        session=f.session(session_id="s2"),
        payer=f.payer(receiver_id="rcv1"),
        patient=f.patient(name={"first_name": "Eve~NM1", "last_name": "Star*Inject"}),
        now=datetime.now(UTC),
    )
    c.produce("charges.billable", "rcv1", bad.model_dump_json().encode())
    worker = claims_worker(c, outbox)
    dead = c.read("charges.billable.dlq").wait_for(1, worker=worker, timeout=90)[0]
    assert dead.header("claims.dlq.error.reason") == "render-failed"
    assert "Inject" not in (dead.header("claims.dlq.error.message") or "")
    assert json.loads(dead.value or b"{}")["session_key"] == "c1:s2"
    submitted = c.read("claims.submitted").wait_for(1, worker=worker, timeout=90)
    assert submitted[0].json["session_keys"] == [good]


def test_a_file_the_gate_refuses_is_not_written_and_its_claims_are_dead_lettered(
    cluster: Cluster, tmp_path: Path
) -> None:
    c = cluster
    outbox = tmp_path / "outbox"
    c.produce("ref.partners", "rcv1", {**PARTNER, "batch_max_claims": 1})
    # renders fine, but "00" is not a place-of-service code: pyx12 refuses the file
    bad = billable(
        session=f.session(session_id="s1", place_of_service="00"),
        payer=f.payer(receiver_id="rcv1"),
        now=datetime.now(UTC),
    )
    c.produce("charges.billable", "rcv1", bad.model_dump_json().encode())
    good = send_billable(c, "s2")
    worker = claims_worker(c, outbox)
    dead = c.read("charges.billable.dlq").wait_for(1, worker=worker, timeout=90)[0]
    assert dead.header("claims.dlq.error.reason") == "validation-failed"
    assert "CLM05-01" in (dead.header("claims.dlq.error.message") or "")
    assert json.loads(dead.value or b"{}")["session_key"] == "c1:s1"
    submitted = c.read("claims.submitted").wait_for(1, worker=worker, timeout=90)
    assert submitted[0].json["session_keys"] == [good]
    files = list((outbox / "rcv1").iterdir())
    assert len(files) == 1 and files[0].name == submitted[0].json["file_name"]


def test_control_numbers_stay_unique_when_a_second_process_joins(
    cluster: Cluster, tmp_path: Path
) -> None:
    """Receivers spread over the partitions; a second process takes some of them
    over (with their sequences) half-way: no ISA13 is used twice for a receiver."""
    c = cluster
    outbox = tmp_path / "outbox"
    receivers = [f"rcv{n}" for n in range(1, 7)]
    for r in receivers:
        c.produce("ref.partners", r, {**PARTNER, "receiver_id": r, "batch_max_claims": 1})

    def send_round(tag: str) -> None:
        for r in receivers:
            b = billable(
                session=f.session(session_id=f"{tag}-{r}", patient_id=f"p{tag}-{r}"),
                patient=f.patient(patient_id=f"p{tag}-{r}"),
                payer=f.payer(receiver_id=r),
                now=datetime.now(UTC),
            )
            c.produce("charges.billable", r, b.model_dump_json().encode())

    send_round("a")
    first = claims_worker(c, outbox)
    outbound = c.read("edi.outbound")
    outbound.wait_for(len(receivers), worker=first, timeout=90)
    second = claims_worker(c, outbox)
    second.wait_log(lambda e: "Worker ready" in str(e.get("event", "")), timeout=60)
    send_round("b")
    outbound.wait_for(2 * len(receivers), worker=second, timeout=90)
    seen: dict[str, list[int]] = {}
    for m in outbound.settle(quiet=2):
        seen.setdefault(m.json["receiver_id"], []).append(m.json["control_numbers"]["interchange"])
    assert {r: sorted(v) for r, v in seen.items()} == {r: [1, 2] for r in receivers}
    for r in receivers:
        assert len(list((outbox / r).iterdir())) == 2


def test_a_pending_session_is_recovered_with_the_reference_copies_it_names(
    cluster: Cluster, tmp_path: Path
) -> None:
    """A session's entry names its clinic, payer and therapist copies (stored once in
    ``state.claims.references``); a new process recovers both and files the claim
    as the first would have: same charges, a valid file."""
    c = cluster
    outbox = tmp_path / "outbox"
    c.produce("ref.partners", "rcv1", {**PARTNER, "batch_max_claims": 2, "batch_max_age_s": 3600})
    first = send_billable(c, "s1")
    worker = claims_worker(c, outbox)
    [entry] = c.read("state.claims.sources").wait_for(1, worker=worker, timeout=90)
    assert entry.value is not None and entry.value.startswith(b"2\n")
    refs = c.read("state.claims.references").wait_for(3, worker=worker, timeout=30)
    assert sorted((r.key or b"").split(b":")[1] for r in refs) == [b"clinic", b"payer", b"therapist"]
    for ref in refs:  # the copy is in the references, not in the entry
        assert ref.value is not None and ref.value not in entry.value
    assert worker.stop() == 0
    assert not (outbox / "rcv1").exists(), "a batch of one, young: still pending"

    second = send_billable(c, "s2")
    worker = claims_worker(c, outbox)
    submitted = c.read("claims.submitted").wait_for(2, worker=worker, timeout=90)
    [sent] = c.read("edi.outbound").wait_for(1, worker=worker, timeout=30)
    assert sent.json["claim_count"] == 2
    assert sorted(k for m in submitted for k in m.json["session_keys"]) == sorted([first, second])
    expected = billable(
        session=f.session(session_id="s1", patient_id="ps1"),
        patient=f.patient(patient_id="ps1"),
        payer=f.payer(receiver_id="rcv1"),
        now=datetime.now(UTC),
    ).charge_total
    [claim] = [m.json["claim"] for m in submitted if m.json["session_keys"] == [first]]
    assert claim["total_charge"] == str(expected)
    [path] = (outbox / "rcv1").iterdir()
    report = validate_x12(path.read_text())
    assert report.ok, report.findings
