"""``claims edi validate`` and ``claims edi render-837``: 837P files from the command line.

:func:`validate_main` checks X12 files with the pyx12 gate
(:func:`edi.validate.validate_x12`) and prints one verdict per file with the
segment- and element-level findings.  Exit status: 0 when every file is valid,
1 when any is invalid, 2 when any cannot be read (2 wins over 1).  Nothing is
ever written next to the inputs; findings never quote data values.

:func:`render_main` renders the ``Claim`` JSON lines of a file into one 837P
(:func:`edi.x837p.render_837p`) on ``out``.  The trading partner comes from a
``TradingPartner`` JSON file, or is the built-in test partner (ISA15 ``T``)
addressed to the claims' own receiver.  Bad lines are reported on ``err`` with
their line number, field path and rule (never the value) and nothing is
rendered; exit status 1 for bad input (bad lines, a claim the renderer
refuses, a bad partner file or control number), 2 when a file cannot be read.
Notes about transliterated characters go to ``err``.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError

from edi.validate import Finding, validate_x12
from schemas.base import describe_errors
from schemas.claims import Claim, ControlNumbers, TradingPartner
from workers.runtime.limits import VALIDATE_FILE_BYTES, FileRefused, read_limited

_VALIDATE = "claims edi validate"
_RENDER = "claims edi render-837"
#: Findings printed per file; the rest are counted.
MAX_FINDINGS_SHOWN = 100


# --- validate -----------------------------------------------------------------------


def validate_limit(max_bytes: int | None) -> int:
    """The most bytes pyx12 is given: ``max_bytes``, but never over
    :data:`~workers.runtime.limits.VALIDATE_FILE_BYTES`."""
    return VALIDATE_FILE_BYTES if max_bytes is None else min(max_bytes, VALIDATE_FILE_BYTES)


def pyx12_refusal(path: str, max_bytes: int | None) -> str | None:
    """Why the file at ``path`` is too large for pyx12 (its own limit), or ``None``."""
    try:
        size = os.stat(path).st_size
    except OSError:
        return None
    limit = validate_limit(max_bytes)
    if size <= limit or limit != VALIDATE_FILE_BYTES:
        return None  # within pyx12's limit, or over the general one (which says so)
    return (
        f"{Path(path).name} is {size:,} bytes; pyx12 validates files of at most "
        f"{VALIDATE_FILE_BYTES:,} bytes (the readers take larger ones)"
    )


def _read_bytes(path: str, err: TextIO, max_bytes: int | None = None) -> bytes | None:
    refusal = pyx12_refusal(path, max_bytes)
    if refusal is not None:
        err.write(f"{_VALIDATE}: {refusal}\n")
        return None
    try:
        return read_limited(path, validate_limit(max_bytes))
    except FileRefused as exc:
        err.write(f"{_VALIDATE}: {exc}\n")
        return None
    except OSError as exc:
        err.write(f"{_VALIDATE}: cannot read {path}: {exc.strerror or type(exc).__name__}\n")
        return None


def _print_verdict(path: str, findings: list[Finding], ok: bool, out: TextIO) -> None:
    errors = sum(1 for f in findings if f.severity == "error")
    warnings = len(findings) - errors
    if ok:
        note = f" ({warnings} warning(s))" if warnings else ""
        out.write(f"{path}: valid{note}\n")
    else:
        out.write(f"{path}: INVALID: {errors} error(s), {warnings} warning(s)\n")
    for finding in findings[:MAX_FINDINGS_SHOWN]:
        out.write(f"  {finding}\n")
    if len(findings) > MAX_FINDINGS_SHOWN:
        out.write(f"  ... and {len(findings) - MAX_FINDINGS_SHOWN} more\n")


def validate_main(
    paths: list[str],
    out: TextIO | None = None,
    err: TextIO | None = None,
    *,
    max_bytes: int | None = None,
) -> int:
    """Validate each X12 file in ``paths``; 0 all valid, 1 any invalid, 2 any unreadable
    (or over ``max_bytes``, or over pyx12's own limit
    :data:`~workers.runtime.limits.VALIDATE_FILE_BYTES`).

    ``out`` and ``err`` default to the ``sys.stdout`` and ``sys.stderr`` of the call.
    """
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    unreadable = invalid = False
    for path in paths:
        data = _read_bytes(path, err, max_bytes)
        if data is None:
            unreadable = True
            continue
        report = validate_x12(data)
        _print_verdict(path, list(report.findings), report.ok, out)
        invalid = invalid or not report.ok
    if unreadable:
        return 2
    return 1 if invalid else 0


# --- render -------------------------------------------------------------------------


def builtin_test_partner(receiver_id: str) -> TradingPartner:
    """The built-in test partner (usage ``T``) for claims addressed to ``receiver_id``."""
    return TradingPartner.new(
        receiver_id=receiver_id,
        name="Test Receiver",
        receiver_code="TESTRECEIVER",
        isa_sender_id="CLAIMSENGINE",
        isa_receiver_id="TESTRECEIVER",
        gs_sender_code="CLAIMSENGINE",
        gs_receiver_code="TESTRECEIVER",
        usage="T",
        submitter={
            "name": "Claims Engine Test Submitter",
            "id": "CLAIMSENGINE",
            "contact_name": "Test Desk",
            "contact_phone": "5555550100",
        },
    )


class _BadInput(Exception):
    """Reported already; exit status 1."""


class _Unreadable(Exception):
    """Reported already; exit status 2."""


def _read_text(path: str, err: TextIO) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        err.write(f"{_RENDER}: {path}: not UTF-8 text (byte {exc.start})\n")
        raise _BadInput from None
    except OSError as exc:
        err.write(f"{_RENDER}: cannot read {path}: {exc.strerror or type(exc).__name__}\n")
        raise _Unreadable from None


def _load_claims(path: str, err: TextIO) -> list[Claim]:
    claims: list[Claim] = []
    bad = False
    for number, line in enumerate(_read_text(path, err).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            claims.append(Claim.parse_json(line))
        except ValidationError as exc:
            bad = True
            for problem in describe_errors(exc):
                err.write(f"{path}:{number}: {problem}\n")
    if bad:
        raise _BadInput
    if not claims:
        err.write(f"{_RENDER}: {path}: no claims\n")
        raise _BadInput
    return claims


def _load_partner(path: str | None, claims: list[Claim], err: TextIO) -> TradingPartner:
    if path is None:
        return builtin_test_partner(claims[0].receiver_id)
    text = _read_text(path, err)
    try:
        return TradingPartner.parse_json(text)
    except ValidationError as exc:
        for problem in describe_errors(exc):
            err.write(f"{path}: {problem}\n")
        raise _BadInput from None


def _control_numbers(control_number: int, err: TextIO) -> ControlNumbers:
    try:
        return ControlNumbers(
            interchange=control_number, group=control_number, transaction=control_number
        )
    except ValidationError:
        err.write(f"{_RENDER}: --control-number must be between 1 and 999999999\n")
        raise _BadInput from None


def render_main(
    claims_path: str,
    partner_path: str | None,
    control_number: int,
    out: TextIO | None = None,
    err: TextIO | None = None,
    *,
    now: datetime | None = None,
) -> int:
    """Render the claims of ``claims_path`` as one 837P on ``out``; 0, 1 bad input, 2 unreadable.

    ``control_number`` becomes ISA13, GS06 and ST02; ``now`` (default: the
    current UTC time) the file's creation time.  ``out`` and ``err`` default to
    the ``sys.stdout`` and ``sys.stderr`` of the call.
    """
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    from edi.x837p import ClaimRenderError, render_837p

    try:
        numbers = _control_numbers(control_number, err)
        claims = _load_claims(claims_path, err)
        partner = _load_partner(partner_path, claims, err)
        rendered = render_837p(claims, partner, numbers, now or datetime.now(UTC))
    except _BadInput:
        return 1
    except _Unreadable:
        return 2
    except ClaimRenderError as exc:
        err.write(f"{_RENDER}: {exc}\n")
        return 1
    for note in rendered.transliterations:
        err.write(f"note: {note}\n")
    out.write(rendered.text)
    return 0
