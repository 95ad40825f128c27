"""Coding that avoids needless denials, before the claim is built: bundled codes are
not sent, a code the plan does not cover is not sent and is the patient's only with
their waiver, per-code daily unit limits (MUE-style) drop the excess, and with a
prescription that maps diagnoses to body regions each line points at its own
region's diagnoses first."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from schemas.claims import ControlNumbers
from schemas.reconciliation import ClaimLedger
from schemas.submission import ClaimSubmitted
from tests import factories as f
from tests.pipeline import billable
from workers.claims.assemble import assemble_claim
from workers.remits import balances, patient_ledger, reconcile
from workers.remits.reconcile import submitted_version

NOW = datetime(2026, 3, 20, tzinfo=UTC)
HOT_PACK = [
    {"technique": "hot_cold_pack", "minutes": 10, "body_region": "back"},
    {"technique": "myofascial_release", "minutes": 30, "body_region": "back"},
]


def day(payer: dict, techniques: list[dict], **session: object) -> object:
    return assemble_claim(
        [
            billable(
                session=f.session(dos="2026-03-02", techniques=techniques, **session), payer=payer
            )
        ]
    )


def test_a_bundled_code_is_not_sent_and_bills_nobody() -> None:
    claim = day(f.payer(unit_policy="cms", bundled_codes=["97010"]), HOT_PACK)
    assert [ln.procedure for ln in claim.lines] == ["97140"]
    [dropped] = claim.dropped
    assert (dropped.code, dropped.reason, dropped.patient_charge) == ("97010", "bundled", None)


def test_a_code_the_plan_does_not_cover_is_the_patients_only_with_a_waiver() -> None:
    plan = f.payer(non_covered_codes=["97010"])
    without = day(plan, HOT_PACK)
    assert [ln.procedure for ln in without.lines] == ["97140"]
    assert [(d.reason, d.patient_charge) for d in without.dropped] == [("not-covered", None)]
    assert "written off" in without.dropped[0].derivation[-1].detail
    signed = day(plan, HOT_PACK, waiver_on_file=True)
    [dropped] = signed.dropped
    assert dropped.patient_charge == Decimal("15.00")  # the clinic's price, one untimed unit
    event = ClaimSubmitted.of(
        signed,
        file_name="f.x12",
        control_numbers=ControlNumbers(interchange=1, group=1, transaction=1),
        submitted_at=NOW,
    )
    assert submitted_version(event).patient_charges == Decimal("15.00")
    ledger = reconcile.on_submitted(
        ClaimLedger.new(patient_control_number=signed.patient_control_number), event, NOW
    ).ledger
    row = balances.claim_balance(ledger, None, NOW)
    assert row.problem() is None and row.charge == signed.total_charge
    [account] = patient_ledger.accounts([row], [], []).values()
    assert [(c.kind, c.amount) for c in account.charges] == [("non-covered", Decimal("15.00"))]


def test_units_above_the_payers_daily_limit_are_dropped_as_mue() -> None:
    payer = f.payer(daily_unit_limits=[{"code": "97140", "units": 2}], max_units_per_visit=None)
    claim = day(payer, [{"technique": "myofascial_release", "minutes": 53, "body_region": "back"}])
    [line] = claim.lines
    assert (line.procedure, line.units) == ("97140", 2)
    [dropped] = claim.dropped
    assert (dropped.reason, dropped.units_lost) == ("mue", 2)


def test_each_line_points_first_at_its_own_regions_diagnoses() -> None:
    pair = {
        "rule_id": "p-97140-97124",
        "column1": "97140",
        "column2": "97124",
        "modifier_indicator": 1,
        "effective_from": "2020-01-01",
    }
    techniques = [
        {"technique": "myofascial_release", "minutes": 25, "body_region": "neck"},
        {"technique": "swedish_massage", "minutes": 25, "body_region": "lower_back"},
    ]
    rx = f.prescription(
        issued_on="2026-01-01",
        diagnosis_codes=["M54.50", "M54.2"],  # low back pain; cervicalgia
        diagnosis_regions={"M54.50": ["lower_back"], "M54.2": ["neck"]},
    )
    claim = assemble_claim(
        [
            billable(
                session=f.session(dos="2026-03-02", techniques=techniques),
                payer=f.payer(code_pair_rules=[pair]),
                rx=rx,
            )
        ]
    )
    lines = {ln.procedure: ln for ln in claim.lines}
    assert "XS" in lines["97124"].modifiers or "59" in lines["97124"].modifiers
    assert claim.diagnosis_codes == ["M5450", "M542"]
    assert lines["97140"].diagnosis_pointers == [2, 1]  # neck first
    assert lines["97124"].diagnosis_pointers == [1, 2]  # lower back first
