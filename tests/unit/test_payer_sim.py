"""The payer simulator (`workers.payer_sim`) and the 835 writer (`edi.x835.render_835`).

Every answer the simulator produces here goes through :func:`simulate`, which
checks that it parses back (with ``parse_835``) to exactly the remittances the
adjudicator made, that every transaction balances and that pyx12 finds nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edi.segments import Delimiters, X12RenderError
from edi.validate import validate_x12
from edi.x835 import X835RenderError, check_balance, parse_835, render_835
from edi.x837p import read_837p, render_837p
from schemas.adjudication import (
    BankDetails,
    ClaimDetails,
    ClaimReceived,
    NameDetails,
    PostalAddress,
    RemittanceAdvice,
    RemittanceDetails,
    ServiceDetails,
)
from schemas.claims import Claim
from schemas.remittance import (
    Adjustment,
    Balance,
    ClaimPayment,
    Payee,
    Payer,
    Payment,
    ProviderAdjustment,
    Remark,
    Remittance,
    ServicePayment,
)
from tests import claim_factories as f
from workers.payer_sim.adjudicate import PayerAnswer, adjudicate, answer_claim, render_answers
from workers.payer_sim.rules import (
    DENIAL_CODES,
    RulesError,
    SimulatorRules,
    bucket,
    claim_hash,
    default_rules,
    load_rules,
)

REPO = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2025, 4, 1, 12, 30, tzinfo=dt.UTC)
D = Decimal
BASE: dict[str, Any] = {
    "address": {
        "line1": "PO Box 5010",
        "city": "Springfield",
        "state": "IL",
        "postal_code": "62705",
    },
    "technical_contact": {"name": "EDI Support", "phone": "8005550135"},
    "fee_schedule": {"97140": "35.00", "97124": "30.00"},
    "bank": {
        "payer_routing_number": "123456780",
        "payer_account_number": "100200300",
        "payee_routing_number": "987654320",
        "payee_account_number": "555000111",
    },
}


BANK = BankDetails.model_validate(BASE["bank"])


def rules(default: dict[str, Any] | None = None, **payers: dict[str, Any]) -> SimulatorRules:
    document = {"version": 1, "default": {**BASE, **(default or {})}, "payers": payers}
    return load_rules(json.dumps(document))


@dataclass
class Outcome:
    text: str
    remittances: list[Remittance]
    answers: list[PayerAnswer]

    @property
    def claims(self) -> list[ClaimPayment]:
        return [c for r in self.remittances for c in r.claims]

    def claim(self, pcn: str, status: str | None = None) -> ClaimPayment:
        found = [
            c
            for c in self.claims
            if c.patient_control_number == pcn and (status is None or c.status_code == status)
        ]
        assert len(found) == 1, [c.status_code for c in found]
        return found[0]


def received(claims: list[Claim]) -> list[ClaimReceived]:
    text = render_837p(claims, f.partner(), f.NUMBERS, f.CREATED_AT).text
    return list(read_837p(text.encode()))


def check(answers: list[PayerAnswer], now: dt.datetime = NOW, *, validate: bool = True) -> Outcome:
    text = render_answers(answers, now=now)
    parsed = list(parse_835(text.encode()))
    produced = [advice.remittance for answer in answers for advice in answer.advices]
    assert parsed == produced  # the writer wrote exactly what the adjudicator decided
    for remittance in parsed:
        assert remittance.balance.ok, remittance.balance.errors
        assert remittance.payment.amount >= 0
    if validate:
        report = validate_x12(text)
        assert report.ok, [str(finding) for finding in report.findings]
    return Outcome(text, parsed, answers)


def simulate(
    claims: list[Claim], sim_rules: SimulatorRules, now: dt.datetime = NOW, *, validate: bool = True
) -> Outcome:
    return check(adjudicate(received(claims), sim_rules, now=now), now, validate=validate)


def amounts(adjustments: tuple[Adjustment, ...]) -> list[tuple[str, str, Decimal]]:
    return [(a.group, a.reason, a.amount) for a in adjustments]


# --- pricing -------------------------------------------------------------------------------


def test_fee_schedule_and_co45() -> None:
    outcome = simulate([f.commercial_claim()], rules({"percent_of_charge": "80"}))
    claim = outcome.claim("PCN1001")
    first, second = claim.services
    # 97140: 2 units x 35.00 = 70.00 allowed of 90.00
    assert (first.charge, first.paid) == (D("90.00"), D("70.00"))
    assert amounts(first.adjustments) == [("CO", "45", D("20.00"))]
    # 97124 is on the schedule (30.00): 30.00 of 40.00
    assert amounts(second.adjustments) == [("CO", "45", D("10.00"))]
    assert (claim.status_code, claim.paid, claim.patient_responsibility) == ("1", D(100), None)
    assert "AMT*B6*70.00~" in outcome.text
    assert "AMT*B6*30.00~" in outcome.text
    assert first.line_control_number == "PCN1001-1-L1"
    assert "SVC*HC:97140:GP*90.00*70.00**2~" in outcome.text
    assert "SVC*HC:97124:GP:XS*40.00*30.00~" in outcome.text  # one unit: SVC05 omitted


def test_percent_of_charge_and_fees_above_the_charge() -> None:
    sim_rules = rules({"fee_schedule": {"97140": "60.00"}, "percent_of_charge": "80"})
    claim = simulate([f.commercial_claim()], sim_rules).claim("PCN1001")
    first, second = claim.services
    assert (first.paid, first.adjustments) == (D("90.00"), ())  # 120.00 > charge: charge
    assert (second.paid, amounts(second.adjustments)) == (D("32.00"), [("CO", "45", D("8.00"))])


def test_copay_deductible_and_coinsurance() -> None:
    share = {
        "copay": "15.00",
        "coinsurance_percent": "20",
        "deductible": {"amount": "50.00", "select": {"claims": ["PCN1001"]}},
    }
    outcome = simulate([f.commercial_claim(), *f.many_claims(1)], rules({"patient_share": share}))
    in_deductible = outcome.claim("PCN1001")
    first, second = in_deductible.services
    # 70.00 allowed: copay 15.00, deductible 50.00, then 20% of the 5.00 left
    assert amounts(first.adjustments) == [
        ("CO", "45", D("20.00")),
        ("PR", "1", D("50.00")),
        ("PR", "2", D("1.00")),
        ("PR", "3", D("15.00")),
    ]
    assert first.paid == D("4.00")
    assert amounts(second.adjustments) == [("CO", "45", D("10.00")), ("PR", "2", D("6.00"))]
    assert (in_deductible.paid, in_deductible.patient_responsibility) == (D("28.00"), D("72.00"))
    assert "CAS*PR*1*50.00**2*1.00**3*15.00~" in outcome.text
    met = outcome.claim("PCN0000000")
    assert (met.paid, met.patient_responsibility) == (D("68.00"), D("32.00"))


def test_secondary_payer_and_claim_filing_indicator() -> None:
    data = f.commercial_claim_data()
    data["subscriber"] = {**data["subscriber"], "payer_responsibility": "S"}
    claims = [f.claim(data), f.auto_pip_claim(), f.workers_comp_claim()]
    outcome = simulate(claims, rules({"filing_indicators": {"CI": "12"}}))
    secondary = outcome.claim("PCN1001")
    assert (secondary.status_code, secondary.filing_indicator) == ("2", "12")
    assert outcome.claim("PCN2002").filing_indicator == "AM"
    assert outcome.claim("PCN3003").filing_indicator == "WC"
    unmapped = simulate([f.commercial_claim()], rules()).claim("PCN1001")
    assert unmapped.filing_indicator == "ZZ"  # CI is not an 835 code


# --- denials ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "over", "reason", "remarks", "status"),
    [
        ("not-covered", {}, "96", ("N130",), "1"),
        ("not-covered", {"reason": "204"}, "204", ("N130",), "1"),
        ("not-medically-necessary", {}, "50", ("M127",), "1"),
        ("not-medically-necessary", {"remarks": ["N386"]}, "50", ("N386",), "1"),
        ("prior-authorization-absent", {}, "197", ("M62",), "1"),
        ("benefit-maximum", {}, "119", ("N362",), "1"),
        ("bundled", {}, "97", ("M15",), "1"),
        ("patient-not-recognised", {}, "31", ("N382",), "4"),
    ],
)
def test_each_denial_kind(
    kind: str, over: dict[str, Any], reason: str, remarks: tuple[str, ...], status: str
) -> None:
    denial = {"id": "the-rule", "kind": kind, "select": {"claims": ["PCN1001"]}, **over}
    outcome = simulate([f.commercial_claim(), *f.many_claims(1)], rules({"denials": [denial]}))
    denied = outcome.claim("PCN1001")
    assert (denied.status_code, denied.patient_responsibility) == (status, None)
    assert denied.paid == 0
    for service in denied.services:
        assert service.paid == 0
        assert amounts(service.adjustments) == [("CO", reason, service.charge)]
        assert tuple(r.code for r in service.remarks) == remarks
        assert {r.qualifier for r in service.remarks} == {"HE"}
    assert sum(a.amount for s in denied.services for a in s.adjustments) == denied.charge
    assert outcome.claim("PCN0000000").paid == D(100)
    assert f"LQ*HE*{remarks[0]}~" in outcome.text


def test_denial_by_procedure_denies_only_those_lines() -> None:
    denial = {
        "id": "no-massage",
        "kind": "not-covered",
        "reason": "204",
        "select": {"procedures": ["97124"]},
    }
    claim = simulate([f.commercial_claim()], rules({"denials": [denial]})).claim("PCN1001")
    paid_line, denied_line = claim.services
    assert paid_line.paid == D(70)
    assert amounts(denied_line.adjustments) == [("CO", "204", D(40))]
    assert (claim.status_code, claim.paid) == ("1", D(70))


def test_denial_by_a_share_of_claims_is_deterministic() -> None:
    denial = {"id": "quarter", "kind": "benefit-maximum", "select": {"percent": "25"}}
    claims = f.many_claims(60)
    outcome = simulate(claims, rules({"denials": [denial]}), validate=False)
    denied = {c.patient_control_number for c in outcome.claims if c.paid == 0}
    wanted = {
        c.patient_control_number
        for c in claims
        if bucket("quarter", c.patient_control_number) < 2500
    }
    assert denied == wanted
    assert 5 < len(denied) < 30


def test_denial_by_claim_hash_and_by_control_number() -> None:
    target = "PCN0000003"
    by_hash = {
        "id": "h",
        "kind": "not-covered",
        "select": {"claim_hashes": [claim_hash(target)[:10]]},
    }
    by_pcn = {"id": "p", "kind": "not-covered", "select": {"claims": ["PCN0000005"]}}
    outcome = simulate(f.many_claims(8), rules({"denials": [by_hash, by_pcn]}))
    assert {c.patient_control_number for c in outcome.claims if c.paid == 0} == {
        target,
        "PCN0000005",
    }


def test_denial_by_payer() -> None:
    denial = {"id": "auto-denies-massage", "kind": "not-covered"}
    outcome = simulate(
        [f.commercial_claim(), f.auto_pip_claim()],
        rules(EXAUTO={"denials": [denial], "payment_method": "CHK"}),
    )
    assert outcome.claim("PCN2002").paid == 0
    assert outcome.claim("PCN1001").paid == D(100)
    by_payer = {r.payer.id: r for r in outcome.remittances}
    assert by_payer["EXAUTO"].payment.method == "NON"  # nothing to pay
    assert by_payer["EXHP1"].payment.method == "ACH"


def test_prior_authorization_absent() -> None:
    denial = {
        "id": "needs-auth",
        "kind": "prior-authorization-absent",
        "select": {"without_prior_authorization": True},
    }
    outcome = simulate([f.commercial_claim(), f.workers_comp_claim()], rules({"denials": [denial]}))
    assert outcome.claim("PCN1001").paid > 0  # REF*G1 present
    denied = outcome.claim("PCN3003")
    assert amounts(denied.services[0].adjustments) == [("CO", "197", D(90))]
    assert denied.services[0].remarks == (Remark(qualifier="HE", code="M62"),)


# --- reversals, interest, voids, replacements --------------------------------------------------


REVERSE_PCN1001 = {"reversals": {"select": {"claims": ["PCN1001"]}}}


def test_reversal_and_correction_in_one_file() -> None:
    outcome = simulate([f.commercial_claim(), *f.many_claims(1)], rules(REVERSE_PCN1001))
    reversal = outcome.claim("PCN1001", "22")
    corrected = outcome.claim("PCN1001", "1")
    assert (reversal.charge, reversal.paid) == (D(-130), D(-100))
    assert [amounts(s.adjustments) for s in reversal.services] == [
        [("CO", "45", D(-20))],
        [("CO", "45", D(-10))],
    ]
    assert [s.units for s in reversal.services] == [D(2), D(1)]
    # corrected at 90% of the allowed amounts: 63.00 and 27.00
    assert (corrected.charge, corrected.paid) == (D(130), D(90))
    assert reversal.payer_claim_control_number != corrected.payer_claim_control_number
    claims = outcome.remittances[0].claims
    assert [c.status_code for c in claims] == ["22", "1", "1"]
    assert outcome.remittances[0].payment.amount == D(-100 + 90 + 100)
    assert outcome.remittances[0].provider_adjustments == ()


def test_reversal_with_its_original_in_the_same_file() -> None:
    rule = {"reversals": {"select": {"claims": ["PCN1001"]}, "include_original": True}}
    outcome = simulate([f.commercial_claim()], rules(rule))
    statuses = [(c.status_code, c.paid) for c in outcome.claims]
    assert statuses == [("1", D(100)), ("22", D(-100)), ("1", D(90))]
    original, reversal, _ = outcome.claims
    assert reversal.payer_claim_control_number == original.payer_claim_control_number
    assert outcome.remittances[0].payment.amount == D(90)


def test_a_take_back_bigger_than_the_payments_is_deferred_with_a_negative_wo() -> None:
    outcome = simulate([f.commercial_claim()], rules(REVERSE_PCN1001))
    remittance = outcome.remittances[0]
    assert [(p.reason, p.reference, p.amount) for p in remittance.provider_adjustments] == [
        ("WO", "PCN1001", D(-10))
    ]
    assert remittance.payment.amount == 0
    assert remittance.payment.method == "NON"
    assert "BPR*H*0.00*C*NON************20250401~" in outcome.text
    assert f"PLB*{f.CLINIC_NPI}*20251231*WO:PCN1001*-10.00~" in outcome.text


def test_interest_is_a_negative_l6() -> None:
    interest = {"select": {"claims": ["PCN1001"]}, "annual_percent": "12", "days_late": 45}
    outcome = simulate([f.commercial_claim(), *f.many_claims(1)], rules({"interest": interest}))
    remittance = outcome.remittances[0]
    # 100.00 x 12% x 45/365 = 1.479... -> 1.48, added to the payment
    [plb] = remittance.provider_adjustments
    assert (plb.reason, plb.reference, plb.amount) == ("L6", "PCN1001", D("-1.48"))
    assert (plb.provider_id, plb.date) == (f.CLINIC_NPI, dt.date(2025, 12, 31))
    assert remittance.payment.amount == D("201.48")


def test_more_interest_items_than_one_plb_holds_are_summed() -> None:
    interest = {"annual_percent": "12", "days_late": 45}
    outcome = simulate(f.many_claims(8), rules({"interest": interest, **REVERSE_PCN1001}))
    remittance = outcome.remittances[0]
    [plb] = remittance.provider_adjustments
    assert (plb.reason, plb.reference, plb.amount) == ("L6", None, D("-11.84"))
    assert outcome.text.count("PLB*") == 1


def test_fiscal_period_date_follows_the_rules() -> None:
    interest = {"annual_percent": "12", "days_late": 45}
    outcome = simulate(
        [f.commercial_claim()], rules({"interest": interest, "fiscal_year_end": "03-31"})
    )
    assert outcome.remittances[0].provider_adjustments[0].date == dt.date(2026, 3, 31)


def test_void_answered_with_a_reversal_of_the_original() -> None:
    sim_rules = rules()
    outcome = simulate([f.void_claim(), *f.many_claims(1)], sim_rules)
    reversal = outcome.claim("PCN1001")
    assert reversal.status_code == "22"
    assert reversal.payer_claim_control_number == "PAYERCLM0001"  # REF*F8 of the void
    [original] = received([f.commercial_claim()])
    [(paid_before, _)], _ = answer_claim(original, sim_rules, now=NOW)
    assert (reversal.charge, reversal.paid) == (-paid_before.charge, -paid_before.paid)
    for before, after in zip(paid_before.services, reversal.services, strict=True):
        assert after.adjustments == tuple(
            a.model_copy(update={"amount": -a.amount}) for a in before.adjustments
        )
        assert (after.line_control_number, after.units) == (
            before.line_control_number,
            before.units,
        )
    assert "CLP*PCN1001*22*-130.00*-100.00**ZZ*PAYERCLM0001*11*8~" in outcome.text


def test_void_of_an_unpaid_claim_is_acknowledged_with_zero() -> None:
    sim_rules = rules({"voids": {"reverse": {"claims": ["SOMETHING-ELSE"]}}})
    outcome = simulate([f.void_claim()], sim_rules)
    claim = outcome.claim("PCN1001")
    assert (claim.status_code, claim.services) == ("22", ())
    assert claim.charge == claim.paid == 0
    assert claim.payer_claim_control_number == "PAYERCLM0001"
    assert outcome.remittances[0].payment.amount == 0


def test_void_of_a_claim_the_rules_deny_is_acknowledged_with_zero() -> None:
    denial = {"id": "never-paid", "kind": "not-covered", "select": {"claims": ["PCN1001"]}}
    claim = simulate([f.void_claim()], rules({"denials": [denial]})).claim("PCN1001")
    assert (claim.status_code, claim.services) == ("22", ())
    assert claim.charge == claim.paid == 0


def test_replacement_gets_a_normal_adjudication_and_its_own_claim_number() -> None:
    outcome = simulate([f.replacement_claim()], rules())
    claim = outcome.claim("PCN1001")
    assert (claim.status_code, claim.paid) == ("1", D(100))
    original = simulate([f.commercial_claim()], rules()).claim("PCN1001")
    assert claim.payer_claim_control_number != original.payer_claim_control_number
    assert (claim.payer_claim_control_number or "").startswith("SIM")


def test_a_replacement_reverses_the_adjudication_it_replaces_when_the_payer_knows_it() -> None:
    """Payers reverse what they paid on a claim before paying its replacement; without
    it the first payment would count twice."""
    [replacement] = received([f.replacement_claim()])
    [original] = received([f.commercial_claim()])
    [(paid_before, _)], _ = answer_claim(original, rules(), now=NOW)
    earlier = paid_before.model_copy(
        update={"payer_claim_control_number": replacement.payer_claim_number}
    )
    outcome = check(adjudicate([replacement], rules(), now=NOW, history=[earlier]))
    reversal, new = [c for c in outcome.claims if c.patient_control_number == "PCN1001"]
    assert (reversal.status_code, reversal.paid, reversal.charge) == (
        "22",
        -paid_before.paid,
        -paid_before.charge,
    )
    assert reversal.payer_claim_control_number == replacement.payer_claim_number
    assert new.status_code == "1" and new.paid == D(100)
    assert outcome.remittances[0].payment.amount == new.paid - paid_before.paid


def test_claim_total_that_the_lines_do_not_add_up_to() -> None:
    """Not something our 837s do, but a payer must still answer with a balanced 835."""
    [claim] = received([f.commercial_claim()])
    odd = claim.model_copy(update={"total_charge": D("135.00")})
    outcome = check(adjudicate([odd], rules(), now=NOW))
    payment = outcome.claim("PCN1001")
    assert amounts(payment.adjustments) == [("CO", "16", D("5.00"))]
    assert "MOA***M54~" in outcome.text


# --- envelopes: one 835 per payer ------------------------------------------------------------


def test_one_interchange_per_payer_one_transaction_per_payee() -> None:
    second = f.billing_provider_data(name="Second Clinic", npi=f.SECOND_CLINIC_NPI)
    claims = [
        f.commercial_claim(),
        f.auto_pip_claim(),
        f.workers_comp_claim(),
        f.commercial_claim(
            patient_control_number="PCN4004", claim_id="PCN4004-1", billing_provider=second
        ),
    ]
    outcome = simulate(claims, rules(EXAUTO={"isa_id": "AUTOPAYER", "company_id": "1999999999"}))
    assert [a.payer_id for a in outcome.answers] == ["EXHP1", "EXAUTO", "EXWC1"]
    assert [a.sender_id for a in outcome.answers] == ["EXHP1", "AUTOPAYER", "EXWC1"]
    assert len({a.control_number for a in outcome.answers}) == 3
    health_plan = outcome.answers[0]
    assert [a.remittance.payee.npi for a in health_plan.advices] == [
        f.CLINIC_NPI,
        f.SECOND_CLINIC_NPI,
    ]
    assert [a.remittance.control_number for a in health_plan.advices] == ["0001", "0002"]
    isa_lines = [line for line in outcome.text.splitlines() if line.startswith("ISA*")]
    assert len(isa_lines) == 3
    assert all("*ZZ*SENDER01       *" in line for line in isa_lines)
    assert "GS*HP*AUTOPAYER*SENDER01*20250401*1230*" in outcome.text
    for remittance in outcome.remittances:
        payment = remittance.payment
        assert payment.date == NOW.date()
        assert payment.trace_number is not None and payment.trace_number.startswith("000001001")
        assert payment.payer_trace_id is not None and len(payment.payer_trace_id) == 10
        assert payment.payer_trace_id.startswith("1")
    traces = [r.payment.trace_number for r in outcome.remittances]
    assert len(set(traces)) == len(traces)
    auto = next(r for r in outcome.remittances if r.payer.id == "EXAUTO")
    assert auto.payment.payer_trace_id == "1999999999"
    assert "DTM*405*20250401~" in outcome.text
    assert "PER*BL*EDI Support*TE*8005550135~" in outcome.text


def test_patient_and_insured_names() -> None:
    outcome = simulate([f.commercial_claim(), f.workers_comp_claim()], rules())
    assert "NM1*QC*1*Sample*Pat*Q***MI*MBR123456~" in outcome.text
    assert "NM1*QC*1*Worker*Wes~\nNM1*IL*2*Acme Widgets Inc*****MI*WCPOL4455~" in outcome.text


def test_same_input_same_bytes() -> None:
    claims = [f.commercial_claim(), f.void_claim(patient_control_number="PCN9", claim_id="PCN9-3"),
              *f.many_claims(30)]  # fmt: skip
    sim_rules = default_rules()
    first = render_answers(adjudicate(received(claims), sim_rules, now=NOW), now=NOW)
    second = render_answers(adjudicate(received(claims), sim_rules, now=NOW), now=NOW)
    assert first == second
    later = NOW + dt.timedelta(days=1)
    third = render_answers(adjudicate(received(claims), sim_rules, now=later), now=later)
    assert third != first
    assert third.replace("20250402", "20250401").replace("250402", "250401") == first


def test_default_rules_answer_a_mixed_file() -> None:
    claims = [
        f.commercial_claim(),
        f.auto_pip_claim(),
        f.workers_comp_claim(),
        f.void_claim(patient_control_number="PCN9", claim_id="PCN9-3"),
        *f.many_claims(150),
    ]
    outcome = simulate(claims, default_rules())
    statuses = {c.status_code for c in outcome.claims}
    assert {"1", "22"} <= statuses
    assert any(c.paid == 0 and c.status_code == "1" for c in outcome.claims)  # some denials


def test_default_rules_use_known_codes() -> None:
    sim_rules = default_rules()
    for payer_rules in [sim_rules.default, *sim_rules.payers.values()]:
        for denial in payer_rules.denials:
            assert denial.carc in {"96", "204", "50", "197", "119", "97", "31"}
            assert set(denial.rarcs) <= {"N130", "M127", "M62", "N362", "M15", "N382"}
    assert sim_rules.for_payer("EXAUTO").payment_method == "CHK"
    assert sim_rules.for_payer("EXAUTO").address == sim_rules.default.address  # inherited
    assert sim_rules.for_payer("unknown") is sim_rules.default
    assert set(DENIAL_CODES) == {
        "not-covered", "not-medically-necessary", "prior-authorization-absent",
        "benefit-maximum", "bundled", "patient-not-recognised",
    }  # fmt: skip


# --- rules errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("default", "path"),
    [
        ({"percent_of_charge": 80.5}, "default.percent_of_charge"),
        ({"fee_schedule": {"97140": "0.00"}}, "default"),
        ({"fee_schedule": {"97140": "35.001"}}, "default.fee_schedule"),
        (
            {
                "denials": [
                    {
                        "id": "x",
                        "kind": "patient-not-recognised",
                        "select": {"procedures": ["97140"]},
                    }
                ]
            },
            "default.denials[0]",
        ),
        ({"denials": [{"id": "x", "kind": "nope"}]}, "default.denials[0].kind"),
        ({"denials": [{"id": "x", "kind": "bundled"}, {"id": "x", "kind": "bundled"}]}, "default"),
        ({"fiscal_year_end": "02-30"}, "default"),
        ({"colour": "red"}, "default.colour"),
        ({"company_id": "2000000000"}, "default.company_id"),
    ],
)
def test_invalid_rules_name_the_field(default: dict[str, Any], path: str) -> None:
    with pytest.raises(RulesError) as caught:
        rules(default)
    assert any(problem.startswith(path) for problem in caught.value.problems), caught.value.problems


def test_invalid_payer_override_names_the_payer() -> None:
    with pytest.raises(RulesError, match=r"payers\.EXAUTO\.payment_method"):
        rules(EXAUTO={"payment_method": "CASH"})
    with pytest.raises(RulesError, match="not JSON"):
        load_rules("{")


# --- the 835 writer --------------------------------------------------------------------------

ADDRESS = PostalAddress(line1="PO Box 1", city="Springfield", state="IL", postal_code="62705")


def _remittance(**over: Any) -> Remittance:
    many = tuple(
        Adjustment(group="CO", reason=str(r), amount=D(1)) for r in (45, 97, 16, 18, 22, 23, 24)
    )
    service = ServicePayment(
        procedure="97140",
        modifiers=("GP", "59"),
        charge=D("100.00"),
        paid=D("83.00"),
        units=D(3),
        original_procedure="97124",
        original_units=D(4),
        line_control_number="L-1",
        service_date=dt.date(2025, 3, 3),
        adjustments=(*many, Adjustment(group="PR", reason="2", amount=D(10), quantity=D("1.5"))),
        remarks=(Remark(qualifier="HE", code="N130"), Remark(qualifier="HE", code="M15")),
    )
    claim = ClaimPayment(
        patient_control_number="PCN1",
        status_code="1",
        charge=D(105),
        paid=D(83),
        patient_responsibility=D(10),
        filing_indicator="12",
        payer_claim_control_number="PAYER1",
        adjustments=(Adjustment(group="OA", reason="23", amount=D(5)),),
        services=(service,),
    )
    plb = tuple(
        ProviderAdjustment(
            provider_id=f.CLINIC_NPI,
            date=dt.date(2025, 12, 31),
            reason="L6",
            reference=f"R{n}",
            amount=D(-1),
        )
        for n in range(7)
    )
    data: dict[str, Any] = {
        "control_number": "0001",
        "payer": Payer(name="A Payer", id="PAYER"),
        "payee": Payee(name="A Clinic", npi=f.CLINIC_NPI, tax_id="123456789"),
        "payment": Payment(
            amount=D(90),
            credit_debit="C",
            method="CHK",
            date=dt.date(2025, 4, 1),
            trace_number="T1",
            payer_trace_id="1234567890",
        ),
        "claims": (claim,),
        "provider_adjustments": plb,
        "balance": Balance(ok=True),
    }
    data.update(over)
    remittance = Remittance(**data)
    return remittance.model_copy(update={"balance": check_balance(remittance)})


def _details(**over: Any) -> RemittanceDetails:
    claim = ClaimDetails(
        patient=NameDetails(entity_type="1", last_name="Doe", first_name="Jo"),
        statement_from=dt.date(2025, 3, 3),
        statement_to=dt.date(2025, 3, 5),
        services=(ServiceDetails(allowed=D(93), service_date_end=dt.date(2025, 3, 5)),),
    )
    return RemittanceDetails(payer_address=ADDRESS, claims=(claim,), **over)


def _render(remittance: Remittance, details: RemittanceDetails | None = None, **over: Any) -> str:
    arguments: dict[str, Any] = {
        "sender_id": "PAYER",
        "receiver_id": "SUBMITTER",
        "control_number": 7,
        "created_at": NOW,
        "details": _details() if details is None else details,
    }
    arguments.update(over)
    return render_835(remittance, **arguments)


def test_writer_round_trip_with_every_feature() -> None:
    remittance = _remittance()
    assert remittance.balance.ok
    text = _render(remittance)
    assert [*parse_835(text.encode())] == [remittance]
    assert "CAS*CO*45*1.00**97*1.00**16*1.00**18*1.00**22*1.00**23*1.00~\nCAS*CO*24*1.00~" in text
    assert "CAS*PR*2*10.00*1.5~" in text
    assert "SVC*HC:97140:GP:59*100.00*83.00**3*HC:97124*4~" in text
    assert "DTM*150*20250303~\nDTM*151*20250305~" in text
    assert "DTM*232*20250303~\nDTM*233*20250305~" in text
    assert text.count("PLB*") == 2  # six adjustments per PLB segment
    assert text.startswith(
        "ISA*00*          *00*          *ZZ*PAYER          *ZZ*SUBMITTER      *250401*1230*^*00501*000000007*0*P*:~\n"
    )
    segments = [s for s in text.split("~\n") if s]
    st, se = (
        segments.index("ST*835*0001"),
        next(i for i, s in enumerate(segments) if s.startswith("SE*")),
    )
    assert segments[se] == f"SE*{se - st + 1}*0001"
    assert segments[-2:] == ["GE*1*7", "IEA*1*000000007~"[:-1]]


def test_pyx12_reads_a_second_plb_segment_as_a_second_footer_loop() -> None:
    """Why the simulator keeps to one PLB segment: the guide allows several, pyx12 does not."""
    report = validate_x12(_render(_remittance()))
    assert not report.ok
    assert any("FOOTER" in finding.message for finding in report.findings)
    one_plb = _remittance(provider_adjustments=_remittance().provider_adjustments[:6])
    report = validate_x12(_render(one_plb))
    assert report.ok, [str(x) for x in report.findings]


def test_writer_round_trip_of_a_public_style_835() -> None:
    path = REPO / "tests" / "data" / "835" / "synthetic-reversal-correction-plb.835"
    [remittance] = parse_835(path.read_bytes())
    text = _render(remittance, RemittanceDetails(payer_address=ADDRESS, bank=BANK))
    assert [*parse_835(text.encode())] == [remittance]
    report = validate_x12(text)
    assert report.ok, [str(x) for x in report.findings]


def test_writer_with_other_delimiters_and_one_line() -> None:
    remittance = _remittance(provider_adjustments=())
    remittance = remittance.model_copy(update={"balance": check_balance(remittance)})
    delimiters = Delimiters(element="|", component=">", repetition="!", segment="\n")
    text = _render(remittance, delimiters=delimiters, line_break=False)
    assert "|" in text and "*" not in text and "\n\n" not in text
    assert text.endswith("\nGE|1|7\nIEA|1|000000007\n")
    assert [*parse_835(text.encode())] == [remittance]


def test_two_transactions_in_one_interchange() -> None:
    first = _remittance(provider_adjustments=())
    second = first.model_copy(update={"control_number": "0002"})
    from edi.x835 import render_835_interchange

    text = render_835_interchange(
        [RemittanceAdvice(remittance=r, details=_details()) for r in (first, second)],
        sender_id="PAYER",
        receiver_id="SUBMITTER",
        control_number=9,
        created_at=NOW,
    )
    assert [r.control_number for r in parse_835(text.encode())] == ["0001", "0002"]
    assert "GE*2*9~" in text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda r, d: (
                r.model_copy(update={"payment": r.payment.model_copy(update={"date": None})}),
                d,
            ),
            "BPR16",
        ),
        (lambda r, d: (r.model_copy(update={"payer": Payer(name=None, id="X")}), d), "N102"),
        (lambda r, d: (r, d.model_copy(update={"payer_address": None})), "N3/N4"),
        (lambda r, d: (r.model_copy(update={"payee": Payee(name="Clinic")}), d), "N103/N104"),
        (lambda r, d: (r, d.model_copy(update={"claims": ()})), "NM1"),  # allowed: no details
        (lambda r, d: (r, d.model_copy(update={"claims": d.claims * 2})), "one ClaimDetails"),
        (
            lambda r, d: (
                r.model_copy(
                    update={
                        "claims": (
                            r.claims[0].model_copy(update={"payer_claim_control_number": None}),
                        )
                    }
                ),
                d,
            ),
            "CLP07",
        ),
        (
            lambda r, d: (
                r.model_copy(
                    update={"claims": (r.claims[0].model_copy(update={"filing_indicator": None}),)}
                ),
                d,
            ),
            "CLP06",
        ),
        (
            lambda r, d: (
                r.model_copy(
                    update={"payment": r.payment.model_copy(update={"payer_trace_id": "123"})}
                ),
                d,
            ),
            "TRN03",
        ),
        (lambda r, d: (r.model_copy(update={"control_number": "01"}), d), "ST02"),
    ],
)
def test_writer_refuses_what_the_guide_requires(change: Any, message: str) -> None:
    remittance, details = change(_remittance(provider_adjustments=()), _details())
    if message == "NM1":  # no claim details: the required NM1*QC is written without a name
        text = _render(remittance, details)
        assert "NM1*QC*1~" in text
        return
    with pytest.raises(X835RenderError, match=message) as caught:
        _render(remittance, details)
    assert "transaction" in str(caught.value)


def test_writer_refuses_delimiters_in_values_without_quoting_them() -> None:
    details = _details()
    bad = details.model_copy(
        update={
            "claims": (
                details.claims[0].model_copy(
                    update={"patient": NameDetails(entity_type="1", last_name="Do*e")}
                ),
            )
        }
    )
    with pytest.raises(X12RenderError) as caught:
        _render(_remittance(provider_adjustments=()), bad)
    assert "NM103" in str(caught.value) and "claim 1" in str(caught.value)
    assert "Do*e" not in str(caught.value)


def test_writer_refuses_a_naive_time_and_duplicate_control_numbers() -> None:
    with pytest.raises(X835RenderError, match="timezone"):
        _render(_remittance(), created_at=dt.datetime(2025, 4, 1, 12, 0))
    from edi.x835 import render_835_interchange

    advice = RemittanceAdvice(remittance=_remittance(provider_adjustments=()), details=_details())
    with pytest.raises(X835RenderError, match="ST02"):
        render_835_interchange(
            [advice, advice], sender_id="P", receiver_id="R", control_number=1, created_at=NOW
        )


# --- property: any claims, any rules ---------------------------------------------------------

PROCEDURES = ["97140", "97124", "97112", "97110", "97530", "97010"]
money = st.integers(min_value=1, max_value=50_000).map(lambda cents: D(cents) / 100)
percent = st.integers(min_value=0, max_value=100).map(str)


@st.composite
def random_claims(draw: st.DrawFn) -> list[Claim]:
    claims = []
    for number in range(draw(st.integers(min_value=1, max_value=6))):
        pcn = f"HYP{number:04d}{draw(st.integers(min_value=0, max_value=999)):03d}"
        lines = []
        for line_number in range(1, draw(st.integers(min_value=1, max_value=4)) + 1):
            charge = draw(money)
            lines.append(
                f.line_data(
                    line_number,
                    procedure=draw(st.sampled_from(PROCEDURES)),
                    modifiers=draw(st.sampled_from([[], ["GP"], ["GP", "XS"]])),
                    charge=str(charge),
                    units=draw(st.integers(min_value=1, max_value=4)),
                    diagnosis_pointers=[1],
                    line_control_number=f"{pcn}-L{line_number}",
                )
            )
        total = str(sum((D(line["charge"]) for line in lines), D(0)))
        base = draw(
            st.sampled_from(
                [f.commercial_claim_data, f.workers_comp_claim_data, f.auto_pip_claim_data]
            )
        )
        frequency = draw(st.sampled_from(["1", "1", "7", "8"]))
        extra = {} if frequency == "1" else {"payer_claim_number": f"ORIG{number}", "version": 2}
        claims.append(
            f.claim(
                base(
                    claim_id=f"{pcn}-1",
                    patient_control_number=pcn,
                    lines=lines,
                    total_charge=total,
                    frequency=frequency,
                    **extra,
                )
            )
        )
    return claims


@st.composite
def random_rules(draw: st.DrawFn) -> SimulatorRules:
    fees = draw(st.dictionaries(st.sampled_from(PROCEDURES), money.map(str), max_size=6))
    kinds = draw(st.lists(st.sampled_from(sorted(DENIAL_CODES)), max_size=4, unique=True))
    denials = []
    for kind in kinds:
        select: dict[str, Any] = {"percent": draw(percent)}
        if kind != "patient-not-recognised" and draw(st.booleans()):
            select["procedures"] = draw(
                st.lists(st.sampled_from(PROCEDURES), min_size=1, max_size=2)
            )
        denials.append({"id": f"rule-{kind}", "kind": kind, "select": select})
    default = {
        "fee_schedule": fees,
        "percent_of_charge": str(draw(st.integers(min_value=1, max_value=100))),
        "patient_share": {
            "copay": str(draw(money)) if draw(st.booleans()) else "0",
            "coinsurance_percent": draw(percent),
            "deductible": {"amount": str(draw(money)), "select": {"percent": draw(percent)}},
        },
        "denials": denials,
        "reversals": {
            "select": {"percent": draw(percent)},
            "corrected_allowed_percent": draw(percent),
            "include_original": draw(st.booleans()),
        },
        "voids": {"reverse": {"percent": draw(percent)}},
        "interest": {
            "select": {"percent": draw(percent)},
            "annual_percent": draw(percent),
            "days_late": 30,
        },
        "payment_method": draw(st.sampled_from(["ACH", "CHK"])),
    }
    return rules(default)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(claims=random_claims(), sim_rules=random_rules())
def test_any_claims_and_rules_give_valid_balanced_835s(
    claims: list[Claim], sim_rules: SimulatorRules
) -> None:
    outcome = simulate(claims, sim_rules)
    answered = {c.patient_control_number for c in outcome.claims}
    assert answered == {c.patient_control_number for c in claims}
    again = render_answers(adjudicate(received(claims), sim_rules, now=NOW), now=NOW)
    assert again == outcome.text
