"""835 parsing and balancing (`edi.x835`, `schemas.remittance`)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from edi.segments import X12EnvelopeError, X12Error, X12SyntaxError, render_isa, render_segment
from edi.x835 import (
    RemittanceDetails,
    X835Error,
    check_balance,
    claim_balance_errors,
    iter_835_events,
    parse_835,
    parse_835_file,
    render_835,
    transaction_balance_error,
)
from schemas.remittance import (
    Adjustment,
    Balance,
    BalanceError,
    ClaimPayment,
    Remark,
    Remittance,
    RemittanceHeader,
    RemittanceSummary,
    ServicePayment,
    money_text,
    quantity_text,
)

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "835"
COB = (
    DATA
    / "LinuxForHealth_x12__src_tests_resources_835_005010X221A1_cob-contractural-adjustment.835"
)
MANAGED = DATA / "LinuxForHealth_x12__src_tests_resources_835_005010X221A1_managed-care.835"
MEDICARE = DATA / "LinuxForHealth_x12__src_tests_resources_835_005010X221A1_medicare-part-a.835"
SECONDARY = DATA / "LinuxForHealth_x12__src_tests_resources_835_005010X221A1_secondary-payment.835"
TERTIARY = DATA / "LinuxForHealth_x12__src_tests_resources_835_005010X221A1_tertiary-payment.835"
MULT_LOOPS = DATA / "azoner_pyx12__pyx12_tests_835_mult_loops.txt"
MOOV1 = DATA / "moov-io_x12__examples_example_5010_835_sample1.txt"
MOOV2 = DATA / "moov-io_x12__examples_example_5010_835_sample2.txt"
REVERSAL = DATA / "synthetic-reversal-correction-plb.835"
TWO_INTERCHANGES = DATA / "synthetic-two-interchanges.835"
BOM = DATA / "synthetic-bom-whitespace.835"

D = Decimal


def parse(path: Path) -> list[Remittance]:
    return list(parse_835_file(path))


def equations(remittance: Remittance) -> list[tuple[str, str, str, str]]:
    return [
        (e.level, e.reference, e.expected, e.actual)
        for e in remittance.balance.errors
        if e.is_equation
    ]


def problems(remittance: Remittance) -> list[tuple[str, str, str, str]]:
    return [
        (e.level, e.reference, e.expected, e.actual)
        for e in remittance.balance.errors
        if not e.is_equation
    ]


# --- every public sample ----------------------------------------------------------------

#: file -> per transaction: (ST02, BPR02, sum of CLP04, claims, PLB total, failing equations)
EXPECTED = {
    COB: [("0001", "34.00", "34.00", 1, "0", [])],
    MANAGED: [("112233", "945.00", "945.00", 2, "0", [])],
    MEDICARE: [("1234", "150000.00", "149998.73", 2, "-1.27", [])],
    SECONDARY: [("1234", "1222.00", "1222.00", 2, "0", [])],
    TERTIARY: [
        (
            "0001",
            "187.50",
            "187.50",
            1,
            "0",
            [("line", "0001000054/line 1", "23020.00", "1766.50")],
        )
    ],
    MULT_LOOPS: [("0001", "0", "0", 1, "0", [])],
    MOOV1: [
        ("0001", "-6173.5", "0", 1, "6173.5", [("claim", "9999999", "0.01", "0.00")]),
        ("0002", "-6173.4", "0", 1, "6173.4", []),
    ],
    MOOV2: [
        ("1736", "4000.00", "4000.00", 1, "0", [("claim", "1234567-001", "2998.00", "4000.00")])
    ],
}


@pytest.mark.parametrize("path", sorted(EXPECTED), ids=lambda p: p.name[:60])
def test_every_public_sample_parses_with_the_totals_of_the_file(path: Path) -> None:
    remittances = parse(path)
    assert len(remittances) == len(EXPECTED[path])
    for remittance, expected in zip(remittances, EXPECTED[path], strict=True):
        control, amount, paid, claims, plb, failing = expected
        assert remittance.control_number == control
        assert remittance.payment.amount == D(amount)
        assert sum((c.paid for c in remittance.claims), D(0)) == D(paid)
        assert len(remittance.claims) == claims
        assert sum((a.amount for a in remittance.provider_adjustments), D(0)) == D(plb)
        assert equations(remittance) == failing
        assert remittance.balance.ok is (not failing)
        assert check_balance(remittance).errors == tuple(
            e for e in remittance.balance.errors if e.is_equation
        )


def test_exactly_the_three_known_samples_are_unbalanced() -> None:
    unbalanced = {
        path.name
        for path in DATA.iterdir()
        if path.suffix in (".835", ".txt")
        and "synthetic" not in path.name
        and not all(r.balance.ok for r in parse(path))
    }
    assert unbalanced == {TERTIARY.name, MOOV1.name, MOOV2.name}


def test_cob_sample_values() -> None:
    (remittance,) = parse(COB)
    assert remittance.payer.name == "YOUR TAX DOLLARS AT WORK"
    assert remittance.payer.id == "1566339911"  # no N104: TRN03
    assert remittance.payee.model_dump() == {
        "name": "ATONEWITHHEALTH",
        "npi": None,
        "tax_id": "3UR334563",
    }
    assert remittance.payment.method == "CHK" and remittance.payment.trace_number == "0063158ABC"
    # the file puts the date in BPR15: BPR16 is missing, reported, and does not unbalance
    assert remittance.payment.date is None
    assert problems(remittance) == [("transaction", "BPR16", "a date CCYYMMDD", "")]
    (claim,) = remittance.claims
    assert (claim.patient_control_number, claim.status_code) == ("0001000055", "2")
    assert claim.patient_responsibility is None and claim.filing_indicator == "12"
    (service,) = claim.services
    # SVC01 is 'HC>55669' but ISA16 is ':': no component separator, so no procedure code
    assert service.procedure is None and service.modifiers == ()
    assert (service.charge, service.paid, service.units) == (D("541.00"), D("34.00"), D("1.00"))
    assert service.service_date == dt.date(2005, 2, 2)
    assert [(a.group, a.reason, a.amount) for a in service.adjustments] == [
        ("OA", "23", D("516.00")),
        ("OA", "94", D("-9.00")),
    ]


def test_managed_care_sample_values() -> None:
    (remittance,) = parse(MANAGED)
    assert remittance.payee.npi == "5544667733" and remittance.payee.tax_id == "777667755"
    assert remittance.payment.date is None
    assert problems(remittance) == [("transaction", "BPR16", "a date CCYYMMDD", "20002316")]
    assert remittance.balance.ok
    first, second = remittance.claims
    assert [a.reason for a in first.adjustments] == ["A2"]
    assert first.services[0].procedure == "99211"
    assert first.services[0].service_date == dt.date(2002, 3, 1)  # DTM*150
    assert [(a.group, a.reason) for a in second.services[0].adjustments] == [
        ("PR", "1"),
        ("CO", "45"),
    ]


def test_medicare_sample_plb_and_claims_without_lines() -> None:
    (remittance,) = parse(MEDICARE)
    assert remittance.payment.date == dt.date(2002, 9, 13)
    assert [c.services for c in remittance.claims] == [(), ()]
    (plb,) = remittance.provider_adjustments
    assert plb.model_dump() == {
        "provider_id": "6543210903",
        "date": dt.date(2002, 12, 31),
        "reason": "CV",
        "reference": "CP",
        "amount": D("-1.27"),
    }


def test_claim_remarks_from_moa_are_read() -> None:
    """MOA03-MOA07 are the claim's remark codes (MA02 on the Medicare sample)."""
    (remittance,) = parse(MEDICARE)
    remarks = [[(r.qualifier, r.code) for r in c.remarks] for c in remittance.claims]
    assert ("HE", "MA02") in [r for claim in remarks for r in claim]


def test_a_crossover_carrier_and_moa_remarks_survive_writing_and_reading() -> None:
    """NM1*TT names the payer the claim was forwarded to; the writer writes what the
    reader reads."""
    (remittance,) = parse(REVERSAL)
    claim = remittance.claims[1].model_copy(
        update={
            "crossover_carrier": "SPOUSE PLAN",
            "remarks": (Remark(qualifier="HE", code="MA18"), Remark(qualifier="HE", code="N89")),
        }
    )
    from tests.unit.test_payer_sim import ADDRESS, BANK

    rewritten = remittance.model_copy(update={"claims": (remittance.claims[0], claim)})
    text = render_835(
        rewritten,
        sender_id="PAYER",
        receiver_id="CLINIC",
        control_number=7,
        created_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
        details=RemittanceDetails(payer_address=ADDRESS, bank=BANK),
    )
    assert "NM1*TT*2*SPOUSE PLAN~" in text and "MOA***MA18*N89~" in text
    (back,) = parse_835(text.encode())
    assert back.claims[1].crossover_carrier == "SPOUSE PLAN"
    assert [r.code for r in back.claims[1].remarks] == ["MA18", "N89"]


def test_secondary_sample_cas_triples_with_and_without_quantity() -> None:
    (remittance,) = parse(SECONDARY)
    services = remittance.claims[1].services
    assert [(a.group, a.reason, a.amount, a.quantity) for a in services[1].adjustments] == [
        ("PR", "1", D("150.00"), None),
        ("PR", "2", D("70.00"), None),
        ("CO", "42", D("85.00"), None),
    ]
    assert services[1].units == D("1.00")  # SVC05, not the SVC04 revenue code


def test_mult_loops_sample_units_and_remarks() -> None:
    (remittance,) = parse(MULT_LOOPS)
    (claim,) = remittance.claims
    assert claim.status_code == "4"
    assert [s.units for s in claim.services] == [D(68), D(16), D(36)]
    assert [s.procedure for s in claim.services] == ["T1005"] * 3
    assert [[(r.qualifier, r.code) for r in s.remarks] for s in claim.services] == [
        [("HE", "N14")]
    ] * 3
    assert remittance.payee.tax_id == "444313000"


def test_moov_sample1_two_transactions_negative_payment_and_plb() -> None:
    first, second = parse(MOOV1)
    assert first.payment.amount == D("-6173.5") and first.payment.date == dt.date(2011, 7, 26)
    assert first.provider_adjustments[0].reason == "50"
    assert first.provider_adjustments[0].reference == "111"  # ISA16 is '>'
    service = first.claims[0].services[0]
    assert (service.procedure, service.line_control_number) == ("97001", "1")
    assert service.adjustments[0].quantity == D(0)
    assert second.balance.ok and not second.balance.errors


def test_moov_sample2_cas_quantity_and_invalid_bpr16() -> None:
    (remittance,) = parse(MOOV2)
    service = remittance.claims[0].services[0]
    assert [(a.reason, a.amount, a.quantity) for a in service.adjustments] == [
        ("1", D("1199.68"), None),
        ("2", D("2"), D("4")),
    ]
    assert service.line_control_number == "8305424"
    assert problems(remittance) == [("transaction", "BPR16", "a date CCYYMMDD", "20990080")]


# --- synthetic edge cases ---------------------------------------------------------------


def test_reversal_and_correction_balance_with_negative_amounts() -> None:
    (remittance,) = parse(REVERSAL)
    assert remittance.balance.ok and not remittance.balance.errors
    reversal, correction, other = remittance.claims
    assert (reversal.status_code, reversal.charge, reversal.paid) == ("22", D(-160), D(-120))
    assert reversal.patient_responsibility == D(-20)
    assert [a.amount for a in reversal.services[0].adjustments] == [D(-20), D(-20)]
    assert (correction.status_code, correction.paid) == ("1", D(130))
    assert reversal.patient_control_number == correction.patient_control_number == "PCN1001"
    line = other.services[0]
    assert (line.procedure, line.modifiers) == ("97124", ("GP", "59"))
    assert (line.original_procedure, line.original_units, line.units) == ("97140", D(3), D(2))
    assert line.service_date == dt.date(2024, 3, 4)  # DTM*150 when there is no DTM*472
    assert [r.code for r in line.remarks] == ["M15", "N130"]
    assert line.adjustments[0].quantity == D(1)


def test_plb_interest_and_overpayment_recovery() -> None:
    (remittance,) = parse(REVERSAL)
    assert [(a.reason, a.reference, a.amount) for a in remittance.provider_adjustments] == [
        ("L6", None, D("-2.50")),
        ("WO", "PCN0999", D("40.00")),
        ("WO", "PCN1001", D("-10.00")),
    ]
    assert {a.date for a in remittance.provider_adjustments} == {dt.date(2024, 12, 31)}
    # 72.50 = (-120 + 130 + 90) - (-2.50 + 40 - 10)
    assert remittance.payment.amount == D("72.50")


def test_a_wrong_payment_amount_fails_the_transaction_equation() -> None:
    data = REVERSAL.read_bytes().replace(b"BPR*I*72.50*", b"BPR*I*72.00*")
    (remittance,) = parse_835(data)
    assert not remittance.balance.ok
    assert equations(remittance) == [("transaction", "0001", "72.50", "72.00")]


def test_an_invalid_service_date_is_null_and_reported_without_unbalancing() -> None:
    data = REVERSAL.read_bytes().replace(b"DTM*150*20240304", b"DTM*150*20240231")
    (remittance,) = parse_835(data)
    assert remittance.claims[2].services[0].service_date is None
    assert problems(remittance) == [("line", "PCN1002/line 1/DTM02", "a date CCYYMMDD", "20240231")]
    assert remittance.balance.ok


def test_two_interchanges_with_different_delimiters() -> None:
    remittances = parse(TWO_INTERCHANGES)
    assert [r.control_number for r in remittances] == ["1001", "2001", "2002"]
    assert [r.payer.name for r in remittances] == [
        "GREEN MOUNTAIN HEALTH PLAN",
        "NORTHERN ~ MUTUAL",
        "GREEN MOUNTAIN HEALTH PLAN",
    ]
    assert all(r.balance.ok for r in remittances)
    assert remittances[1].claims[0].services[0].modifiers == ("GP",)
    denied = remittances[2].claims[0]
    assert denied.services[0].units == D(0)  # an explicit zero is not "absent means one"
    assert denied.services[0].remarks[0].code == "N14"


def test_bom_and_whitespace_do_not_change_the_result() -> None:
    data = BOM.read_bytes()
    clean = b"".join(raw.strip() + b"~" for raw in data[3:].split(b"~") if raw.strip())
    assert list(parse_835(data)) == list(parse_835(clean))
    (remittance,) = parse_835(data)
    assert remittance.claims[0].services[0].procedure == "97140"


@pytest.mark.parametrize("newline", [b"", b"\n", b"\r\n"])
def test_line_breaks_after_terminators_do_not_change_the_result(newline: bytes) -> None:
    data = REVERSAL.read_bytes()
    variant = data.replace(b"~\r\n", b"~" + newline)
    assert list(parse_835(variant)) == list(parse_835(data))


def test_no_patient_name_is_read() -> None:
    for path in [REVERSAL, TWO_INTERCHANGES, MOOV1, COB]:
        for remittance in parse(path):
            text = remittance.model_dump_json()
            for name in ("ISAAC", "NEWTON", "LOVELACE", "JOAN", "BURCK"):
                assert name not in text


# --- errors ------------------------------------------------------------------------------


def broken(old: bytes, new: bytes) -> X12Error:
    data = REVERSAL.read_bytes()
    assert old in data
    with pytest.raises(X12Error) as caught:
        list(parse_835(data.replace(old, new, 1)))
    error = caught.value
    assert error.ordinal is not None and error.offset is not None
    assert f"segment {error.ordinal}" in str(error)
    return error


def test_a_bad_amount_names_the_element_not_the_value() -> None:
    error = broken(b"CLP*PCN1002*1*120.00*", b"CLP*PCN1002*1*12O.OO*")
    assert isinstance(error, X835Error)
    assert "CLP03 is not a decimal number" in str(error)
    assert "12O" not in str(error)
    assert REVERSAL.read_bytes()[error.offset or 0 :].startswith(b"CLP*PCN1002")


@pytest.mark.parametrize("amount", [b"NaN", b"1e5", b"1_000", b"+5", b" 5", b"5."])
def test_only_plain_decimals_are_amounts(amount: bytes) -> None:
    data = REVERSAL.read_bytes().replace(b"LQ*HE*N381", b"CAS*OA*23*" + amount)
    if amount == b"5.":
        (remittance,) = parse_835(data)  # '5.' is a valid X12 decimal
        assert remittance.claims[1].services[0].adjustments[-1].amount == D(5)
        return
    with pytest.raises(X835Error, match="CAS03"):
        list(parse_835(data))


def test_a_missing_required_amount() -> None:
    error = broken(b"SVC*HC:97124:GP:59*120.00*90.00", b"SVC*HC:97124:GP:59*120.00*")
    assert "SVC03 is missing" in str(error)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (b"CLP*PCN1001*22*", b"SVC*PCN1001*22*", "SVC outside a claim"),
        (b"LX*1~", b"CAS*CO*45*1~", "CAS outside a claim"),
        (b"BPR*I*72.50", b"REF*EV*72.50", "LX before the BPR"),
        (b"PLB*1234567893*20241231*WO:PCN1001*-10.00", b"CLP*X*1*0*0", "CLP after the PLB"),
        (b"ST*835*0001", b"ST*837*0001", "not an 835"),
        (b"CAS*CO*45*15.00*1", b"CAS*CO**15.00*1", "CAS02 (reason code) is missing"),
        (b"CLP*PCN1002*1*", b"CLP**1*", "CLP01"),
    ],
)
def test_structure_errors_are_typed_and_located(old: bytes, new: bytes, message: str) -> None:
    error = broken(old, new)
    assert isinstance(error, X835Error)
    assert message in str(error)


def test_a_truncated_isa_is_a_syntax_error() -> None:
    with pytest.raises(X12SyntaxError, match="fixed-width") as caught:
        parse(DATA / "synthetic-truncated-isa.835")
    assert (caught.value.ordinal, caught.value.offset) == (1, 0)


def test_a_missing_iea_is_an_envelope_error_with_position() -> None:
    with pytest.raises(X12EnvelopeError, match="missing IEA") as caught:
        parse(DATA / "synthetic-missing-iea.835")
    assert caught.value.ordinal == 16 and caught.value.offset is not None


def test_a_wrong_se_count_is_an_envelope_error() -> None:
    error = broken(b"SE*38*0001", b"SE*37*0001")
    assert isinstance(error, X12EnvelopeError)
    assert "SE01" in str(error)


# --- balancing functions -------------------------------------------------------------


def adjustment(amount: str, group: str = "CO", reason: str = "45") -> Adjustment:
    return Adjustment(group=group, reason=reason, amount=D(amount))


def service(charge: str, paid: str, *adjustments: str) -> ServicePayment:
    return ServicePayment(
        procedure="97140",
        charge=D(charge),
        paid=D(paid),
        units=D(4),
        adjustments=tuple(adjustment(a) for a in adjustments),
    )


def claim(
    charge: str, paid: str, claim_level: tuple[str, ...], *services: ServicePayment
) -> ClaimPayment:
    return ClaimPayment(
        patient_control_number="PCN9",
        status_code="1",
        charge=D(charge),
        paid=D(paid),
        adjustments=tuple(adjustment(a) for a in claim_level),
        services=services,
    )


def test_line_and_claim_equations() -> None:
    good = claim("200", "150", ("10",), service("100", "80", "20"), service("100", "80", "20"))
    assert claim_balance_errors(good) == []
    bad_line = claim("200", "150", ("10",), service("100", "80", "20"), service("100", "85", "20"))
    assert [
        (e.level, e.reference, e.expected, e.actual) for e in claim_balance_errors(bad_line)
    ] == [("line", "PCN9/line 2", "80.00", "85.00")]
    bad_claim = claim("200", "160", ("10",), service("100", "80", "20"), service("100", "80", "20"))
    assert [(e.level, e.expected, e.actual) for e in claim_balance_errors(bad_claim)] == [
        ("claim", "150.00", "160.00")
    ]


def test_reversal_equations_use_the_same_signs() -> None:
    reversal = claim("-200", "-150", ("-10",), service("-200", "-160", "-40"))
    assert claim_balance_errors(reversal) == []


def test_transaction_equation() -> None:
    assert transaction_balance_error("1", D("97.50"), D("100"), D("2.50")) is None
    assert transaction_balance_error("1", D("102.50"), D("100"), D("-2.50")) is None
    error = transaction_balance_error("7", D("100"), D("100"), D("2.50"))
    assert error is not None
    assert (error.level, error.reference, error.expected, error.actual) == (
        "transaction",
        "7",
        "97.50",
        "100.00",
    )


def test_balance_ok_must_agree_with_its_errors() -> None:
    equation = BalanceError(level="claim", reference="X", expected="1.00", actual="2.00")
    problem = BalanceError(
        level="transaction", reference="BPR16", expected="a date CCYYMMDD", actual=""
    )
    assert Balance(ok=True, errors=(problem,)).ok
    with pytest.raises(ValidationError):
        Balance(ok=True, errors=(equation,))
    with pytest.raises(ValidationError):
        Balance(ok=False, errors=(problem,))


def test_money_and_quantity_text() -> None:
    assert [money_text(D(v)) for v in ("100", "-6173.5", "0.005", "-0", "1E+3")] == [
        "100.00",
        "-6173.50",
        "0.00",
        "0.00",
        "1000.00",
    ]
    assert [quantity_text(D(v)) for v in ("1.00", "68", "1.50", "0", "1E+2")] == [
        "1",
        "68",
        "1.5",
        "0",
        "100",
    ]


def test_the_model_round_trips_through_its_json() -> None:
    for path in (REVERSAL, MOOV1, MANAGED):
        for remittance in parse(path):
            assert Remittance.model_validate_json(remittance.model_dump_json()) == remittance


def test_models_are_strict_and_frozen() -> None:
    with pytest.raises(ValidationError):
        Adjustment(group="CO", reason="45", amount=1.5)
    item = adjustment("1")
    with pytest.raises(ValidationError):
        item.amount = D(2)


# --- streaming -----------------------------------------------------------------------------


def synthetic_835(claims: int, per_transaction: int | None = None) -> Iterator[bytes]:
    """A balanced 835 with ``claims`` massage claims, produced piece by piece with our writer."""
    per_transaction = per_transaction or claims
    yield render_isa(
        sender_id="PAYER",
        receiver_id="CLINIC",
        control_number=1,
        created=dt.date(2024, 1, 1),
        created_time=dt.time(12, 0),
    ).encode()
    transactions = 0
    for first in range(0, claims, per_transaction):
        transactions += 1
        count = min(per_transaction, claims - first)
        control = f"{transactions:04d}"
        head = [
            ("ST", ["835", control]),
            ("BPR", ["I", f"{count * 70}.00", "C", "ACH", *[""] * 11, "20240105"]),
            ("TRN", ["1", f"EFT{transactions}", "1234567890"]),
            ("N1", ["PR", "ACME HEALTH", "XV", "ACME1"]),
            ("N1", ["PE", "MASSAGE CLINIC", "XX", "1234567893"]),
            ("LX", ["1"]),
        ]
        if transactions == 1:
            head.insert(
                0, ("GS", ["HP", "PAYER", "CLINIC", "20240101", "1200", "1", "X", "005010X221A1"])
            )
        yield "".join(render_segment(i, e) + "\n" for i, e in head).encode()
        for n in range(first, first + count):
            yield "".join(
                render_segment(i, e) + "\n"
                for i, e in [
                    ("CLP", [f"PCN{n:08d}", "1", "100.00", "70.00", "20.00", "12", f"P{n}"]),
                    ("CAS", ["CO", "45", "10.00"]),
                    ("NM1", ["QC", "1", "DOE", "JANE", "", "", "", "MI", f"M{n}"]),
                    ("SVC", [("HC", "97140", "GP"), "100.00", "80.00", "", "4"]),
                    ("DTM", ["472", "20240102"]),
                    ("CAS", ["PR", "1", "20.00"]),
                    ("REF", ["6R", f"L{n}"]),
                    ("LQ", ["HE", "N130"]),
                ]
            ).encode()
        yield render_segment("SE", [str(7 + 8 * count), control]).encode() + b"\n"
    yield f"GE*{transactions}*1~\nIEA*1*000000001~\n".encode()


def test_events_come_per_transaction_in_file_order() -> None:
    events = list(iter_835_events(b"".join(synthetic_835(5, per_transaction=2))))
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "RemittanceHeader", "ClaimPayment", "ClaimPayment", "RemittanceSummary",
        "RemittanceHeader", "ClaimPayment", "ClaimPayment", "RemittanceSummary",
        "RemittanceHeader", "ClaimPayment", "RemittanceSummary",
    ]  # fmt: skip
    claims = [e.patient_control_number for e in events if isinstance(e, ClaimPayment)]
    assert claims == [f"PCN{n:08d}" for n in range(5)]
    summaries = [e for e in events if isinstance(e, RemittanceSummary)]
    assert [(s.claim_count, s.paid_total, s.balance.ok) for s in summaries] == [
        (2, D(140), True),
        (2, D(140), True),
        (1, D(70), True),
    ]
    headers = [e for e in events if isinstance(e, RemittanceHeader)]
    assert headers[0].payment.date == dt.date(2024, 1, 5)


def test_parsing_streams_with_flat_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.835"
    with path.open("wb") as out:
        for piece in synthetic_835(20_000):
            out.write(piece)
    size = path.stat().st_size
    assert size > 3_000_000
    claims = 0
    tracemalloc.start()
    try:
        with path.open("rb") as stream:
            for event in iter_835_events(stream):
                if isinstance(event, ClaimPayment):
                    claims += 1
                elif isinstance(event, RemittanceSummary):
                    summary = event
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert claims == 20_000
    assert summary.balance.ok and summary.paid_total == D(70 * 20_000)
    # holding the file would take `size` bytes as bytes and many times that as models;
    # streaming needs about one read chunk (256 KiB) and its segments, whatever the size
    assert peak < min(size / 2, 3 * 2**20), f"peak {peak} bytes for a {size}-byte file"


def test_the_edi_layer_is_pure() -> None:
    code = (
        "import sys, edi.segments, edi.envelope, edi.x835, schemas.remittance;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'faust', 'kafka', 'aiokafka', 'structlog'}))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert proc.stdout.strip() == "[]"
