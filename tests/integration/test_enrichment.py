"""The enrichment processor on the real broker."""

from __future__ import annotations

import json
import stat
import time
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from tests import factories as f
from tests.broker_support import Cluster, Msg
from tests.claim_factories import partner_data
from tests.x12_second_opinion import second_opinion_270
from workers.payer_sim.eligibility import answer_270
from workers.runtime.partitioning import partition_for


def catalogue(c: Cluster) -> None:
    c.produce("ref.clinics", "c1", f.clinic())
    c.produce("ref.therapists", "c1:t1", f.therapist())
    c.produce("ref.payers", "p1", f.payer())


def patient(c: Cluster, pid: str = "pt1", rx: bool = True, **rx_over: object) -> None:
    c.produce("ref.patients", f"c1:{pid}", f.patient(patient_id=pid))
    if rx:
        c.produce(
            "ref.prescriptions",
            f"c1:rx-{pid}",
            f.prescription(prescription_id=f"rx-{pid}", patient_id=pid, **rx_over),
        )


def send(c: Cluster, pid: str, sid: str, **over: object) -> dict:
    ev = f.session(session_id=sid, patient_id=pid, **over)
    c.produce("sessions.completed", f"c1:{pid}", ev)
    return ev


def visits(messages: list[Msg]) -> dict[str, set[int]]:
    """session key -> visit numbers it was enriched with."""
    seen: dict[str, set[int]] = defaultdict(set)
    for m in messages:
        if m.json["event_type"] == "session.enriched":
            seen[m.json["session_key"]].add(m.json["visit_number"])
    return seen


def test_session_before_its_prescription_is_held_then_enriched_exactly_once(
    cluster: Cluster,
) -> None:
    c = cluster
    catalogue(c)
    patient(c, rx=False)
    send(c, "pt1", "s1")
    worker = c.start_worker("enrich")
    held = c.read("sessions.held")
    # processed before the patient record was mirrored, the session is first held
    # unknown-patient; its latest decision (the highest number) must be rx-missing
    held.wait_for(1, lambda m: m.json["reason"] == "rx-missing", worker=worker)
    latest = max(held.messages, key=lambda m: m.json["decision"])
    assert latest.json["reason"] == "rx-missing"
    c.produce("ref.prescriptions", "c1:rx1", f.prescription())
    enriched = c.read("sessions.enriched")
    got = enriched.wait_for(1, worker=worker)
    assert got[0].json["session_key"] == "c1:s1" and got[0].json["visit_number"] == 1
    c.produce("ref.prescriptions", "c1:rx1", f.prescription(visits_authorized=13))  # an update
    assert len(enriched.settle(quiet=3)) == 1, "released exactly once"


def test_unknown_patient_is_held_then_released(cluster: Cluster) -> None:
    c = cluster
    catalogue(c)
    send(c, "pt1", "s1")
    worker = c.start_worker("enrich")
    held = c.read("sessions.held").wait_for(1, worker=worker)
    assert held[0].json["reason"] == "unknown-patient"
    patient(c)
    enriched = c.read("sessions.enriched").wait_for(1, worker=worker)
    assert enriched[0].json["patient"]["patient_id"] == "pt1"


def test_unknown_clinic_is_held_until_the_clinic_arrives(cluster: Cluster) -> None:
    c = cluster
    c.produce("ref.therapists", "c1:t1", f.therapist())
    c.produce("ref.payers", "p1", f.payer())
    patient(c)
    send(c, "pt1", "s1")
    worker = c.start_worker("enrich")
    assert c.read("sessions.held").wait_for(1, worker=worker)[0].json["reason"] == "unknown-clinic"
    c.produce("ref.clinics", "c1", f.clinic())
    assert (
        c.read("sessions.enriched").wait_for(1, worker=worker)[0].json["clinic"]["clinic_id"]
        == "c1"
    )


def test_duplicates_and_conflicting_duplicates(cluster: Cluster) -> None:
    c = cluster
    catalogue(c)
    patient(c)
    first = send(c, "pt1", "s1")
    resent = {**first, "event_id": "0b6c1f7e-2f4a-4d61-9c59-5d4a0f3f9a11"}
    c.produce("sessions.completed", "c1:pt1", resent)
    changed = {
        **first,
        "event_id": "3f0c2a9e-8b7d-4c1e-a5f6-0e9d8c7b6a54",
        "techniques": [{"technique": "swedish_massage", "minutes": 45}],
    }
    c.produce("sessions.completed", "c1:pt1", changed)
    worker = c.start_worker("enrich")
    dups = c.read("sessions.duplicates").wait_for(1, worker=worker)
    assert dups[0].json["event_id"] == resent["event_id"]
    assert dups[0].json["first_event_id"] == first["event_id"]
    rejected = c.read("sessions.rejected").wait_for(1, worker=worker)
    assert rejected[0].json["reason"] == "conflicting-duplicate"
    assert len(c.read("sessions.enriched").settle(quiet=2)) == 1


def test_cancelled_before_claiming_is_withdrawn_and_frees_the_visit(cluster: Cluster) -> None:
    c = cluster
    catalogue(c)
    patient(c)
    send(c, "pt1", "s1")
    worker = c.start_worker("enrich")
    enriched = c.read("sessions.enriched")
    enriched.wait_for(1, worker=worker)
    c.produce("sessions.completed", "c1:pt1", f.cancel(session_id="s1"))
    send(c, "pt1", "s2")
    withdrawn = c.read("sessions.cancelled").wait_for(1, worker=worker)[0].json
    assert withdrawn["session_key"] == "c1:s1"
    assert withdrawn["state_at_cancel"] == "enriched" and withdrawn["visit_released"] is True
    enriched.wait_for(3, worker=worker)  # s1, its withdrawal (in order behind it), s2
    assert [m.json["event_type"] for m in enriched.messages] == [
        "session.enriched",
        "session.withdrawn",
        "session.enriched",
    ]
    assert visits(enriched.messages) == {"c1:s1": {1}, "c1:s2": {1}}, "s2 reuses the freed visit"


def test_bad_prescriptions_go_to_ref_rejected_and_never_cover(cluster: Cluster) -> None:
    c = cluster
    catalogue(c)
    patient(c, rx=False)
    c.produce("ref.prescriptions", "c1:rx1", f.prescription(diagnosis_codes=["5450"]))
    send(c, "pt1", "s1")
    worker = c.start_worker("enrich")
    refused = c.read("ref.rejected").wait_for(1, worker=worker)[0]
    assert refused.key == b"c1:rx1" and refused.json["reason"] == "rx-bad-diagnosis"
    assert c.read("sessions.held").wait_for(1, worker=worker)[0].json["reason"] == "rx-missing"


def test_holds_expire_with_their_reason(cluster: Cluster) -> None:
    c = cluster
    catalogue(c)
    patient(c, rx=False)
    send(c, "pt1", "s1")
    worker = c.start_worker(
        "enrich", CLAIMS_ENRICH_HOLD_LIMIT_S="2", CLAIMS_ENRICH_SWEEP_INTERVAL_S="1"
    )
    rejected = c.read("sessions.rejected").wait_for(1, worker=worker, timeout=60)[0].json
    assert rejected["reason"] == "hold-expired" and rejected["held_reason"] == "rx-missing"


def test_visit_counter_survives_a_restart(cluster: Cluster) -> None:
    c = cluster
    catalogue(c)
    patient(c)
    for n in (1, 2, 3):
        send(c, "pt1", f"s{n}")
    worker = c.start_worker("enrich")
    enriched = c.read("sessions.enriched")
    enriched.wait_for(3, worker=worker)
    assert worker.stop() is not None
    send(c, "pt1", "s4")
    worker = c.start_worker("enrich")
    enriched.wait_for(4, worker=worker)
    assert visits(enriched.settle(quiet=2)) == {f"c1:s{n}": {n} for n in (1, 2, 3, 4)}
    assert len(enriched.messages) == 4, "a clean restart re-emits nothing"


def test_a_regulars_grouped_history_survives_a_restart(cluster: Cluster) -> None:
    """Past twelve settled sessions a patient's oldest records go to a group of
    their own in the same table; a new process recovers the group: the first visit
    sent again is a duplicate, and the next visit is counted after all the others."""
    c = cluster
    catalogue(c)
    patient(c, visits_authorized=30)
    today = date.today()
    sent = [
        send(c, "pt1", f"s{n}", dos=(today - timedelta(days=40 - n)).isoformat())
        for n in range(1, 16)
    ]
    worker = c.start_worker("enrich")
    enriched = c.read("sessions.enriched")
    enriched.wait_for(15, worker=worker)
    state = c.read("state.enrich.patients").wait_for(
        1, where=lambda m: m.key == b"c1:pt1|h0", worker=worker, timeout=30
    )
    assert b'"s1"' in (state[0].value or b"")
    assert worker.stop() is not None
    c.produce("sessions.completed", "c1:pt1", {**sent[0], "event_id": str(uuid.uuid4())})
    send(c, "pt1", "s16", dos=(today - timedelta(days=2)).isoformat())
    worker = c.start_worker("enrich")
    [dup] = c.read("sessions.duplicates").wait_for(1, worker=worker)
    assert dup.json["first_event_id"] == sent[0]["event_id"]
    enriched.wait_for(16, worker=worker)
    assert visits(enriched.settle(quiet=2)) == {f"c1:s{n}": {n} for n in range(1, 17)}


def test_visit_counter_after_redelivery_of_uncommitted_messages(cluster: Cluster) -> None:
    """Kill the worker before it commits; the restarted one is sent the same
    messages again and must neither count a visit twice nor skip one."""
    c = cluster
    catalogue(c)
    patient(c)
    for n in range(1, 6):
        send(c, "pt1", f"s{n}")
    slow_commit = {"CLAIMS_COMMIT_INTERVAL_S": "3600"}
    worker = c.start_worker("enrich", **slow_commit)
    enriched = c.read("sessions.enriched")
    enriched.wait_for(5, worker=worker)
    worker.kill()
    send(c, "pt1", "s6")
    worker = c.start_worker("enrich")
    enriched.wait_for(1, where=lambda m: m.json["session_key"] == "c1:s6", worker=worker)
    seen = visits(enriched.settle(quiet=3))
    assert seen == {f"c1:s{n}": {n} for n in range(1, 7)}, seen


def test_two_processes_share_the_partitions_without_double_counting(cluster: Cluster) -> None:
    """Patients spread over every partition; a second process joins half-way,
    takes over partitions (and their state) and the counts continue."""
    c = cluster
    catalogue(c)
    pids = [f"p{n:02d}" for n in range(12)]
    assert len({partition_for(f"c1:{p}", 6) for p in pids}) >= 4
    for pid in pids:
        patient(c, pid)
    for pid in pids:
        send(c, pid, f"{pid}-a")
    # an enriched session is logged at debug (the usual outcome is only counted)
    first = c.start_worker("enrich", CLAIMS_LOG_LEVEL="DEBUG")
    enriched = c.read("sessions.enriched")
    enriched.wait_for(len(pids), worker=first)
    second = c.start_worker("enrich", CLAIMS_LOG_LEVEL="DEBUG")
    second.wait_log(lambda e: "Worker ready" in str(e.get("event", "")), timeout=60)
    for pid in pids:
        send(c, pid, f"{pid}-b")
    enriched.wait_for(2 * len(pids), worker=second)
    seen = visits(enriched.settle(quiet=3))
    for pid in pids:
        assert seen[f"c1:{pid}-a"] == {1} and seen[f"c1:{pid}-b"] == {2}, (pid, seen)
    worked = [
        w
        for w in (first, second)
        if any(
            e.get("event") == "session outcome" and e.get("session_key", "").endswith("-b")
            for e in w.log_events()
        )
    ]
    assert len(worked) == 2, "both processes handled second-round sessions"


def test_prescribers_hear_when_a_report_is_due_and_visits_run_out(cluster: Cluster) -> None:
    """Six visits under an eight-visit prescription: a progress report is due and a
    renewal should be asked for, once each; ``claims report prescriptions`` lists them."""
    c = cluster
    catalogue(c)
    patient(c, visits_authorized=8)
    for n in range(1, 7):
        send(c, "pt1", f"s{n}")
    worker = c.start_worker("enrich")
    c.read("sessions.enriched").wait_for(6, worker=worker)
    events = c.read("prescriptions.attention").wait_for(2, worker=worker, timeout=60)
    assert sorted((m.json["kind"], m.json["visits_used"]) for m in events) == [
        ("progress-report-due", 6),
        ("visits-running-out", 6),
    ]
    assert {m.key for m in events} == {b"c1:rx-pt1"}
    send(c, "pt1", "s6")  # the same session again: a duplicate, nothing new is due
    send(c, "pt1", "s7")
    c.read("sessions.enriched").wait_for(7, worker=worker)
    later = c.read("prescriptions.attention").settle(quiet=2)
    assert len(later) == 2, [m.json["attention_id"] for m in later]
    result = c.cli("report", "prescriptions", "--json")
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert sorted(r["kind"] for r in listed) == ["progress-report-due", "visits-running-out"]
    assert {r["visits"] for r in listed} == {"6/8"}


def _wait_for_270(outbox: Path, asked: date, worker: Any, timeout: float = 60.0) -> Path:
    """The 270 file asking about ``asked`` (its DTP*291)."""
    needle = f"DTP*291*D8*{asked:%Y%m%d}~"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted((outbox / "270").glob("*.x12")) if (outbox / "270").is_dir() else []:
            if needle in path.read_text():
                return path
        time.sleep(0.2)
    raise AssertionError(f"no 270 asking about {asked} in {timeout}s:\n{worker.tail()}")


def test_new_coverages_are_asked_about_and_an_inactive_answer_holds_the_visit(
    cluster: Cluster,
) -> None:
    """The whole eligibility exchange on the broker: a patient first seen gets a 270
    on the stage's own, the simulated payer answers it (inactive), the inbox takes
    the 271 to ``eligibility.responses``, and enrichment holds the patient's visit
    ``coverage-inactive``; a visit in an earlier month asks again for its date."""
    c = cluster
    catalogue(c)
    c.produce("ref.partners", "rcv1", partner_data())
    data = f.patient(patient_id="pt1")
    data["coverages"][0]["member_id"] = "M-INACTIVE-1"
    c.produce("ref.patients", "c1:pt1", data)
    outbox, inbox = c.state_dir / "outbox", c.state_dir / "inbox"
    env = {"CLAIMS_ELIGIBILITY_FLUSH_INTERVAL_S": "0.3"}
    worker = c.start_worker("enrich", **env)
    mail = c.start_worker("inbox", **env)
    first = _wait_for_270(outbox, date.today(), worker)
    assert stat.S_IMODE(first.stat().st_mode) == 0o600
    assert second_opinion_270(first.read_text()) == []
    # the visit waits for its prescription meanwhile
    send(c, "pt1", "s1")
    c.read("sessions.held").wait_for(1, lambda m: m.json["reason"] == "rx-missing", worker=worker)
    answer, scenarios = answer_270(first.read_bytes(), control_number=1, now=datetime.now(UTC))
    assert scenarios == ["inactive"]
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / ".answer.271.part").write_text(answer)
    (inbox / ".answer.271.part").rename(inbox / "answer.271")
    response = c.read("eligibility.responses").wait_for(1, worker=mail)[0].json
    assert response["status"] == "inactive"
    assert response["coverage"] == {"clinic_id": "c1", "patient_id": "pt1", "payer_id": "p1"}
    # once the answer is on the patient's partition, the prescription comes after it
    c.read("state.enrich.prescriptions-by-patient").wait_for(
        1, lambda m: m.json["kind"] == "eligibility", worker=worker
    )
    c.produce("ref.prescriptions", "c1:rx-pt1", f.prescription(prescription_id="rx-pt1"))
    held = c.read("sessions.held").wait_for(
        1, where=lambda m: m.json["reason"] == "coverage-inactive", worker=worker
    )
    assert held[0].json["session_key"] == "c1:s1"
    assert not c.read("sessions.enriched").settle(quiet=2), "an inactive coverage bills nothing"
    # a visit of an earlier month: asked about again, for that visit's date
    earlier = date.today().replace(day=1) - timedelta(days=40)
    send(c, "pt1", "s2", dos=earlier.isoformat())
    assert _wait_for_270(outbox, earlier, worker) != first


def test_a_visit_waits_for_the_payers_authorization_and_a_bad_clinic_address_warns(
    cluster: Cluster,
) -> None:
    """Authorizations travel from ``ref.authorizations`` to the patient's partition and
    release the held visit; a clinic without ZIP+4 is accepted with a warning."""
    c = cluster
    c.produce("ref.clinics", "c1", f.clinic())
    c.produce("ref.therapists", "c1:t1", f.therapist())
    c.produce("ref.payers", "p1", f.payer(authorization_required="always"))
    patient(c)
    send(c, "pt1", "s1")
    worker = c.start_worker("enrich")
    # (rx-missing first when the session overtakes its prescription on the way)
    c.read("sessions.held").wait_for(
        1, where=lambda m: m.json["reason"] == "auth-missing", worker=worker
    )
    authorization = {
        "schema_version": 1,
        "clinic_id": "c1",
        "authorization_id": "a1",
        "payer_id": "p1",
        "patient_id": "pt1",
        "number": "PA-77",
        "valid_from": "2020-01-01",
        "valid_to": "2099-12-31",
        "visits_authorized": 10,
    }
    c.produce("ref.authorizations", "c1:a1", authorization)
    enriched = c.read("sessions.enriched").wait_for(1, worker=worker)[0].json
    assert enriched["authorization"]["number"] == "PA-77"
    c.produce("ref.clinics", "c1", f.clinic(address={**f.CLINIC_ADDRESS, "postal_code": "62701"}))
    warning = c.read("ref.rejected").wait_for(1, worker=worker)[0].json
    assert (warning["reason"], warning["severity"]) == ("clinic-billing-address", "warning")
