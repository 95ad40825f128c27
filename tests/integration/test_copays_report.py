"""``claims report copays`` reads the topics on the real broker (no worker running)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from schemas.eligibility import CostShare, CoverageKey, EligibilityResponse
from schemas.patient_ledger import PatientPayment
from tests import factories as f
from tests.broker_support import Cluster, succeeded
from tests.pipeline import enriched


def test_the_front_desk_sees_each_visits_copay_and_what_is_left(cluster: Cluster) -> None:
    for session_id in ("s1", "s2"):
        visit = enriched(session=f.session(session_id=session_id, dos="2026-03-02"))
        cluster.produce("sessions.enriched", visit.session_key, visit.model_dump_json().encode())
    answer = EligibilityResponse(
        schema_version=1,
        coverage=CoverageKey(clinic_id="c1", patient_id="pt1", payer_id="p1"),
        asked_on=date(2026, 3, 1),
        control_number="0001",
        level="subscriber",
        status="active",
        copays=[CostShare(service_types=["AE"], amount=Decimal("25"), period="27")],
    )
    cluster.produce("eligibility.responses", "c1:pt1:p1", answer.model_dump_json().encode())
    payment = PatientPayment(
        schema_version=1,
        clinic_id="c1",
        patient_id="pt1",
        amount=Decimal("25.00"),
        paid_on=date(2026, 3, 2),
        method="card",
        reference="rcpt-1",
        session_id="s1",
    )
    cluster.produce("payments.patient", payment.key, payment.model_dump_json().encode())

    report = json.loads(succeeded(cluster.cli("report", "copays", "--json", "--clinic", "c1")))
    visits = {v["session"]: v for v in report["visits"]}
    assert (visits["s1"]["status"], visits["s1"]["to collect"]) == ("collected", "0.00")
    assert (visits["s2"]["status"], visits["s2"]["to collect"]) == ("to collect", "25.00")
    assert report["totals"] == {"copays": "50.00", "collected": "25.00", "to_collect": "25.00"}
    table = succeeded(cluster.cli("report", "copays", "--month", "2026-03"))
    assert "to collect" in table and "s2" in table
    refused = cluster.cli("report", "copays", "--month", "March")
    assert refused.returncode != 0 and "YYYY-MM" in refused.stderr
