"""Patient statements: the patient's share after the payers' 835s (pure).

For one period (a calendar month of postings), every posting with a patient share
(CAS group PR: 1 deductible, 2 coinsurance, 3 copay, anything else "other") becomes
a statement line; the lines of one patient of one clinic make one statement, with
the PDF the patient receives.  Reversals in the period count negatively, so a
statement always equals what the postings of the month say the patient owes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from schemas.claims import Claim
from schemas.common import Address
from schemas.documents import StatementLine
from schemas.reconciliation import ClaimLedger
from workers.documents.pdf import Page, render

LEFT = 54
COLUMNS = (LEFT, 118, 232, 290, 342, 400, 454, 506)
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class PatientRef:
    clinic_id: str
    patient_id: str


@dataclass(frozen=True)
class StatementDraft:
    patient: PatientRef
    period: str
    lines: list[StatementLine]
    claim: Claim  # the latest claim of the patient: names and addresses
    file_name: str
    pdf: bytes

    @property
    def total_due(self) -> Decimal:
        return sum((ln.patient_share for ln in self.lines), ZERO)

    @property
    def statement_id(self) -> str:
        return f"{self.patient.clinic_id}:{self.patient.patient_id}:{self.period}"


def lines_for(ledger: ClaimLedger, claim: Claim, period: str) -> list[StatementLine]:
    """The statement lines of one claim's postings made in ``period`` (``YYYY-MM``)."""
    out = []
    for posting in ledger.postings:
        if posting.posted_at.strftime("%Y-%m") != period:
            continue
        shares = {"1": ZERO, "2": ZERO, "3": ZERO, "other": ZERO}
        for adj in posting.adjustment_detail:
            if adj.group != "PR":
                continue
            slot = adj.reason if adj.reason in ("1", "2", "3") else "other"
            shares[slot] += adj.amount
        if all(v == 0 for v in shares.values()):
            continue
        out.append(
            StatementLine(
                patient_control_number=ledger.patient_control_number,
                date_of_service=min(ln.service_date for ln in claim.lines).isoformat(),
                payer_id=claim.payer_id,
                charge=posting.charge,
                paid_by_payer=posting.paid,
                deductible=shares["1"],
                coinsurance=shares["2"],
                copay=shares["3"],
                other_patient_share=shares["other"],
            )
        )
    return out


def _identity(claim: Claim) -> tuple[str, list[str]]:
    address: Address | None
    if claim.patient is not None:
        name, address = claim.patient.name, claim.patient.address
    else:
        name, address = claim.subscriber.name, claim.subscriber.address
    first = f"{name.first_name} " if name.first_name else ""
    lines = []
    if address is not None:
        lines = [address.line1, f"{address.city}, {address.state} {address.postal_code}"]
    return f"{first}{name.last_or_organisation_name}", lines


def _pdf(draft_patient: PatientRef, period: str, lines: list[StatementLine], claim: Claim,
         issued_on: date) -> bytes:  # fmt: skip
    page = Page()
    y = 60.0
    bp = claim.billing_provider

    def text(x: float, value: str, size: float = 10, bold: bool = False) -> None:
        page.text(x, y, value, size, bold)

    text(LEFT, "PATIENT STATEMENT", 18, True)
    y += 22
    text(LEFT, f"{bp.name}    NPI {bp.npi}    Tax ID {bp.tax_id[:2]}-{bp.tax_id[2:]}", 9)
    y += 13
    text(
        LEFT,
        f"{bp.address.line1}, {bp.address.city}, {bp.address.state} {bp.address.postal_code}",
        9,
    )
    y += 22
    name, address = _identity(claim)
    text(LEFT, name, 11, True)
    text(360, f"Statement period {period}", 10, True)
    y += 15
    for part in address:
        text(LEFT, part)
        y += 14
    text(360, f"Issued {issued_on.isoformat()}", 10)
    y += 14
    text(360, f"Account {draft_patient.clinic_id}:{draft_patient.patient_id}", 10)
    y += 24
    headers = ("Service", "Claim", "Payer", "Charge", "Payer paid", "Deductible", "Coins.", "Copay")
    for x, h in zip(COLUMNS, headers, strict=True):
        text(x, h, 9, True)
    y += 6
    page.rule(y)
    y += 13
    for ln in lines:
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
            text(COLUMNS[1], f"other patient responsibility {ln.other_patient_share:.2f}", 8)
            y += 12
    page.rule(y - 6)
    y += 10
    total = sum((ln.patient_share for ln in lines), ZERO)
    text(COLUMNS[4], "Amount due", 11, True)
    text(COLUMNS[6], f"{total:.2f}", 11, True)
    y += 24
    text(LEFT, "Your insurance has processed these services; the amounts above are your share.", 9)
    return render([page], title=f"Statement {draft_patient.clinic_id} {period}")


def statements(
    ledgers: Iterable[ClaimLedger], claims: dict[str, Claim], period: str, issued_on: date
) -> list[StatementDraft]:
    """One statement per patient (of a clinic) with a patient share posted in ``period``."""
    grouped: dict[PatientRef, list[tuple[StatementLine, Claim]]] = defaultdict(list)
    for ledger in ledgers:
        claim = claims.get(ledger.patient_control_number)
        if claim is None:
            continue
        patient = PatientRef(claim.clinic_id, claim.patient_id or ledger.patient_control_number)
        for line in lines_for(ledger, claim, period):
            grouped[patient].append((line, claim))
    out = []
    for patient, items in sorted(grouped.items(), key=lambda i: (i[0].clinic_id, i[0].patient_id)):
        items.sort(key=lambda i: (i[0].date_of_service, i[0].patient_control_number))
        lines = [line for line, _ in items]
        latest = items[-1][1]
        name = f"statement_{patient.clinic_id}_{patient.patient_id}_{period}.pdf"
        pdf = _pdf(patient, period, lines, latest, issued_on)
        out.append(StatementDraft(patient, period, lines, latest, name, pdf))
    return out
