"""JSON Schema of every public contract, for integrators who validate before sending.

``claims schemas export DIR`` writes one ``<name>.schema.json`` per contract; the
repository keeps the current export in ``schemas/json/`` (a test fails when it is
stale).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter

from schemas.acknowledgements import (
    Ack277,
    Ack999,
    ClaimFrontDoor,
    ClaimRejected,
    ClaimStatusAttention,
    ClaimStatusReceived,
    InterchangeAcknowledged,
    TransactionAcknowledged,
)
from schemas.billing import BillableSession, ChargesWithdrawn
from schemas.claims import Claim, TradingPartner
from schemas.deposits import (
    DEPOSIT_RECONCILED,
    Deposit,
    DepositUnremitted,
    RemittanceUnfunded,
)
from schemas.documents import PatientStatement, SuperbillIssued, SuperbillVoided
from schemas.eligibility import EligibilityInquiry, EligibilityResponse
from schemas.events import SESSION_EVENT, SessionCancelled, SessionCompleted
from schemas.outcomes import (
    AuthorizationAttention,
    CoverageAttention,
    PrescriptionAttention,
    ReferenceRejected,
    SessionDuplicate,
    SessionEnriched,
    SessionHeld,
    SessionRejected,
    SessionWithdrawn,
)
from schemas.paper_eob import PaperEob
from schemas.patient_ledger import CreditRefund, PatientPayment
from schemas.provider_adjustments import ProviderAdjustmentUnlinked
from schemas.reconciliation import (
    REMIT_COMMAND,
    ClaimAdjudicated,
    ClaimCobReview,
    ClaimDenied,
    ClaimWrittenOff,
    RemittanceClaim,
    RemittanceReview,
    RemittanceUnmatched,
)
from schemas.reference import Authorization, Clinic, Patient, Payer, Prescription, Therapist
from schemas.remittance import Remittance
from schemas.submission import (
    CLAIM_COMMAND,
    AttachmentDue,
    ClaimSubmitted,
    DeliveryFailed,
    FileDelivery,
    FileReleased,
)

DIALECT = "https://json-schema.org/draft/2020-12/schema"

#: file stem -> contract (model class or type adapter)
CONTRACTS: dict[str, Any] = {
    "session-event": SESSION_EVENT,
    "session-completed": SessionCompleted,
    "session-cancelled": SessionCancelled,
    "clinic": Clinic,
    "therapist": Therapist,
    "payer": Payer,
    "patient": Patient,
    "prescription": Prescription,
    "authorization": Authorization,
    "session-enriched": SessionEnriched,
    "session-held": SessionHeld,
    "session-rejected": SessionRejected,
    "session-duplicate": SessionDuplicate,
    "session-withdrawn": SessionWithdrawn,
    "reference-rejected": ReferenceRejected,
    "billable-session": BillableSession,
    "charges-withdrawn": ChargesWithdrawn,
    "claim": Claim,
    "trading-partner": TradingPartner,
    "claim-submitted": ClaimSubmitted,
    "file-released": FileReleased,
    "file-delivery": FileDelivery,
    "delivery-failed": DeliveryFailed,
    "attachment-due": AttachmentDue,
    "claim-command": CLAIM_COMMAND,
    "remittance-835": Remittance,
    "acknowledgement-999": Ack999,
    "acknowledgement-277": Ack277,
    "transaction-acknowledged": TransactionAcknowledged,
    "claim-status-received": ClaimStatusReceived,
    "interchange-acknowledged": InterchangeAcknowledged,
    "claim-front-door": ClaimFrontDoor,
    "claim-rejected": ClaimRejected,
    "claim-status-attention": ClaimStatusAttention,
    "prescription-attention": PrescriptionAttention,
    "authorization-attention": AuthorizationAttention,
    "coverage-attention": CoverageAttention,
    "superbill-issued": SuperbillIssued,
    "superbill-voided": SuperbillVoided,
    "patient-statement": PatientStatement,
    "remittance-claim-payment": RemittanceClaim,
    "claim-adjudicated": ClaimAdjudicated,
    "claim-denied": ClaimDenied,
    "claim-written-off": ClaimWrittenOff,
    "claim-cob-review": ClaimCobReview,
    "remittance-review": RemittanceReview,
    "remittance-unmatched": RemittanceUnmatched,
    "remit-command": REMIT_COMMAND,
    "provider-adjustment-unlinked": ProviderAdjustmentUnlinked,
    "paper-eob": PaperEob,
    "patient-payment": PatientPayment,
    "credit-refund": CreditRefund,
    "deposit": Deposit,
    "eligibility-inquiry": EligibilityInquiry,
    "eligibility-response": EligibilityResponse,
    "deposit-reconciled": DEPOSIT_RECONCILED,
    "deposit-unfunded": RemittanceUnfunded,
    "deposit-unremitted": DepositUnremitted,
}


def schema_of(contract: Any, name: str) -> dict[str, Any]:
    if isinstance(contract, TypeAdapter):
        schema = contract.json_schema(mode="validation")
    else:
        assert issubclass(contract, BaseModel)
        schema = contract.model_json_schema(mode="validation")
    return {"$schema": DIALECT, "$id": f"{name}.schema.json", **schema}


def render_all() -> dict[str, str]:
    """File name -> file text, deterministic."""
    return {
        f"{name}.schema.json": json.dumps(schema_of(c, name), indent=2, sort_keys=True) + "\n"
        for name, c in CONTRACTS.items()
    }


def export(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, text in render_all().items():
        path = directory / filename
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
