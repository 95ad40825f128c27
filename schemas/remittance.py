"""The canonical 835 remittance (health care claim payment/advice, 005010X221A1).

One :class:`Remittance` is one 835 transaction set (ST..SE): one payment (or
advice without payment) from one payer to one payee, the claims it pays in
file order, the provider-level adjustments (PLB) and the result of balancing.
:class:`RemittanceHeader` and :class:`RemittanceSummary` are the parts before
and after the claims, so a very large transaction can be streamed claim by
claim (see :mod:`edi.x835`).

Money is :class:`~decimal.Decimal`, never a float, and may be negative (a
reversal negates the original amounts; a PLB may add money).  In JSON, money is
a string with exactly two decimals (``"100.00"``) and quantities are plain
decimal strings (``"1"``, ``"1.5"``).  Dates are ISO ``YYYY-MM-DD``; a date the
file got wrong is ``null`` here and reported as a balance error entry.  Field
names are those of the public JSON of ``parse-835``.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Final, Literal, Self

from pydantic import Field, PlainSerializer, model_validator

from schemas.base import PHI, Contract

__all__ = [
    "DATE_EXPECTED",
    "Adjustment",
    "Balance",
    "BalanceError",
    "BalanceLevel",
    "ClaimPayment",
    "Payee",
    "Payer",
    "Payment",
    "ProviderAdjustment",
    "Remark",
    "Remittance",
    "RemittanceHeader",
    "RemittanceSummary",
    "ServicePayment",
    "money_text",
    "quantity_text",
]

_CENT: Final = Decimal("0.01")
_MONEY_TEXT: Final = re.compile(r"-?[0-9]+\.[0-9]{2}")
#: ``expected`` of a balance error entry for a date the file got wrong.
DATE_EXPECTED: Final = "a date CCYYMMDD"


def money_text(amount: Decimal) -> str:
    """``Decimal("100")`` -> ``"100.00"`` (half-even beyond the cent; never ``-0.00``)."""
    if not amount:
        return "0.00"
    return str(amount.quantize(_CENT))


def quantity_text(quantity: Decimal) -> str:
    """A quantity as a plain decimal string without trailing zeros: ``1.00`` -> ``"1"``."""
    if quantity == quantity.to_integral_value():
        return str(int(quantity))
    return format(quantity.normalize(), "f")


#: An amount of money (negative allowed); JSON: a string with two decimals.
Amount = Annotated[Decimal, PlainSerializer(money_text, return_type=str, when_used="json")]
#: A count of units or a CAS quantity; JSON: a plain decimal string.
Quantity = Annotated[Decimal, PlainSerializer(quantity_text, return_type=str, when_used="json")]

BalanceLevel = Literal["line", "claim", "transaction"]


class Adjustment(Contract):
    """One CAS triple: group code (CO, PR, OA, PI), reason code, amount, quantity."""

    group: str
    reason: str
    amount: Amount
    quantity: Quantity | None = None


class Remark(Contract):
    """One LQ remark: qualifier ``HE`` (remittance advice remark) or ``RX`` (NCPDP)."""

    qualifier: str
    code: str


class ServicePayment(Contract):
    """One service line (SVC, loop 2110)."""

    procedure: str | None
    modifiers: tuple[str, ...] = ()
    charge: Amount
    paid: Amount
    units: Quantity
    original_procedure: str | None = None
    original_units: Quantity | None = None
    line_control_number: str | None = None
    service_date: Annotated[dt.date | None, PHI] = None
    adjustments: tuple[Adjustment, ...] = ()
    remarks: tuple[Remark, ...] = ()


class ClaimPayment(Contract):
    """One claim (CLP, loop 2100) with its claim-level adjustments and service lines."""

    patient_control_number: str
    status_code: str
    charge: Amount
    paid: Amount
    patient_responsibility: Amount | None = None
    filing_indicator: str | None = None
    payer_claim_control_number: str | None = None
    adjustments: tuple[Adjustment, ...] = ()
    services: tuple[ServicePayment, ...] = ()
    remarks: tuple[Remark, ...] = Field(
        default=(), description="Claim-level remark codes (MOA03-MOA07), qualifier HE."
    )
    crossover_carrier: str | None = Field(
        default=None,
        description="NM1*TT: the payer the claim was forwarded to (crossover), by name.",
    )


class ProviderAdjustment(Contract):
    """One PLB adjustment: positive withholds money, negative adds it (e.g. L6 interest)."""

    provider_id: str
    date: dt.date | None
    reason: str
    reference: str | None = None
    amount: Amount


class Payer(Contract):
    """The payer (1000A N1*PR); ``id`` is N104, else the TRN03 originating company id."""

    name: str | None = None
    id: str | None = None


class Payee(Contract):
    """The payee (1000B N1*PE): NPI from N103=XX, tax id from N103=FI or REF*TJ."""

    name: str | None = None
    npi: str | None = None
    tax_id: str | None = None


class Payment(Contract):
    """BPR and TRN: the amount, credit/debit flag, method, effective date and trace."""

    amount: Amount
    credit_debit: str | None = None
    method: str | None = None
    date: dt.date | None = None
    trace_number: str | None = None
    payer_trace_id: str | None = None
    handling: str | None = Field(
        default=None,
        description="BPR01: C payment and advice, D payment only, I advice only (the "
        "money travels separately), H notification only (no money), P, U, X. Not given: "
        "H for BPR04 NON, else I (what the project's 835 writer sends).",
    )

    @model_validator(mode="after")
    def _handling_from_method(self) -> Self:
        if self.handling is None and self.method is not None:
            object.__setattr__(self, "handling", "H" if self.method == "NON" else "I")
        return self


class BalanceError(Contract):
    """A balancing equation that fails, or a value the file got wrong (e.g. a date).

    ``reference`` names what failed (``BPR02``, a CLP01, ``<CLP01>/line 2``,
    ``BPR16``), never a patient name.  For an equation, ``expected`` is what the
    other amounts add up to and ``actual`` the amount in the file.
    """

    level: BalanceLevel
    reference: str
    expected: str
    actual: str

    @property
    def is_equation(self) -> bool:
        """A failing balancing equation (money on both sides), not a format problem."""
        return bool(_MONEY_TEXT.fullmatch(self.expected))


class Balance(Contract):
    """``ok`` is true when every balancing equation holds.

    ``errors`` lists the failing equations and also values the file got wrong
    (such as an invalid date); the latter do not make ``ok`` false.
    """

    ok: bool
    errors: tuple[BalanceError, ...] = ()

    @model_validator(mode="after")
    def _ok_means_no_failing_equation(self) -> Self:
        if self.ok == any(error.is_equation for error in self.errors):
            raise ValueError("ok must be true exactly when no balancing equation fails")
        return self


class RemittanceHeader(Contract):
    """What an 835 transaction says before its claims."""

    control_number: str
    payer: Payer
    payee: Payee
    payment: Payment


class RemittanceSummary(Contract):
    """What an 835 transaction says after its claims, and the result of balancing."""

    control_number: str
    claim_count: int
    paid_total: Amount
    provider_adjustments: tuple[ProviderAdjustment, ...] = ()
    balance: Balance


class Remittance(Contract):
    """One 835 transaction set, in the shape of the public JSON."""

    control_number: str
    payer: Payer
    payee: Payee
    payment: Payment
    claims: tuple[ClaimPayment, ...] = ()
    provider_adjustments: tuple[ProviderAdjustment, ...] = ()
    balance: Balance
