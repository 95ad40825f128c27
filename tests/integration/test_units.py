"""The units processor on the real broker: enriched session -> billable lines."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from schemas.billing import BillableSession
from schemas.events import parse_session_event
from schemas.outcomes import SessionEnriched
from schemas.reference import Clinic, Patient, Payer, Prescription, Therapist
from schemas.state import PatientState
from tests import factories as f
from tests.broker_support import Cluster
from tests.fakes import FakeCatalog
from workers.enrich import rules


def enriched_event(
    session_id: str, techniques: list[dict], **payer_over: object
) -> SessionEnriched:
    def m(cls, data):
        return cls.parse_json(json.dumps(data))

    state = rules.with_patient(PatientState.new(), m(Patient, f.patient()))
    state = rules.with_prescription(state, "rx1", m(Prescription, f.prescription()))
    cat = FakeCatalog(
        [m(Clinic, f.clinic())], [m(Therapist, f.therapist())], [m(Payer, f.payer(**payer_over))]
    )
    event = parse_session_event(json.dumps(f.session(session_id=session_id, techniques=techniques)))
    out = rules.on_session_completed(state, event, cat, datetime.now(UTC)).outcomes[0]
    assert isinstance(out, SessionEnriched)
    return out


def test_enriched_sessions_become_billable_lines_keyed_by_receiver(cluster: Cluster) -> None:
    c = cluster
    pair = {
        "rule_id": "payer-97140-97124",
        "column1": "97140",
        "column2": "97124",
        "modifier_indicator": 1,
        "effective_from": "2020-01-01",
    }
    good = enriched_event(
        "s1",
        [
            {"technique": "myofascial_release", "minutes": 30, "body_region": "neck"},
            {"technique": "swedish_massage", "minutes": 23, "body_region": "back"},
        ],
        code_pair_rules=[pair],
        unit_policy="cms",
        receiver_id="clearinghouse1",
    )
    short = enriched_event("s2", [{"technique": "swedish_massage", "minutes": 5}])
    nothing = enriched_event("s3", [{"technique": "muscle_testing", "minutes": 20}])
    c.produce("sessions.enriched", "c1:pt1", good.model_dump_json().encode())
    c.produce("sessions.enriched", "c1:pt1", short.model_dump_json().encode())
    c.produce("sessions.enriched", "c1:pt1", nothing.model_dump_json().encode())
    c.produce("sessions.enriched", "c1:pt1", b"{}")
    worker = c.start_worker("units")

    billable, waiting = c.read("charges.billable").wait_for(2, worker=worker)
    assert billable.key == b"clearinghouse1"
    body = billable.json
    assert body["session_key"] == "c1:s1" and body["policy"] == "cms"
    # fields at their default are left out of the message (a line without modifiers)
    assert [(ln["code"], ln["units"], ln.get("modifiers")) for ln in body["lines"]] == [
        ("97140", 2, None),
        ("97124", 2, ["XS"]),
    ]
    read = BillableSession.parse_json(billable.value)  # the model fills them in again
    assert [ln.modifiers for ln in read.lines] == [[], ["XS"]]
    assert body["charge_total"] == "170.00"
    assert body["expected_total"] == "130.00"
    pair_steps = [d for d in body["lines"][1]["derivation"] if d["step"] == "code-pair"]
    assert [d["rule_id"] for d in pair_steps] == ["payer-97140-97124"]
    # 5 minutes earn no unit alone: not refused, it waits for its day's other visits
    assert waiting.json["session_key"] == "c1:s2" and waiting.json["lines"] == []

    rejected = c.read("sessions.rejected").wait_for(1, worker=worker)[0]
    assert rejected.key == b"c1:pt1" and rejected.json["reason"] == "no-billable-units"
    dead = c.read("sessions.enriched.dlq").wait_for(1, worker=worker)[0]
    assert dead.header("claims.dlq.error.reason") == "schema-invalid"


def test_sessions_flow_from_clinic_events_to_charges(cluster: Cluster) -> None:
    """enrich and units in one process: sessions.completed -> charges.billable, and a
    cancellation after enrichment reaches charges.billable as a withdrawal."""
    c = cluster
    c.produce("ref.clinics", "c1", f.clinic())
    c.produce("ref.therapists", "c1:t1", f.therapist())
    c.produce("ref.payers", "p1", f.payer(receiver_id="rcvA"))
    c.produce("ref.patients", "c1:pt1", f.patient())
    c.produce("ref.prescriptions", "c1:rx1", f.prescription())
    c.produce("sessions.completed", "c1:pt1", f.session(session_id="s1"))
    worker = c.start_worker("enrich", "units")
    charges = c.read("charges.billable")
    first = charges.wait_for(1, worker=worker)[0]
    assert first.key == b"rcvA" and first.json["event_type"] == "charges.billable"
    assert first.json["enriched"]["visit_number"] == 1
    c.produce("sessions.completed", "c1:pt1", f.cancel(session_id="s1"))
    withdrawn = charges.wait_for(
        1, where=lambda m: m.json["event_type"] == "charges.withdrawn", worker=worker
    )[0]
    assert withdrawn.key == b"rcvA" and withdrawn.json["session_key"] == "c1:s1"
    assert withdrawn.json["withdrawn"]["state_at_cancel"] == "enriched"
