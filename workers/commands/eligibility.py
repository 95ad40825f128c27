"""``claims eligibility check <clinic>:<patient> [--date D]``: ask the payers with a 270.

The inquiries and their files are built by :mod:`workers.eligibility.inquiries`
(the same code the eligibility stage uses for the 270s it sends on its own), so a
270 asked for by hand and one sent automatically share their control numbers.  Each
file is announced on ``edi.outbound``, so a partner's mailbox worker uploads it.

:func:`simulate_main` is the simulated payer's side: ``claims simulate-payer
FILE.270`` prints the 271 answer (:mod:`workers.payer_sim.eligibility`).
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

from schemas.claims import TradingPartner
from schemas.reference import Clinic, Patient, Payer
from schemas.submission import FileReleased
from workers.eligibility.inquiries import (
    EligibilityError,
    FileSequence,
    Inquiry,
    inquiries_for,
    write_inquiries,
)

__all__ = [
    "EligibilityError",
    "FileSequence",
    "Inquiry",
    "check_main",
    "inquiries_for",
    "simulate_main",
    "write_inquiries",
]


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
    announce(settings, files)
    for file in files:
        print(file.path, file=out)
    return 0


def announce(settings: Any, files: list[FileReleased]) -> None:
    """Each 270 on ``edi.outbound`` (a partner with an SFTP mailbox gets it uploaded)."""
    from workers.runtime import kafka_clients
    from workers.runtime.codec import encode

    producer = kafka_clients.producer(settings, client_id="claims-eligibility-check")
    try:
        for file in files:
            producer.send(
                settings.topic("edi.outbound"),
                key=file.receiver_id.encode(),
                value=encode(file),
                headers=[("claims.event_type", b"FileReleased")],
            )
        producer.flush()
    finally:
        producer.close()


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
