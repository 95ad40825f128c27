"""Patient statements: one month of a patient's account, as a PDF (pure).

A statement shows the balance carried from the last month, what became the
patient's to pay this month -- their share of insured claims (deductible,
coinsurance, copay, other) with what insurance paid, and self-pay visits -- the
payments the patient made and refunds given back, and the balance due (or a
credit carried to the next month).  What goes on it is decided by the patient
ledger (``workers.remits.patient_ledger``); this module only lays it out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from schemas.common import Address
from schemas.documents import StatementLine
from workers.documents.pdf import Page, render

LEFT = 54
COLUMNS = (LEFT, 118, 232, 290, 342, 400, 454, 506)
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class StatementParty:
    """Who sends the statement (the clinic) and who receives it (the patient)."""

    clinic_name: str
    clinic_npi: str
    clinic_tax_id: str
    clinic_address: Address
    patient_name: str
    patient_address: Address | None


@dataclass(frozen=True)
class PaymentLine:
    paid_on: date
    method: str
    reference: str
    amount: Decimal


@dataclass(frozen=True)
class StatementView:
    clinic_id: str
    patient_id: str
    period: str
    previous_balance: Decimal
    lines: list[StatementLine]
    payments: list[PaymentLine] = field(default_factory=list)
    refunds: Decimal = ZERO

    @property
    def new_charges(self) -> Decimal:
        return sum((ln.patient_share for ln in self.lines), ZERO)

    @property
    def insurance_payments(self) -> Decimal:
        return sum((ln.paid_by_payer for ln in self.lines), ZERO)

    @property
    def patient_payments(self) -> Decimal:
        return sum((p.amount for p in self.payments), ZERO)

    @property
    def balance_due(self) -> Decimal:
        """Negative: a credit, carried to the next month."""
        return self.previous_balance + self.new_charges - self.patient_payments + self.refunds

    @property
    def statement_id(self) -> str:
        return f"{self.clinic_id}:{self.patient_id}:{self.period}"

    @property
    def file_name(self) -> str:
        return f"statement_{self.clinic_id}_{self.patient_id}_{self.period}.pdf"


def _address_lines(address: Address | None) -> list[str]:
    if address is None:
        return []
    return [address.line1, f"{address.city}, {address.state} {address.postal_code}"]


def render_statement(view: StatementView, party: StatementParty, issued_on: date) -> bytes:
    page = Page()
    y = 60.0

    def text(x: float, value: str, size: float = 10, bold: bool = False) -> None:
        page.text(x, y, value, size, bold)

    tax = party.clinic_tax_id
    address = party.clinic_address
    text(LEFT, "PATIENT STATEMENT", 18, True)
    y += 22
    text(LEFT, f"{party.clinic_name}    NPI {party.clinic_npi}    Tax ID {tax[:2]}-{tax[2:]}", 9)
    y += 13
    text(LEFT, f"{address.line1}, {address.city}, {address.state} {address.postal_code}", 9)
    y += 22
    text(LEFT, party.patient_name, 11, True)
    text(360, f"Statement period {view.period}", 10, True)
    y += 15
    for part in _address_lines(party.patient_address):
        text(LEFT, part)
        y += 14
    text(360, f"Issued {issued_on.isoformat()}", 10)
    y += 14
    text(360, f"Account {view.clinic_id}:{view.patient_id}", 10)
    y += 24
    text(LEFT, "Previous balance", 10, True)
    text(COLUMNS[6], f"{view.previous_balance:.2f}", 10, True)
    y += 20
    headers = ("Service", "Claim", "Payer", "Charge", "Ins. paid", "Deductible", "Coins.", "Copay")
    for x, h in zip(COLUMNS, headers, strict=True):
        text(x, h, 9, True)
    y += 6
    page.rule(y)
    y += 13
    for ln in view.lines:
        cells = (
            ln.date_of_service,
            ln.patient_control_number,
            ln.payer_id,
            f"{ln.charge:.2f}",
            f"{ln.paid_by_payer:.2f}",
            f"{ln.deductible:.2f}",
            f"{ln.coinsurance:.2f}",
            f"{ln.copay:.2f}",
        )
        for x, cell in zip(COLUMNS, cells, strict=True):
            text(x, cell, 9)
        y += 14
        if ln.other_patient_share:
            label = "self-pay visit" if ln.payer_id == "self-pay" else "other patient share"
            text(COLUMNS[1], f"{label} {ln.other_patient_share:.2f}", 8)
            y += 12
    page.rule(y - 6)
    y += 10
    for label, amount in (
        ("New charges (your share)", view.new_charges),
        ("Insurance paid on them", view.insurance_payments),
    ):
        text(COLUMNS[3], label, 10)
        text(COLUMNS[6], f"{amount:.2f}", 10)
        y += 15
    for pay in view.payments:
        text(COLUMNS[3], f"Payment {pay.paid_on.isoformat()} {pay.method} {pay.reference}", 10)
        text(COLUMNS[6], f"-{pay.amount:.2f}", 10)
        y += 15
    if view.refunds:
        text(COLUMNS[3], "Refunded to you", 10)
        text(COLUMNS[6], f"{view.refunds:.2f}", 10)
        y += 15
    y += 6
    due = view.balance_due
    if due >= 0:
        text(COLUMNS[3], "Amount due", 11, True)
        text(COLUMNS[6], f"{due:.2f}", 11, True)
    else:
        text(COLUMNS[3], "Credit on your account", 11, True)
        text(COLUMNS[6], f"{-due:.2f}", 11, True)
    y += 24
    text(LEFT, "Insurance has answered for the services above; the amounts are your share.", 9)
    return render([page], title=f"Statement {view.clinic_id} {view.period}")
