"""Reading what a topic holds for reports (workers.runtime.topic_scan), the parts without a broker."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from schemas.patient_ledger import CreditRefund, PatientPayment
from workers.runtime.topic_scan import parse_each


def test_parse_each_keeps_the_values_of_the_model_and_passes_by_the_rest() -> None:
    payment = PatientPayment(
        schema_version=1,
        clinic_id="c1",
        patient_id="pt1",
        amount=Decimal("25.00"),
        paid_on=date(2026, 3, 2),
        method="card",
        reference="r1",
    )
    raws = [b"not json", payment.model_dump_json().encode(), b'{"event_type": "credit.refund"}']
    assert parse_each(raws, PatientPayment) == [payment]
    assert parse_each(raws, CreditRefund) == []
