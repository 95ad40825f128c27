"""``parse-835``: read an 835 remittance file and print a summary or the canonical JSON.

:func:`parse_835_main` is the command function (the CLI wiring calls it).  It
streams the file: claims are printed as they are read, so a very large 835 is
never held in memory.  The JSON output is written to a spool (memory up to a
few MB, then a temporary file) and copied to ``out`` only when the whole file
parsed, so a parse error never leaves half a JSON document on stdout.

Envelope faults the tolerance policy forgives (:mod:`edi.tolerance`: wrong trailer
counts or control numbers, an ISA not padded, a garbled segment id outside the
claims) are printed as warnings -- ``"warnings": [{"segment", "offset", "rule",
...}]`` in the JSON -- and the status stays 0; ``strict`` refuses them instead.

Exit status: 0 when the file parsed (balanced or not), 1 when it is not a
readable 835 (the message on ``err`` names the segment ordinal and byte
offset), 2 when the file cannot be read at all (missing, a directory, no
permission).  Messages never quote data values from the file.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Iterable
from decimal import Decimal
from typing import IO, TextIO

from edi.segments import X12Error
from edi.tolerance import Warnings
from edi.x835 import RemittanceEvent, iter_835_events
from schemas.remittance import (
    ClaimPayment,
    RemittanceHeader,
    RemittanceSummary,
    money_text,
)
from workers.runtime.limits import FileRefused, open_limited

_PROG = "parse-835"
_SPOOL_BYTES = 8 * 1024 * 1024


def parse_835_main(
    path: str,
    as_json: bool,
    out: TextIO | None = None,
    err: TextIO | None = None,
    *,
    max_bytes: int | None = None,
    strict: bool = False,
) -> int:
    """Parse the 835 at ``path``; print a human summary, or the public JSON when ``as_json``.

    A file over ``max_bytes`` (or one that grows past it while it is read) and
    anything that is not a regular file are refused (status 2)."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    try:
        stream = open_limited(path, max_bytes)
    except FileRefused as exc:
        err.write(f"{_PROG}: {exc}\n")
        return 2
    except OSError as exc:
        err.write(f"{_PROG}: cannot read {path}: {exc.strerror or type(exc).__name__}\n")
        return 2
    with stream:
        try:
            warnings = Warnings()
            events = iter_835_events(stream, warnings=None if strict else warnings)
            if as_json:
                _write_json(path, events, out, warnings)
            else:
                _write_summary(path, events, out, warnings)
        except X12Error as exc:
            err.write(f"{_PROG}: {path} is not a valid 835: {exc}\n")
            return 1
        except FileRefused as exc:
            err.write(f"{_PROG}: {exc}\n")
            return 2
        except OSError as exc:
            err.write(f"{_PROG}: cannot read {path}: {exc.strerror or type(exc).__name__}\n")
            return 2
    return 0


# --- JSON ---------------------------------------------------------------------------


def _write_json(
    path: str, events: Iterable[RemittanceEvent], out: TextIO, warnings: Warnings
) -> None:
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES, mode="w+", encoding="utf-8") as spool:
        _json_document(path, events, spool, warnings)
        spool.seek(0)
        shutil.copyfileobj(spool, out)


def _json_document(
    path: str, events: Iterable[RemittanceEvent], sink: IO[str], warnings: Warnings
) -> None:
    """``{"file": ..., "transactions": [...], "warnings": [...]}`` written piece by
    piece, one claim a line (the warnings are known once the file is read)."""
    sink.write('{"file": ' + json.dumps(path) + ', "transactions": [')
    first_transaction = True
    first_claim = True
    for event in events:
        if isinstance(event, RemittanceHeader):
            sink.write("\n" if first_transaction else ",\n")
            first_transaction, first_claim = False, True
            sink.write(
                '{"control_number": ' + json.dumps(event.control_number)
                + ', "payer": ' + event.payer.model_dump_json()
                + ', "payee": ' + event.payee.model_dump_json()
                + ', "payment": ' + event.payment.model_dump_json()
                + ', "claims": ['
            )  # fmt: skip
        elif isinstance(event, ClaimPayment):
            sink.write("\n  " if first_claim else ",\n  ")
            first_claim = False
            sink.write(event.model_dump_json())
        else:
            adjustments = ", ".join(a.model_dump_json() for a in event.provider_adjustments)
            sink.write(
                "],\n"
                + ' "provider_adjustments": [' + adjustments + "]"
                + ', "balance": ' + event.balance.model_dump_json()
                + "}"
            )  # fmt: skip
    sink.write("\n], \"warnings\": [")
    sink.write(", ".join(json.dumps(w.as_json()) for w in warnings))
    sink.write("]}\n")


# --- human summary ------------------------------------------------------------------


def _write_summary(
    path: str, events: Iterable[RemittanceEvent], out: TextIO, warnings: Warnings
) -> None:
    out.write(f"{path}\n")
    transactions = balanced = 0
    for event in events:
        if isinstance(event, RemittanceHeader):
            out.write(_header_lines(event))
        elif isinstance(event, RemittanceSummary):
            transactions += 1
            balanced += event.balance.ok
            out.write(_summary_lines(event))
        out.flush()
    for warning in warnings:
        out.write(f"warning: {warning}\n")
    if transactions == 0:
        out.write("no 835 transaction sets\n")
    else:
        out.write(f"{transactions} transaction set(s), {balanced} balanced\n")
    if warnings:
        out.write(
            f"{len(warnings)} envelope fault(s) forgiven: the inbox posts this file only if "
            "every transaction balances, and puts it on remits.review\n"
        )


def _header_lines(header: RemittanceHeader) -> str:
    payer, payee, payment = header.payer, header.payee, header.payment
    payee_ids = ", ".join(
        f"{label} {value}"
        for label, value in (("NPI", payee.npi), ("tax id", payee.tax_id))
        if value
    )
    paid_on = payment.date.isoformat() if payment.date else "no valid date"
    return (
        f"transaction {header.control_number}\n"
        f"  payer:   {payer.name or '?'} (id {payer.id or '?'})\n"
        f"  payee:   {payee.name or '?'}" + (f" ({payee_ids})" if payee_ids else "") + "\n"
        f"  payment: {money_text(payment.amount)} {payment.credit_debit or '?'}"
        f" by {payment.method or '?'} on {paid_on}, trace {payment.trace_number or '?'}\n"
    )


def _summary_lines(summary: RemittanceSummary) -> str:
    plb_total = sum((a.amount for a in summary.provider_adjustments), start=Decimal(0))
    lines = [
        f"  claims:  {summary.claim_count}, paid {money_text(summary.paid_total)}, "
        f"provider adjustments {money_text(plb_total)}"
    ]
    equations = [e for e in summary.balance.errors if e.is_equation]
    notes = [e for e in summary.balance.errors if not e.is_equation]
    if summary.balance.ok:
        lines.append("  balance: ok")
    else:
        lines.append(f"  balance: FAILED ({len(equations)} equation(s))")
        lines.extend(
            f"    {e.level} {e.reference}: expected {e.expected}, file says {e.actual}"
            for e in equations
        )
    lines.extend(
        f"  problem: {e.reference}: expected {e.expected}, file says {e.actual or 'nothing'}"
        for e in notes
    )
    return "\n".join(lines) + "\n"
