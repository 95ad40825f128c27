"""What the prescribing physician needs to hear, after each counted visit (pure).

Payers and state rules expect the prescriber to get a progress report every so
many visits or days (whichever comes first) and a renewal request before the
prescription runs out.  Each new visit counted against a prescription is
checked, with the payer's :class:`~schemas.reference.AttentionPolicy` (the
defaults when the session has no payer or the payer says nothing):

* ``progress-report-due``: ``report_every_visits`` visits since the last report
  (or since the first visit), or ``report_every_days`` days -- the first report
  counts from the first visit;
* ``visits-running-out``: at most ``renew_when_visits_left`` visits remain
  (once per prescription);
* ``prescription-expiring``: the prescription ends within
  ``renew_days_before_expiry`` days of the date of service (once).

Events are kept on the patient's state (per prescription) with a stable id
(prescription, kind, visit number), so a visit counted once raises each event
once; a redelivered session (the same message after a crash) re-sends the
events it raised with the same ids, which readers deduplicate.
"""

from __future__ import annotations

from datetime import date, datetime

from schemas.outcomes import AuthorizationAttention, PrescriptionAttention
from schemas.reference import AttentionPolicy, Prescription
from schemas.state import PatientState, Visit
from workers.enrich.authorizations import usage_key
from workers.enrich.rules import Catalog, prescription_end

KEEP = 20


def _policy(
    state: PatientState, session_id: str, catalog: Catalog
) -> tuple[AttentionPolicy, str | None]:
    record = state.sessions.get(session_id)
    payer_id = record.payer_id if record is not None else None
    payer = catalog.payer(payer_id) if payer_id else None
    return (payer.prescriber_attention if payer else AttentionPolicy()), payer_id


def _event(
    kind: str,
    rx: Prescription,
    visit: Visit,
    used: int,
    payer_id: str | None,
    message: str,
    now: datetime,
) -> PrescriptionAttention:
    return PrescriptionAttention.new(
        attention_id=f"{rx.key}|{kind}|{used}",
        kind=kind,
        clinic_id=rx.clinic_id,
        patient_id=rx.patient_id,
        prescription_id=rx.prescription_id,
        prescriber_npi=rx.prescriber.npi,
        payer_id=payer_id,
        visits_used=used,
        visits_authorized=rx.visits_authorized,
        valid_until=prescription_end(rx),
        session_key=f"{rx.clinic_id}:{visit.session_id}",
        date_of_service=visit.date_of_service,
        message=message,
        raised_at=now,
    )


def _due(
    rx: Prescription,
    visits: list[Visit],
    index: int,
    earlier: list[PrescriptionAttention],
    policy: AttentionPolicy,
) -> list[tuple[str, str]]:
    """The (kind, message) pairs the visit at ``visits[index]`` raises."""
    visit = visits[index]
    used = index + 1
    out: list[tuple[str, str]] = []
    reports = [e for e in earlier if e.kind == "progress-report-due"]
    since_visit = reports[-1].visits_used if reports else 0
    since_day: date = reports[-1].date_of_service if reports else visits[0].date_of_service
    days = (visit.date_of_service - since_day).days
    if used - since_visit >= policy.report_every_visits:
        out.append(
            (
                "progress-report-due",
                f"{used - since_visit} visits since the last progress report "
                f"(every {policy.report_every_visits} visits)",
            )
        )
    elif days >= policy.report_every_days:
        out.append(
            (
                "progress-report-due",
                f"{days} days since the last progress report (every "
                f"{policy.report_every_days} days)",
            )
        )
    kinds = {e.kind for e in earlier}
    left = rx.visits_authorized - used
    if left <= policy.renew_when_visits_left and "visits-running-out" not in kinds:
        out.append(
            (
                "visits-running-out",
                f"{left} of {rx.visits_authorized} authorized visits left: ask for a renewal",
            )
        )
    end = prescription_end(rx)
    if end is not None and "prescription-expiring" not in kinds:
        remaining = (end - visit.date_of_service).days
        if remaining <= policy.renew_days_before_expiry:
            out.append(
                (
                    "prescription-expiring",
                    f"the prescription ends on {end} ({remaining} days after this visit): "
                    "ask for a renewal",
                )
            )
    return out


def after_visits(
    before: PatientState, after: PatientState, catalog: Catalog, now: datetime
) -> tuple[PatientState, list[PrescriptionAttention]]:
    """The events raised by visits ``after`` counts that ``before`` did not, and the
    state that remembers them."""
    attention = {k: list(v) for k, v in after.attention.items()}
    raised: list[PrescriptionAttention] = []
    for rx_id, visits in after.visits.items():
        known = {v.session_id for v in before.visits.get(rx_id, [])}
        rx = after.prescriptions.get(rx_id)  # (authorizations' usage keys find none)
        if rx is None or all(v.session_id in known for v in visits):
            continue
        ordered = sorted(visits, key=lambda v: (v.date_of_service, v.session_id))
        earlier = attention.get(rx_id, [])
        for index, visit in enumerate(ordered):
            if visit.session_id in known:
                continue
            policy, payer_id = _policy(after, visit.session_id, catalog)
            for kind, message in _due(rx, ordered, index, earlier, policy):
                event = _event(kind, rx, visit, index + 1, payer_id, message, now)
                if any(e.attention_id == event.attention_id for e in earlier):
                    continue
                earlier = [*earlier, event]
                raised.append(event)
        attention[rx_id] = earlier[-KEEP:]
    if not raised:
        return after, []
    return after.model_copy(update={"attention": attention}), raised


def raised_by(state: PatientState, session_key: str) -> list[PrescriptionAttention]:
    """The events a session raised (re-sent, same ids, when the session is redelivered)."""
    return [
        e for events in state.attention.values() for e in events if e.session_key == session_key
    ]


def authorization_events(
    before: PatientState, after: PatientState, now: datetime, redelivered: str | None = None
) -> list[AuthorizationAttention]:
    """An authorization with at most one visit left after a newly counted visit (or the
    redelivered session's) raises an event, with a stable id per visit count."""
    out = []
    for auth_id, auth in after.authorizations.items():
        if auth.visits_authorized is None:
            continue
        key = usage_key(auth_id)
        visits = after.visits.get(key, [])
        known = {v.session_id for v in before.visits.get(key, [])}
        days = sorted({v.date_of_service for v in visits})
        for visit in visits:
            fresh = visit.session_id not in known
            again = redelivered == f"{auth.clinic_id}:{visit.session_id}"
            if not (fresh or again):
                continue
            used = days.index(visit.date_of_service) + 1
            left = auth.visits_authorized - used
            if left > 1:
                continue
            out.append(
                AuthorizationAttention.new(
                    attention_id=f"{auth.key}|running-out|{used}",
                    clinic_id=auth.clinic_id,
                    patient_id=auth.patient_id,
                    authorization_id=auth.authorization_id,
                    payer_id=auth.payer_id,
                    visits_used=used,
                    visits_authorized=auth.visits_authorized,
                    valid_to=auth.valid_to,
                    session_key=f"{auth.clinic_id}:{visit.session_id}",
                    date_of_service=visit.date_of_service,
                    message=f"{left} of {auth.visits_authorized} authorized visits left: ask "
                    f"payer {auth.payer_id} to extend authorization {auth.authorization_id}",
                    raised_at=now,
                )
            )
    return out
