"""Coordination of benefits: the other payer on a primary claim and the secondary claim
built from the primary's 835 (`workers.claims.secondary`, loops 2320/2330/2430 in
`edi.x837p`).  Golden secondary claims are compared with files in tests/data/837/golden
(regenerate with REGENERATE_GOLDEN=1) and must pass pyx12 and balance."""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal
from pathlib import Path

import pytest

from edi.segments import read_segments
from edi.validate import validate_x12
from edi.x835 import parse_835
from edi.x837p import ClaimRenderError, read_837p, render_837p
from schemas.billing import BillableSession
from schemas.claims import Claim, ControlNumbers
from schemas.coordination import needs_secondary, secondary_pcn
from schemas.remittance import Adjustment, ClaimPayment, ServicePayment
from tests import factories as f
from tests.pipeline import billable
from workers.claims.assemble import assemble_claim
from workers.claims.secondary import SecondaryRefused, secondary_claim
from workers.commands.edi837 import builtin_test_partner
from workers.payer_sim.adjudicate import adjudicate, render_answers
from workers.payer_sim.rules import default_rules, load_rules

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "837" / "golden"
WHEN = dt.datetime(2026, 3, 20, 15, 30, tzinfo=dt.UTC)
NUMBERS = ControlNumbers(interchange=41, group=41, transaction=41)
D = Decimal


def auto_then_health_plan() -> BillableSession:
    """A car-accident patient: auto PIP first (priority 1), then a health plan."""
    pip = f.payer("pip1", name="Harbor Auto Insurance", kind="auto", default_filing_indicator="AM")
    plan = f.payer("hp2", name="Lakeside Health Plan", receiver_id="rcv2")
    coverages = [
        {
            "coverage_id": "auto",
            "kind": "insurance",
            "payer_id": "pip1",
            "member_id": "PIP-55821",
            "priority": 1,
            "filing_indicator": "AM",
            "related_cause": {
                "cause": "auto_accident",
                "accident_date": "2026-02-20",
                "accident_state": "OR",
                "claim_number": "AUTO-7781",
            },
            "effective_from": "2026-01-01",
        },
        {
            "coverage_id": "plan",
            "kind": "insurance",
            "payer_id": "hp2",
            "member_id": "LHP-009912",
            "group_number": "GRP-77",
            "priority": 2,
            "effective_from": "2020-01-01",
        },
    ]
    return billable(
        patient=f.patient(payer_id=None, coverages=coverages),
        payer=pip,
        other_payers=[plan],
    )


def commercial_then_secondary_plan(
    patient_id: str = "pt1", session_id: str = "s1", now: dt.datetime | None = None
) -> BillableSession:
    """A patient with a commercial primary and a spouse's plan as secondary."""
    coverages = [
        {
            "coverage_id": "own",
            "kind": "insurance",
            "payer_id": "p1",
            "member_id": "MBR-ZQX-4471",
            "priority": 1,
            "effective_from": "2020-01-01",
        },
        {
            "coverage_id": "spouse",
            "kind": "insurance",
            "payer_id": "p2",
            "relationship": "spouse",
            "subscriber": {
                "name": {"first_name": "Orrin", "last_name": "Quillfeather"},
                "member_id": "SPS-31337",
                "birth_date": "1978-09-14",
                "sex": "M",
            },
            "priority": 2,
            "effective_from": "2020-01-01",
        },
    ]
    return billable(
        **({"now": now} if now is not None else {}),
        session=f.session(
            session_id=session_id,
            patient_id=patient_id,
            **({} if now is not None else {"dos": "2026-03-02"}),
        ),
        patient=f.patient(patient_id=patient_id, payer_id=None, coverages=coverages),
        payer=f.payer("p1"),
        other_payers=[f.payer("p2", name="Spouse Plan", receiver_id="rcv2")],
    )


def primary_payment(
    primary: Claim, payer_rules: dict | None = None
) -> tuple[ClaimPayment, dt.date]:
    """The payer simulator's 835 answer to the primary claim, parsed back."""
    text = render_837p([primary], builtin_test_partner(primary.receiver_id), NUMBERS, WHEN).text
    rules = default_rules().model_dump(mode="json")
    rules["payers"] = {}
    rules["default"].update(payer_rules or {})
    answers = adjudicate(read_837p(text.encode()), load_rules_from(rules), now=WHEN)
    (remittance,) = parse_835(render_answers(answers, now=WHEN).encode())
    (payment,) = remittance.claims
    assert remittance.payment.date is not None
    return payment, remittance.payment.date


def load_rules_from(document: dict) -> object:
    import json

    return load_rules(json.dumps(document))


def balanced_by_segments(text: str) -> None:
    """Re-add the amounts from the X12 itself: every 2430 and the 2320 balance."""
    segments = list(read_segments(text.encode()))
    clm = next(s for s in segments if s.id == "CLM")
    charge = D(clm.element(2))
    in_2320 = in_2430 = False
    paid_2320 = D(0)
    cas_total = D(0)
    line_charge = line_paid = line_cas = None
    checked = 0

    def close_line() -> None:
        nonlocal checked
        if line_paid is not None:
            assert line_charge == line_paid + line_cas, (line_charge, line_paid, line_cas)
            checked += 1

    for s in segments:
        if s.id == "SBR" and s.ordinal > clm.ordinal:
            in_2320 = True
        elif s.id == "AMT" and in_2320 and s.element(1) == "D":
            paid_2320 = D(s.element(2))
        elif s.id == "LX":
            close_line()
            in_2320 = in_2430 = False
            line_paid = line_cas = None
        elif s.id == "SV1":
            line_charge = D(s.element(2))
        elif s.id == "SVD":
            in_2430, line_paid, line_cas = True, D(s.element(2)), D(0)
        elif s.id == "CAS":
            amounts = sum((D(s.element(n)) for n in range(3, 19, 3) if s.element(n)), D(0))
            cas_total += amounts
            if in_2430:
                line_cas = (line_cas or D(0)) + amounts
    close_line()
    assert checked > 0
    assert charge == paid_2320 + cas_total


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("REGENERATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs from the golden file"


def test_the_primary_claim_names_the_next_payer_in_2320_and_2330() -> None:
    primary = assemble_claim([auto_then_health_plan()])
    (other,) = primary.other_payers
    assert (other.responsibility, other.payer_id, other.receiver_id) == ("S", "PAYERHP2", "rcv2")
    assert other.paid is None and other.lines == []
    text = render_837p([primary], builtin_test_partner(primary.receiver_id), NUMBERS, WHEN).text
    report = validate_x12(text)
    assert report.ok, [str(e) for e in report.errors]
    assert "SBR*P*18**" in text and "SBR*S*18*GRP-77" in text
    assert "NM1*PR*2*Lakeside Health Plan*****PI*PAYERHP2" in text
    assert "AMT*D" not in text and "SVD*" not in text


@pytest.mark.parametrize(
    ("scenario", "build", "payer_rules"),
    [
        # PIP benefits are used up: the auto insurer denies (CARC 119), the plan pays
        (
            "secondary-after-auto-pip.x12",
            auto_then_health_plan,
            {
                "denials": [
                    {"id": "exhausted", "kind": "benefit-maximum", "select": {"percent": "100"}}
                ]
            },
        ),
        # the commercial primary pays its fee schedule, the patient owes the rest
        ("secondary-after-commercial.x12", commercial_then_secondary_plan, {}),
    ],
)
def test_golden_secondary_claims_validate_and_balance(
    scenario: str,
    build,
    payer_rules: dict,
) -> None:
    source = build()
    primary = assemble_claim([source])
    payment, paid_on = primary_payment(primary, payer_rules)
    assert needs_secondary(payment)
    claim = secondary_claim(primary, [source], payment, paid_on)
    assert claim.patient_control_number == secondary_pcn(primary.patient_control_number)
    assert (claim.frequency, claim.version, claim.primary_claim) == (
        "1",
        1,
        primary.patient_control_number,
    )
    assert claim.receiver_id == "rcv2" and claim.subscriber.payer_responsibility == "S"
    (prior,) = claim.other_payers
    assert prior.responsibility == "P" and prior.paid == payment.paid
    assert prior.payer_claim_number == payment.payer_claim_control_number
    assert [a.line_number for a in prior.lines] == [ln.line_number for ln in claim.lines]
    text = render_837p([claim], builtin_test_partner("rcv2"), NUMBERS, WHEN).text
    report = validate_x12(text)
    assert report.ok, [str(e) for e in report.errors]
    balanced_by_segments(text)
    assert f"REF*F8*{payment.payer_claim_control_number}" in text
    assert ":B:1*" in text  # a new original to the next payer
    golden(scenario, text)


def test_an_unbalanced_adjudication_is_refused_naming_the_line() -> None:
    source = commercial_then_secondary_plan()
    primary = assemble_claim([source])
    payment, paid_on = primary_payment(primary)
    service = payment.services[0]
    skewed = service.model_copy(update={"paid": service.paid + D("1.00")})
    bad = payment.model_copy(update={"services": (skewed, *payment.services[1:])})
    with pytest.raises(SecondaryRefused, match=r"line 1: charge .* != paid"):
        secondary_claim(primary, [source], bad, paid_on)


def test_a_service_line_the_835_leaves_out_is_refused() -> None:
    source = commercial_then_secondary_plan()
    primary = assemble_claim([source])
    payment, paid_on = primary_payment(primary)
    if len(payment.services) < 2:
        pytest.skip("needs a claim with two lines")
    partial = payment.model_copy(update={"services": payment.services[:1]})
    with pytest.raises(SecondaryRefused, match="does not adjudicate line"):
        secondary_claim(primary, [source], partial, paid_on)


def test_no_next_coverage_no_secondary() -> None:
    source = billable()
    primary = assemble_claim([source])
    assert primary.other_payers == []
    payment, paid_on = primary_payment(primary)
    with pytest.raises(SecondaryRefused, match="no next coverage"):
        secondary_claim(primary, [source], payment, paid_on)


def payment(status: str, charge: str, paid: str) -> ClaimPayment:
    return ClaimPayment(
        patient_control_number="X1",
        status_code=status,
        charge=D(charge),
        paid=D(paid),
        adjustments=(Adjustment(group="PR", reason="1", amount=D(charge) - D(paid)),),
        services=(ServicePayment(procedure="97140", charge=D(charge), paid=D(paid), units=D(1)),),
    )


@pytest.mark.parametrize(
    ("status", "paid", "expected"),
    [
        ("1", "100.00", False),  # paid in full
        ("1", "60.00", True),  # partly paid
        ("4", "0.00", True),  # denied (e.g. benefits exhausted)
        ("19", "60.00", False),  # crossover: the primary forwarded it
        ("20", "60.00", False),
        ("21", "60.00", False),
        ("22", "-60.00", False),  # a reversal
    ],
)
def test_which_answers_call_for_a_secondary_claim(status: str, paid: str, expected: bool) -> None:
    assert needs_secondary(payment(status, "100.00", paid)) is expected


def test_cas_limits_are_checked_before_rendering() -> None:
    source = commercial_then_secondary_plan()
    primary = assemble_claim([source])
    pay, paid_on = primary_payment(primary)
    claim = secondary_claim(primary, [source], pay, paid_on)
    other = claim.other_payers[0]
    seven = [
        a.model_copy(update={"reason": str(n), "amount": D("0.00")})
        for n in range(1, 8)
        for a in other.lines[0].adjustments[:1]
    ]
    line = other.lines[0].model_copy(update={"adjustments": [*other.lines[0].adjustments, *seven]})
    crowded = claim.model_copy(
        update={"other_payers": [other.model_copy(update={"lines": [line, *other.lines[1:]]})]}
    )
    with pytest.raises(ClaimRenderError, match="at most 6 reasons"):
        render_837p([crowded], builtin_test_partner("rcv2"), NUMBERS, WHEN)


def test_the_secondary_payer_pays_at_most_what_the_primary_left() -> None:
    """Read back, a secondary claim's lines carry the primary's 2430 (paid and CAS); the
    payer simulator pays at most the patient's share the primary left (traditional
    COB: OA-23 for what the primary settled), so the claim is never paid twice."""
    source = commercial_then_secondary_plan()
    primary = assemble_claim([source])
    payment, paid_on = primary_payment(primary)
    claim = secondary_claim(primary, [source], payment, paid_on)
    text = render_837p([claim], builtin_test_partner("rcv2"), NUMBERS, WHEN).text
    [received] = read_837p(text.encode())
    for line, primary_line in zip(received.lines, payment.services, strict=True):
        assert line.prior_paid == primary_line.paid
        assert line.prior_adjustments == primary_line.adjustments
    rules = default_rules().model_dump(mode="json")
    rules["payers"] = {}
    rules["default"].update(reversals=None, interest=None, denials=[])
    (remittance,) = parse_835(
        render_answers(adjudicate([received], load_rules_from(rules), now=WHEN), now=WHEN).encode()
    )
    (second,) = remittance.claims
    left = sum((a.amount for a in payment.adjustments + tuple(
        a for s in payment.services for a in s.adjustments) if a.group == "PR"), D(0))  # fmt: skip
    assert D(0) < left and D(0) < second.paid <= left
    for service, primary_line in zip(second.services, payment.services, strict=True):
        settled = primary_line.charge - sum(
            (a.amount for a in primary_line.adjustments if a.group == "PR"), D(0)
        )
        assert (service.adjustments[0].group, service.adjustments[0].reason) == ("OA", "23")
        assert service.adjustments[0].amount == settled
        assert service.charge == service.paid + sum((a.amount for a in service.adjustments), D(0))
