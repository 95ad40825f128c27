"""Prescription and coverage checks: pure functions over the contracts.

Every session gets exactly one outcome.  The checks run in this order, the first
that decides wins:

1. (schema: the processor dead-letters what does not decode)
2. duplicate: same session identity and same content, whatever the event id,
   is processed once; same identity and different content is rejected
   ``conflicting-duplicate`` (the first version stands)
3. reference data: clinic, therapist, patient (and the coverage's payer)
   must be known, else the session is **held** ``unknown-*``
4. coverage: one active on the date of service (the one the clinic named, else
   the primary), else rejected ``no-active-coverage``; a payer that does not pay
   massage rejects ``payer-excludes-massage``; self-pay and HSA are enriched
   without a payer (an HSA session still needs its prescription, below)
5. timely filing: rejected ``timely-filing-expired`` past the payer's window
6. prescription (when the payer requires one, and always for HSA/FSA coverage,
   whose administrators reimburse massage only under a physician's order): a
   valid prescription of the patient must cover the session, else **held** with
   the most specific reason;
   visits are counted per prescription by distinct session id.

Held sessions are re-evaluated whenever the patient's data or a reference record
arrives, oldest date of service first, and rejected ``hold-expired`` after the
configured limit.

Nothing here reads a clock, a topic or a file: callers pass ``now`` and a
:class:`Catalog`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Protocol, cast

from schemas.events import SessionCancelled, SessionCompleted, SessionRetry
from schemas.identifiers import icd10cm_valid, npi_valid
from schemas.outcomes import (
    RX_REASONS,
    Check,
    HoldReason,
    RejectReason,
    SessionDuplicate,
    SessionEnriched,
    SessionHeld,
    SessionOutcome,
    SessionRejected,
    SessionWithdrawn,
)
from schemas.reference import Clinic, Coverage, Patient, Payer, Prescription, Therapist
from schemas.state import Hold, PatientState, SessionRecord, SessionStatus, Visit
from workers.enrich import authorizations, diagnoses, eligibility


class Catalog(Protocol):
    """Clinic-, therapist- and payer-level reference data (shared by all partitions)."""

    def clinic(self, clinic_id: str) -> Clinic | None: ...

    def therapist(self, therapist_key: str) -> Therapist | None: ...

    def payer(self, payer_id: str) -> Payer | None: ...


@dataclass(frozen=True)
class Policy:
    hold_limit: timedelta = timedelta(days=30)
    future_tolerance: timedelta = timedelta(days=1)
    #: ICD-10-CM releases loaded by an operator (besides the shipped ones)
    codeset_dir: Path | None = None


@dataclass
class Step:
    """Result of handling one input for one patient: the new state and the outputs."""

    state: PatientState
    outcomes: list[SessionOutcome] = field(default_factory=list)
    duplicates: int = 0
    redelivered: str | None = None  # the session key of a message handled before


# --- reference records ----------------------------------------------------------


def prescription_problem(rx: Prescription) -> tuple[str, str] | None:
    """Why a prescription cannot cover any session, or None when it is usable."""
    bad = [i for i, code in enumerate(rx.diagnosis_codes) if not icd10cm_valid(code.upper())]
    if bad:
        where = ", ".join(f"diagnosis_codes[{i}]" for i in bad)
        return "rx-bad-diagnosis", f"{where}: not an ICD-10-CM code (letter, digit, 1-5 more)"
    if not npi_valid(rx.prescriber.npi):
        return "rx-bad-prescriber-npi", "prescriber.npi: check digit does not match (Luhn)"
    return None


#: A post-office or lock box, which a billing provider address (2010AA N3) may not be.
_PO_BOX = re.compile(r"\b(?:P\.?\s*O\.?\s*BOX|POB|POST\s+OFFICE\s+BOX|LOCK\s*BOX)\b", re.IGNORECASE)


def billing_address_problems(clinic: Clinic) -> list[str]:
    """Why a clinic's address cannot be the billing provider's (2010AA): a street
    address is required (no PO box or lock box) with a 9-digit ZIP code (ZIP+4).
    Each problem names the field and the rule, never the value."""
    address = clinic.address
    problems = [
        f"address.{name}: a street address is required (no PO box or lock box)"
        for name, line in (("line1", address.line1), ("line2", address.line2))
        if line and _PO_BOX.search(line)
    ]
    if len(address.postal_code) != 9:
        problems.append("address.postal_code: a 9-digit ZIP code (ZIP+4) is required")
    return problems


def provider_problem(record: Clinic | Therapist) -> tuple[str, str] | None:
    if not npi_valid(record.npi):
        return "ref-bad-npi", "npi: check digit does not match (Luhn)"
    return None


# --- fingerprints -----------------------------------------------------------------

_NOT_CONTENT = {"event_id", "occurred_at", "notes", "schema_version"}


def fingerprint(event: SessionCompleted) -> str:
    """Content hash of a session: what is billed, not when or how it was sent."""
    data = event.model_dump(mode="json", exclude=_NOT_CONTENT)
    data["techniques"] = sorted(
        data["techniques"], key=lambda t: (t["technique"], t["minutes"], t["body_region"] or "")
    )
    raw = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def _without_notes(event: SessionCompleted) -> SessionCompleted:
    return event if event.notes is None else event.model_copy(update={"notes": None})


# --- coverage and prescription ----------------------------------------------------


def active_coverage(patient: Patient, event: SessionCompleted) -> Coverage | None:
    day = event.date_of_service
    if event.coverage_id is not None:
        for cov in patient.coverages:
            if cov.coverage_id == event.coverage_id and cov.covers(day):
                return cov
        return None
    active = [c for c in patient.coverages if c.covers(day)]
    active.sort(key=lambda c: (c.priority, c.effective_from, c.coverage_id))
    return active[0] if active else None


def next_coverage(patient: Patient, coverage: Coverage, day: date) -> Coverage | None:
    """The insurance that pays after ``coverage`` on ``day``: the active insurance
    coverage with the next higher priority number (coordination of benefits)."""
    later = [
        c
        for c in patient.coverages
        if c.kind == "insurance"
        and c.coverage_id != coverage.coverage_id
        and c.priority > coverage.priority
        and c.covers(day)
    ]
    later.sort(key=lambda c: (c.priority, c.effective_from, c.coverage_id))
    return later[0] if later else None


def prescription_end(rx: Prescription) -> date | None:
    """The last day the prescription covers (expiry or duration, whichever is first)."""
    return _rx_end(rx)


def _rx_end(rx: Prescription) -> date | None:
    ends = []
    if rx.expires_on is not None:
        ends.append(rx.expires_on)
    if rx.duration_weeks is not None:
        ends.append(rx.issued_on + timedelta(weeks=rx.duration_weeks) - timedelta(days=1))
    return min(ends) if ends else None


def _rx_failure(
    rx: Prescription, event: SessionCompleted, visits: list[Visit]
) -> tuple[str, str] | None:
    """First check this prescription fails for this session (checks in RX_REASONS order)."""
    day = event.date_of_service
    if rx.issued_on > day:
        return "rx-not-yet-valid", f"prescription {rx.prescription_id} starts on {rx.issued_on}"
    end = _rx_end(rx)
    if end is not None and day > end:
        return "rx-expired", f"prescription {rx.prescription_id} ended on {end}"
    others = [v for v in visits if v.session_id != event.session_id]
    if len(others) >= rx.visits_authorized:
        return (
            "rx-visits-exhausted",
            f"prescription {rx.prescription_id}: all {rx.visits_authorized} visits used",
        )
    if rx.frequency_per_week is not None:
        week = day.isocalendar()[:2]
        same_week = sum(1 for v in others if v.date_of_service.isocalendar()[:2] == week)
        if same_week >= rx.frequency_per_week:
            return (
                "rx-frequency-exceeded",
                f"prescription {rx.prescription_id}: {rx.frequency_per_week} visit(s) per week "
                f"already used in ISO week {week[0]}-W{week[1]:02d}",
            )
    if rx.allowed_techniques is not None:
        outside = sorted({str(t.technique) for t in event.techniques} - set(rx.allowed_techniques))
        if outside:
            return (
                "rx-technique-not-allowed",
                f"prescription {rx.prescription_id} does not allow {', '.join(outside)}",
            )
    if rx.allowed_body_regions is not None:
        regions = {t.body_region for t in event.techniques if t.body_region is not None}
        outside = sorted(regions - set(rx.allowed_body_regions))
        if outside:
            return (
                "rx-technique-not-allowed",
                f"prescription {rx.prescription_id} does not cover body region "
                f"{', '.join(outside)}",
            )
    return None


def covering_prescription(
    state: PatientState, event: SessionCompleted
) -> tuple[Prescription | None, tuple[str, str]]:
    """The prescription that covers the session, or the most specific reason none does.

    Among several that cover it, the one ending first is used (then the oldest,
    then by id), so short prescriptions are used up before long ones.
    """
    if event.prescription_id is not None:
        candidates = (
            [state.prescriptions[event.prescription_id]]
            if (event.prescription_id in state.prescriptions)
            else []
        )
        missing_msg = f"prescription {event.prescription_id} is not known for this patient"
    else:
        candidates = list(state.prescriptions.values())
        missing_msg = "no prescription is known for this patient"
    if not candidates:
        return None, ("rx-missing", missing_msg)
    passing: list[Prescription] = []
    best: tuple[int, str, str] | None = None
    for rx in candidates:
        failure = _rx_failure(rx, event, state.visits.get(rx.prescription_id, []))
        if failure is None:
            passing.append(rx)
            continue
        rank = RX_REASONS.index(failure[0])
        if best is None or (rank, rx.prescription_id) > (best[0], best[1]):
            best = (rank, rx.prescription_id, failure[1])
    if passing:
        passing.sort(key=lambda r: (_rx_end(r) or date.max, r.issued_on, r.prescription_id))
        return passing[0], ("", "")
    assert best is not None
    return None, (RX_REASONS[best[0]], best[2])


def _effective_payer(payer: Payer, day: date) -> Payer:
    return payer.model_copy(
        update={
            "code_map": [r for r in payer.code_map if r.covers(day)],
            "code_pair_rules": [r for r in payer.code_pair_rules if r.covers(day)],
            "modifier_rules": [r for r in payer.modifier_rules if r.covers(day)],
            "fee_schedule": [r for r in payer.fee_schedule if r.covers(day)],
        }
    )


def _effective_clinic(clinic: Clinic, day: date) -> Clinic:
    return clinic.model_copy(update={"price_list": [r for r in clinic.price_list if r.covers(day)]})


# --- evaluation -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Verdict:
    kind: SessionStatus  # enriched | held | rejected
    reason: str | None
    message: str
    outcome: SessionOutcome
    prescription_id: str | None = None
    visit_number: int | None = None
    billed_to_payer: bool | None = None
    payer_id: str | None = None
    receiver_id: str | None = None
    authorization_id: str | None = None


def _held(
    event: SessionCompleted, reason: HoldReason, message: str, since: datetime, now: datetime
) -> _Verdict:
    out = SessionHeld.new(
        session_key=event.session_key,
        session=_without_notes(event),
        reason=reason,
        message=message,
        held_since=since,
        checked_at=now,
    )
    return _Verdict("held", reason, message, out)


def _rejected(
    event: SessionCompleted, reason: RejectReason, message: str, now: datetime, **extra: object
) -> _Verdict:
    out = SessionRejected.new(
        session_key=event.session_key,
        session=_without_notes(event),
        reason=reason,
        message=message,
        rejected_at=now,
        **extra,
    )
    return _Verdict("rejected", reason, message, out)


def _judge(
    event: SessionCompleted,
    state: PatientState,
    catalog: Catalog,
    now: datetime,
    policy: Policy,
    held_since: datetime,
) -> _Verdict:
    """Steps 3-6 for a session that is not a duplicate."""
    checks: list[Check] = []
    clinic = catalog.clinic(event.clinic_id)
    if clinic is None:
        return _held(
            event, "unknown-clinic", f"clinic {event.clinic_id} is not known yet", held_since, now
        )
    therapist = catalog.therapist(event.therapist_key)
    if therapist is None:
        return _held(
            event,
            "unknown-therapist",
            f"therapist {event.therapist_id} of clinic {event.clinic_id} is not known yet",
            held_since,
            now,
        )
    patient = state.patient
    if patient is None:
        return _held(
            event,
            "unknown-patient",
            f"patient {event.patient_id} of clinic {event.clinic_id} is not known yet",
            held_since,
            now,
        )
    checks.append(Check(check="reference-data", result="pass"))
    day = event.date_of_service
    if day > (now + policy.future_tolerance).date():
        return _rejected(
            event,
            "date-of-service-in-future",
            f"date of service {day} is after today ({now.date()})",
            now,
        )
    coverage = active_coverage(patient, event)
    if coverage is None:
        named = f"coverage {event.coverage_id}" if event.coverage_id else "any coverage"
        return _rejected(
            event, "no-active-coverage", f"{named} of the patient is not active on {day}", now
        )
    checks.append(Check(check="coverage", result="pass", detail=coverage.coverage_id))
    payer: Payer | None = None
    if coverage.kind == "insurance":
        assert coverage.payer_id is not None
        payer = catalog.payer(coverage.payer_id)
        if payer is None:
            return _held(
                event,
                "unknown-payer",
                f"payer {coverage.payer_id} is not known yet",
                held_since,
                now,
            )
        if not payer.pays_massage:
            return _rejected(
                event,
                "payer-excludes-massage",
                f"payer {payer.payer_id} ({payer.kind}) does not pay massage therapy; "
                "bill the patient or another coverage",
                now,
            )
        age = (now.date() - day).days
        if age > payer.timely_filing_days:
            return _rejected(
                event,
                "timely-filing-expired",
                f"date of service {day} is {age} days old; payer {payer.payer_id} accepts "
                f"claims for {payer.timely_filing_days} days",
                now,
            )
        checks.append(Check(check="timely-filing", result="pass"))
        address = billing_address_problems(clinic)
        if address:
            return _held(
                event,
                "billing-address-invalid",
                f"clinic {clinic.clinic_id} cannot be the billing provider: " + "; ".join(address),
                held_since,
                now,
            )
        checks.append(Check(check="billing-address", result="pass"))
        if payer.sends_rendering_license and therapist.license_number is None:
            return _held(
                event,
                "license-missing",
                f"payer {payer.payer_id} wants the rendering therapist's state licence "
                f"(2310B REF*0B): therapist {therapist.therapist_id} has no license_number",
                held_since,
                now,
            )
        answer = eligibility.inactive_answer(state, coverage, day)
        if answer is not None:
            return _held(
                event,
                "coverage-inactive",
                f"the latest 271 of payer {payer.payer_id} (ST02 {answer.control_number}) says "
                f"coverage {coverage.coverage_id} is not active on {day}",
                held_since,
                now,
            )
        if payer.payer_id in state.eligibility:
            checks.append(Check(check="eligibility", result="pass"))
    rx: Prescription | None = None
    # an HSA/FSA administrator reimburses massage only under a physician's order:
    # an HSA session waits for its prescription exactly like an insured one
    needs_rx = (payer is not None and payer.requires_prescription) or coverage.kind == "hsa"
    if needs_rx:
        rx, (reason, message) = covering_prescription(state, event)
        if rx is None:
            return _held(event, cast(HoldReason, reason), message, held_since, now)
        checks.append(Check(check="prescription", result="pass", detail=rx.prescription_id))
    else:
        # Not required (self-pay, or the payer's rule): attach one when it covers the
        # session (a superbill shows it), never hold for it.
        candidate, _ = covering_prescription(state, event)
        rx = candidate
        checks.append(
            Check(check="prescription", result="skip", detail=rx.prescription_id if rx else None)
        )
    if rx is not None and coverage.kind != "self_pay":
        found = diagnoses.check(
            rx.diagnosis_codes,
            day,
            policy.codeset_dir,
            hold_initial=payer is not None and payer.hold_initial_encounter_injury,
        )
        if found.hold is not None:
            reason, message = found.hold
            text = f"prescription {rx.prescription_id}: {message}"
            return _held(event, cast(HoldReason, reason), text, held_since, now)
        checks += [Check(check="diagnosis", result="warn", detail=w) for w in found.warnings]
    authorization = None
    if payer is not None and authorizations.needs_authorization(state, payer, event):
        authorization, (reason, message) = authorizations.covering_authorization(
            state, payer, event
        )
        if authorization is None:
            return _held(event, cast(HoldReason, reason), message, held_since, now)
        checks.append(
            Check(check="authorization", result="pass", detail=authorization.authorization_id)
        )
    visit_number = None
    first_visit = None
    if rx is not None:
        counted = [
            v for v in state.visits.get(rx.prescription_id, []) if v.session_id != event.session_id
        ]
        visit_number = len(counted) + 1
        first_visit = min([day, *(v.date_of_service for v in counted)])
    billed = coverage.kind == "insurance"
    secondary = next_coverage(patient, coverage, day) if billed else None
    secondary_payer = (
        catalog.payer(secondary.payer_id) if secondary and secondary.payer_id else None
    )
    if secondary is not None:
        usable = secondary_payer is not None and secondary_payer.pays_massage
        checks.append(
            Check(
                check="secondary-coverage",
                result="pass" if usable else "skip",
                detail=secondary.coverage_id,
            )
        )
        if not usable:
            secondary, secondary_payer = None, None
    out = SessionEnriched.new(
        session_key=event.session_key,
        session=_without_notes(event),
        enriched_at=now,
        clinic=_effective_clinic(clinic, day),
        therapist=therapist,
        patient=patient.model_copy(update={"coverages": [coverage]}),
        coverage=coverage,
        payer=_effective_payer(payer, day) if payer is not None else None,
        prescription=rx,
        visit_number=visit_number,
        first_visit_date=first_visit,
        billed_to_payer=billed,
        next_coverage=secondary,
        next_payer=_effective_payer(secondary_payer, day) if secondary_payer else None,
        authorization=authorization,
        checks=checks,
    )
    return _Verdict(
        "enriched",
        None,
        "enriched",
        out,
        prescription_id=rx.prescription_id if rx else None,
        visit_number=visit_number,
        billed_to_payer=billed,
        payer_id=payer.payer_id if payer else None,
        receiver_id=payer.receiver_id if payer else None,
        authorization_id=authorization.authorization_id if authorization else None,
    )


def _apply(
    state: PatientState,
    event: SessionCompleted,
    verdict: _Verdict,
    fp: str,
    event_ids: list[str],
    now: datetime,
    hold_since: datetime,
    sources: list[str] | None = None,
) -> PatientState:
    sessions = dict(state.sessions)
    visits = {k: list(v) for k, v in state.visits.items()}
    hold = None
    if isinstance(verdict.outcome, SessionHeld):
        held = verdict.outcome
        hold = Hold(
            reason=held.reason, message=held.message, since=hold_since, event=_without_notes(event)
        )
    if verdict.kind == "enriched" and verdict.prescription_id is not None:
        rx_visits = [
            v for v in visits.get(verdict.prescription_id, []) if v.session_id != event.session_id
        ]
        rx_visits.append(Visit(session_id=event.session_id, date_of_service=event.date_of_service))
        visits[verdict.prescription_id] = rx_visits
    if verdict.kind == "enriched" and verdict.authorization_id is not None:
        key = authorizations.usage_key(verdict.authorization_id)
        used = [v for v in visits.get(key, []) if v.session_id != event.session_id]
        used.append(Visit(session_id=event.session_id, date_of_service=event.date_of_service))
        visits[key] = used
    previous = state.sessions.get(event.session_id)
    sessions[event.session_id] = SessionRecord(
        decisions=(previous.decisions if previous is not None else 0) + 1,
        fingerprint=fp,
        event_ids=event_ids[-8:],
        sources=(sources or [])[-16:],
        status=verdict.kind,
        reason=verdict.reason,
        message=verdict.message,
        prescription_id=verdict.prescription_id,
        authorization_id=verdict.authorization_id,
        visit_number=verdict.visit_number,
        billed_to_payer=verdict.billed_to_payer,
        payer_id=verdict.payer_id,
        receiver_id=verdict.receiver_id,
        decided_at=now,
        hold=hold,
    )
    return state.model_copy(update={"sessions": sessions, "visits": visits})


def _numbered(
    state: PatientState, event: SessionCompleted, outcome: SessionOutcome
) -> SessionOutcome:
    """The outcome with the session's decision number (readers keep the highest)."""
    record = state.sessions.get(event.session_id)
    if record is None or not isinstance(outcome, SessionEnriched | SessionHeld | SessionRejected):
        return outcome
    return outcome.model_copy(update={"decision": record.decisions})


def _seen(record: SessionRecord, eid: str, source: str | None) -> dict[str, list[str]]:
    """The record's event ids and sources with this message added."""
    return {
        "event_ids": [*record.event_ids, eid][-8:],
        "sources": [*record.sources, source][-16:] if source else record.sources,
    }


def on_session_completed(
    state: PatientState,
    event: SessionCompleted,
    catalog: Catalog,
    now: datetime,
    policy: Policy = Policy(),
    source: str | None = None,
) -> Step:
    """One SessionCompleted.  ``source`` (``topic:partition:offset``) tells a
    redelivery of the same message (after a crash: its outcome is repeated) from
    the same session sent again in a new message (a duplicate, whatever its
    event id: counted, not billed)."""
    fp = fingerprint(event)
    eid = str(event.event_id)
    record = state.sessions.get(event.session_id)
    if record is not None:
        if source is not None and source in record.sources:
            return Step(
                state,
                [
                    _numbered(state, event, o)
                    for o in _redelivered(state, event, record, catalog, now, policy, source)
                ],
                redelivered=event.session_key,
            )
        if record.status == "cancelled" and record.fingerprint is None:
            # The cancel overtook the session: it is withdrawn as soon as it shows up.
            sessions = dict(state.sessions)
            sessions[event.session_id] = record.model_copy(
                update={"fingerprint": fp, **_seen(record, eid, source)}
            )
            return Step(state.model_copy(update={"sessions": sessions}))
        if record.fingerprint != fp:
            out = SessionRejected.new(
                session_key=event.session_key,
                session=_without_notes(event),
                reason="conflicting-duplicate",
                message=(
                    f"session {event.session_key} was already received with different "
                    f"content (first event {record.event_ids[0] if record.event_ids else '?'}); "
                    "the first version stands, review this one"
                ),
                rejected_at=now,
                details={"first_status": record.status},
            )
            return Step(state, [out])
        sessions = dict(state.sessions)
        sessions[event.session_id] = record.model_copy(update=_seen(record, eid, source))
        dup = SessionDuplicate.new(
            session_key=event.session_key,
            event_id=eid,
            first_event_id=record.event_ids[0] if record.event_ids else None,
            event_type="session.completed",
            source=source,
            detected_at=now,
        )
        return Step(state.model_copy(update={"sessions": sessions}), [dup], duplicates=1)
    verdict = _judge(event, state, catalog, now, policy, held_since=now)
    new_state = _apply(
        state, event, verdict, fp, [eid], now, hold_since=now, sources=[source] if source else []
    )
    return Step(new_state, [_numbered(new_state, event, verdict.outcome)])


def _redelivered(
    state: PatientState,
    event: SessionCompleted,
    record: SessionRecord,
    catalog: Catalog,
    now: datetime,
    policy: Policy,
    source: str | None,
) -> list[SessionOutcome]:
    """The same message again (a retry after a crash): repeat what it produced.

    Downstream stages de-duplicate by session identity, so a repeat is harmless,
    while a lost first output would otherwise never be replaced.  A message that
    was itself a duplicate repeats its duplicate notice.
    """
    if record.status == "cancelled":
        return []
    if source is not None and record.sources and source != record.sources[0]:
        return [
            SessionDuplicate.new(
                session_key=event.session_key,
                event_id=str(event.event_id),
                first_event_id=record.event_ids[0] if record.event_ids else None,
                event_type="session.completed",
                source=source,
                detected_at=now,
            )
        ]
    if record.status == "rejected":
        return [
            SessionRejected.new(
                session_key=event.session_key,
                session=_without_notes(event),
                reason=record.reason,
                message=record.message or "",
                rejected_at=record.decided_at,
            )
        ]
    if record.status == "held" and record.hold is not None:
        return [
            SessionHeld.new(
                session_key=event.session_key,
                session=_without_notes(event),
                reason=record.hold.reason,
                message=record.hold.message,
                held_since=record.hold.since,
                checked_at=now,
            )
        ]
    if record.status == "enriched":
        # Rebuild with the recorded prescription: pretend the visit is not yet counted.
        visits = {
            k: [v for v in vs if v.session_id != event.session_id] for k, vs in state.visits.items()
        }
        probe_state = state.model_copy(update={"visits": visits})
        if record.prescription_id is not None and record.prescription_id in state.prescriptions:
            probe_event = event.model_copy(update={"prescription_id": record.prescription_id})
        else:
            probe_event = event
        verdict = _judge(
            probe_event,
            probe_state,
            catalog,
            record.decided_at,
            policy,
            held_since=record.decided_at,
        )
        if verdict.kind == "enriched":
            out = verdict.outcome
            assert isinstance(out, SessionEnriched)
            return [
                out.model_copy(
                    update={"session": _without_notes(event), "visit_number": record.visit_number}
                )
            ]
    return []


def on_session_cancelled(
    state: PatientState, event: SessionCancelled, now: datetime, source: str | None = None
) -> Step:
    record = state.sessions.get(event.session_id)
    eid = str(event.event_id)
    sessions = dict(state.sessions)
    visits = {k: list(v) for k, v in state.visits.items()}
    if record is not None and source is not None and source in record.sources:
        if record.withdrawal is not None and record.sources[-1] == source:
            return Step(state, [SessionWithdrawn.parse_json(record.withdrawal)])  # redelivery
        return Step(state)
    if record is not None and record.status == "cancelled":
        sessions[event.session_id] = record.model_copy(update=_seen(record, eid, source))
        dup = SessionDuplicate.new(
            session_key=event.session_key,
            event_id=eid,
            first_event_id=record.event_ids[0] if record.event_ids else None,
            event_type="session.cancelled",
            source=source,
            detected_at=now,
        )
        return Step(state.model_copy(update={"sessions": sessions}), [dup], duplicates=1)
    released = False
    rx_id = None
    if record is None:
        at_cancel = "not-received"
        sessions[event.session_id] = SessionRecord(
            fingerprint=None,
            event_ids=[eid],
            sources=[source] if source else [],
            status="cancelled",
            reason="cancelled",
            message="cancelled by the clinic before the session was received",
            decided_at=now,
        )
    else:
        at_cancel = record.status
        if record.status == "enriched" and record.prescription_id is not None:
            rx_id = record.prescription_id
            before = visits.get(rx_id, [])
            visits[rx_id] = [v for v in before if v.session_id != event.session_id]
            released = len(visits[rx_id]) < len(before)
        if record.status == "enriched" and record.authorization_id is not None:
            key = authorizations.usage_key(record.authorization_id)
            visits[key] = [v for v in visits.get(key, []) if v.session_id != event.session_id]
        sessions[event.session_id] = record.model_copy(
            update={
                "status": "cancelled",
                "reason": "cancelled",
                "message": f"cancelled by the clinic (was {record.status})",
                **_seen(record, eid, source),
                "hold": None,
                "decided_at": now,
            }
        )
    out = SessionWithdrawn.new(
        session_key=event.session_key,
        clinic_id=event.clinic_id,
        session_id=event.session_id,
        patient_id=event.patient_id,
        cancel_event_id=eid,
        state_at_cancel=at_cancel,
        visit_released=released,
        prescription_id=rx_id,
        payer_id=record.payer_id if record else None,
        receiver_id=record.receiver_id if record else None,
        billed_to_payer=record.billed_to_payer if record else None,
        withdrawn_at=now,
    )
    sessions[event.session_id] = sessions[event.session_id].model_copy(
        update={"withdrawal": out.model_dump_json()}
    )
    return Step(state.model_copy(update={"sessions": sessions, "visits": visits}), [out])


def on_session_retry(
    state: PatientState,
    retry: SessionRetry,
    catalog: Catalog,
    now: datetime,
    policy: Policy = Policy(),
    source: str | None = None,
) -> Step:
    """Check a rejected session again after its cause was fixed.

    * rejected here: judged again with today's reference data;
    * enriched (refused later, by the units stage): enriched again with today's
      data and the same visit, so the units stage prices it again -- the claims
      stage ignores a session it already claimed, so nothing is billed twice;
    * held: re-checked like any held session; cancelled or unknown: nothing.
    A retry whose session differs from the recorded one (a conflicting
    duplicate) is ignored: that needs a person, not a retry.
    """
    event = retry.session
    record = state.sessions.get(event.session_id)
    if record is None or record.fingerprint != fingerprint(event):
        return Step(state)
    if source is not None and source in record.sources:
        return Step(state)  # the retry itself redelivered: done already
    sources = [*record.sources, source][-16:] if source else record.sources
    if record.status == "rejected":
        verdict = _judge(event, state, catalog, now, policy, held_since=now)
        new_state = _apply(
            state,
            event,
            verdict,
            record.fingerprint or "",
            record.event_ids,
            now,
            hold_since=now,
            sources=sources,
        )
        return Step(new_state, [_numbered(new_state, event, verdict.outcome)])
    if record.status == "enriched":
        outs = _redelivered(state, event, record, catalog, now, policy, None)
        fresh = [
            o.model_copy(update={"enriched_at": now}) if isinstance(o, SessionEnriched) else o
            for o in outs
        ]
        return Step(state, fresh)
    if record.status == "held":
        return reevaluate_held(state, catalog, now, policy)
    return Step(state)


def reevaluate_held(
    state: PatientState, catalog: Catalog, now: datetime, policy: Policy = Policy()
) -> Step:
    """Re-check every held session of the patient, oldest date of service first."""
    held = [(sid, r) for sid, r in state.sessions.items() if r.status == "held" and r.hold]
    held.sort(key=lambda item: (item[1].hold.event.date_of_service, item[0]))  # type: ignore[union-attr]  # the filter above keeps only records with a hold
    outcomes: list[SessionOutcome] = []
    for _sid, record in held:
        hold = record.hold
        assert hold is not None
        event = hold.event
        if now - hold.since > policy.hold_limit:
            verdict = _rejected(
                event,
                "hold-expired",
                f"held since {hold.since.isoformat()} ({hold.reason}: {hold.message}); "
                f"the limit is {policy.hold_limit}",
                now,
                held_reason=hold.reason,
            )
        else:
            verdict = _judge(event, state, catalog, now, policy, held_since=hold.since)
            if verdict.kind == "held" and verdict.reason == hold.reason:
                continue  # still waiting for the same thing: nothing new to say
        state = _apply(
            state,
            event,
            verdict,
            record.fingerprint or fingerprint(event),
            record.event_ids,
            now,
            hold_since=hold.since,
            sources=record.sources,
        )
        outcomes.append(_numbered(state, event, verdict.outcome))
    return Step(state, outcomes)


def with_patient(state: PatientState, patient: Patient | None) -> PatientState:
    return state.model_copy(update={"patient": patient})


def with_prescription(
    state: PatientState, prescription_id: str, rx: Prescription | None
) -> PatientState:
    prescriptions = dict(state.prescriptions)
    if rx is None:
        prescriptions.pop(prescription_id, None)
    else:
        prescriptions[prescription_id] = rx
    return state.model_copy(update={"prescriptions": prescriptions})


def held_count(states: Iterable[PatientState]) -> int:
    return sum(1 for s in states for r in s.sessions.values() if r.status == "held")
