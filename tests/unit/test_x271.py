"""The 271 reader on the public samples and on answers written for the cases they lack."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from edi.segments import X12EnvelopeError, X12SyntaxError
from edi.tolerance import Warnings
from edi.x271 import MAX_BENEFITS_PER_PERSON, X271Error, aaa_reason, parse_271
from schemas.eligibility import CoverageKey, EligibilityResponse

SAMPLES = Path(__file__).parents[1] / "data" / "271"


def sample(name: str, *, warnings: Warnings | None = None) -> list[EligibilityResponse]:
    return parse_271((SAMPLES / name).read_bytes(), warnings=warnings)


def interchange(*body: str, control: str = "0001") -> bytes:
    """One 271 around ``body`` (the segments after the provider's loop), counted right."""
    head = [
        "ISA*00*          *00*          *ZZ*PAYER          *ZZ*CLINIC         *260302*0930*^*00501*000000001*0*T*:",
        "GS*HB*PAYER*CLINIC*20260302*0930*1*X*005010X279A1",
    ]  # fmt: skip
    tx = [
        f"ST*271*{control}*005010X279A1",
        "BHT*0022*11*0001*20260302*0930",
        "HL*1**20*1",
        "NM1*PR*2*ACME HEALTH*****PI*ACME01",
        "HL*2*1*21*1",
        "NM1*1P*2*GOOD HANDS*****XX*1234567893",
        *body,
    ]
    tx.append(f"SE*{len(tx) + 1}*{control}")
    return ("~".join([*head, *tx, "GE*1*1", "IEA*1*000000001"]) + "~").encode()


SUBSCRIBER = [
    "HL*3*2*22*0",
    "TRN*2*c1/pt1/p1/20260302*1123456789",
    "NM1*IL*1*DOE*ANA****MI*M123",
    "DTP*346*D8*20260101",
    "DTP*347*D8*20261231",
]


def test_an_active_subscriber_with_copay_deductible_and_visit_limits() -> None:
    (answer,) = parse_271(
        interchange(
            *SUBSCRIBER,
            "EB*1*IND*30**GOLD PLAN",
            "EB*B*IND*AE***27*25*****Y",
            "EB*A*IND*AE*****.2****Y",
            "EB*C*IND*30***23*500",
            "EB*C*IND*30***29*320",
            "EB*F*IND*AE***23***VS*20",
            "EB*F*IND*AE***29***VS*12",
            "EB*F*IND*BE",
            "HSD*VS*10***23",
            "EB*F*IND*AE******99*8",
        )
    )
    assert answer.status == "active" and answer.plan_name == "GOLD PLAN"
    assert answer.coverage == CoverageKey(clinic_id="c1", patient_id="pt1", payer_id="p1")
    assert answer.asked_on == dt.date(2026, 3, 2)
    assert (answer.plan_begin, answer.plan_end) == (dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    assert [(c.amount, c.period_words, c.in_network) for c in answer.copays] == [
        (Decimal(25), "visit", "Y")
    ]
    assert answer.coinsurance_percent == [Decimal(".2")]
    assert [(d.amount, d.period) for d in answer.deductibles] == [
        (Decimal(500), "23"),
        (Decimal(320), "29"),
    ]
    limits = [(v.quantity, v.service_types, v.remaining, v.used) for v in answer.visit_limits]
    assert limits == [
        (Decimal(20), ["AE"], False, False),
        (Decimal(12), ["AE"], True, False),
        (Decimal(10), ["BE"], False, False),
        (Decimal(8), ["AE"], False, True),
    ]
    assert answer.active_on(dt.date(2026, 3, 2)) is True
    assert answer.active_on(dt.date(2027, 1, 2)) is False


def test_an_inactive_coverage_and_a_rejected_subscriber() -> None:
    inactive, rejected = parse_271(
        interchange(
            *SUBSCRIBER,
            "EB*6**30",
            "HL*4*2*22*0",
            "TRN*2*c1/pt2/p1/20260302*1123456789",
            "NM1*IL*1*ROE*BO****MI*M999",
            "AAA*Y**75*C",
        )
    )
    assert inactive.status == "inactive" and inactive.active_on(dt.date(2026, 3, 2)) is False
    assert rejected.status == "rejected"
    assert [(r.loop, r.code, r.reason, r.follow_up_words) for r in rejected.rejections] == [
        ("2100C", "75", "Subscriber or insured not found", "Please correct and resubmit")
    ]


def test_public_subscriber_answer() -> None:
    (answer,) = sample("lfh-subscriber.271")
    assert answer.level == "subscriber" and answer.status == "active"
    assert answer.member_id == "123456789" and answer.plan_begin == dt.date(2006, 1, 1)
    assert [c.amount for c in answer.copays] == [Decimal("10.00"), Decimal("30.00")]
    assert answer.coverage is None  # someone else's trace
    assert answer.active_on(dt.date(2006, 5, 1)) is True


@pytest.mark.parametrize("name", ["lfh-dependent.271", "stupidedi-dependent.271"])
def test_public_dependent_answers_carry_the_subscribers_member_id(name: str) -> None:
    (answer,) = sample(name)
    assert (answer.level, answer.status, answer.member_id) == ("dependent", "active", "123456789")


def test_public_rejection_of_the_provider_is_one_answer_about_nobody() -> None:
    (answer,) = sample("stupidedi-aaa50.271")
    assert (answer.level, answer.status, answer.member_id) == ("receiver", "rejected", None)
    assert answer.rejections[0].reason == "Provider not eligible for inquiries"


def test_public_sample_with_a_wrong_se02_is_read_with_a_warning_or_refused() -> None:
    warnings = Warnings()
    (answer,) = sample("lfh-error-se02.271", warnings=warnings)
    assert answer.status == "rejected" and [w.rule for w in warnings] == ["se02-control"]
    with pytest.raises(X12EnvelopeError):
        sample("lfh-error-se02.271")


def test_public_sample_with_hsd_visit_limits_and_pipes() -> None:
    warnings = Warnings()
    (answer,) = sample("tigershark-example-1.271", warnings=warnings)
    assert [w.rule for w in warnings] == ["se01-count"]
    assert answer.status == "active" and answer.eligibility_begin == dt.date(2014, 12, 8)
    assert [(v.quantity, v.period_words, v.remaining) for v in answer.visit_limits] == [
        (Decimal(35), "years", False),
        (Decimal(35), "remaining", True),
    ]


def test_public_medicaid_answer_with_a_byte_order_mark() -> None:
    (answer,) = sample("indice-medicaid.271")
    assert answer.status == "active" and answer.plan_begin == dt.date(2010, 6, 1)


def test_errors_name_the_segment_and_rule_never_the_value() -> None:
    with pytest.raises(X271Error) as err:
        parse_271(interchange(*SUBSCRIBER, "EB*B*IND*AE***27*1E+30"))
    assert "EB07 is not a decimal number" in str(err.value) and "1E+30" not in str(err.value)
    assert err.value.ordinal is not None
    with pytest.raises(X271Error, match="EB07 has more than 18 digits"):
        parse_271(interchange(*SUBSCRIBER, "EB*C*IND*30***23*" + "9" * 19))
    with pytest.raises(X271Error, match="DTP03 is not a CCYYMMDD date"):
        parse_271(interchange(*SUBSCRIBER[:3], "DTP*346*D8*20261399"))
    with pytest.raises(X271Error, match="HSD before any EB"):
        parse_271(interchange(*SUBSCRIBER, "HSD*VS*10"))


def test_not_a_271_is_refused() -> None:
    with pytest.raises(X271Error, match="GS01 is not HB"):
        parse_271(interchange(*SUBSCRIBER).replace(b"GS*HB", b"GS*HS"))
    with pytest.raises(X271Error, match="ST01 is not 271"):
        parse_271(interchange(*SUBSCRIBER).replace(b"ST*271", b"ST*270"))


def test_a_garbled_segment_id_inside_the_answer_is_refused_even_when_tolerant() -> None:
    with pytest.raises(X12SyntaxError):
        parse_271(interchange(*SUBSCRIBER, "E#*1**30"), warnings=Warnings())


def test_benefits_per_person_are_bounded() -> None:
    many = ["EB*1**30"] * (MAX_BENEFITS_PER_PERSON + 1)
    with pytest.raises(X271Error, match="more than 10000 EB"):
        parse_271(interchange(*SUBSCRIBER, *many))


def test_unknown_aaa_codes_still_read() -> None:
    assert aaa_reason("ZZ") == "unknown reason code"
