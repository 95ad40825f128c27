"""Remittances on the wire and the reconciliation ledger.

``remits.835.inbound`` carries, per 835 transaction set, one
:class:`RemittanceClaim` per claim payment (key: CLP01, the patient control
number) and one :class:`RemittanceTransaction` summary (key: the remittance
id), so no message approaches Kafka's 1 MB limit however large the file.

A remittance is identified by payer, trace number (TRN02), payer trace id
(TRN03) and amount (BPR02): the same payment delivered twice has the same id
and is posted once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AwareDatetime, Discriminator, Field, StringConstraints, TypeAdapter

from schemas.base import PHI, Contract, Versioned
from schemas.patient_ledger import CreditRefund
from schemas.provider_adjustments import LinkedBy, LinkProviderAdjustmentCommand, PlbKind
from schemas.remittance import (
    Adjustment,
    Amount,
    Balance,
    ClaimPayment,
    Payee,
    Payer,
    Payment,
    ProviderAdjustment,
)


def remittance_id(payer: Payer, payment: Payment) -> str:
    """Stable id of one payment: payer, trace number, payer trace id and amount."""
    raw = "|".join(
        [
            payer.id or "",
            payment.trace_number or "",
            payment.payer_trace_id or "",
            str(payment.amount.quantize(Decimal("0.01"))),
        ]
    )
    return "R" + hashlib.sha256(raw.encode()).hexdigest()[:20].upper()


class RemittanceSource(Contract):
    file_name: str
    file_sha256: str
    transaction_control_number: str
    ingested_at: AwareDatetime


class RemittanceClaim(Versioned):
    """One claim payment (CLP loop) with its transaction's header."""

    event_type: Literal["remit.claim-payment"] = "remit.claim-payment"
    remittance_id: str
    index: int = Field(ge=1, description="Position of the CLP in its transaction.")
    payer: Payer
    payee: Payee
    payment: Payment
    claim: ClaimPayment
    source: RemittanceSource
    assigned_to: str | None = Field(
        default=None, description="Matched by hand to this patient control number."
    )

    @property
    def posting_id(self) -> str:
        return f"{self.remittance_id}#{self.index}"


class ClaimReference(Contract):
    """A claim paid in a transaction: our number and the payer's."""

    patient_control_number: str
    payer_claim_number: str | None = None


class RemittanceTransaction(Versioned):
    """The transaction's totals and provider-level adjustments."""

    event_type: Literal["remit.transaction"] = "remit.transaction"
    remittance_id: str
    payer: Payer
    payee: Payee
    payment: Payment
    claim_count: int
    paid_total: Amount
    provider_adjustments: list[ProviderAdjustment] = Field(default_factory=list)
    claims: list[ClaimReference] = Field(
        default_factory=list,
        description="The claims the transaction paid (CLP01, CLP07): a PLB item that "
        "names one of them links to it in whatever order the messages arrive.",
    )
    balance: Balance
    source: RemittanceSource


ClaimCategory = Literal[
    "paid-in-full",
    "partially-paid",
    "patient-responsibility",
    "denied",
    "reversed",
    "forwarded",
    "predetermination",
]


class LineMatch(Contract):
    line_control_number: str | None
    procedure: str | None
    rule: Literal["line-control-number", "procedure-date-units", "unmatched"]
    charge: Amount
    paid: Amount
    denied: Amount = Field(
        default=Decimal(0),
        description="The line's adjustments that need work (denials, wrong coverage order).",
    )


class Posting(Contract):
    """One adjudication of one claim, as posted (immutable)."""

    posting_id: str
    remittance_id: str
    status_code: str
    category: ClaimCategory
    charge: Amount
    paid: Amount
    adjustments: Amount = Field(description="All CAS amounts, claim and line level.")
    patient_responsibility: Amount = Field(description="The PR part of the adjustments.")
    adjustment_detail: list[Adjustment] = Field(default_factory=list)
    payer_claim_number: str | None
    matched_by: Literal["patient-control-number", "assigned"]
    lines: list[LineMatch] = Field(default_factory=list)
    expected_allowed: Amount | None = None
    underpaid_by: Amount | None = Field(
        default=None, description="Expected allowed minus what the payer allowed (paid + PR)."
    )
    reverses: str | None = Field(default=None, description="posting_id of the reversed posting.")
    payment_date: dt.date | None
    posted_at: AwareDatetime


class SubmittedVersion(Contract):
    claim_id: str
    version: int
    frequency: Literal["1", "7", "8"]
    charge: Amount
    expected_allowed: Amount | None
    billing_provider_npi: str
    billing_tax_id: str
    clinic_id: str
    payer_id: str
    receiver_id: str
    lines: list[dict[str, str | int | None]]
    submitted_at: AwareDatetime
    next_payer_id: str | None = Field(
        default=None, description="The payer after this one (coordination of benefits)."
    )
    primary_claim: str | None = Field(
        default=None, description="This is the secondary claim of that primary claim."
    )
    expected_from_payer: Amount | None = Field(
        default=None,
        description="A secondary claim: what the primary left (its patient responsibility "
        "and exhausted benefits), the most this payer owes; the charge is the primary's.",
    )
    date_of_service: Annotated[dt.date | None, PHI] = Field(
        default=None, description="The claim's first date of service (insurance A/R ages from it)."
    )
    patient_id: str | None = Field(default=None, description="Whose claim (the patient ledger).")
    patient_charges: Amount = Field(
        default=Decimal(0),
        description="Codes the payer does not cover, billed to the patient under their "
        "waiver (not sent to the payer, not part of the charge).",
    )


class LinkedProviderAdjustment(Contract):
    """A PLB item linked to this claim.  Only a recoupment can change the claim's
    balance (see :func:`workers.remits.provider_adjustments.recouped`)."""

    remittance_id: str
    adjustment: ProviderAdjustment
    plb_id: str | None = None
    kind: PlbKind = "other"
    linked_by: LinkedBy | None = None
    payment_date: dt.date | None = None


class WriteOff(Contract):
    """An amount the billing company gives up on (audited); it reverses itself when
    money later arrives for it (a write-off never exceeds what is still open)."""

    write_off_id: str
    line_control_number: str | None = Field(
        default=None, description="The line written off; null: the claim's open amount."
    )
    amount: Amount
    reason: str
    operator: str
    written_off_at: AwareDatetime


class ClaimLedger(Versioned):
    """Everything known about one claim's money (table ``reconcile.claims``, key CLM01).

    Balances are derived from the postings: charge = paid + adjustments + outstanding.
    """

    patient_control_number: str
    submitted: list[SubmittedVersion] = Field(default_factory=list)
    postings: list[Posting] = Field(default_factory=list)
    waiting: list[str] = Field(
        default_factory=list, description="RemittanceClaim JSON received before the claim."
    )
    provider_adjustments: list[LinkedProviderAdjustment] = Field(default_factory=list)
    payer_claim_number: str | None = None
    coordination: str | None = Field(
        default=None,
        description="Coordination of benefits: secondary claim requested, or crossover.",
    )
    write_offs: list[WriteOff] = Field(default_factory=list)
    refunds: list[CreditRefund] = Field(
        default_factory=list, description="Credit given back to the payer (audited)."
    )

    @property
    def charge(self) -> Decimal:
        if not self.submitted:
            return Decimal(0)
        latest = self.submitted[-1]
        return Decimal(0) if latest.frequency == "8" else latest.charge

    @property
    def owed(self) -> Decimal:
        """The most this payer owes: the charge, or for a secondary claim what the
        primary left."""
        if not self.submitted:
            return Decimal(0)
        latest = self.submitted[-1]
        if latest.frequency == "8":
            return Decimal(0)
        if latest.expected_from_payer is not None:
            return latest.expected_from_payer
        return latest.charge

    @property
    def prior_payer(self) -> Decimal:
        """What the adjustments say of earlier payers (OA-23): not money of this claim."""
        from schemas.adjustments import classify

        return sum(
            (
                a.amount
                for p in self.postings
                for a in p.adjustment_detail
                if classify(a.group, a.reason) == "prior-payer"
            ),
            Decimal(0),
        )

    @property
    def paid(self) -> Decimal:
        return sum((p.paid for p in self.postings), Decimal(0))

    @property
    def adjusted(self) -> Decimal:
        return sum((p.adjustments for p in self.postings), Decimal(0))

    @property
    def patient_responsibility(self) -> Decimal:
        return sum((p.patient_responsibility for p in self.postings), Decimal(0))

    @property
    def outstanding(self) -> Decimal:
        """What no posting has answered yet (negative: more answered than owed)."""
        if not self.submitted:
            return Decimal(0)
        return self.owed - self.paid - (self.adjusted - self.prior_payer)


class ClaimAdjudicated(Versioned):
    """One posting and the claim's balance after it (``claims.adjudicated``, key CLM01)."""

    event_type: Literal["claim.adjudicated"] = "claim.adjudicated"
    patient_control_number: str
    clinic_id: str
    payer_id: str
    posting: Posting
    charge: Amount
    paid_total: Amount
    adjusted_total: Amount
    patient_responsibility_total: Amount
    outstanding: Amount


class ClaimDenied(Versioned):
    """A denial someone must work, with reason and remark texts (``claims.denied``):
    a claim the payer paid nothing on for a reason that is not patient
    responsibility (``scope`` claim), or one line of it denied on an otherwise
    answered claim (``scope`` line).  Open until the claim is sent again (an
    appeal), paid, or written off."""

    event_type: Literal["claim.denied"] = "claim.denied"
    patient_control_number: str
    clinic_id: str
    payer_id: str
    posting_id: str
    scope: Literal["claim", "line"] = "claim"
    line_control_number: str | None = None
    procedure: str | None = None
    amount: Amount | None = Field(default=None, description="The amount denied.")
    reasons: list[dict[str, str]] = Field(description="group, code, text, amount")
    remarks: list[dict[str, str]] = Field(default_factory=list, description="code, text")
    denied_at: AwareDatetime

    @property
    def item_id(self) -> str:
        """One denial of one posting: the claim, or one of its lines."""
        return f"{self.posting_id}/{self.line_control_number or 'claim'}"


class ClaimCobReview(Versioned):
    """A payer says it is not the primary for the claim (CO-22, CO-109): the patient's
    coverage order must be fixed and the right payer billed as primary
    (``claims.cob-review``, key CLM01)."""

    event_type: Literal["claim.cob-review"] = "claim.cob-review"
    patient_control_number: str
    clinic_id: str
    payer_id: str
    reasons: list[dict[str, str]] = Field(description="group, code, text, amount")
    message: str
    raised_at: AwareDatetime


class ClaimWrittenOff(Versioned):
    """A write-off recorded on a claim (``claims.write-offs``, key CLM01)."""

    event_type: Literal["claim.written-off"] = "claim.written-off"
    patient_control_number: str
    clinic_id: str
    payer_id: str
    write_off: WriteOff


class RemittanceUnmatched(Versioned):
    """A claim payment with no submitted claim to post to (``remits.unmatched``)."""

    event_type: Literal["remit.unmatched"] = "remit.unmatched"
    posting_id: str
    patient_control_number: str
    reason: Literal["unknown-claim", "payee-mismatch"]
    message: str
    payment: RemittanceClaim
    reported_at: AwareDatetime


class FileWarning(Contract):
    """An envelope fault a reader forgave (the rules of ``edi.tolerance``); never a value."""

    segment: int = Field(description="The segment's ordinal in the file (1-based).")
    offset: int = Field(description="The segment's byte offset in the file.")
    rule: str = Field(description="e.g. se01-count, isa-not-fixed-width, garbled-segment-id.")
    segment_id: str = Field(description="The segment's id; '?' for a garbled one.")
    message: str


class ReviewedTransaction(Contract):
    control_number: str
    remittance_id: str
    claims: int


class RemittanceReview(Versioned):
    """An 835 posted despite envelope faults (``remits.review``, key: the file's sha256):
    the operator checks it and tells the payer; a tombstone once reviewed."""

    event_type: Literal["remit.review"] = "remit.review"
    file_name: str
    file_sha256: str
    warnings: list[FileWarning]
    transactions: list[ReviewedTransaction]
    received_at: AwareDatetime


class _RemitCommandBase(Versioned):
    """An instruction to the reconciliation (``remits.commands``, key: the patient
    control number whose ledger it concerns)."""

    event_type: Literal["remit.command"] = "remit.command"
    patient_control_number: str
    requested_by: str | None = None
    requested_at: AwareDatetime


class RemitCommand(_RemitCommandBase):
    """Post an unmatched payment to the claim it belongs to."""

    action: Literal["assign"]
    posting_id: str
    patient_control_number: str = Field(description="The CLP01 the payment arrived with.")
    assign_to: str = Field(description="The patient control number it really belongs to.")


class WriteOffCommand(_RemitCommandBase):
    """Write off what the payer leaves open on a claim, or on one line of it."""

    action: Literal["write-off"]
    line_number: int | None = Field(default=None, ge=1, le=50)
    amount: Amount | None = Field(default=None, description="Default: all that is open.")
    reason: Annotated[str, StringConstraints(min_length=3, max_length=200)]
    operator: str


class RefundCommand(_RemitCommandBase):
    """Record a refund of a payer's credit on a claim (a check or transfer back)."""

    action: Literal["refund"]
    refund: CreditRefund


AnyRemitCommand = RemitCommand | WriteOffCommand | LinkProviderAdjustmentCommand | RefundCommand
REMIT_COMMAND: TypeAdapter[AnyRemitCommand] = TypeAdapter(
    Annotated[AnyRemitCommand, Discriminator("action")]
)


def parse_remit_command(raw: bytes | str) -> AnyRemitCommand:
    return REMIT_COMMAND.validate_json(raw)
