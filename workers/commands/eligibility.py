"""``claims eligibility check <clinic>:<patient> [--date D]``: ask the payers with a 270.

:func:`inquiries_for` (pure) builds one inquiry per health-plan coverage of the
patient active on the date (auto and workers' compensation payers do not answer
270s), with the payer's service types (``eligibility_service_types``, default
30, AE, BE, PT).  :func:`write_inquiries` writes one interchange per payer into
``<outbox>/270/`` (atomically, 0600), its ISA13/GS06 from a durable
per-receiver sequence kept in ``<state_dir>/eligibility/sequences/<receiver>``
(:class:`FileSequence`: a locked file, so two commands never reuse a number).
The claims stage's own sequences live in its Kafka table and are not shared:
a 270 and an 837 to the same receiver count separately.

:func:`simulate_main` is the simulated payer's side: ``claims simulate-payer
FILE.270`` prints the 271 answer (:mod:`workers.payer_sim.eligibility`).
"""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

from edi.x270 import render_270
from schemas.claims import TradingPartner
from schemas.eligibility import (
    DEFAULT_SERVICE_TYPES,
    NO_ELIGIBILITY_KINDS,
    CoverageKey,
    EligibilityInquiry,
    InquiryPerson,
)
from schemas.reference import Clinic, Coverage, Patient, Payer

_MAX_CONTROL = 999_999_999


class EligibilityError(ValueError):
    """The inquiry cannot be made (names the record and the rule, never a value)."""


@dataclass(frozen=True)
class Inquiry:
    payer: Payer
    inquiry: EligibilityInquiry


def _active(coverage: Coverage, day: date) -> bool:
    return coverage.effective_from <= day and (
        coverage.effective_to is None or day <= coverage.effective_to
    )


def inquiries_for(
    patient: Patient, clinic: Clinic, payers: Mapping[str, Payer], day: date
) -> tuple[list[Inquiry], list[str]]:
    """The inquiries for the patient's health-plan coverages active on ``day``, and
    why each other coverage was left out."""
    out: list[Inquiry] = []
    skipped: list[str] = []
    for coverage in patient.coverages:
        if coverage.kind != "insurance" or coverage.payer_id is None:
            skipped.append(f"coverage {coverage.coverage_id}: {coverage.kind}, no payer to ask")
            continue
        if not _active(coverage, day):
            skipped.append(f"coverage {coverage.coverage_id}: not active on {day}")
            continue
        payer = payers.get(coverage.payer_id)
        if payer is None:
            skipped.append(f"coverage {coverage.coverage_id}: payer {coverage.payer_id} unknown")
            continue
        if payer.kind in NO_ELIGIBILITY_KINDS:
            skipped.append(
                f"coverage {coverage.coverage_id}: payer {payer.payer_id} ({payer.kind}) does "
                "not answer 270s; verify by claim number"
            )
            continue
        if coverage.relationship == "self":
            subscriber = InquiryPerson(
                name=patient.name, birth_date=patient.birth_date, member_id=coverage.member_id
            )
            dependent = None
        else:
            insured = coverage.subscriber
            if insured is None or insured.name is None:
                skipped.append(f"coverage {coverage.coverage_id}: the subscriber is no person")
                continue
            subscriber = InquiryPerson(
                name=insured.name,
                birth_date=insured.birth_date,
                member_id=insured.member_id or coverage.member_id,
            )
            dependent = InquiryPerson(name=patient.name, birth_date=patient.birth_date)
        inquiry = EligibilityInquiry(
            coverage=CoverageKey(
                clinic_id=clinic.clinic_id, patient_id=patient.patient_id, payer_id=payer.payer_id
            ),
            coverage_id=coverage.coverage_id,
            asked_from=day,
            payer_name=payer.name,
            payer_edi_id=payer.edi_payer_id,
            provider_name=clinic.name,
            provider_npi=clinic.npi,
            provider_tax_id=clinic.tax_id,
            subscriber=subscriber,
            dependent=dependent,
            service_types=list(payer.eligibility_service_types or DEFAULT_SERVICE_TYPES),
        )
        out.append(Inquiry(payer, inquiry))
    return out, skipped


class FileSequence:
    """A durable counter per receiver: one small file, advanced under an exclusive lock."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def next(self, receiver_id: str) -> int:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.directory / receiver_id
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            text = os.read(fd, 32).decode("ascii", "replace").strip()
            last = int(text) if text.isdigit() else 0
            number = last % _MAX_CONTROL + 1
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.write(fd, f"{number}\n".encode())
            os.fsync(fd)
            return number
        finally:
            os.close(fd)


def write_inquiries(
    inquiries: Sequence[Inquiry],
    partners: Mapping[str, TradingPartner],
    outbox: Path,
    sequence: FileSequence,
    now: datetime,
) -> list[Path]:
    """One 270 interchange per payer in ``<outbox>/270/``; returns the files written."""
    from workers.runtime.atomic_files import write_atomically

    by_payer: dict[str, list[Inquiry]] = {}
    for item in inquiries:
        by_payer.setdefault(item.payer.payer_id, []).append(item)
    written: list[Path] = []
    for payer_id, items in sorted(by_payer.items()):
        receiver = items[0].payer.receiver_id
        partner = partners.get(receiver)
        if partner is None:
            raise EligibilityError(f"payer {payer_id}: trading partner {receiver} is unknown")
        number = sequence.next(receiver)
        text = render_270(
            [i.inquiry for i in items], partner=partner, control_number=number, created_at=now
        )
        name = f"270-{receiver}-{payer_id}-{number:09d}.x12"
        written.append(write_atomically(outbox / "270", name, text.encode()))
    return written


def check_main(
    settings: Any,
    target: str,
    day: date | None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Read the reference topics, write the 270s, print one line per file."""
    out = out or sys.stdout
    err = err or sys.stderr
    from workers.runtime.topic_scan import read_latest

    clinic_id, sep, patient_id = target.partition(":")
    if not sep or not clinic_id or not patient_id:
        print("error: expected CLINIC:PATIENT", file=err)
        return 2
    when = datetime.now(UTC)
    asked = day or when.date()
    key = f"{clinic_id}:{patient_id}".encode()
    raw_patient = read_latest(settings, "ref.patients").get(key)
    raw_clinic = read_latest(settings, "ref.clinics").get(clinic_id.encode())
    if raw_patient is None or raw_clinic is None:
        print(f"error: {'patient' if raw_patient is None else 'clinic'} not found", file=err)
        return 1
    patient = Patient.parse_json(raw_patient)
    clinic = Clinic.parse_json(raw_clinic)
    payers = {
        p.payer_id: p for p in map(Payer.parse_json, read_latest(settings, "ref.payers").values())
    }
    partners = {
        p.receiver_id: p
        for p in map(TradingPartner.parse_json, read_latest(settings, "ref.partners").values())
    }
    inquiries, skipped = inquiries_for(patient, clinic, payers, asked)
    for reason in skipped:
        print(f"skipped: {reason}", file=err)
    if not inquiries:
        print("error: no health-plan coverage to ask about", file=err)
        return 1
    sequence = FileSequence(Path(settings.state_dir) / "eligibility" / "sequences")
    try:
        files = write_inquiries(inquiries, partners, Path(settings.outbox_dir), sequence, when)
    except (EligibilityError, ValueError) as exc:
        print(f"error: {exc}", file=err)
        return 1
    for path in files:
        print(path, file=out)
    return 0


def simulate_main(
    path: str,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    max_bytes: int | None = None,
) -> int:
    """``claims simulate-payer FILE.270``: the simulated payer's 271 on ``out`` (stdout)."""
    out = out or sys.stdout
    err = err or sys.stderr
    from edi.segments import X12Error
    from workers.payer_sim.eligibility import answer_270
    from workers.runtime.limits import read_limited

    now = datetime.now(UTC)
    try:
        data = read_limited(Path(path), max_bytes)
    except OSError as exc:
        print(f"error: {type(exc).__name__}: cannot read the file", file=err)
        return 2
    try:
        text, scenarios = answer_270(data, control_number=int(f"{now:%H%M%S}") or 1, now=now)
    except X12Error as exc:
        print(f"error: {exc}", file=err)
        return 1
    out.write(text)
    counts = {s: scenarios.count(s) for s in sorted(set(scenarios))}
    print(f"answered {len(scenarios)} inquiries: {counts}", file=err)
    return 0
