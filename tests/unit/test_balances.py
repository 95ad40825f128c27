"""What is really owed per original claim (`workers.remits.balances`), built from the
reconciliation's own ledgers: the primary and its secondary counted as one claim,
every part of the charge in exactly one place."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from schemas.reconciliation import ClaimLedger, WriteOffCommand
from tests.unit.test_reconcile import (
    NOW,
    adjudicated,
    ledger_with,
    payment,
    submitted,
    with_secondary,
)
from workers.claims.assemble import assemble_claim
from workers.remits import balances, reconcile

D = Decimal


def balance(
    primary: ClaimLedger, secondary: ClaimLedger | None = None, now: datetime = NOW
) -> balances.ClaimBalance:
    row = balances.claim_balance(primary, secondary, now)
    assert row.problem() is None, row.problem()
    return row


def write_off(ledger: ClaimLedger, amount: str | None = None) -> ClaimLedger:
    command = WriteOffCommand.new(
        action="write-off",
        patient_control_number=ledger.patient_control_number,
        amount=amount,
        reason="timely filing missed",
        operator="ops1",
        requested_at=NOW,
    )
    return reconcile.write_off(ledger, command, NOW).ledger


def test_an_unanswered_claim_is_owed_in_full_by_the_payer() -> None:
    row = balance(ledger_with(submitted()))
    assert (row.charge, row.unanswered, row.insurance_outstanding) == (D(170), D(170), D(170))


def test_paid_with_contract_and_coinsurance() -> None:
    sub = submitted()
    answer = payment(
        sub.patient_control_number,
        paid="110.00",
        adjustments=(("CO", "45", "40.00"), ("PR", "2", "20.00")),
    )
    row = balance(reconcile.on_claim_payment(ledger_with(sub), answer, NOW).ledger)
    assert (row.paid, row.contractual, row.patient_responsibility) == (D(110), D(40), D(20))
    assert row.insurance_outstanding == 0 and row.credit == 0


def test_a_denial_stays_owed_until_written_off_and_a_later_payment_undoes_the_write_off() -> None:
    sub = submitted()
    pcn = sub.patient_control_number
    denied = reconcile.on_claim_payment(
        ledger_with(sub), payment(pcn, paid="0.00", adjustments=(("CO", "50", "170.00"),)), NOW
    ).ledger
    assert balance(denied).denials_open == D(170)
    written = write_off(denied, "100.00")
    row = balance(written)
    assert (row.denials_open, row.written_off) == (D(70), D(100))
    # the appeal is paid: the payer reverses its denial and pays
    reversal = payment(
        pcn,
        status="22",
        charge="-170.00",
        paid="0.00",
        adjustments=(("CO", "50", "-170.00"),),
        trace="T9",
        index=1,
    )
    after = reconcile.on_claim_payment(written, reversal, NOW).ledger
    paid = reconcile.on_claim_payment(after, payment(pcn, trace="T9", index=2), NOW).ledger
    row = balance(paid)
    assert (row.paid, row.written_off, row.denials_open) == (D(130), D(0), D(0))


def test_a_write_off_cannot_exceed_what_is_open() -> None:
    import pytest

    paid = reconcile.on_claim_payment(
        ledger_with(submitted()), payment(submitted().patient_control_number), NOW
    ).ledger
    with pytest.raises(reconcile.Refused) as refused:
        write_off(paid)
    assert refused.value.reason == "nothing-open"


def test_the_primarys_patient_share_waits_for_the_secondary_then_is_the_secondarys() -> None:
    from tests.unit.test_secondary_claims import commercial_then_secondary_plan, primary_payment
    from workers.claims.secondary import secondary_claim

    event = with_secondary()
    pcn = event.patient_control_number
    primary = reconcile.on_submitted(ClaimLedger.new(patient_control_number=pcn), event, NOW)
    first = reconcile.on_claim_payment(
        primary.ledger,
        payment(pcn, paid="110.00", adjustments=(("CO", "45", "40.00"), ("PR", "2", "20.00"))),
        NOW,
    ).ledger
    waiting = balance(first)
    assert (waiting.patient_responsibility, waiting.waiting_next_payer) == (D(0), D(20))
    # the secondary claim goes, owing what the primary left
    base = assemble_claim([commercial_then_secondary_plan()])
    answer, paid_on = primary_payment(base, {"patient_share": {"coinsurance_percent": "20"}})
    claim = secondary_claim(base, [commercial_then_secondary_plan()], answer, paid_on)
    sec_event = submitted(base=claim)
    second = reconcile.on_submitted(
        ClaimLedger.new(patient_control_number=sec_event.patient_control_number), sec_event, NOW
    ).ledger
    owed = second.owed
    sent = balance(first, second)
    assert sent.waiting_next_payer == D(20) and sent.patient_responsibility == 0
    # the secondary pays part and leaves its own share to the patient
    pays = payment(
        sec_event.patient_control_number,
        charge=str(claim.total_charge),
        paid="15.00",
        adjustments=(("OA", "23", str(claim.total_charge - owed)), ("PR", "2", str(owed - 15))),
    )
    answered = reconcile.on_claim_payment(second, pays, NOW).ledger
    row = balance(first, answered)
    assert row.paid == D(110) + D(15)
    assert row.patient_responsibility == owed - 15 and row.waiting_next_payer == D(0)


def test_a_secondary_that_denies_or_never_answers_leaves_the_primarys_share_to_the_patient() -> (
    None
):
    from tests.unit.test_secondary_claims import commercial_then_secondary_plan, primary_payment
    from workers.claims.secondary import secondary_claim

    event = with_secondary()
    pcn = event.patient_control_number
    first = reconcile.on_claim_payment(
        reconcile.on_submitted(ClaimLedger.new(patient_control_number=pcn), event, NOW).ledger,
        payment(pcn, paid="110.00", adjustments=(("CO", "45", "40.00"), ("PR", "2", "20.00"))),
        NOW,
    ).ledger
    base = assemble_claim([commercial_then_secondary_plan()])
    answer, paid_on = primary_payment(base, {"patient_share": {"coinsurance_percent": "20"}})
    claim = secondary_claim(base, [commercial_then_secondary_plan()], answer, paid_on)
    sec_event = submitted(base=claim)
    second = reconcile.on_submitted(
        ClaimLedger.new(patient_control_number=sec_event.patient_control_number), sec_event, NOW
    ).ledger
    late = balance(first, second, now=sec_event.submitted_at + timedelta(days=46))
    assert late.patient_responsibility == D(20) and late.waiting_next_payer == 0
    denied = reconcile.on_claim_payment(
        second,
        payment(
            sec_event.patient_control_number,
            charge=str(claim.total_charge),
            paid="0.00",
            adjustments=(("CO", "50", str(claim.total_charge)),),
        ),
        NOW,
    ).ledger
    row = balance(first, denied)
    assert row.patient_responsibility == D(20) and row.denials_open == 0


def test_paid_twice_is_an_insurance_credit() -> None:
    sub = submitted()
    pcn = sub.patient_control_number
    once = reconcile.on_claim_payment(ledger_with(sub), payment(pcn), NOW).ledger
    twice = reconcile.on_claim_payment(once, payment(pcn, trace="T7"), NOW)
    assert adjudicated(twice).posting.category == "paid-in-full"
    row = balance(twice.ledger)
    assert row.credit == D(170) and row.paid == D(260)


def test_a_shortfall_breaks_the_identity() -> None:
    """An 835 claim that does not account for our charge (CLP03 below it) is named."""
    sub = submitted()
    short = payment(sub.patient_control_number, charge="150.00", paid="110.00")
    row = balances.claim_balance(
        reconcile.on_claim_payment(ledger_with(sub), short, NOW).ledger, None, NOW
    )
    assert row.problem() is not None and "charge 170.00" in (row.problem() or "")


def test_insurance_ar_ages_from_the_date_of_service() -> None:
    row = balance(ledger_with(submitted()))
    assert row.date_of_service is not None
    table = balances.aging([row], row.date_of_service + timedelta(days=95))
    assert table == {
        (row.clinic_id, row.payer_id): {
            "0-30": D(0),
            "31-60": D(0),
            "61-90": D(0),
            "91-120": D(170),
            "120+": D(0),
        }
    }
    assert balances.bucket(121) == "120+" and balances.bucket(0) == "0-30"
