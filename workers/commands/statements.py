"""``claims statements --period YYYY-MM``: issue the patient statements of a month.

A statement run, as billing companies do them once a cycle.  Each patient's
account (:mod:`workers.remits.patient_ledger`) is built from the topics: the
reconciliation's ledgers (``state.reconcile.claims``: the final patient share of
each claim, never one a secondary payer has still to answer), the superbills of
self-pay and HSA visits and earlier statements (``documents.issued``), the
front-desk payments (``payments.patient``) and refunds (``ledger.refunds``); names
and addresses come from ``ref.patients`` and ``ref.clinics``.  Every patient with
activity in the month, or a balance or credit carried into it, gets a PDF in
``<outbox>/statements/<clinic_id>/`` (atomic, owner-only) and a
:class:`~schemas.documents.PatientStatement` on ``documents.issued``.  Running it
again issues nothing new unless the month's figures changed (then the statement is
issued again under the next number).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from schemas.claims import Claim
from schemas.documents import (
    PatientStatement,
    StatementLine,
    SuperbillIssued,
    SuperbillVoided,
)
from schemas.patient_ledger import CreditRefund, PatientPayment
from schemas.reference import Clinic, Patient
from workers.documents.statement import (
    PaymentLine,
    StatementParty,
    StatementView,
    render_statement,
)
from workers.remits import balances, patient_ledger


@dataclass(frozen=True)
class Sources:
    """What a statement run reads, from the topics (or given by a test)."""

    rows: list[balances.ClaimBalance]
    superbills: list[SuperbillIssued]
    payments: list[PatientPayment]
    refunds: list[CreditRefund]
    patients: dict[str, Patient]
    clinics: dict[str, Clinic]
    claims: dict[str, Claim]


@dataclass(frozen=True)
class Draft:
    view: StatementView
    pdf: bytes


def load_claims(settings: Any) -> dict[str, Claim]:
    """The latest submitted version of every claim (from ``claims.submitted``)."""
    from workers.runtime.topic_scan import scan_topics

    latest: dict[str, tuple[int, Claim]] = {}
    for _name, record in scan_topics(settings, ("claims.submitted",)):
        if not record.value:
            continue
        try:
            body = json.loads(record.value)
            claim = Claim.parse_json(json.dumps(body["claim"]))
        except (ValueError, KeyError, TypeError):
            continue
        known = latest.get(claim.patient_control_number)
        if known is None or claim.version >= known[0]:
            latest[claim.patient_control_number] = (claim.version, claim)
    return {pcn: claim for pcn, (_, claim) in latest.items()}


def _records(settings: Any, topic: str) -> list[bytes]:
    from workers.runtime.topic_scan import scan_topics

    return [r.value for _, r in scan_topics(settings, (topic,)) if r.value]


def load_sources(settings: Any, now: datetime) -> Sources:
    from workers.remits.reports import load_ledgers
    from workers.runtime.topic_scan import parse_each, read_latest

    documents = _records(settings, "documents.issued")
    issued = [r for r in documents if b'"superbill.issued"' in r]
    voided = [r for r in documents if b'"superbill.voided"' in r]

    def latest(topic: str, model: Any) -> list[Any]:
        return parse_each(list(read_latest(settings, topic).values()), model)

    patients = {p.key: p for p in latest("ref.patients", Patient)}
    clinics = {c.key: c for c in latest("ref.clinics", Clinic)}
    return Sources(
        rows=balances.balances(load_ledgers(settings), now),
        superbills=patient_ledger.standing(
            parse_each(issued, SuperbillIssued), parse_each(voided, SuperbillVoided)
        ),
        payments=latest("payments.patient", PatientPayment),
        refunds=latest("ledger.refunds", CreditRefund),
        patients=patients,
        clinics=clinics,
        claims=load_claims(settings),
    )


def _line(charge: patient_ledger.PatientCharge) -> StatementLine:
    shares = charge.shares
    zero = patient_ledger.ZERO
    if charge.kind in ("self-pay", "non-covered"):
        return StatementLine(
            patient_control_number=charge.reference,
            date_of_service=(charge.date_of_service or charge.due_from).isoformat(),
            payer_id="self-pay" if charge.kind == "self-pay" else "not covered (waiver)",
            charge=charge.charge,
            paid_by_payer=zero,
            deductible=zero,
            coinsurance=zero,
            copay=zero,
            other_patient_share=charge.amount,
        )
    return StatementLine(
        patient_control_number=charge.reference,
        date_of_service=(charge.date_of_service or charge.due_from).isoformat(),
        payer_id=charge.payer_id or "",
        charge=charge.charge,
        paid_by_payer=charge.insurance_paid,
        deductible=shares.get("deductible", zero),
        coinsurance=shares.get("coinsurance", zero),
        copay=shares.get("copay", zero),
        other_patient_share=shares.get("other", zero),
    )


def _party(sources: Sources, account: patient_ledger.PatientAccount) -> StatementParty | None:
    clinic = sources.clinics.get(account.clinic_id)
    patient = sources.patients.get(f"{account.clinic_id}:{account.patient_id}")
    if clinic is not None and patient is not None:
        name = f"{patient.name.first_name} {patient.name.last_name}"
        return StatementParty(
            clinic.name, clinic.npi, clinic.tax_id, clinic.address, name, patient.address
        )
    claim = next(  # an older deployment without reference data: the latest claim names them
        (c for c in sources.claims.values()
         if (c.clinic_id, c.patient_id) == (account.clinic_id, account.patient_id)),
        None,
    )  # fmt: skip
    if claim is None:
        return None
    person = claim.patient.name if claim.patient is not None else claim.subscriber.name
    address = claim.patient.address if claim.patient is not None else claim.subscriber.address
    first = f"{person.first_name} " if person.first_name else ""
    bp = claim.billing_provider
    name = f"{first}{person.last_or_organisation_name}"
    return StatementParty(bp.name, bp.npi, bp.tax_id, bp.address, name, address)


def drafts(sources: Sources, period: str, issued_on: date) -> list[Draft]:
    """One statement per patient with activity in ``period`` or a balance carried in."""
    patient_of = {pcn: c.patient_id for pcn, c in sources.claims.items() if c.patient_id}
    accounts = patient_ledger.accounts(
        sources.rows, sources.superbills, sources.payments, sources.refunds, patient_of
    )
    out = []
    for (clinic_id, patient_id), account in sorted(accounts.items()):
        figures = account.statement(period)
        if not figures.active:
            continue
        party = _party(sources, account)
        if party is None:
            continue
        view = StatementView(
            clinic_id=clinic_id,
            patient_id=patient_id,
            period=period,
            previous_balance=figures.previous_balance,
            lines=[_line(c) for c in figures.new_charges],
            payments=[
                PaymentLine(p.paid_on, p.method, p.reference, p.amount) for p in figures.payments
            ],
            refunds=figures.refunds_total,
        )
        out.append(Draft(view, render_statement(view, party, issued_on)))
    return out


def _write(directory: Path, draft: Draft) -> tuple[Path, bool]:
    """The file of the statement, and whether it is new (same bytes: issued before)."""
    from workers.runtime.atomic_files import write_atomically

    base = draft.view.file_name
    stem = base.removesuffix(".pdf")
    for n in range(1, 100):
        name = base if n == 1 else f"{stem}-{n}.pdf"
        path = directory / name
        if path.exists():
            if path.read_bytes() == draft.pdf:
                return path, False
            continue
        return write_atomically(directory, name, draft.pdf), True
    raise RuntimeError(f"too many versions of {base}")


def issue(settings: Any, period: str, producer: Any | None = None) -> list[dict[str, str]]:
    now = datetime.now(UTC)
    rows = []
    owned = producer is None
    if producer is None:
        from workers.runtime import kafka_clients

        producer = kafka_clients.producer(settings)
    try:
        for draft in drafts(load_sources(settings, now), period, now.date()):
            view = draft.view
            directory = settings.outbox_dir / "statements" / view.clinic_id
            path, new = _write(directory, draft)
            if new:
                event = PatientStatement.new(
                    statement_id=view.statement_id,
                    clinic_id=view.clinic_id,
                    patient_id=view.patient_id,
                    period=period,
                    lines=view.lines,
                    previous_balance=view.previous_balance,
                    new_charges=view.new_charges,
                    insurance_payments=view.insurance_payments,
                    patient_payments=view.patient_payments,
                    refunds=view.refunds,
                    total_due=view.balance_due,
                    file_name=path.name,
                    path=str(path),
                    sha256=hashlib.sha256(draft.pdf).hexdigest(),
                    issued_at=now,
                )
                producer.send(
                    settings.topic("documents.issued"),
                    key=f"{view.clinic_id}:{view.patient_id}".encode(),
                    value=event.model_dump_json().encode(),
                    headers=[("claims.event_type", b"PatientStatement")],
                )
            rows.append(
                {
                    "statement": view.statement_id,
                    "claims": str(len(view.lines)),
                    "previous": f"{view.previous_balance:.2f}",
                    "payments": f"{view.patient_payments:.2f}",
                    "total due": f"{view.balance_due:.2f}",
                    "file": path.name,
                    "status": "issued" if new else "issued before",
                }
            )
        producer.flush()
    finally:
        if owned:
            producer.close()
    return rows
