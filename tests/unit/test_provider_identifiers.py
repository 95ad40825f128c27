"""What payers need to identify the provider and the paperwork: the therapist's
licence in 2310B ``REF*0B`` and the billing taxonomy ``PRV*BI`` as payer settings,
and ``PWK`` attachments whose documents become work items until sent."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from edi.validate import validate_x12
from edi.x837p import render_837p
from schemas.claims import ControlNumbers
from schemas.reference import Payer
from schemas.submission import ClaimSubmitted
from tests import factories as f
from tests.pipeline import billable, enriched
from workers.claims.assemble import assemble_claim
from workers.claims.filing import attachments_due
from workers.commands.edi837 import builtin_test_partner
from workers.ops.overview import Overview

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
NUMBERS = ControlNumbers(interchange=7, group=7, transaction=7)
LICENSED = [f.therapist(license_number="MA-204411")]


def segments(claim: Any) -> list[str]:
    text = render_837p([claim], builtin_test_partner(claim.receiver_id), NUMBERS, NOW).text
    assert validate_x12(text).ok
    return [s.strip() for s in text.split("~") if s.strip()]


def test_the_therapists_licence_goes_in_2310b_when_the_payer_asks() -> None:
    wc = f.payer(kind="workers_comp", sends_rendering_license=True)
    claim = assemble_claim([billable(payer=wc, therapists=LICENSED)])
    segs = segments(claim)
    rendering = segs.index(next(s for s in segs if s.startswith("NM1*82*")))
    assert segs[rendering + 2] == "REF*0B*MA-204411"  # after NM1*82 and PRV*PE
    assert sum(s.startswith("REF*0B") for s in segs) == 1, "never beside the billing NPI"
    plain = segments(assemble_claim([billable(therapists=LICENSED)]))
    assert not any(s.startswith("REF*0B") for s in plain)


def test_a_payer_that_wants_the_licence_holds_a_visit_whose_therapist_has_none() -> None:
    with pytest.raises(AssertionError) as held:
        enriched(payer=f.payer(sends_rendering_license=True))
    assert "license-missing" in str(held.value)


def test_the_billing_taxonomy_is_a_payer_setting() -> None:
    plan = f.payer(sends_billing_taxonomy=True)
    segs = segments(assemble_claim([billable(payer=plan)]))
    assert "PRV*BI*PXC*225700000X" in segs
    assert not any(s.startswith("PRV*BI") for s in segments(assemble_claim([billable()])))


def test_a_payer_that_wants_the_order_by_fax_gets_a_pwk_and_a_work_item() -> None:
    wc = f.payer(kind="workers_comp", attachment={"report_type": "B3", "transmission": "FX"})
    claim = assemble_claim([billable(payer=wc)])
    [attachment] = claim.attachments
    assert attachment.control_number == f"{claim.patient_control_number}-1-B3"
    assert f"PWK*B3*FX***AC*{attachment.control_number}" in segments(claim)
    event = ClaimSubmitted.of(claim, file_name="f.x12", control_numbers=NUMBERS, submitted_at=NOW)
    [due] = attachments_due([event], NOW)
    assert (due.control_number, due.report_type, due.transmission) == (
        attachment.control_number,
        "B3",
        "FX",
    )
    overview = Overview()
    key = due.control_number.encode()
    overview.apply("claims.attachments", 0, 0, key, due.model_dump_json().encode())
    assert [i.body["control_number"] for i in overview.queue("claims.attachments")] == [
        due.control_number
    ]
    overview.apply("claims.attachments", 0, 1, key, None)  # `claims attachment sent`
    assert overview.queue("claims.attachments") == []


def test_available_on_request_needs_no_control_number_and_el_is_refused() -> None:
    plan = f.payer(attachment={"report_type": "PN", "transmission": "AA"})
    claim = assemble_claim([billable(payer=plan)])
    assert "PWK*PN*AA" in segments(claim)
    event = ClaimSubmitted.of(claim, file_name="f.x12", control_numbers=NUMBERS, submitted_at=NOW)
    assert attachments_due([event], NOW) == []
    with pytest.raises(ValidationError, match="275"):
        Payer.parse_json(json.dumps(f.payer(attachment={"report_type": "B3", "transmission": "EL"})))

