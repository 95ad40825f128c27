"""What the enrichment processor says about each session and reference record."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field

from schemas.base import PHI, Contract, Identifier, Versioned
from schemas.events import SessionCompleted
from schemas.reference import (
    Authorization,
    Clinic,
    Coverage,
    Patient,
    Payer,
    Prescription,
    Therapist,
)

HoldReason = Literal[
    "unknown-clinic",
    "unknown-therapist",
    "unknown-patient",
    "unknown-payer",
    "rx-missing",
    "rx-not-yet-valid",
    "rx-expired",
    "rx-visits-exhausted",
    "rx-frequency-exceeded",
    "rx-technique-not-allowed",
    "billing-address-invalid",
    "license-missing",
    "dx-invalid",
    "dx-initial-encounter",
    "auth-missing",
    "auth-expired",
    "auth-exhausted",
    "coverage-inactive",
]
RejectReason = Literal[
    "conflicting-duplicate",
    "no-active-coverage",
    "payer-excludes-massage",
    "timely-filing-expired",
    "date-of-service-in-future",
    "hold-expired",
    "no-billable-units",
    "scrub-failed",
]
ReferenceRejectReason = Literal[
    "rx-bad-diagnosis",
    "rx-bad-prescriber-npi",
    "ref-bad-npi",
    "clinic-billing-address",
]

#: The order in which prescription checks run; a later reason is more specific.
RX_REASONS: tuple[str, ...] = (
    "rx-missing",
    "rx-not-yet-valid",
    "rx-expired",
    "rx-visits-exhausted",
    "rx-frequency-exceeded",
    "rx-technique-not-allowed",
)


class Check(Contract):
    """One check the enrichment made, for the audit trail."""

    check: str
    result: Literal["pass", "fail", "skip", "warn"]
    detail: str | None = None


class SessionEnriched(Versioned):
    """A session that passed every check, with the reference data as used."""

    event_type: Literal["session.enriched"] = "session.enriched"
    session_key: str
    session: SessionCompleted = Field(description="The event as received, without notes.")
    enriched_at: AwareDatetime
    clinic: Clinic = Field(description="Price list limited to rows effective on the date.")
    therapist: Therapist
    patient: Annotated[Patient, PHI] = Field(
        description="Demographics; coverages limited to the one used."
    )
    coverage: Coverage
    payer: Payer | None = Field(
        description="Rules effective on the date of service; null for self-pay/HSA."
    )
    prescription: Prescription | None
    visit_number: int | None = Field(
        default=None, ge=1, description="Visit number under the prescription."
    )
    first_visit_date: date | None = Field(
        default=None, description="Earliest date of service under the prescription (DTP*454)."
    )
    billed_to_payer: bool
    next_coverage: Coverage | None = Field(
        default=None, description="The insurance that pays after this one (secondary claims)."
    )
    next_payer: Payer | None = Field(default=None, description="The next coverage's payer.")
    authorization: Authorization | None = Field(
        default=None, description="The payer's prior authorization the visit is billed under."
    )
    checks: list[Check] = Field(default_factory=list)
    decision: int | None = Field(
        default=None,
        ge=1,
        description="The session's decision sequence: a later decision has a higher number "
        "(readers keep the highest, whatever order the messages arrive in).",
    )


class SessionHeld(Versioned):
    """A session waiting for reference data or a covering prescription."""

    session_key: str
    session: SessionCompleted
    reason: HoldReason
    message: str
    held_since: AwareDatetime
    checked_at: AwareDatetime
    decision: int | None = Field(
        default=None,
        ge=1,
        description="The session's decision sequence: a later decision has a higher number "
        "(readers keep the highest, whatever order the messages arrive in).",
    )


class SessionRejected(Versioned):
    """A session that cannot be billed as sent."""

    session_key: str
    session: SessionCompleted | None = None
    reason: RejectReason
    message: str
    rejected_at: AwareDatetime
    held_reason: HoldReason | None = Field(
        default=None, description="For hold-expired: why the session was held."
    )
    details: dict[str, Any] = Field(default_factory=dict)
    decision: int | None = Field(
        default=None,
        ge=1,
        description="The session's decision sequence: a later decision has a higher number "
        "(readers keep the highest, whatever order the messages arrive in).",
    )


class SessionDuplicate(Versioned):
    """The same session (same identity and content) delivered again."""

    session_key: str
    event_id: str
    first_event_id: str | None
    event_type: Literal["session.completed", "session.cancelled"]
    source: str | None = Field(default=None, description="topic:partition:offset of the repeat.")
    detected_at: AwareDatetime


class SessionWithdrawn(Versioned):
    """A session cancelled by its clinic, and what that undid.

    Published on ``sessions.cancelled`` always, and also on ``sessions.enriched``
    (after the session's own SessionEnriched) when the session had been enriched,
    so later stages see the withdrawal in order and can withdraw or void it.
    """

    event_type: Literal["session.withdrawn"] = "session.withdrawn"
    session_key: str
    clinic_id: Identifier
    session_id: Identifier
    patient_id: Identifier
    cancel_event_id: str
    state_at_cancel: Literal["enriched", "held", "rejected", "not-received"]
    visit_released: bool = False
    prescription_id: Identifier | None = None
    payer_id: Identifier | None = None
    receiver_id: Identifier | None = None
    billed_to_payer: bool | None = None
    withdrawn_at: AwareDatetime


class ReferenceRejected(Versioned):
    """A reference record the engine refuses to use -- or, with ``severity`` warning,
    uses but cannot bill with until it is corrected (e.g. a clinic without a street
    address and ZIP+4: its insured sessions are held ``billing-address-invalid``)."""

    topic: str
    key: str
    reason: ReferenceRejectReason
    message: str
    rejected_at: AwareDatetime
    severity: Literal["rejected", "warning"] = "rejected"


def parse_enriched_topic(raw: bytes | str) -> SessionEnriched | SessionWithdrawn:
    """A message of ``sessions.enriched``: a SessionEnriched, or a SessionWithdrawn
    for a session enriched earlier.

    Only a value that mentions ``session.withdrawn`` at all is decoded twice (once
    to read its ``event_type``): an enriched session is several kilobytes.
    """
    text = raw.encode("utf-8", errors="replace") if isinstance(raw, str) else raw
    if b"session.withdrawn" not in text:
        return SessionEnriched.parse_json(raw)
    try:
        kind = json.loads(raw).get("event_type")
    except (ValueError, AttributeError, RecursionError):  # the model refuses it below
        kind = None
    if kind == "session.withdrawn":
        return SessionWithdrawn.parse_json(raw)
    return SessionEnriched.parse_json(raw)


AttentionKind = Literal["progress-report-due", "visits-running-out", "prescription-expiring"]


class PrescriptionAttention(Versioned):
    """The prescribing physician needs to hear from the clinic
    (``prescriptions.attention``, key ``<clinic_id>:<prescription_id>``)."""

    event_type: Literal["prescription.attention"] = "prescription.attention"
    attention_id: str = Field(description="Stable: the same trigger always has the same id.")
    kind: AttentionKind
    clinic_id: Identifier
    patient_id: Identifier
    prescription_id: Identifier
    prescriber_npi: str
    payer_id: Identifier | None
    visits_used: int
    visits_authorized: int
    valid_until: date | None
    session_key: str = Field(description="The session whose visit raised it.")
    date_of_service: Annotated[date, PHI]
    message: str
    raised_at: AwareDatetime


class AuthorizationAttention(Versioned):
    """A payer's authorization is about to run out: ask the payer for more visits
    before the next one is held (``prescriptions.attention``, key
    ``<clinic_id>:<authorization_id>``)."""

    event_type: Literal["authorization.attention"] = "authorization.attention"
    attention_id: str = Field(description="Stable: the same trigger always has the same id.")
    kind: Literal["authorization-running-out"] = "authorization-running-out"
    clinic_id: Identifier
    patient_id: Identifier
    authorization_id: Identifier
    payer_id: Identifier
    visits_used: int
    visits_authorized: int
    valid_to: date
    session_key: str
    date_of_service: Annotated[date, PHI]
    message: str
    raised_at: AwareDatetime


class CoverageAttention(Versioned):
    """A payer's 271 limits the visits it pays for a coverage: plan the patient's visits
    (or the authorization request) before the limit is reached
    (``prescriptions.attention``, key ``<clinic_id>:<patient_id>:<payer_id>``)."""

    event_type: Literal["coverage.attention"] = "coverage.attention"
    attention_id: str = Field(description="Stable: the same answer always has the same id.")
    kind: Literal["payer-visit-limit"] = "payer-visit-limit"
    clinic_id: Identifier
    patient_id: Identifier
    payer_id: Identifier
    limits: list[str] = Field(
        min_length=1, description="Each limit the payer stated, in words (e.g. 12 visits left)."
    )
    visits_left: int | None = Field(
        default=None, description="The fewest visits the payer says remain, when it says so."
    )
    asked_on: date | None = Field(default=None, description="The date the 270 asked about.")
    message: str
    raised_at: AwareDatetime


SessionOutcome = (
    SessionEnriched | SessionHeld | SessionRejected | SessionDuplicate | SessionWithdrawn
)
