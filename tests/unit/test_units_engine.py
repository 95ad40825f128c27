"""The billable-units engine: codes, units, pairs, modifiers, caps, charges, scrub."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.events import parse_session_event
from schemas.outcomes import SessionEnriched
from schemas.reference import Clinic, Patient, Payer, Prescription, Therapist
from schemas.state import PatientState
from tests import factories as f
from tests.fakes import FakeCatalog
from workers.enrich import rules
from workers.pricing.code_lists import default_code_lists
from workers.pricing.session import price_session

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
DOS = "2026-03-02"
LISTS = default_code_lists()


def tech(technique: str, minutes: int, region: str | None = None) -> dict[str, Any]:
    return {"technique": technique, "minutes": minutes, "body_region": region}


def enriched(
    techniques: list[dict[str, Any]],
    payer: dict[str, Any] | None = None,
    rx: dict[str, Any] | None = None,
    clinic: dict[str, Any] | None = None,
    patient: dict[str, Any] | None = None,
) -> SessionEnriched:
    def m(cls: Any, data: dict[str, Any]) -> Any:
        return cls.parse_json(json.dumps(data))

    state = rules.with_patient(PatientState.new(), m(Patient, patient or f.patient()))
    prescription = m(Prescription, rx or f.prescription(issued_on="2026-01-01"))
    state = rules.with_prescription(state, prescription.prescription_id, prescription)
    event = parse_session_event(json.dumps(f.session(dos=DOS, techniques=techniques)))
    cat = FakeCatalog(
        [m(Clinic, clinic or f.clinic())],
        [m(Therapist, f.therapist())],
        [m(Payer, payer or f.payer())],
    )
    step = rules.on_session_completed(state, event, cat, NOW)
    out = step.outcomes[0]
    assert isinstance(out, SessionEnriched), out
    return out


def lines(priced: Any) -> dict[str, tuple[int, list[str]]]:
    assert priced.billable is not None, priced.message
    return {ln.code: (ln.units, ln.modifiers) for ln in priced.billable.lines}


def test_techniques_sharing_a_code_become_one_line() -> None:
    e = enriched(
        [
            tech("myofascial_release", 10),
            tech("trigger_point_therapy", 15),
            tech("swedish_massage", 30),
        ]
    )
    priced = price_session(e, LISTS, NOW)
    assert lines(priced) == {"97140": (2, []), "97124": (2, [])}
    line = priced.billable.lines[0]
    assert line.minutes == 25 and [t.technique for t in line.techniques] == [
        "myofascial_release",
        "trigger_point_therapy",
    ]
    steps = [d.step for d in line.derivation]
    assert steps[:3] == ["code-map", "code-map", "units"]
    assert line.derivation[0].rule_id == "default:technique_codes:myofascial_release"
    assert line.derivation[0].rule_version == "2026.1@2000-01-01"


def test_policy_comes_from_the_payer() -> None:
    techniques = [tech("myofascial_release", 20), tech("swedish_massage", 20)]
    ama = lines(price_session(enriched(techniques, f.payer(unit_policy="ama")), LISTS, NOW))
    cms = lines(price_session(enriched(techniques, f.payer(unit_policy="cms")), LISTS, NOW))
    assert ama == {"97140": (1, []), "97124": (1, [])}
    assert cms == {"97140": (2, []), "97124": (1, [])}


def test_untimed_hot_pack_is_one_unit_and_out_of_timed_totals() -> None:
    priced = price_session(
        enriched(
            [tech("hot_cold_pack", 10), tech("myofascial_release", 45)], f.payer(unit_policy="cms")
        ),
        LISTS,
        NOW,
    )
    assert lines(priced) == {"97010": (1, []), "97140": (3, [])}
    assert priced.billable.total_timed_minutes == 45 and priced.billable.total_units == 4
    assert priced.billable.lines[0].minutes == 0 and not priced.billable.lines[0].timed


def test_a_payer_override_and_an_unbilled_technique_are_recorded() -> None:
    payer = f.payer(
        code_map=[
            {"technique": "trigger_point_therapy", "code": "97124", "effective_from": "2025-01-01"}
        ]
    )
    priced = price_session(
        enriched([tech("trigger_point_therapy", 30), tech("muscle_testing", 10)], payer), LISTS, NOW
    )
    assert lines(priced) == {"97124": (2, [])}
    assert (
        priced.billable.lines[0].derivation[0].rule_id == "payer:p1:code_map:trigger_point_therapy"
    )
    [not_billed] = priced.billable.dropped
    assert (
        not_billed.reason == "not-billed" and not_billed.techniques[0].technique == "muscle_testing"
    )


def test_codes_outside_the_allowed_list_are_dropped() -> None:
    payer = f.payer(allowed_codes=["97124"])
    priced = price_session(
        enriched([tech("swedish_massage", 30), tech("myofascial_release", 30)], payer), LISTS, NOW
    )
    assert lines(priced) == {"97124": (2, [])}
    assert [d.reason for d in priced.billable.dropped] == ["code-not-allowed"]


PAIR_RULE = {
    "rule_id": "payer-97140-97124",
    "column1": "97140",
    "column2": "97124",
    "modifier_indicator": 1,
    "effective_from": "2025-01-01",
}


def test_pair_on_different_regions_gets_the_distinct_service_modifier() -> None:
    payer = f.payer(code_pair_rules=[PAIR_RULE])
    priced = price_session(
        enriched(
            [tech("myofascial_release", 30, "neck"), tech("swedish_massage", 30, "back")], payer
        ),
        LISTS,
        NOW,
    )
    assert lines(priced) == {"97140": (2, []), "97124": (2, ["XS"])}
    pair_step = priced.billable.lines[1].derivation[-4]
    assert pair_step.step == "code-pair" and pair_step.rule_id == "payer-97140-97124"
    assert pair_step.before == {"modifiers": []} and pair_step.after == {"modifiers": ["XS"]}
    payer59 = f.payer(code_pair_rules=[PAIR_RULE], distinct_service_modifier="59")
    again = price_session(
        enriched(
            [tech("myofascial_release", 30, "neck"), tech("swedish_massage", 30, "back")], payer59
        ),
        LISTS,
        NOW,
    )
    assert lines(again)["97124"] == (2, ["59"])


def test_pair_on_the_same_or_an_unknown_region_drops_column_two() -> None:
    payer = f.payer(code_pair_rules=[PAIR_RULE])
    for regions in (("back", "back"), ("neck", None)):
        priced = price_session(
            enriched(
                [
                    tech("myofascial_release", 30, regions[0]),
                    tech("swedish_massage", 30, regions[1]),
                ],
                payer,
            ),
            LISTS,
            NOW,
        )
        assert lines(priced) == {"97140": (2, [])}
        [drop] = priced.billable.dropped
        assert drop.reason == "code-pair" and drop.units_lost == 2 and drop.code == "97124"
        assert drop.derivation[-1].before == {"minutes": 30}
        assert drop.derivation[-1].after == {"minutes": 0}


def test_indicator_zero_never_bills_the_pair() -> None:
    payer = f.payer(code_pair_rules=[{**PAIR_RULE, "modifier_indicator": 0}])
    priced = price_session(
        enriched(
            [tech("myofascial_release", 30, "neck"), tech("swedish_massage", 30, "back")], payer
        ),
        LISTS,
        NOW,
    )
    assert lines(priced) == {"97140": (2, [])}


def test_rules_not_yet_effective_do_not_apply() -> None:
    payer = f.payer(
        code_pair_rules=[{**PAIR_RULE, "modifier_indicator": 0, "effective_from": "2026-04-01"}]
    )
    priced = price_session(
        enriched(
            [tech("myofascial_release", 30, "neck"), tech("swedish_massage", 30, "back")], payer
        ),
        LISTS,
        NOW,
    )
    assert set(lines(priced)) == {"97140", "97124"}


def test_payer_modifier_rules_add_gp() -> None:
    payer = f.payer(
        modifier_rules=[
            {
                "rule_id": "gp-therapy",
                "modifier": "GP",
                "codes": ["97140"],
                "effective_from": "2020-01-01",
            }
        ]
    )
    priced = price_session(
        enriched([tech("myofascial_release", 30), tech("swedish_massage", 30)], payer), LISTS, NOW
    )
    assert lines(priced) == {"97140": (2, ["GP"]), "97124": (2, [])}


def test_payer_cap_takes_untimed_first_then_the_largest_line() -> None:
    payer = f.payer(max_units_per_visit=4)
    priced = price_session(
        enriched(
            [
                tech("hot_cold_pack", 10),
                tech("myofascial_release", 45),
                tech("swedish_massage", 30),
            ],
            payer,
        ),
        LISTS,
        NOW,
    )
    # before the cap: 97010 x1, 97140 x3, 97124 x2 = 6 -> remove 97010, then one from 97140
    assert lines(priced) == {"97140": (2, []), "97124": (2, [])}
    cap_steps = [d for ln in priced.billable.lines for d in ln.derivation if d.step == "cap"]
    assert [(d.before, d.after) for d in cap_steps] == [({"units": 3}, {"units": 2})]
    assert [(d.code, d.reason, d.units_lost) for d in priced.billable.dropped] == [
        ("97010", "cap", 1)
    ]


def test_on_a_tie_the_later_performed_line_loses_and_the_smaller_cap_wins() -> None:
    payer = f.payer(max_units_per_visit=8)
    rx = f.prescription(issued_on="2026-01-01", max_units_per_visit=3)
    priced = price_session(
        enriched([tech("myofascial_release", 30), tech("swedish_massage", 30)], payer, rx),
        LISTS,
        NOW,
    )
    assert lines(priced) == {"97140": (2, []), "97124": (1, [])}
    step = next(d for d in priced.billable.lines[1].derivation if d.step == "cap")
    assert step.rule_id == "prescription:rx1:max_units_per_day"


def test_charges_and_expected_allowed_are_decimal_and_dated() -> None:
    clinic = f.clinic(
        price_list=[
            {
                "code": "97140",
                "amount": "40.00",
                "effective_from": "2020-01-01",
                "effective_to": "2026-02-28",
            },
            {"code": "97140", "amount": "47.50", "effective_from": "2026-03-01"},
        ]
    )
    payer = f.payer(
        fee_schedule=[{"code": "97140", "amount": "31.17", "effective_from": "2026-01-01"}]
    )
    priced = price_session(
        enriched([tech("myofascial_release", 45)], payer, clinic=clinic), LISTS, NOW
    )
    line = priced.billable.lines[0]
    assert line.unit_price == Decimal("47.50") and line.charge == Decimal("142.50")
    assert line.expected_allowed == Decimal("93.51")
    assert priced.billable.charge_total == Decimal("142.50")
    assert priced.billable.expected_total == Decimal("93.51")
    assert isinstance(line.charge, Decimal)


def test_no_fee_schedule_row_leaves_expected_unknown() -> None:
    payer = f.payer(fee_schedule=[])
    priced = price_session(enriched([tech("myofascial_release", 45)], payer), LISTS, NOW)
    assert priced.billable.lines[0].expected_allowed is None
    assert priced.billable.expected_total is None


SELF_PAY = {"coverage_id": "own", "kind": "self_pay", "effective_from": "2020-01-01"}


def test_a_payer_visit_whose_minutes_alone_earn_no_unit_waits_for_its_day() -> None:
    """Five minutes of 97140 earn nothing alone but count toward the day's total:
    the visit is billable with no lines (the claims stage prices the day)."""
    priced = price_session(
        enriched([tech("myofascial_release", 5), tech("muscle_testing", 20)]), LISTS, NOW
    )
    assert priced.billable is not None and priced.billable.lines == []
    assert {d.reason for d in priced.billable.dropped} == {"zero-units", "not-billed"}


def test_a_visit_with_nothing_billable_or_a_self_pay_visit_without_units_is_refused() -> None:
    nothing = price_session(enriched([tech("muscle_testing", 20)]), LISTS, NOW)
    assert nothing.billable is None and nothing.reason == "no-billable-units"
    self_pay = f.patient(payer_id=None, coverages=[SELF_PAY])
    short = price_session(enriched([tech("myofascial_release", 5)], patient=self_pay), LISTS, NOW)
    assert short.billable is None and short.reason == "no-billable-units"
    assert "97140: zero-units" in short.message


def test_scrub_refuses_a_missing_price_and_bad_referring_npi() -> None:
    rx = f.prescription(issued_on="2026-01-01")
    rx["prescriber"]["npi"] = f.BAD_NPI
    e = enriched([tech("myofascial_release", 30)], rx=rx, clinic=f.clinic(price_list=[]))
    priced = price_session(e, LISTS, NOW)
    assert priced.reason == "scrub-failed"
    assert {p.check for p in priced.problems} == {"price", "npi"}


def test_diagnosis_pointers_are_the_first_four_codes_without_dots() -> None:
    rx = f.prescription(
        issued_on="2026-01-01", diagnosis_codes=["M54.50", "M62.830", "M79.18", "M54.2", "G44.209"]
    )
    priced = price_session(enriched([tech("myofascial_release", 30)], rx=rx), LISTS, NOW)
    assert priced.billable.diagnosis_codes == ["M5450", "M62830", "M7918", "M542", "G44209"]
    assert priced.billable.lines[0].diagnosis_pointers == [1, 2, 3, 4]


def test_self_pay_sessions_get_lines_marked_not_for_payer() -> None:
    patient = f.patient(
        payer_id=None,
        coverages=[{"coverage_id": "own", "kind": "self_pay", "effective_from": "2020-01-01"}],
    )
    priced = price_session(enriched([tech("swedish_massage", 50)], patient=patient), LISTS, NOW)
    b = priced.billable
    assert b is not None and b.billed_to_payer is False and b.payer_id is None
    assert b.policy == "ama" and lines(priced) == {"97124": (3, [])}
    assert b.expected_total is None and b.charge_total == Decimal("120.00")


techniques = st.sampled_from(
    [
        "swedish_massage",
        "myofascial_release",
        "trigger_point_therapy",
        "hot_cold_pack",
        "rehabilitative_stretching",
    ]
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(techniques, st.integers(1, 90)), min_size=1, max_size=5),
    st.integers(1, 8),
    st.sampled_from(["cms", "ama"]),
)
def test_caps_hold_and_charge_is_units_times_price(entries: list, cap: int, policy: str) -> None:
    payer = f.payer(max_units_per_visit=cap, unit_policy=policy)
    priced = price_session(enriched([tech(t, m) for t, m in entries], payer), LISTS, NOW)
    if priced.billable is None:
        assert priced.reason == "no-billable-units"
        return
    assert priced.billable.total_units <= cap
    prices = {"97124": Decimal("40.00"), "97140": Decimal("45.00"), "97010": Decimal("15.00")}
    for ln in priced.billable.lines:
        assert ln.charge == ln.units * prices[ln.code]
        assert ln.units >= 1
