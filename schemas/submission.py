"""What the claims stage announces, and the commands it accepts."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, Field

from schemas.base import Identifier, Versioned
from schemas.claims import Claim, ControlNumbers
from schemas.remittance import ClaimPayment


class ClaimSubmitted(Versioned):
    """One claim version released in a validated 837P file (``claims.submitted``,
    key: the patient control number)."""

    event_type: Literal["claim.submitted"] = "claim.submitted"
    claim_id: str
    patient_control_number: str
    version: int
    frequency: Literal["1", "7", "8"]
    replaces: str | None
    session_keys: list[str]
    line_control_numbers: list[str]
    clinic_id: Identifier
    payer_id: Identifier
    receiver_id: Identifier
    billing_provider_npi: str
    charge_total: Decimal
    expected_allowed_total: Decimal | None
    file_name: str
    control_numbers: ControlNumbers
    submitted_at: AwareDatetime
    claim: Claim = Field(description="The claim exactly as sent.")

    @classmethod
    def of(
        cls,
        claim: Claim,
        *,
        file_name: str,
        control_numbers: ControlNumbers,
        submitted_at: datetime,
    ) -> ClaimSubmitted:
        """The event for ``claim`` sent in the file ``file_name`` (the rest is the claim's)."""
        return cls.new(
            claim_id=claim.claim_id,
            patient_control_number=claim.patient_control_number,
            version=claim.version,
            frequency=claim.frequency,
            replaces=claim.replaces,
            session_keys=claim.session_keys,
            line_control_numbers=[ln.line_control_number for ln in claim.lines],
            clinic_id=claim.clinic_id,
            payer_id=claim.payer_id,
            receiver_id=claim.receiver_id,
            billing_provider_npi=claim.billing_provider.npi,
            charge_total=claim.total_charge,
            expected_allowed_total=claim.expected_allowed_total,
            file_name=file_name,
            control_numbers=control_numbers,
            submitted_at=submitted_at,
            claim=claim,
        )


class FileReleased(Versioned):
    """One 837P file written to the outbox (``edi.outbound``, key: the receiver)."""

    event_type: Literal["edi.file-released"] = "edi.file-released"
    file_name: str
    path: str
    receiver_id: Identifier
    billing_provider_npi: str
    usage: Literal["T", "P"]
    control_numbers: ControlNumbers
    claim_count: int
    claim_ids: list[str]
    size_bytes: int
    sha256: str
    validated: bool
    transliterations: list[str] = Field(default_factory=list)
    released_at: AwareDatetime


class ClaimCommand(Versioned):
    """An operator's or the reconciliation's instruction about a submitted claim
    (``claims.commands``, key: the receiver)."""

    event_type: Literal["claim.command"] = "claim.command"
    action: Literal["void", "correct", "resend", "payer-claim-number", "secondary", "submit"]
    patient_control_number: str
    receiver_id: Identifier
    reason: str | None = None
    requested_by: str | None = None
    line_units: dict[int, int] | None = Field(
        default=None, description="correct: new units per line number (0 removes the line)."
    )
    diagnosis_codes: list[str] | None = Field(default=None, description="correct: new diagnoses.")
    payer_claim_number: str | None = None
    remittance: ClaimPayment | None = Field(
        default=None, description="secondary: the primary payer's answer (835 claim payment)."
    )
    paid_on: date | None = Field(default=None, description="secondary: the payment date.")
    claim: Claim | None = Field(
        default=None, description="submit: a claim built elsewhere (a secondary claim)."
    )
    requested_at: AwareDatetime
