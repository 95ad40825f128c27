"""The eligibility stage: the 270s the engine sends on its own.

faust edges around :mod:`workers.eligibility.asking` (whether to ask) and
:mod:`workers.eligibility.spool` (the files).  It reads the same topics as the
enrichment stage, each message once more: ``ref.patients`` (a coverage first
seen or changed) and ``sessions.completed`` (the first session of a month on a
coverage).  Both are keyed ``<clinic_id>:<patient_id>``, so what has been asked
about a patient lives in the table ``eligibility.asked`` on the partition of
that patient's records and sessions.

This stage never rejects anything: the enrichment stage validates these topics
and dead-letters what it cannot read; here such a message is passed by.  The
latest patient record is kept with the asked state (a session does not carry
the coverage).  A background loop of every worker flushes its spool into one
270 interchange per payer every ``eligibility_flush_interval_s`` and announces
each file on ``edi.outbound`` (a partner's mailbox worker uploads it); the
questions leave the spool only once their file is announced.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import structlog

from schemas.claims import TradingPartner
from schemas.events import SessionCompleted, parse_session_event
from schemas.reference import Clinic, Patient, Payer
from schemas.state import EligibilityAsked
from workers.eligibility import asking
from workers.eligibility.inquiries import FileSequence
from workers.eligibility.spool import Spool, flush
from workers.runtime.app import Wiring
from workers.runtime.codec import encode
from workers.runtime.processing import Scope
from workers.runtime.records import Incoming, Outgoing

log = structlog.stdlib.get_logger("claims.eligibility")

PROCESSOR = "eligibility"
REFERENCE = ("ref.clinics", "ref.payers", "ref.partners")


class _Reference:
    """The clinics, payers and trading partners, parsed when a flush needs them."""

    def __init__(self) -> None:
        self.raw: dict[str, dict[str, bytes]] = {t: {} for t in REFERENCE}

    def apply(self, topic: str, key: bytes, value: bytes | None) -> None:
        records = self.raw[topic]
        k = key.decode("utf-8", errors="replace")
        if value is None:
            records.pop(k, None)
        else:
            records[k] = value

    def parsed(self, topic: str, model: Any) -> dict[str, Any]:
        out = {}
        for key, value in self.raw[topic].items():
            try:
                out[key] = model.parse_json(value)
            except ValueError:
                continue  # the enrichment stage reports reference records it refuses
        return out


def _load(table: Any, key: bytes) -> EligibilityAsked | None:
    raw = table.get(key)
    return None if raw is None else EligibilityAsked.parse_json(raw)


def register(w: Wiring) -> None:
    settings = w.settings
    if not settings.eligibility_auto:
        return
    reference = _Reference()
    mirror = w.mirror(list(REFERENCE), reference.apply, name="eligibility_reference_mirror")
    table = w.table("eligibility.asked", "state.eligibility.asked")
    spool = Spool(Path(settings.state_dir) / "eligibility" / "spool")
    sequence = FileSequence(Path(settings.state_dir) / "eligibility" / "sequences")

    # The two agents below read a patient's state, spool its questions and write the
    # state back; the spool write awaits a thread, so the other agent must not slip
    # in between and have its write overwritten.  The questions go to the spool
    # before the state records them as asked: a crash between asks again on replay.
    patients = asyncio.Lock()

    async def spool_asks(patient: Patient, asks: list[asking.Ask]) -> None:
        # before the message is committed, and off the event loop: two fsyncs a
        # question (the file, then its directory) are milliseconds on a real disk,
        # which the other stages of the worker would otherwise wait out
        for ask in asks:
            await asyncio.to_thread(spool.add, patient, ask)
            w.metrics.outcome(PROCESSOR, ask.reason)
            log.info(
                "270 queued",
                clinic_id=patient.clinic_id,
                coverage_id=ask.coverage_id,
                reason=ask.reason,
            )

    async def on_patient(msg: Incoming, scope: Scope) -> list[Outgoing]:
        if msg.key is None:
            return []
        if msg.value is None:
            async with patients:
                table.pop(msg.key, None)
            return []
        try:
            patient = Patient.parse_json(msg.value)
        except ValueError:
            return []  # the enrichment stage reports it
        scope.bind(clinic_id=patient.clinic_id)
        async with patients:
            before = _load(table, msg.key)
            state, asks = asking.on_patient(before, patient, w.now().date())
            await spool_asks(patient, asks)
            if state != before:  # a record sent again unchanged writes nothing
                table[msg.key] = encode(state)
        return []

    async def on_session(msg: Incoming, scope: Scope) -> list[Outgoing]:
        if msg.key is None or msg.value is None:
            return []
        try:
            event = parse_session_event(msg.value)
        except ValueError:
            return []  # the enrichment stage dead-letters it
        if not isinstance(event, SessionCompleted):
            return []
        scope.bind(clinic_id=event.clinic_id)
        async with patients:
            state = _load(table, msg.key)
            if state is None or state.patient is None:
                return []  # its record asks when it arrives
            patient = state.patient
            state, asks = asking.on_session(state, event.date_of_service)
            if asks:
                await spool_asks(patient, asks)
                table[msg.key] = encode(state)
        return []

    w.consume("ref.patients", PROCESSOR, on_patient)
    w.consume("sessions.completed", PROCESSOR, on_session)

    async def flush_forever() -> None:
        await mirror.wait_ready(timeout=3600)
        while not w.app.should_stop:
            await asyncio.sleep(settings.eligibility_flush_interval_s)
            if not spool.has_waiting():
                continue
            try:
                done = await asyncio.to_thread(
                    flush,
                    spool,
                    reference.parsed("ref.clinics", Clinic),
                    reference.parsed("ref.payers", Payer),
                    reference.parsed("ref.partners", TradingPartner),
                    Path(settings.outbox_dir),
                    sequence,
                    w.now(),
                    forget=False,
                )
            except OSError as exc:
                log.error("270 flush failed; retrying", error=type(exc).__name__)
                continue
            headers = (("claims.event_type", b"FileReleased"),)
            try:
                for file in done.released:
                    key = file.receiver_id.encode()
                    await w.sink.deliver(Outgoing("edi.outbound", key, encode(file), headers))
                    log.info("270 file written", file=file.file_name, inquiries=file.claim_count)
            except Exception as exc:  # the questions stay spooled and are asked again
                log.error("270 file not announced; asking again", error=type(exc).__name__)
                continue
            spool.forget(done.taken)  # announced: asked
            if done.asked:
                w.metrics.outcome(PROCESSOR, "inquiry-sent", done.asked)
            for why in done.dropped:
                w.metrics.outcome(PROCESSOR, "inquiry-dropped")
                log.info("270 not sent", reason=why)
            for why in sorted(set(done.waiting)):
                log.info("270 waiting", reason=why)

    w.background(flush_forever, name="eligibility_flush")
