"""Superbills and patient statements (`workers.documents`): each PDF is produced and the
text extracted from it (with pypdf, an independent reader) has the right codes,
identities and totals."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pypdf import PdfReader

from schemas.claims import ControlNumbers
from schemas.reconciliation import ClaimLedger
from schemas.submission import ClaimSubmitted
from tests import factories as f
from tests.pipeline import billable
from tests.unit.test_reconcile import payment
from workers.claims.assemble import assemble_claim
from workers.commands.statements import Sources, drafts
from workers.documents.pdf import Page, render
from workers.documents.superbill import icd10, superbill
from workers.remits import reconcile

NOW = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)


def text_of(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


def hsa_session(session_id: str = "s1"):
    return billable(
        session=f.session(session_id=session_id, dos="2026-03-02"),
        patient=f.patient(
            payer_id=None,
            coverages=[{"coverage_id": "hsa", "kind": "hsa", "effective_from": "2020-01-01"}],
        ),
        therapists=[f.therapist(license_number="LMT-48213")],
    )


def test_a_self_pay_superbill_without_a_prescription_claims_none() -> None:
    """Only a superbill that shows a prescription says the services were under it."""
    session = billable(
        session=f.session(dos="2026-03-02"),
        patient=f.patient(
            payer_id=None,
            coverages=[{"coverage_id": "own", "kind": "self_pay", "effective_from": "2020-01-01"}],
        ),
        rx=f.prescription(issued_on="2025-01-01", expires_on="2025-02-01"),
    )
    assert session.enriched.prescription is None
    text = text_of(superbill(session, date(2026, 3, 3)).pdf)
    assert "No prescription on file for this date of service" in text
    assert "under the physician's prescription" not in text
    assert "License number not on file" in text


def test_the_pdf_writer_escapes_text_and_keeps_latin_1() -> None:
    page = Page()
    page.text(54, 60, "Total (incl. tax) \\ 100% - café")
    pdf = render([page, Page()], title="t")
    assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 2
    assert reader.pages[0].extract_text() == "Total (incl. tax) \\ 100% - café"
    assert render([page], title="t") == render([page], title="t"), "deterministic"
    with pytest.raises(ValueError):
        render([])


def test_a_superbill_names_provider_patient_prescription_codes_and_totals() -> None:
    session = hsa_session()
    assert not session.billed_to_payer
    bill = superbill(session, date(2026, 3, 3), paid=Decimal("170.00"))
    text = text_of(bill.pdf)
    e = session.enriched
    assert e.prescription is not None
    for expected in (
        "SUPERBILL",
        e.clinic.name,
        f"NPI {e.clinic.npi}",
        f"Tax ID {e.clinic.tax_id[:2]}-{e.clinic.tax_id[2:]}",
        f"NPI {e.therapist.npi}",
        f"{e.patient.name.first_name} {e.patient.name.last_name}",
        f"Date of birth {e.patient.birth_date.isoformat()}",
        f"{e.prescription.prescription_id} issued",
        f"NPI {e.prescription.prescriber.npi}",
        f"Valid from {e.prescription.issued_on.isoformat()}",
        "this is visit 1",
        "Massage therapist license LMT-48213",
        "Services were provided under the physician's prescription shown above.",
        "M54.50, M62.830",
        "Date of service 2026-03-02",
        "Total charges 170.00",
        "Amount paid 170.00",
        "Balance due 0.00",
        "Payment: HSA, paid in full",
    ):
        assert expected in text, expected
    for line in session.lines:
        assert (
            f"{line.code} - {line.units} {line.minutes} {line.unit_price:.2f} {line.charge:.2f}"
            in text
        )
    assert bill.file_name == "superbill_c1_s1.pdf" and bill.coverage == "HSA"
    unpaid = text_of(superbill(session, date(2026, 3, 3), paid=Decimal("50.00")).pdf)
    assert "Amount paid 50.00" in unpaid and "Balance due 120.00" in unpaid
    assert icd10("M5450") == "M54.50" and icd10("R52") == "R52"


def claimed(patient_id: str, session_id: str, dos: str = "2026-03-02"):
    claim = assemble_claim(
        [
            billable(
                session=f.session(session_id=session_id, patient_id=patient_id, dos=dos),
                patient=f.patient(patient_id=patient_id),
            )
        ]
    )
    event = ClaimSubmitted.of(
        claim,
        file_name="f.x12",
        control_numbers=ControlNumbers(interchange=1, group=1, transaction=1),
        submitted_at=NOW,
    )
    ledger = reconcile.on_submitted(
        ClaimLedger.new(patient_control_number=claim.patient_control_number), event, NOW
    ).ledger
    return claim, ledger


def sources(ledgers: list[ClaimLedger], claims: dict[str, Any], **over: Any) -> Sources:
    from schemas.reference import Clinic, Patient
    from workers.remits import balances

    patients = {p["patient_id"]: f.patient(patient_id=p["patient_id"]) for p in over.pop("who", [])}
    data = {
        "rows": balances.balances(ledgers, NOW),
        "superbills": [],
        "payments": [],
        "refunds": [],
        "patients": {f"c1:{k}": Patient.new(**v) for k, v in patients.items()},
        "clinics": {"c1": Clinic.new(**f.clinic())},
        "claims": claims,
    }
    data.update(over)
    return Sources(**data)


def test_statements_group_the_patient_share_per_patient_and_period() -> None:
    a1, la1 = claimed("pt1", "s1")
    a2, la2 = claimed("pt1", "s2", dos="2026-03-03")
    b1, lb1 = claimed("pt2", "s3")
    share = (("CO", "45", "20.00"), ("PR", "1", "15.00"), ("PR", "2", "5.00"))
    la1 = reconcile.on_claim_payment(
        la1, payment(a1.patient_control_number, paid="130.00", adjustments=share), NOW
    ).ledger
    la2 = reconcile.on_claim_payment(
        la2,
        payment(
            a2.patient_control_number,
            paid="140.00",
            adjustments=(("CO", "45", "20.00"), ("PR", "3", "10.00")),
            trace="T2",
        ),
        NOW,
    ).ledger
    lb1 = reconcile.on_claim_payment(  # paid in full: no statement for pt2
        lb1,
        payment(
            b1.patient_control_number,
            paid="150.00",
            adjustments=(("CO", "45", "20.00"),),
            trace="T3",
        ),
        NOW,
    ).ledger
    claims = {c.patient_control_number: c for c in (a1, a2, b1)}
    found = sources([la1, la2, lb1], claims, who=[{"patient_id": "pt1"}, {"patient_id": "pt2"}])
    made = drafts(found, "2026-04", date(2026, 4, 2))
    assert [d.view.statement_id for d in made] == ["c1:pt1:2026-04"]
    (draft,) = made
    assert draft.view.balance_due == Decimal("30.00") and draft.view.previous_balance == 0
    shares = {
        ln.patient_control_number: (ln.deductible, ln.coinsurance, ln.copay)
        for ln in draft.view.lines
    }
    assert shares == {
        a1.patient_control_number: (Decimal("15.00"), Decimal("5.00"), Decimal("0.00")),
        a2.patient_control_number: (Decimal("0.00"), Decimal("0.00"), Decimal("10.00")),
    }
    text = text_of(draft.pdf)
    for expected in (
        "PATIENT STATEMENT",
        "Statement period 2026-04",
        "Zephyrine Quillfeather",
        "42 Larkspur Lane",
        a1.patient_control_number,
        a2.patient_control_number,
        "Previous balance 0.00",
        "Amount due 30.00",
        f"NPI {a1.billing_provider.npi}",
    ):
        assert expected in text, expected
    # May: nothing new, but the balance is carried -- a statement still goes
    (may,) = drafts(found, "2026-05", date(2026, 5, 2))
    assert may.view.previous_balance == Decimal("30.00") and may.view.lines == []
