"""Money per day: code-pair edits before units, and one day is one unit count.

Each case is one of the issue's reproductions: the claim a billing company sends for a
patient's day, priced from the visits' techniques.  Claims are assembled the way the
claims stage assembles them when the day closes (``assemble_claim`` over the day's
billable sessions).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from schemas.billing import BillableSession
from schemas.claims import Claim
from tests import factories as f
from tests.pipeline import billable
from workers.claims.assemble import UnbillableDay, assemble_claim, claim_identity

DOS = "2026-03-02"
PAIR = {
    "rule_id": "payer-97140-97124",
    "column1": "97140",
    "column2": "97124",
    "modifier_indicator": 1,
    "effective_from": "2025-01-01",
}
CMS = f.payer(unit_policy="cms", code_pair_rules=[PAIR])
AMA = f.payer(unit_policy="ama", code_pair_rules=[PAIR])


def t(technique: str, minutes: int, region: str | None = "back") -> dict[str, Any]:
    return {"technique": technique, "minutes": minutes, "body_region": region}


def visit(
    session_id: str, techniques: list[dict[str, Any]], payer: dict[str, Any], hour: int = 9
) -> BillableSession:
    """One visit of the patient on DOS (``hour``: when it ended, to order the visits)."""
    occurred = datetime(2026, 3, 2, hour, 0, tzinfo=UTC)
    return billable(
        session=f.session(
            session_id=session_id, dos=DOS, techniques=techniques, occurred_at=occurred.isoformat()
        ),
        payer=payer,
    )


def billed(claim: Claim) -> list[tuple[str, int, list[str]]]:
    return [(ln.procedure, ln.units, ln.modifiers) for ln in claim.lines]


# --- code-pair edits come before units --------------------------------------------------


def test_a_pair_of_equal_minutes_on_one_region_bills_the_column_one_code_on_its_own_minutes():
    """97140 20 min + 97124 20 min, same region, CMS: 97140 x1 (20 minutes), not x2."""
    claim = assemble_claim(
        [visit("s1", [t("myofascial_release", 20), t("swedish_massage", 20)], CMS)]
    )
    assert billed(claim) == [("97140", 1, [])]
    [dropped] = [d for d in claim.dropped if d.reason == "code-pair"]
    assert dropped.code == "97124" and sum(tm.minutes for tm in dropped.techniques) == 20


def test_the_code_with_more_minutes_is_kept_and_fees_never_decide():
    """97140 10 min + 97124 45 min on one region: 97124 x3, not 97140 x1."""
    claim = assemble_claim(
        [visit("s1", [t("myofascial_release", 10), t("swedish_massage", 45)], CMS)]
    )
    assert billed(claim) == [("97124", 3, [])]
    kept = next(d for d in claim.lines[0].derivation if d.step == "code-pair")
    assert "97124 (45 min) kept" in kept.detail and "97140 (10 min) dropped" in kept.detail
    [dropped] = [d for d in claim.dropped if d.reason == "code-pair"]
    assert dropped.code == "97140"
    assert dropped.derivation[-1].before == {"minutes": 10}


def test_different_regions_keep_both_with_the_distinct_service_modifier():
    claim = assemble_claim(
        [visit("s1", [t("myofascial_release", 30, "neck"), t("swedish_massage", 30, "back")], CMS)]
    )
    assert billed(claim) == [("97140", 2, []), ("97124", 2, ["XS"])]


# --- one day is one unit count ----------------------------------------------------------


def test_cms_pools_every_timed_minute_of_the_day():
    """Two 10-minute 97140 visits the same day are 20 minutes: one unit, not two."""
    day = [
        visit("s1", [t("myofascial_release", 10)], CMS, hour=9),
        visit("s2", [t("myofascial_release", 10)], CMS, hour=15),
    ]
    assert claim_identity(day[0]) == claim_identity(day[1])
    claim = assemble_claim(day)
    assert billed(claim) == [("97140", 1, [])]
    units = next(d for d in claim.lines[0].derivation if d.step == "units")
    assert "20 min in 2 visits of the day" in units.detail


def test_ama_counts_each_codes_minutes_of_the_day():
    """Two 7-minute 97124 visits are 14 minutes of 97124: one unit, not none."""
    day = [
        visit("s1", [t("swedish_massage", 7)], AMA, hour=9),
        visit("s2", [t("swedish_massage", 7)], AMA, hour=15),
    ]
    for single in day:  # each visit alone earns nothing, and is not refused for it
        assert single.lines == []
    assert billed(assemble_claim(day)) == [("97124", 1, [])]


def test_a_day_whose_visits_together_earn_nothing_is_unbillable():
    with pytest.raises(UnbillableDay, match="no billable unit"):
        assemble_claim([visit("s1", [t("swedish_massage", 5)], AMA)])


def test_caps_apply_to_the_day_not_to_each_visit():
    capped = f.payer(unit_policy="ama", max_units_per_visit=4)
    day = [
        visit("s1", [t("myofascial_release", 45)], capped, hour=9),
        visit("s2", [t("swedish_massage", 45)], capped, hour=15),
    ]
    claim = assemble_claim(day)
    assert sum(ln.units for ln in claim.lines) == 4  # 3 + 3 per visit before
    cap = next(d for ln in claim.lines for d in ln.derivation if d.step == "cap")
    assert cap.rule_id == "payer:p1:max_units_per_day"


def test_a_pair_done_in_two_visits_of_the_day_takes_xe():
    day = [
        visit("s1", [t("myofascial_release", 30)], CMS, hour=9),
        visit("s2", [t("swedish_massage", 30)], CMS, hour=15),
    ]
    assert billed(assemble_claim(day)) == [("97140", 2, []), ("97124", 2, ["XE"])]


def test_a_pair_never_billed_together_is_decided_by_the_days_minutes():
    never = f.payer(unit_policy="cms", code_pair_rules=[{**PAIR, "modifier_indicator": 0}])
    day = [
        visit("s1", [t("myofascial_release", 10)], never, hour=9),
        visit("s2", [t("swedish_massage", 25)], never, hour=15),
    ]
    assert billed(assemble_claim(day)) == [("97124", 2, [])]


def test_the_visits_are_priced_in_the_order_they_happened_whatever_the_arrival():
    early = visit("s2", [t("myofascial_release", 20)], CMS, hour=8)
    late = visit("s1", [t("swedish_massage", 20, "neck")], CMS, hour=16)
    assert assemble_claim([late, early]) == assemble_claim([early, late])
    assert assemble_claim([late, early]).session_keys == ["c1:s2", "c1:s1"]


def test_a_payer_that_pools_per_therapist_makes_one_claim_per_therapist():
    per_therapist = f.payer(unit_policy="cms", unit_pool="rendering-provider")
    a = visit("s1", [t("myofascial_release", 10)], per_therapist)
    b = billable(
        session=f.session(session_id="s2", dos=DOS, therapist_id="t2"),
        payer=per_therapist,
        therapists=[f.therapist(), f.therapist(therapist_id="t2")],
    )
    assert claim_identity(a) != claim_identity(b)
    assert claim_identity(a).endswith(":t1")


def test_the_days_claim_charges_the_days_units():
    """Charge and expected payment follow the day's units (one unit here), not the sum
    of what each visit would have charged alone."""
    day = [
        visit("s1", [t("myofascial_release", 10)], CMS, hour=9),
        visit("s2", [t("myofascial_release", 10)], CMS, hour=15),
    ]
    claim = assemble_claim(day)
    price = next(p for p in day[0].enriched.clinic.price_list if p.code == "97140").amount
    assert claim.lines[0].charge == price == claim.total_charge
    assert claim.lines[0].expected_allowed == 35  # the payer's fee for one unit
