"""Inquiries waiting to be sent: a directory of small files, flushed into 270s.

The stage decides to ask one coverage at a time, but payers want one interchange
per payer, not one per question.  Each decision is written here (atomically,
0600, named by the question, so a redelivered message rewrites the same file)
before the message that caused it is committed; :func:`flush` turns everything
waiting into one 270 interchange per payer and only then removes the files.  A
crash between the two sends a question twice, never zero times: asking twice is
harmless.  An entry whose clinic, payer or trading partner is not known yet
waits; one whose coverage cannot be asked (not active, a payer that does not
answer 270s) is dropped with the reason in the log.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from schemas.claims import TradingPartner
from schemas.reference import Clinic, Patient, Payer
from schemas.submission import FileReleased
from workers.eligibility.asking import Ask
from workers.eligibility.inquiries import (
    EligibilityError,
    FileSequence,
    Inquiry,
    inquiries_for,
    write_inquiries,
)
from workers.runtime.atomic_files import DeliveryError, write_atomically


@dataclass(frozen=True)
class Waiting:
    path: Path
    patient: Patient
    coverage_id: str
    day: date
    reason: str


@dataclass
class Flushed:
    files: list[Path] = field(default_factory=list)
    #: what each file is, to announce on ``edi.outbound``
    released: list[FileReleased] = field(default_factory=list)
    #: the spool entries the files ask (removed by :func:`flush`, or by the caller
    #: once the files are announced: :meth:`Spool.forget`)
    taken: list[Path] = field(default_factory=list)
    asked: int = 0
    dropped: list[str] = field(default_factory=list)  # why, without PHI
    waiting: list[str] = field(default_factory=list)  # why, without PHI


class Spool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def add(self, patient: Patient, ask: Ask) -> Path:
        name = hashlib.sha256(
            f"{patient.clinic_id}\x1f{patient.patient_id}\x1f{ask.coverage_id}\x1f{ask.day}".encode()
        ).hexdigest()[:32]
        path = self.directory / f"{name}.json"
        if path.exists():
            return path  # the same question, already waiting
        body = {
            "patient": json.loads(patient.model_dump_json()),
            "coverage_id": ask.coverage_id,
            "day": ask.day.isoformat(),
            "reason": ask.reason,
        }
        try:
            return write_atomically(self.directory, path.name, json.dumps(body).encode())
        except DeliveryError:
            return path  # written meanwhile: the same question

    def forget(self, paths: list[Path]) -> None:
        """The questions of ``paths`` were asked: remove them."""
        for path in paths:
            path.unlink(missing_ok=True)

    def has_waiting(self) -> bool:
        return self.directory.is_dir() and any(self.directory.glob("*.json"))

    def waiting(self) -> list[Waiting]:
        if not self.directory.is_dir():
            return []
        out = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                body = json.loads(path.read_bytes())
                out.append(
                    Waiting(
                        path,
                        Patient.parse_json(json.dumps(body["patient"])),
                        str(body["coverage_id"]),
                        date.fromisoformat(body["day"]),
                        str(body["reason"]),
                    )
                )
            except (OSError, ValueError, KeyError, TypeError):
                # written atomically by this module: unreadable means damaged on disk
                path.rename(path.with_suffix(".damaged"))
        return out


def flush(
    spool: Spool,
    clinics: Mapping[str, Clinic],
    payers: Mapping[str, Payer],
    partners: Mapping[str, TradingPartner],
    outbox: Path,
    sequence: FileSequence,
    now: datetime,
    *,
    forget: bool = True,
) -> Flushed:
    """Every waiting question that can be asked, as one 270 interchange per payer.
    With ``forget=False`` the questions asked stay in the spool (``taken``) until the
    caller has announced the files and calls :meth:`Spool.forget`: a crash in between
    asks them again, never zero times."""
    result = Flushed()
    ready: list[tuple[Waiting, Inquiry]] = []
    for item in spool.waiting():
        clinic = clinics.get(item.patient.clinic_id)
        if clinic is None:
            result.waiting.append(f"clinic {item.patient.clinic_id} not known yet")
            continue
        coverage = next(
            (c for c in item.patient.coverages if c.coverage_id == item.coverage_id), None
        )
        if coverage is not None and coverage.payer_id not in payers:
            result.waiting.append(f"payer {coverage.payer_id} not known yet")
            continue
        found, skipped = inquiries_for(item.patient, clinic, payers, item.day)
        mine = [i for i in found if i.inquiry.coverage_id == item.coverage_id]
        if not mine:
            why = [s for s in skipped if s.startswith(f"coverage {item.coverage_id}:")]
            result.dropped.append(why[0] if why else f"coverage {item.coverage_id}: gone")
            item.path.unlink(missing_ok=True)
            continue
        receiver = mine[0].payer.receiver_id
        if receiver not in partners:
            result.waiting.append(f"trading partner {receiver} not known yet")
            continue
        ready.extend((item, i) for i in mine)
    if not ready:
        return result
    try:
        result.released = write_inquiries([i for _, i in ready], partners, outbox, sequence, now)
        result.files = [Path(r.path) for r in result.released]
    except (EligibilityError, ValueError) as exc:
        result.waiting.append(f"cannot write the 270s yet: {type(exc).__name__}")
        return result
    result.taken = sorted({item.path for item, _ in ready})
    if forget:
        spool.forget(result.taken)
    result.asked = len(ready)
    return result
