"""270 inquiries: who to ask about a patient's coverages, and the files that ask.

:func:`inquiries_for` (pure) builds one inquiry per health-plan coverage of the
patient active on the date (auto and workers' compensation payers do not answer
270s), with the payer's service types (``eligibility_service_types``, default
30, AE, BE, PT).  :func:`write_inquiries` writes one interchange per payer into
``<outbox>/270/`` (atomically, 0600), its ISA13/GS06 from a durable
per-receiver sequence kept in ``<state_dir>/eligibility/sequences/<receiver>``
(:class:`FileSequence`: a locked file, so the stage and a command never reuse a
number).  The claims stage's own sequences live in its Kafka table and are not
shared: a 270 and an 837 to the same receiver count separately.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from edi.x270 import render_270
from schemas.claims import ControlNumbers, TradingPartner
from schemas.eligibility import (
    DEFAULT_SERVICE_TYPES,
    NO_ELIGIBILITY_KINDS,
    CoverageKey,
    EligibilityInquiry,
    InquiryPerson,
)
from schemas.reference import Clinic, Coverage, Patient, Payer
from schemas.submission import FileReleased

_MAX_CONTROL = 999_999_999


class EligibilityError(ValueError):
    """The inquiry cannot be made (names the record and the rule, never a value)."""


@dataclass(frozen=True)
class Inquiry:
    payer: Payer
    inquiry: EligibilityInquiry


def active_on(coverage: Coverage, day: date) -> bool:
    """Whether the coverage's dates include ``day``."""
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
        if not active_on(coverage, day):
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
) -> list[FileReleased]:
    """One 270 interchange per payer in ``<outbox>/270/``; returns what each file is
    (announced on ``edi.outbound`` so a partner's mailbox worker uploads it)."""
    from workers.runtime.atomic_files import write_atomically

    by_payer: dict[str, list[Inquiry]] = {}
    for item in inquiries:
        by_payer.setdefault(item.payer.payer_id, []).append(item)
    written: list[FileReleased] = []
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
        data = text.encode()
        path = write_atomically(outbox / "270", name, data)
        written.append(
            FileReleased.new(
                transaction="270",
                file_name=name,
                path=str(path),
                receiver_id=receiver,
                billing_provider_npi=items[0].inquiry.provider_npi,
                usage=partner.usage,
                control_numbers=ControlNumbers(interchange=number, group=number, transaction=1),
                claim_count=len(items),
                claim_ids=[],
                size_bytes=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                validated=False,  # no 270 map to gate with; the tests check its guide
                released_at=now,
            )
        )
    return written
