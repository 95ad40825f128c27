"""Bank deposits and their reassociation with 835 remittances (ERA/EFT).

A payer pays by ACH (CCD+) and puts the 835's reassociation trace -- ``TRN02``
with its ``TRN03`` -- in the payment's addenda; the bank reports the credit in
its BAI2 file (or the billing office types it into a CSV).  Each credit is one
:class:`Deposit` on ``deposits.inbound`` (key: its deposit id).  The
reconciliation pairs deposits with the 835 transactions that move money
(:class:`RemittanceToFund`, on the internal topic ``deposits.match``) and
publishes what it decided on ``deposits.reconciled``; the 835s with no money
and the money with no 835 after some business days are work items on
``deposits.unfunded`` and ``deposits.unremitted`` (a tombstone once matched).

Nothing here is a person's data: a deposit carries amounts, dates, the bank's
and the payer's references and the last four characters of the account, never
the bank's free text (which may name whoever sent the money).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AwareDatetime, Discriminator, Field, TypeAdapter

from schemas.base import Contract, Versioned
from schemas.remittance import Amount

DepositFormat = Literal["bai2", "csv"]
MatchRule = Literal["trace", "trace-with-prefix", "payer-amount-date"]


def deposit_id(
    *,
    account_ending: str | None,
    deposited_on: dt.date,
    amount: Decimal,
    type_code: str | None,
    bank_reference: str | None,
    customer_reference: str | None,
    trace_number: str | None,
    payer_trace_id: str | None,
    payer_id: str | None,
    occurrence: int,
) -> str:
    """Stable id of one credit: what the bank says about it, and its occurrence among
    identical credits of the same file -- so the same file (or the same day in a later
    file) loaded again gives the same ids and is matched once."""
    raw = "|".join(
        [
            account_ending or "",
            deposited_on.isoformat(),
            str(amount.quantize(Decimal("0.01"))),
            type_code or "",
            bank_reference or "",
            customer_reference or "",
            trace_number or "",
            payer_trace_id or "",
            payer_id or "",
            str(occurrence),
        ]
    )
    return "D" + hashlib.sha256(raw.encode()).hexdigest()[:20].upper()


class DepositSource(Contract):
    file_name: str
    file_sha256: str
    format: DepositFormat
    record: int = Field(ge=1, description="The BAI2 record number, or the CSV line number.")
    ingested_at: AwareDatetime


class Deposit(Versioned):
    """One credit to the provider's bank account (``deposits.inbound``, key: deposit id)."""

    event_type: Literal["deposit.received"] = "deposit.received"
    deposit_id: str
    deposited_on: dt.date = Field(description="The BAI2 group's as-of date, or the CSV date.")
    amount: Amount = Field(gt=0)
    currency: str | None = None
    account_ending: str | None = Field(
        default=None, description="The last four characters of the account credited (BAI2)."
    )
    type_code: str | None = Field(default=None, description="BAI2 transaction type code.")
    trace_number: str | None = Field(
        default=None,
        description="The payment's reassociation trace (TRN02 of the CCD+ addenda, or the "
        "CSV's trace number), as the bank shows it.",
    )
    payer_trace_id: str | None = Field(
        default=None, description="TRN03 of the addenda: the payer's id (1 + its EIN)."
    )
    payer_id: str | None = Field(default=None, description="Who paid, as the CSV says.")
    bank_reference: str | None = None
    customer_reference: str | None = None
    source: DepositSource


class RemittanceToFund(Versioned):
    """An 835 transaction that moves money, waiting for its deposit (``deposits.match``)."""

    event_type: Literal["deposit.remittance"] = "deposit.remittance"
    remittance_id: str
    payer_id: str | None
    payer_name: str | None = None
    payer_trace_id: str | None = Field(description="TRN03.")
    trace_number: str | None = Field(description="TRN02.")
    amount: Amount = Field(description="BPR02.")
    method: str | None = Field(default=None, description="BPR04.")
    payment_date: dt.date | None = Field(description="BPR16.")
    file_name: str | None = None
    received_at: AwareDatetime


class MatchedRemittance(Contract):
    remittance_id: str
    payer_id: str | None
    payer_name: str | None = None
    amount: Amount
    payment_date: dt.date | None
    trace_number: str | None


class DepositMatched(Versioned):
    """A deposit and the 835 transaction(s) it pays (``deposits.reconciled``)."""

    event_type: Literal["deposit.matched"] = "deposit.matched"
    deposit_id: str
    amount: Amount
    deposited_on: dt.date
    remittances: list[MatchedRemittance] = Field(min_length=1)
    rule: MatchRule = Field(
        description="trace: TRN02 (and TRN03) as in the 835; trace-with-prefix: the bank "
        "shows the trace with characters before it; payer-amount-date: no trace, the "
        "payer, the amount and the date window only."
    )
    matched_at: AwareDatetime


class DepositNotFromPayer(Versioned):
    """A credit that is not a payer's payment (no trace, no payer): recorded, not worked."""

    event_type: Literal["deposit.not-from-payer"] = "deposit.not-from-payer"
    deposit_id: str
    amount: Amount
    deposited_on: dt.date
    reason: str
    decided_at: AwareDatetime


DepositReconciled = Annotated[DepositMatched | DepositNotFromPayer, Discriminator("event_type")]
DEPOSIT_RECONCILED: TypeAdapter[DepositMatched | DepositNotFromPayer] = TypeAdapter(
    DepositReconciled
)


class RemittanceUnfunded(Versioned):
    """Work item (``deposits.unfunded``, key: remittance id): an 835 that says money was
    sent, with no deposit matched after the configured business days."""

    event_type: Literal["deposit.unfunded"] = "deposit.unfunded"
    remittance: RemittanceToFund
    business_days: int
    raised_at: AwareDatetime
    message: str


class DepositUnremitted(Versioned):
    """Work item (``deposits.unremitted``, key: deposit id): a payer's money with no 835
    matched after the configured business days."""

    event_type: Literal["deposit.unremitted"] = "deposit.unremitted"
    deposit: Deposit
    business_days: int
    raised_at: AwareDatetime
    message: str


class OpenRemittance(Versioned):
    """State (``state.deposits.book``): an 835 waiting for its money."""

    remittance: RemittanceToFund
    raised: bool = False


class OpenDeposit(Versioned):
    """State (``state.deposits.book``): a payer's deposit waiting for its 835."""

    deposit: Deposit
    raised: bool = False
