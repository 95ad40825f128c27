"""Events clinics publish on ``sessions.completed`` (key ``<clinic_id>:<patient_id>``)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import (
    AwareDatetime,
    Discriminator,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from schemas.base import PHI, Contract, Identifier, Versioned
from schemas.common import BodyRegion, Technique

PlaceOfService = Annotated[str, StringConstraints(pattern=r"^[0-9]{2}$")]


class TechniquePerformed(Contract):
    """One technique of a session, with its direct one-on-one minutes."""

    technique: Technique
    minutes: int = Field(ge=1, le=240)
    body_region: BodyRegion | None = None


class _SessionEvent(Versioned):
    event_id: UUID = Field(description="Unique per delivery attempt chosen by the clinic.")
    occurred_at: AwareDatetime = Field(description="When it happened (UTC on output).")
    clinic_id: Identifier
    session_id: Identifier = Field(description="Unique within the clinic.")
    patient_id: Identifier = Field(description="Unique within the clinic.")

    @field_validator("occurred_at")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        try:
            return v.astimezone(UTC)
        except OverflowError:  # e.g. 0001-01-01T00:00+01:00 is before year 1 in UTC
            raise ValueError("is out of range once converted to UTC") from None

    @property
    def session_key(self) -> str:
        """Global identity of the session: ``<clinic_id>:<session_id>``."""
        return f"{self.clinic_id}:{self.session_id}"

    @property
    def patient_key(self) -> str:
        """The Kafka key: ``<clinic_id>:<patient_id>``."""
        return f"{self.clinic_id}:{self.patient_id}"


class SessionCompleted(_SessionEvent):
    """A massage session finished at a clinic."""

    event_type: Literal["session.completed"]
    therapist_id: Identifier
    date_of_service: Annotated[date, PHI]
    place_of_service: PlaceOfService = "11"
    prescription_id: Identifier | None = None
    coverage_id: Identifier | None = None
    techniques: list[TechniquePerformed] = Field(min_length=1, max_length=24)
    waiver_on_file: bool = Field(
        default=False,
        description="The patient signed a waiver: a code the payer does not cover is "
        "billed to the patient (else it is written off).",
    )
    notes: Annotated[Annotated[str, StringConstraints(max_length=4000)] | None, PHI] = Field(
        default=None, description="Free text for the clinic; never logged, never billed."
    )

    @property
    def therapist_key(self) -> str:
        return f"{self.clinic_id}:{self.therapist_id}"


class SessionCancelled(_SessionEvent):
    """The clinic withdraws a session entered in error."""

    event_type: Literal["session.cancelled"]
    reason: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class SessionRetry(_SessionEvent):
    """An operator asks for a rejected session to be checked again (its cause was fixed).

    Only a session whose recorded outcome is a rejection (or a units-stage refusal)
    is re-evaluated; anything else is ignored, so a retry never bills twice.
    """

    event_type: Literal["session.retry"]
    session: SessionCompleted
    requested_by: Annotated[str, StringConstraints(max_length=100)] | None = None


SessionEvent = Annotated[
    SessionCompleted | SessionCancelled | SessionRetry, Discriminator("event_type")
]
SESSION_EVENT: TypeAdapter[SessionCompleted | SessionCancelled | SessionRetry] = TypeAdapter(
    SessionEvent
)


def parse_session_event(raw: bytes | str) -> SessionCompleted | SessionCancelled | SessionRetry:
    """Validate a session event of any supported version (older ones are upgraded).

    Errors of a known event type come from its own model, so field paths read
    ``techniques[0].minutes`` rather than carrying the union's tag.
    """
    try:
        return SESSION_EVENT.validate_json(raw)
    except ValidationError:
        try:
            kind = json.loads(raw).get("event_type")
        except (ValueError, AttributeError, RecursionError):  # nesting pydantic refused
            kind = None
        if kind == "session.completed":
            return SessionCompleted.parse_json(raw)
        if kind == "session.cancelled":
            return SessionCancelled.parse_json(raw)
        if kind == "session.retry":
            return SessionRetry.parse_json(raw)
        raise
