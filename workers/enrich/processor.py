"""The enrichment processor: faust edges around :mod:`workers.enrich.rules`.

Where state lives, and why
--------------------------
Sessions are keyed ``<clinic_id>:<patient_id>``.  Everything a check needs about
one patient -- demographics and coverages, accepted prescriptions, visits
counted per prescription, the sessions seen -- is one value in the table
``enrich.patients`` under that same key, so it lives in the same partition as
the patient's sessions.  ``ref.patients`` has the same key and partition count,
so faust assigns its partition *n* to the worker that owns sessions partition
*n*.  Prescriptions are keyed by prescription id; they are checked, then
re-keyed by patient onto ``state.enrich.prescriptions-by-patient``.  Two
processes sharing the work therefore never read each other's empty state, and
a visit is counted by the only process that owns the patient.

Clinics, therapists and payers are small catalogues every partition needs; each
process mirrors them completely (:class:`~workers.runtime.mirror.TopicMirror`).
When one arrives, a wake-up is sent to every partition of
``state.enrich.wakeups`` carrying the record, so held sessions are re-checked at
once even if a mirror has not read the record yet.  A timer sends periodic
sweeps that expire old holds.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Any

import structlog

from schemas.base import Versioned
from schemas.eligibility import EligibilityResponse
from schemas.events import SessionCancelled, SessionCompleted, SessionRetry, parse_session_event
from schemas.outcomes import (
    ReferenceRejected,
    SessionDuplicate,
    SessionEnriched,
    SessionHeld,
    SessionOutcome,
    SessionRejected,
    SessionWithdrawn,
)
from schemas.reference import Authorization, Clinic, Patient, Payer, Prescription, Therapist
from schemas.state import PatientState, PrescriptionChange, Wakeup
from workers.enrich import attention, rules, session_archive
from workers.enrich.authorizations import with_authorization
from workers.enrich.catalog import CATALOG_TOPICS, OverlayCatalog, ReferenceCatalog, parse_reference
from workers.enrich.eligibility import visit_limit_attention, with_eligibility
from workers.runtime.app import Wiring
from workers.runtime.codec import decode, encode, encode_handoff
from workers.runtime.failures import InvalidInput, TransientFailure
from workers.runtime.partitioning import partition_for
from workers.runtime.processing import Scope
from workers.runtime.records import Incoming, Outgoing

log = structlog.stdlib.get_logger("claims.enrich")

PROCESSOR = "enrich"

OUTCOME_TOPICS: dict[type[Versioned], str] = {
    SessionEnriched: "sessions.enriched",
    SessionHeld: "sessions.held",
    SessionRejected: "sessions.rejected",
    SessionDuplicate: "sessions.duplicates",
    SessionWithdrawn: "sessions.cancelled",
}


#: how many patients' states are kept parsed (the table keeps them all as bytes)
PATIENTS_KEPT = 2048


class PatientStore:
    """The ``enrich.patients`` table seen as PatientState values, plus an index of
    which keys have held sessions (derived, rebuilt after every recovery).  A
    state is stored in parts (its profile apart, its settled history in groups:
    :mod:`workers.enrich.session_archive`); what is read is the whole state."""

    def __init__(self, table: Any, partitions: int) -> None:
        self.table = table
        self.partitions = partitions
        self._held: dict[int, set[str]] = {}
        # key -> (the bytes stored, the state as read): a patient's next session
        # finds the state this process wrote without validating it again
        self._kept: OrderedDict[str, tuple[bytes, session_archive.Stored]] = OrderedDict()

    def get(self, key: str) -> PatientState:
        return self._stored(key).state

    def _stored(self, key: str) -> session_archive.Stored:
        raw = self.table.get(key.encode())
        if raw is None:
            return session_archive.Stored(PatientState.new())
        kept = self._kept.get(key)
        if kept is not None and (kept[0] is raw or kept[0] == raw):
            self._kept.move_to_end(key)
            return kept[1]
        stored = session_archive.read(key, raw, self.table)
        self._keep(key, raw, stored)
        return stored

    def put(self, key: str, state: PatientState) -> None:
        out = session_archive.write(key, state, self._stored(key))
        for part in (out.profile_write, out.group):  # the parts first: the value names them
            if part is not None:
                self.table[part[0].encode()] = part[1]
        self.table[key.encode()] = out.value
        kept = session_archive.Stored(state, out.groups, out.grouped, out.profile)
        self._keep(key, out.value, kept)
        self._index(key, state)

    def _keep(self, key: str, raw: bytes, stored: session_archive.Stored) -> None:
        self._kept[key] = (raw, stored)
        self._kept.move_to_end(key)
        while len(self._kept) > PATIENTS_KEPT:
            self._kept.popitem(last=False)

    def _index(self, key: str, state: PatientState) -> None:
        part = partition_for(key, self.partitions)
        held = any(r.status == "held" for r in state.sessions.values())
        keys = self._held.setdefault(part, set())
        if held:
            keys.add(key)
        else:
            keys.discard(key)

    def held_keys(self, partition: int) -> list[str]:
        return sorted(self._held.get(partition, ()))

    async def rebuild_index(self) -> None:
        self._held.clear()
        self._kept.clear()
        for raw_key, raw in list(self.table.items()):
            if raw is None or session_archive.is_part_key(raw_key):
                continue
            if not session_archive.held_in(session_archive.own_part(raw)):
                continue  # held records are never grouped: the state's own part tells
            key = raw_key.decode()
            self._index(key, self.get(key))


def _key(msg: Incoming, partitions: int) -> str:
    key = msg.key_text
    if not key:
        raise InvalidInput("missing-key", "message has no key; the topic is keyed by id")
    expected = partition_for(key, partitions)
    if expected != msg.partition:
        raise InvalidInput(
            "misrouted",
            f"key belongs to partition {expected} but was produced to {msg.partition}; "
            "producers must use the default (murmur2) partitioner",
        )
    return key


def _expect_key(actual: str, expected: str, what: str) -> None:
    if actual != expected:
        raise InvalidInput(
            "key-mismatch", f"message key does not match the value's {what} ({expected})"
        )


def outcome_records(key: str, outcomes: list[SessionOutcome]) -> list[Outgoing]:
    records = []
    for o in outcomes:
        # the hand-off to the units stage leaves out fields at their default (about a
        # third of an enriched session: the copied reference data's nulls and lists)
        value = encode_handoff(o) if isinstance(o, SessionEnriched) else encode(o)
        headers = (("claims.event_type", type(o).__name__.encode()),)
        records.append(Outgoing(OUTCOME_TOPICS[type(o)], key.encode(), value, headers))
        if isinstance(o, SessionWithdrawn) and o.state_at_cancel == "enriched":
            # downstream stages learn of the withdrawal in order with the session
            records.append(Outgoing("sessions.enriched", key.encode(), value, headers))
    return records


def register(w: Wiring) -> None:
    settings = w.settings
    partitions = w.catalogue.partitions("sessions.completed")
    for name in ("ref.patients", "state.enrich.prescriptions-by-patient", "state.enrich.wakeups"):
        if w.catalogue.partitions(name) != partitions:
            raise RuntimeError(f"{name} must have as many partitions as sessions.completed")
    if w.catalogue.partitions("ref.authorizations") != w.catalogue.partitions("ref.prescriptions"):
        # both are indexed in enrich.prescription-index, a table per partition
        raise RuntimeError("ref.authorizations must have as many partitions as ref.prescriptions")
    policy = rules.Policy(
        hold_limit=timedelta(seconds=settings.enrich_hold_limit_s),
        codeset_dir=settings.code_sets,
    )
    catalog = ReferenceCatalog()
    mirror = w.mirror(list(CATALOG_TOPICS), catalog.apply, name="reference_mirror")
    store = PatientStore(w.table("enrich.patients", "state.enrich.patients"), partitions)
    store.table.on_recover(store.rebuild_index)
    rx_index = w.table("enrich.prescription-index", "state.enrich.prescription-index")
    wakeup_partitions = w.catalogue.partitions("state.enrich.wakeups")


    async def catalog_ready() -> None:
        if not await mirror.wait_ready(settings.reference_ready_timeout_s):
            raise TransientFailure(
                "reference-not-ready", "the clinic/therapist/payer mirror has not caught up yet"
            )

    now = w.now

    def finish(key: str, before: PatientState, step: rules.Step, scope: Scope) -> list[Outgoing]:
        state, raised = attention.after_visits(before, step.state, catalog, now())
        if step.redelivered is not None:  # what the first handling raised, same ids
            raised = attention.raised_by(state, step.redelivered)
        store.put(key, state)
        for o in step.outcomes:
            kind = type(o).__name__
            w.metrics.outcome(PROCESSOR, kind)
            reason = getattr(o, "reason", None)
            # the usual outcome is counted, not logged line by line (debug)
            emit = log.debug if isinstance(o, SessionEnriched) else log.info
            emit("session outcome", outcome=kind, reason=reason, session_key=o.session_key)
        records = outcome_records(key, step.outcomes)
        for event in raised:
            w.metrics.outcome(PROCESSOR, f"attention:{event.kind}")
            log.info("prescriber attention", kind=event.kind, prescription=event.prescription_id)
            rx_key = f"{event.clinic_id}:{event.prescription_id}".encode()
            records.append(Outgoing("prescriptions.attention", rx_key, encode(event)))
        for auth in attention.authorization_events(before, state, now(), step.redelivered):
            w.metrics.outcome(PROCESSOR, f"attention:{auth.kind}")
            log.info("authorization attention", authorization=auth.authorization_id)
            auth_key = f"{auth.clinic_id}:{auth.authorization_id}".encode()
            records.append(Outgoing("prescriptions.attention", auth_key, encode(auth)))
        return records

    # --- sessions ---------------------------------------------------------------
    async def on_session(msg: Incoming, scope: Scope) -> list[Outgoing]:
        key = _key(msg, partitions)
        event = decode(parse_session_event, msg.value)
        scope.bind(clinic_id=event.clinic_id, session_id=event.session_key)
        _expect_key(key, event.patient_key, "clinic_id:patient_id")
        await catalog_ready()
        state = store.get(key)
        if state.patient is not None:
            scope.add_phi(*_patient_phi(state.patient))
        if isinstance(event, SessionCompleted):
            step = rules.on_session_completed(state, event, catalog, now(), policy, msg.ref)
        elif isinstance(event, SessionRetry):
            if event.session.patient_key != key:
                raise InvalidInput("key-mismatch", "the retried session is another patient's")
            step = rules.on_session_retry(state, event, catalog, now(), policy, msg.ref)
        else:
            assert isinstance(event, SessionCancelled)
            step = rules.on_session_cancelled(state, event, now(), msg.ref)
        return finish(key, state, step, scope)

    w.consume("sessions.completed", PROCESSOR, on_session)

    # --- patients ---------------------------------------------------------------
    async def on_patient(msg: Incoming, scope: Scope) -> list[Outgoing]:
        key = _key(msg, partitions)
        scope.bind(clinic_id=key.split(":", 1)[0], patient_key=key)
        patient = None
        if msg.value is not None:
            patient = decode(Patient, msg.value)
            scope.add_phi(*_patient_phi(patient))
            _expect_key(key, patient.key, "clinic_id:patient_id")
        await catalog_ready()
        before = store.get(key)
        state = rules.with_patient(before, patient)
        return finish(key, before, rules.reevaluate_held(state, catalog, now(), policy), scope)

    w.consume("ref.patients", PROCESSOR, on_patient)

    # --- prescriptions: check, index, re-key by patient -------------------------
    def change(rx_key: str, patient_key: str, rx: Prescription | None) -> Outgoing:
        clinic_id, patient_id = patient_key.split(":", 1)
        body = PrescriptionChange.new(
            clinic_id=clinic_id,
            patient_id=patient_id,
            prescription_id=rx_key.split(":", 1)[1],
            prescription=rx,
        )
        return Outgoing("state.enrich.prescriptions-by-patient", patient_key.encode(), encode(body))

    async def on_prescription(msg: Incoming, scope: Scope) -> list[Outgoing]:
        key = _key(msg, w.catalogue.partitions("ref.prescriptions"))
        scope.bind(clinic_id=key.split(":", 1)[0], prescription_key=key)
        previous = rx_index.get(key.encode())
        old_patient = previous.decode() if previous else None
        out: list[Outgoing] = []
        if msg.value is None:
            if old_patient:
                rx_index.pop(key.encode(), None)
                out.append(change(key, old_patient, None))
            return out
        rx = decode(Prescription, msg.value)
        scope.add_phi(rx.prescriber.name.first_name, rx.prescriber.name.last_name)
        _expect_key(key, rx.key, "clinic_id:prescription_id")
        problem = rules.prescription_problem(rx)
        if problem is not None:
            reason, message = problem
            w.metrics.outcome(PROCESSOR, f"ref-rejected:{reason}")
            log.warning("prescription refused", reason=reason)
            out.append(_ref_rejected(msg, key, reason, message, now()))
            if old_patient:
                rx_index.pop(key.encode(), None)
                out.append(change(key, old_patient, None))
            return out
        rx_index[key.encode()] = rx.patient_key.encode()
        if old_patient and old_patient != rx.patient_key:
            out.append(change(key, old_patient, None))
        out.append(change(key, rx.patient_key, rx))
        return out

    w.consume("ref.prescriptions", PROCESSOR, on_prescription)

    # --- payers' authorizations: index and re-key by patient ----------------------
    async def on_authorization(msg: Incoming, scope: Scope) -> list[Outgoing]:
        key = _key(msg, w.catalogue.partitions("ref.authorizations"))
        scope.bind(clinic_id=key.split(":", 1)[0], authorization_key=key)
        index_key = f"auth|{key}".encode()
        previous = rx_index.get(index_key)
        old_patient = previous.decode() if previous else None
        auth = None if msg.value is None else decode(Authorization, msg.value)
        out: list[Outgoing] = []
        if auth is not None:
            _expect_key(key, auth.key, "clinic_id:authorization_id")
        if old_patient and (auth is None or old_patient != auth.patient_key):
            out.append(authorization_change(key, old_patient, None))
        if auth is None:
            rx_index.pop(index_key, None)
            return out
        rx_index[index_key] = auth.patient_key.encode()
        out.append(authorization_change(key, auth.patient_key, auth))
        return out

    def authorization_change(
        auth_key: str, patient_key: str, auth: Authorization | None
    ) -> Outgoing:
        clinic_id, patient_id = patient_key.split(":", 1)
        body = PrescriptionChange.new(
            clinic_id=clinic_id,
            patient_id=patient_id,
            prescription_id=auth_key.split(":", 1)[1],
            kind="authorization",
            authorization=auth,
        )
        return Outgoing("state.enrich.prescriptions-by-patient", patient_key.encode(), encode(body))

    w.consume("ref.authorizations", PROCESSOR, on_authorization)

    # --- payers' 271 answers: re-key by patient (advisory; see enrich/eligibility.py) --
    async def on_eligibility(msg: Incoming, scope: Scope) -> list[Outgoing]:
        key = msg.key_text or ""
        parts = key.split(":")
        if len(parts) != 3 or not all(parts):
            raise InvalidInput("bad-key", "key must be clinic_id:patient_id:payer_id")
        clinic_id, patient_id, payer_id = parts
        scope.bind(clinic_id=clinic_id, eligibility_key=key)
        response = None if msg.value is None else decode(EligibilityResponse, msg.value)
        if response is not None:
            _expect_key(key, response.key or "", "clinic_id:patient_id:payer_id")
        body = PrescriptionChange.new(
            clinic_id=clinic_id,
            patient_id=patient_id,
            prescription_id=payer_id,
            kind="eligibility",
            eligibility=response,
        )
        patient_key = f"{clinic_id}:{patient_id}".encode()
        return [Outgoing("state.enrich.prescriptions-by-patient", patient_key, encode(body))]

    w.consume("eligibility.responses", PROCESSOR, on_eligibility)

    async def on_prescription_change(msg: Incoming, scope: Scope) -> list[Outgoing]:
        key = _key(msg, partitions)
        body = decode(PrescriptionChange, msg.value)
        scope.bind(clinic_id=body.clinic_id, patient_key=key)
        await catalog_ready()
        before = store.get(key)
        if body.kind == "authorization":
            state = with_authorization(before, body.prescription_id, body.authorization)
        elif body.kind == "eligibility":
            state = with_eligibility(before, body.prescription_id, body.eligibility)
        else:
            state = rules.with_prescription(before, body.prescription_id, body.prescription)
        if state.patient is not None:
            scope.add_phi(*_patient_phi(state.patient))
        out = finish(key, before, rules.reevaluate_held(state, catalog, now(), policy), scope)
        limit = (
            visit_limit_attention(body.eligibility, now())
            if body.kind == "eligibility" and body.eligibility is not None
            else None
        )
        if limit is not None:
            w.metrics.outcome(PROCESSOR, f"attention:{limit.kind}")
            log.info("coverage attention", kind=limit.kind, payer_id=limit.payer_id)
            coverage_key = f"{key}:{limit.payer_id}".encode()
            out.append(Outgoing("prescriptions.attention", coverage_key, encode(limit)))
        return out

    w.consume("state.enrich.prescriptions-by-patient", PROCESSOR, on_prescription_change)

    # --- clinics, therapists, payers: validate and wake held sessions -----------
    def wakeups(body: Wakeup) -> list[Outgoing]:
        value = encode(body)
        return [
            Outgoing("state.enrich.wakeups", b"wakeup", value, partition=p)
            for p in range(wakeup_partitions)
        ]

    def make_reference_handler(topic: str) -> Any:
        model = CATALOG_TOPICS[topic]

        async def on_reference(msg: Incoming, scope: Scope) -> list[Outgoing]:
            key = msg.key_text
            if not key:
                raise InvalidInput("missing-key", "message has no key; the topic is keyed by id")
            scope.bind(ref_topic=topic, ref_key=key)
            if msg.value is None:
                return []
            record = decode(model, msg.value)
            assert isinstance(record, Clinic | Therapist | Payer)  # the models of CATALOG_TOPICS
            _expect_key(key, record.key, "id")
            problem = None if isinstance(record, Payer) else rules.provider_problem(record)
            if problem is not None:
                w.metrics.outcome(PROCESSOR, f"ref-rejected:{problem[0]}")
                return [_ref_rejected(msg, key, problem[0], problem[1], now())]
            warnings = []
            if isinstance(record, Clinic) and (address := rules.billing_address_problems(record)):
                w.metrics.outcome(PROCESSOR, "ref-warning:clinic-billing-address")
                log.warning("clinic accepted, its insured sessions held", reason="address")
                text = "accepted; insured sessions are held until corrected: " + "; ".join(address)
                warnings.append(
                    _ref_rejected(msg, key, "clinic-billing-address", text, now(), "warning")
                )
            return warnings + wakeups(
                Wakeup.new(
                    kind="reference",
                    topic=topic,
                    key=key,
                    record=record.model_dump(mode="json"),
                    issued_at=now(),
                )
            )

        return on_reference

    for topic in CATALOG_TOPICS:
        w.consume(topic, PROCESSOR, make_reference_handler(topic))

    # --- wake-ups and sweeps --------------------------------------------------------
    async def on_wakeup(msg: Incoming, scope: Scope) -> list[Outgoing]:
        body = decode(Wakeup, msg.value)
        await catalog_ready()
        view: rules.Catalog = catalog
        if body.kind == "reference" and body.topic and body.key and body.record is not None:
            record = parse_reference(body.topic, body.record)
            view = OverlayCatalog(catalog, body.topic, body.key, record)
        out: list[Outgoing] = []
        for key in store.held_keys(msg.partition):
            state = store.get(key)
            step = rules.reevaluate_held(state, view, now(), policy)
            if step.outcomes:
                out.extend(finish(key, state, step, scope))
        return out

    w.consume("state.enrich.wakeups", PROCESSOR, on_wakeup)

    async def sweep() -> None:
        for record in wakeups(Wakeup.new(kind="sweep", issued_at=now())):
            await w.sink.send(record)

    w.timer(settings.enrich_sweep_interval_s, sweep, name="enrich_hold_sweep")


def _patient_phi(patient: Patient) -> list[str]:
    values = [
        patient.name.first_name,
        patient.name.last_name,
        patient.birth_date.isoformat(),
        patient.address.line1,
        patient.phone or "",
    ]
    for cov in patient.coverages:
        values.append(cov.member_id or "")
        if cov.subscriber is not None:
            sub = cov.subscriber
            values.append(sub.member_id or "")
            if sub.name is not None:
                values += [sub.name.first_name, sub.name.last_name]
    return [v for v in values if v]


def _ref_rejected(
    msg: Incoming,
    key: str,
    reason: str,
    message: str,
    now: datetime,
    severity: str = "rejected",
) -> Outgoing:
    body = ReferenceRejected.new(
        topic=msg.topic,
        key=key,
        reason=reason,
        message=message,
        rejected_at=now,
        severity=severity,
    )
    return Outgoing("ref.rejected", msg.key, encode(body))
