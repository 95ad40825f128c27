"""Prior authorizations (pure): whether a payer needs one for a visit, and which of
the patient's authorizations covers it.

Workers' compensation, auto insurers and many health plans authorize massage in
advance for a number of visits (or units) in a date span.  A payer says whether it
needs one: ``never``, ``always``, or ``after-visits`` (once the patient had that many
days of service with the payer in the calendar year).  An authorization is used
once per date of service -- a second visit on the same day uses nothing more --
and is counted like a prescription's visits, so a redelivered session never counts
twice.  Units authorized are carried to the claim with the number; they are not
counted here (units are known only when the day is priced).
"""

from __future__ import annotations

from datetime import date

from schemas.events import SessionCompleted
from schemas.reference import Authorization, Payer
from schemas.state import PatientState, Visit

#: Hold reasons, most specific last (the best failure is reported).
AUTH_REASONS = ("auth-missing", "auth-expired", "auth-exhausted")


def usage_key(authorization_id: str) -> str:
    """Where an authorization's visits are kept in :attr:`PatientState.visits`."""
    return f"auth:{authorization_id}"


def _days_with_payer(state: PatientState, payer_id: str, year: int, event: SessionCompleted) -> int:
    """Days of service this calendar year the patient was billed to ``payer_id`` (this
    session's own day left out)."""
    sessions = {
        sid
        for sid, r in state.sessions.items()
        if r.status == "enriched" and r.payer_id == payer_id
    }
    days = {
        v.date_of_service
        for key, visits in state.visits.items()
        if not key.startswith("auth:")
        for v in visits
        if v.session_id in sessions and v.session_id != event.session_id
    }
    return sum(1 for d in days if d.year == year and d != event.date_of_service)


def needs_authorization(state: PatientState, payer: Payer, event: SessionCompleted) -> bool:
    if payer.authorization_required == "always":
        return True
    if payer.authorization_required == "after-visits":
        limit = payer.authorization_after_visits or 0
        year = event.date_of_service.year
        return _days_with_payer(state, payer.payer_id, year, event) >= limit
    return False


def _failure(
    auth: Authorization, day: date, visits: list[Visit], session_id: str
) -> tuple[int, str] | None:
    if not auth.valid_from <= day <= auth.valid_to:
        return 1, (
            f"authorization {auth.authorization_id} covers {auth.valid_from} to "
            f"{auth.valid_to}, not the date of service"
        )
    used = {v.date_of_service for v in visits if v.session_id != session_id}
    if (
        auth.visits_authorized is not None
        and day not in used
        and len(used) >= auth.visits_authorized
    ):
        return 2, f"authorization {auth.authorization_id}: all {auth.visits_authorized} visits used"
    return None


def covering_authorization(
    state: PatientState, payer: Payer, event: SessionCompleted
) -> tuple[Authorization | None, tuple[str, str]]:
    """The payer's authorization that covers the visit (ending first is used first), or
    the most specific reason none does."""
    day = event.date_of_service
    candidates = [a for a in state.authorizations.values() if a.payer_id == payer.payer_id]
    if not candidates:
        return None, (
            "auth-missing",
            f"payer {payer.payer_id} requires a prior authorization; none is on file",
        )
    passing: list[Authorization] = []
    best: tuple[int, str, str] | None = None
    for auth in candidates:
        visits = state.visits.get(usage_key(auth.authorization_id), [])
        failure = _failure(auth, day, visits, event.session_id)
        if failure is None:
            passing.append(auth)
        elif best is None or (failure[0], auth.authorization_id) > best[:2]:
            best = (failure[0], auth.authorization_id, failure[1])
    if passing:
        passing.sort(key=lambda a: (a.valid_to, a.valid_from, a.authorization_id))
        return passing[0], ("", "")
    assert best is not None
    return None, (AUTH_REASONS[best[0]], best[2])


def with_authorization(
    state: PatientState, authorization_id: str, authorization: Authorization | None
) -> PatientState:
    authorizations = dict(state.authorizations)
    if authorization is None:
        authorizations.pop(authorization_id, None)
    else:
        authorizations[authorization_id] = authorization
    return state.model_copy(update={"authorizations": authorizations})


def visits_left(state: PatientState, authorization: Authorization) -> int | None:
    """Days of service the authorization still covers (None: not limited by visits)."""
    if authorization.visits_authorized is None:
        return None
    used = {
        v.date_of_service for v in state.visits.get(usage_key(authorization.authorization_id), [])
    }
    return max(authorization.visits_authorized - len(used), 0)
