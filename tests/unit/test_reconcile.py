"""Reconciliation of claim payments against submitted claims (pure core)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from schemas.claims import ControlNumbers
from schemas.reconciliation import (
    ClaimAdjudicated,
    ClaimDenied,
    ClaimLedger,
    RemittanceClaim,
    RemittanceSource,
    RemittanceUnmatched,
    remittance_id,
)
from schemas.remittance import (
    Adjustment,
    ClaimPayment,
    Payee,
    Payer,
    Payment,
    Remark,
    ServicePayment,
)
from schemas.submission import ClaimSubmitted
from tests import factories as f
from tests.pipeline import billable
from workers.claims.assemble import assemble_claim, new_version
from workers.remits import reconcile
from workers.remits.reports import aging_report, denials_report

NOW = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
D = Decimal


def submitted(frequency: str = "1", base=None):
    claim = base or assemble_claim([billable()])  # 97124 x2 (80.00) + 97140 x2 (90.00)
    if frequency == "8":
        claim = new_version(claim, "8", "PCN-PAYER-1")
    return ClaimSubmitted.of(
        claim,
        file_name="f.x12",
        control_numbers=ControlNumbers(interchange=1, group=1, transaction=1),
        submitted_at=datetime(2026, 3, 3, tzinfo=UTC),
    )


def payment(
    pcn: str,
    status: str = "1",
    charge: str = "170.00",
    paid: str = "130.00",
    adjustments: tuple[tuple[str, str, str], ...] = (("CO", "45", "40.00"),),
    services: tuple[ServicePayment, ...] = (),
    trace: str = "T1",
    index: int = 1,
    payer_claim: str | None = "PAYER-1",
    npi: str | None = None,
) -> RemittanceClaim:
    payer = Payer(name="Payer p1", id="1999999999")
    pay = Payment(
        amount=D(paid),
        credit_debit="C",
        method="ACH",
        date=date(2026, 3, 30),
        trace_number=trace,
        payer_trace_id="1999999999",
    )
    return RemittanceClaim.new(
        remittance_id=remittance_id(payer, pay),
        index=index,
        payer=payer,
        payee=Payee(name="Clinic c1", npi=npi or f.CLINIC_NPI),
        payment=pay,
        claim=ClaimPayment(
            patient_control_number=pcn,
            status_code=status,
            charge=D(charge),
            paid=D(paid),
            patient_responsibility=None,
            payer_claim_control_number=payer_claim,
            adjustments=tuple(
                Adjustment(group=g, reason=r, amount=D(a)) for g, r, a in adjustments
            ),
            services=services,
        ),
        source=RemittanceSource(
            file_name="r.835",
            file_sha256="0" * 64,
            transaction_control_number="0001",
            ingested_at=NOW,
        ),
    )


def ledger_with(event: ClaimSubmitted) -> ClaimLedger:
    return reconcile.on_submitted(
        ClaimLedger.new(patient_control_number=event.patient_control_number), event, NOW
    ).ledger


def adjudicated(step: reconcile.Step) -> ClaimAdjudicated:
    return next(o for o in step.outputs if isinstance(o, ClaimAdjudicated))


def test_paid_in_full_with_contractual_adjustment_balances() -> None:
    sub = submitted()
    step = reconcile.on_claim_payment(ledger_with(sub), payment(sub.patient_control_number), NOW)
    out = adjudicated(step)
    assert out.posting.category == "paid-in-full"
    assert out.paid_total == D("130.00") and out.adjusted_total == D("40.00")
    assert out.outstanding == 0 and out.charge == out.paid_total + out.adjusted_total
    assert out.posting.underpaid_by is None  # expected allowed was 130.00


def test_patient_responsibility_and_underpayment_are_reported() -> None:
    sub = submitted()
    pay = payment(
        sub.patient_control_number,
        paid="90.00",
        adjustments=(("CO", "45", "60.00"), ("PR", "2", "20.00")),
    )
    out = adjudicated(reconcile.on_claim_payment(ledger_with(sub), pay, NOW))
    assert out.posting.category == "patient-responsibility"
    assert out.patient_responsibility_total == D("20.00")
    assert out.posting.expected_allowed == D("130.00")
    assert out.posting.underpaid_by == D("20.00")  # allowed 110 = 90 paid + 20 PR
    assert out.outstanding == 0


def test_a_denial_carries_reason_and_remark_texts() -> None:
    sub = submitted()
    pay = payment(
        sub.patient_control_number,
        paid="0.00",
        adjustments=(("CO", "50", "170.00"),),
        services=(
            ServicePayment(
                procedure="97124", charge=D("80.00"), paid=D("0"), units=D(2), remarks=()
            ),
        ),
    )
    step = reconcile.on_claim_payment(ledger_with(sub), pay, NOW)
    assert adjudicated(step).posting.category == "denied"
    denied = next(o for o in step.outputs if isinstance(o, ClaimDenied))
    assert denied.reasons[0]["code"] == "50" and "medical necessity" in denied.reasons[0]["text"]


def test_partial_payment_with_a_bundled_line() -> None:
    sub = submitted()
    pay = payment(
        sub.patient_control_number,
        paid="65.00",
        adjustments=(("CO", "45", "15.00"), ("CO", "97", "90.00")),
    )
    assert (
        adjudicated(reconcile.on_claim_payment(ledger_with(sub), pay, NOW)).posting.category
        == "partially-paid"
    )


def test_the_same_payment_twice_is_posted_once() -> None:
    sub = submitted()
    first = reconcile.on_claim_payment(ledger_with(sub), payment(sub.patient_control_number), NOW)
    again = reconcile.on_claim_payment(first.ledger, payment(sub.patient_control_number), NOW)
    assert again.duplicate and again.outputs == []
    assert len(again.ledger.postings) == 1


def test_reversal_and_correction_net_out_to_the_corrected_payment() -> None:
    sub = submitted()
    pcn = sub.patient_control_number
    s1 = reconcile.on_claim_payment(ledger_with(sub), payment(pcn), NOW)
    reversal = payment(
        pcn,
        status="22",
        charge="-170.00",
        paid="-130.00",
        adjustments=(("CO", "45", "-40.00"),),
        trace="T2",
        index=1,
    )
    s2 = reconcile.on_claim_payment(s1.ledger, reversal, NOW)
    out = adjudicated(s2)
    assert out.posting.category == "reversed"
    assert out.posting.reverses == s1.ledger.postings[0].posting_id
    assert out.paid_total == 0 and out.outstanding == D("170.00")
    correction = payment(
        pcn, paid="120.00", adjustments=(("CO", "45", "50.00"),), trace="T2", index=2
    )
    s3 = reconcile.on_claim_payment(s2.ledger, correction, NOW)
    final = adjudicated(s3)
    assert final.paid_total == D("120.00") and final.outstanding == 0
    assert final.posting.underpaid_by == D("10.00")


def test_a_payment_before_its_claim_waits_and_is_posted_when_the_claim_arrives() -> None:
    sub = submitted()
    empty = ClaimLedger.new(patient_control_number=sub.patient_control_number)
    early = reconcile.on_claim_payment(empty, payment(sub.patient_control_number), NOW)
    unmatched = early.outputs[0]
    assert isinstance(unmatched, RemittanceUnmatched) and unmatched.reason == "unknown-claim"
    assert len(early.ledger.waiting) == 1
    late = reconcile.on_submitted(early.ledger, sub, NOW)
    assert [type(o).__name__ for o in late.outputs] == [
        "ClaimAdjudicated",
        "PayerClaimNumberLearned",
    ]
    assert late.ledger.waiting == [] and late.ledger.outstanding == 0


def test_a_payment_to_another_payee_is_not_posted() -> None:
    sub = submitted()
    other = f.THERAPIST_NPI
    step = reconcile.on_claim_payment(
        ledger_with(sub), payment(sub.patient_control_number, npi=other), NOW
    )
    assert isinstance(step.outputs[0], RemittanceUnmatched)
    assert step.outputs[0].reason == "payee-mismatch" and step.ledger.postings == []


def test_lines_match_by_control_number_then_by_code_date_and_units() -> None:
    sub = submitted()
    lcn = sub.line_control_numbers
    services = (
        ServicePayment(
            procedure="97124",
            charge=D("80.00"),
            paid=D("60.00"),
            units=D(2),
            line_control_number=lcn[0],
        ),
        ServicePayment(
            procedure="97140",
            charge=D("90.00"),
            paid=D("70.00"),
            units=D(2),
            service_date=date(2026, 3, 2),
        ),
        ServicePayment(procedure="97010", charge=D("0.00"), paid=D("0.00"), units=D(1)),
    )
    out = adjudicated(
        reconcile.on_claim_payment(
            ledger_with(sub), payment(sub.patient_control_number, services=services), NOW
        )
    )
    assert [(m.rule, m.line_control_number) for m in out.posting.lines] == [
        ("line-control-number", lcn[0]),
        ("procedure-date-units", lcn[1]),
        ("unmatched", None),
    ]


def test_the_payer_claim_number_is_learned_once_for_later_corrections() -> None:
    sub = submitted()
    step = reconcile.on_claim_payment(ledger_with(sub), payment(sub.patient_control_number), NOW)
    learned = [o for o in step.outputs if isinstance(o, reconcile.PayerClaimNumberLearned)]
    assert learned and learned[0].payer_claim_number == "PAYER-1"
    assert learned[0].receiver_id == sub.receiver_id
    assert step.ledger.payer_claim_number == "PAYER-1"


def test_after_a_reversal_and_readjudication_the_current_payer_number_is_learned() -> None:
    """The payer reverses its first adjudication (number PAYER-1) and adjudicates again
    under a new number: later voids and corrections must carry the new one."""
    sub = submitted()
    pcn = sub.patient_control_number
    s1 = reconcile.on_claim_payment(ledger_with(sub), payment(pcn), NOW)
    reversal = payment(
        pcn,
        status="22",
        charge="-170.00",
        paid="-130.00",
        adjustments=(("CO", "45", "-40.00"),),
        trace="T2",
        index=1,
    )
    s2 = reconcile.on_claim_payment(s1.ledger, reversal, NOW)
    assert s2.ledger.payer_claim_number == "PAYER-1"  # nothing newer yet
    assert not [o for o in s2.outputs if isinstance(o, reconcile.PayerClaimNumberLearned)]
    again = payment(pcn, trace="T2", index=2, payer_claim="PAYER-2")
    s3 = reconcile.on_claim_payment(s2.ledger, again, NOW)
    learned = [o for o in s3.outputs if isinstance(o, reconcile.PayerClaimNumberLearned)]
    assert [o.payer_claim_number for o in learned] == ["PAYER-2"]
    assert s3.ledger.payer_claim_number == "PAYER-2"
    same = payment(pcn, trace="T3", index=1, payer_claim="PAYER-2", paid="130.00")
    s4 = reconcile.on_claim_payment(s3.ledger, same, NOW)
    assert not [o for o in s4.outputs if isinstance(o, reconcile.PayerClaimNumberLearned)]


def test_a_voided_claim_reversed_by_the_payer_owes_nothing() -> None:
    sub = submitted()
    pcn = sub.patient_control_number
    paid = reconcile.on_claim_payment(ledger_with(sub), payment(pcn), NOW).ledger
    void = submitted("8", base=sub.claim)
    ledger = reconcile.on_submitted(paid, void, NOW).ledger
    reversal = payment(
        pcn,
        status="22",
        charge="-170.00",
        paid="-130.00",
        adjustments=(("CO", "45", "-40.00"),),
        trace="T9",
    )
    out = adjudicated(reconcile.on_claim_payment(ledger, reversal, NOW))
    assert out.charge == 0 and out.paid_total == 0 and out.outstanding == 0


def test_reports_age_what_payers_owe_from_the_date_of_service_and_list_open_denials() -> None:
    """One claim unanswered, another denied (CO-197): both are owed by the payer, aged
    from their date of service (2026-03-02, 49 days before the report)."""
    from tests import factories as f

    unanswered = submitted()
    other = submitted(
        base=assemble_claim(
            [
                billable(
                    session=f.session(session_id="s9", patient_id="p9", dos="2026-03-02"),
                    patient=f.patient(patient_id="p9"),
                )
            ]
        )
    )
    denied = reconcile.on_claim_payment(
        ledger_with(other),
        payment(other.patient_control_number, paid="0.00", adjustments=(("CO", "197", "170.00"),)),
        NOW,
    )
    ledgers = [ledger_with(unanswered), denied.ledger]
    rows, headers = aging_report(ledgers, today=date(2026, 4, 20))
    assert headers == ["clinic", "payer", "0-30", "31-60", "61-90", "91-120", "120+", "total"]
    assert rows == [["c1", "p1", "0.00", "340.00", "0.00", "0.00", "0.00", "340.00"]]
    rows, headers = denials_report(ledgers, today=date(2026, 4, 20))
    [row] = rows
    assert row[0] == other.patient_control_number and row[5] == "170.00"
    assert row[6] == "CO-197" and "authorization" in row[7] and row[4] == "31-60"


# --- coordination of benefits -------------------------------------------------------------


def with_secondary():
    from tests.unit.test_secondary_claims import commercial_then_secondary_plan

    return submitted(base=assemble_claim([commercial_then_secondary_plan()]))


def test_a_primary_answer_leaving_a_balance_asks_for_the_secondary_claim_once() -> None:
    event = with_secondary()
    pcn = event.patient_control_number
    ledger = reconcile.on_submitted(ClaimLedger.new(patient_control_number=pcn), event, NOW).ledger
    assert ledger.submitted[-1].next_payer_id == "p2"
    step = reconcile.on_claim_payment(
        ledger, payment(pcn, adjustments=(("PR", "1", "40.00"),)), NOW
    )
    (due,) = [o for o in step.outputs if isinstance(o, reconcile.SecondaryClaimDue)]
    assert due.patient_control_number == pcn and due.payment.paid == D("130.00")
    assert due.paid_on == date(2026, 3, 30)
    assert step.ledger.coordination == (
        f"secondary claim requested ({pcn}S) for 40.00 the primary left"
    )
    # a later payment (e.g. a correction) does not ask again
    again = reconcile.on_claim_payment(
        step.ledger, payment(pcn, trace="T2", adjustments=(("PR", "1", "40.00"),)), NOW
    )
    assert not [o for o in again.outputs if isinstance(o, reconcile.SecondaryClaimDue)]


def test_a_crossover_suppresses_our_secondary_claim() -> None:
    """CLP02 19: processed as primary and forwarded by the payer to the next one."""
    event = with_secondary()
    pcn = event.patient_control_number
    ledger = reconcile.on_submitted(ClaimLedger.new(patient_control_number=pcn), event, NOW).ledger
    step = reconcile.on_claim_payment(
        ledger, payment(pcn, status="19", adjustments=(("PR", "1", "40.00"),)), NOW
    )
    assert not [o for o in step.outputs if isinstance(o, reconcile.SecondaryClaimDue)]
    assert step.ledger.coordination is not None and "crossover" in step.ledger.coordination
    assert step.ledger.postings[-1].category == "forwarded"


def test_no_next_payer_or_paid_in_full_asks_for_nothing() -> None:
    plain = submitted()
    pcn = plain.patient_control_number
    ledger = reconcile.on_submitted(ClaimLedger.new(patient_control_number=pcn), plain, NOW).ledger
    step = reconcile.on_claim_payment(
        ledger, payment(pcn, adjustments=(("PR", "1", "40.00"),)), NOW
    )
    assert not [o for o in step.outputs if isinstance(o, reconcile.SecondaryClaimDue)]
    event = with_secondary()
    pcn = event.patient_control_number
    ledger = reconcile.on_submitted(ClaimLedger.new(patient_control_number=pcn), event, NOW).ledger
    full = payment(pcn, paid="170.00", adjustments=())
    step = reconcile.on_claim_payment(ledger, full, NOW)
    assert not [o for o in step.outputs if isinstance(o, reconcile.SecondaryClaimDue)]
    assert step.ledger.coordination is None


# --- what an adjustment means: denials, patient responsibility, coordination ----------------


def posted(step: reconcile.Step) -> list[ClaimDenied]:
    return [o for o in step.outputs if isinstance(o, ClaimDenied)]


def test_a_claim_paid_nothing_for_deductible_is_patient_responsibility_not_a_denial() -> None:
    sub = submitted()
    pcn = sub.patient_control_number
    step = reconcile.on_claim_payment(
        ledger_with(sub),
        payment(pcn, paid="0.00", adjustments=(("CO", "45", "40.00"), ("PR", "1", "130.00"))),
        NOW,
    )
    assert adjudicated(step).posting.category == "patient-responsibility"
    assert posted(step) == []


def test_a_line_denied_on_a_paid_claim_is_a_denial_item_of_its_own() -> None:
    """A line CAS*CO*50 on an otherwise paid claim: one denial, for that line."""
    sub = submitted()
    pcn = sub.patient_control_number
    lines = sub.claim.lines
    services = (
        ServicePayment(
            procedure=lines[0].procedure,
            charge=lines[0].charge,
            paid=D("60.00"),
            units=D(lines[0].units),
            line_control_number=lines[0].line_control_number,
            adjustments=(Adjustment(group="CO", reason="45", amount=lines[0].charge - 60),),
        ),
        ServicePayment(
            procedure=lines[1].procedure,
            charge=lines[1].charge,
            paid=D("0.00"),
            units=D(lines[1].units),
            line_control_number=lines[1].line_control_number,
            adjustments=(Adjustment(group="CO", reason="50", amount=lines[1].charge),),
            remarks=(Remark(qualifier="HE", code="N115"),),
        ),
    )
    answer = payment(pcn, paid="60.00", adjustments=(), services=services)
    answer = answer.model_copy(
        update={
            "claim": answer.claim.model_copy(
                update={"remarks": (Remark(qualifier="HE", code="MA130"),)}
            )
        }
    )
    step = reconcile.on_claim_payment(ledger_with(sub), answer, NOW)
    assert adjudicated(step).posting.category == "partially-paid"
    [denied] = posted(step)
    assert (denied.scope, denied.line_control_number) == ("line", lines[1].line_control_number)
    assert denied.amount == lines[1].charge
    assert [(r["group"], r["code"]) for r in denied.reasons] == [("CO", "50")]
    assert [r["code"] for r in denied.remarks] == ["MA130", "N115"]
    assert all(r["text"] and "not in our list" not in r["text"] for r in denied.remarks)


def test_the_secondary_is_sent_for_patient_share_or_exhausted_benefits_only() -> None:
    """PR and CO-119 leave money for the next payer; CO-45 alone, CO-50 and CO-197 do
    not (the next payer would deny what the primary's contract wrote off or denied)."""
    cases = {
        (("PR", "2", "40.00"),): True,
        (("CO", "119", "40.00"),): True,
        (("CO", "45", "40.00"),): False,
        (("CO", "50", "40.00"),): False,
        (("CO", "197", "40.00"),): False,
    }
    for adjustments, asked in cases.items():
        event = with_secondary()
        pcn = event.patient_control_number
        ledger = reconcile.on_submitted(
            ClaimLedger.new(patient_control_number=pcn), event, NOW
        ).ledger
        step = reconcile.on_claim_payment(ledger, payment(pcn, adjustments=adjustments), NOW)
        due = [o for o in step.outputs if isinstance(o, reconcile.SecondaryClaimDue)]
        assert bool(due) is asked, adjustments


def test_a_crossover_by_carrier_or_remark_suppresses_our_secondary_claim() -> None:
    for update in (
        {"crossover_carrier": "SPOUSE PLAN"},
        {"remarks": (Remark(qualifier="HE", code="MA18"),)},
    ):
        event = with_secondary()
        pcn = event.patient_control_number
        ledger = reconcile.on_submitted(
            ClaimLedger.new(patient_control_number=pcn), event, NOW
        ).ledger
        answer = payment(pcn, adjustments=(("PR", "1", "40.00"),))
        answer = answer.model_copy(update={"claim": answer.claim.model_copy(update=update)})
        step = reconcile.on_claim_payment(ledger, answer, NOW)
        assert not [o for o in step.outputs if isinstance(o, reconcile.SecondaryClaimDue)]
        assert step.ledger.coordination is not None and "crossover" in step.ledger.coordination


def test_a_wrong_coverage_order_goes_to_cob_review() -> None:
    from schemas.reconciliation import ClaimCobReview

    sub = submitted()
    pcn = sub.patient_control_number
    step = reconcile.on_claim_payment(
        ledger_with(sub), payment(pcn, paid="0.00", adjustments=(("CO", "22", "170.00"),)), NOW
    )
    [review] = [o for o in step.outputs if isinstance(o, ClaimCobReview)]
    assert review.patient_control_number == pcn and "coverage order" in review.message
    assert [(r["group"], r["code"]) for r in review.reasons] == [("CO", "22")]


def test_a_secondary_ledger_owes_only_what_the_primary_left() -> None:
    from tests.unit.test_secondary_claims import commercial_then_secondary_plan, primary_payment
    from workers.claims.secondary import secondary_claim

    primary = assemble_claim([commercial_then_secondary_plan()])
    answer, paid_on = primary_payment(primary, {"patient_share": {"coinsurance_percent": "20"}})
    claim = secondary_claim(primary, [commercial_then_secondary_plan()], answer, paid_on)
    event = submitted(base=claim)
    ledger = reconcile.on_submitted(
        ClaimLedger.new(patient_control_number=event.patient_control_number), event, NOW
    ).ledger
    left = sum((a.amount for a in reconcile._all_adjustments(answer) if a.group == "PR"), D(0))
    assert left > 0 and ledger.owed == left and ledger.outstanding == left
    assert ledger.charge == primary.total_charge  # the claim's charge is the primary's
