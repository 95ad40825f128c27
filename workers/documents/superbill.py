"""Superbills for self-pay and HSA sessions (pure: a billable session in, PDF bytes out).

A superbill is what the patient gives their health savings account (or their
insurer, for out-of-network reimbursement): who provided the service (clinic
with NPI and tax id, therapist with NPI and licence number), for whom, under
which physician's prescription (an HSA session always has one: enrichment holds
it until one covers it; only then does the superbill say the services were
provided under it), for which diagnoses, and the procedure codes, units and charges
of the date of service, with what was actually paid: the front desk's payments
for the visit (``payments.patient``) when they are known -- the superbill issued
as the visit is billed knows none yet and shows the whole charge as due;
``claims superbill`` issues it again with the payments recorded since.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from schemas.base import Contract
from schemas.billing import BillableSession
from schemas.common import Address, PersonName
from workers.documents.pdf import Page, render

LEFT = 54
COLUMNS = (LEFT, 120, 200, 250, 330, 420, 500)


def icd10(code: str) -> str:
    """``M5450`` -> ``M54.50`` (the dot after the third character)."""
    return code if len(code) <= 3 else f"{code[:3]}.{code[3:]}"


def _name(name: PersonName) -> str:
    middle = f" {name.middle_name}" if name.middle_name else ""
    return f"{name.first_name}{middle} {name.last_name}"


def _address(a: Address) -> str:
    line2 = f", {a.line2}" if a.line2 else ""
    return f"{a.line1}{line2}, {a.city}, {a.state} {a.postal_code}"


class SuperbillTotals(Contract):
    charges: Decimal
    paid: Decimal
    balance: Decimal


@dataclass(frozen=True)
class Superbill:
    session_key: str
    file_name: str
    pdf: bytes
    totals: SuperbillTotals
    coverage: str


def file_name(billable: BillableSession) -> str:
    return f"superbill_{billable.clinic_id}_{billable.session_id}.pdf"


def superbill(billable: BillableSession, issued_on: date, paid: Decimal = Decimal(0)) -> Superbill:
    """The superbill of one self-pay or HSA session; ``paid``: what the patient paid
    for it (never more than the charge is shown as paid)."""
    e = billable.enriched
    clinic, therapist, patient, rx = e.clinic, e.therapist, e.patient, e.prescription
    page = Page()
    y = 60.0

    def line(text: str, size: float = 10, bold: bool = False, x: float = LEFT) -> None:
        nonlocal y
        page.text(x, y, text, size, bold)
        y += size + 5

    line("SUPERBILL", 18, bold=True)
    line("Itemized statement of services for HSA or insurance reimbursement", 9)
    line(f"Issued {issued_on.isoformat()}", 9)
    page.rule(y - 4)
    y += 12
    line("Provider", 11, bold=True)
    line(clinic.name)
    line(_address(clinic.address))
    line(f"NPI {clinic.npi}    Tax ID {clinic.tax_id[:2]}-{clinic.tax_id[2:]}")
    if clinic.phone:
        line(f"Phone {clinic.phone[:3]}-{clinic.phone[3:6]}-{clinic.phone[6:]}")
    line(
        f"Rendering therapist: {_name(therapist.name)}    NPI {therapist.npi}    "
        f"Taxonomy {therapist.taxonomy_code}"
    )
    licence = therapist.license_number
    line(f"Massage therapist license {licence}" if licence else "License number not on file")
    y += 6
    line("Patient", 11, bold=True)
    line(f"{_name(patient.name)}    Date of birth {patient.birth_date.isoformat()}")
    line(_address(patient.address))
    y += 6
    line("Prescription", 11, bold=True)
    if rx is not None:
        line(
            f"{rx.prescription_id} issued {rx.issued_on.isoformat()} by "
            f"{_name(rx.prescriber.name)}, NPI {rx.prescriber.npi}"
        )
        until = f" to {rx.expires_on.isoformat()}" if rx.expires_on else ""
        line(
            f"Valid from {rx.issued_on.isoformat()}{until}, {rx.visits_authorized} visits; "
            f"this is visit {e.visit_number or '-'}",
            9,
        )
    else:
        line("No prescription on file for this date of service")
    line("Diagnoses (ICD-10-CM): " + ", ".join(icd10(c) for c in billable.diagnosis_codes))
    y += 6
    line(
        f"Date of service {billable.date_of_service.isoformat()}    "
        f"Place of service {e.session.place_of_service}",
        11,
        bold=True,
    )
    headers = ("CPT", "Modifiers", "Units", "Minutes", "Unit price", "Charge", "Dx ptr")
    for x, h in zip(COLUMNS, headers, strict=True):
        page.text(x, y, h, 9, bold=True)
    y += 6
    page.rule(y)
    y += 12
    for bl in billable.lines:
        cells = (
            bl.code,
            " ".join(bl.modifiers) or "-",
            str(bl.units),
            str(bl.minutes),
            f"{bl.unit_price:.2f}",
            f"{bl.charge:.2f}",
            ",".join(str(p) for p in bl.diagnosis_pointers) or "-",
        )
        for x, cell in zip(COLUMNS, cells, strict=True):
            page.text(x, y, cell, 10)
        y += 15
    page.rule(y - 8)
    charges = billable.charge_total
    shown = min(max(paid, Decimal(0)), charges)
    totals = SuperbillTotals(charges=charges, paid=shown, balance=charges - shown)
    y += 6
    for label, amount in (
        ("Total charges", totals.charges),
        ("Amount paid", totals.paid),
        ("Balance due", totals.balance),
    ):
        page.text(COLUMNS[4], y, label, 10, bold=True)
        page.text(COLUMNS[5], y, f"{amount:.2f}", 10, bold=True)
        y += 15
    y += 10
    coverage = "HSA" if e.coverage.kind == "hsa" else "Self-pay"
    if totals.balance == 0:
        line(f"Payment: {coverage}, paid in full.", 9)
    else:
        line(f"Payment: {coverage}; {totals.balance:.2f} not yet paid.", 9)
    if rx is not None:
        line("Services were provided under the physician's prescription shown above.", 9)
    return Superbill(
        session_key=billable.session_key,
        file_name=file_name(billable),
        pdf=render([page], title=f"Superbill {billable.session_key}"),
        totals=totals,
        coverage=coverage,
    )
