"""Acknowledgement commands: parse 999/277 files, ingest them, answer 835s with a 999,
and list the claims that need follow-up.

Exit status of the parse commands: 0 parsed, 1 not a readable 999/277 (the
message names the segment ordinal and byte offset), 2 the file cannot be read.
Messages never quote data values of the file (envelope ids aside).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, TextIO

from edi.segments import X12Error
from schemas.acknowledgements import (
    Ack277,
    Ack999,
    ClaimStatus,
    ClaimStatusReport,
    GroupResponse,
    StatusInfo,
    TransactionResponse,
)
from schemas.state import ClaimRecord
from workers.runtime.limits import FileRefused, FileTooLarge, open_limited, read_limited
from workers.runtime.settings import Settings

if TYPE_CHECKING:
    from edi.x277 import StatusEvent
    from edi.x999 import AckEvent

#: Characters a spool holds in memory before it moves to a temporary file (Python keeps
#: up to 4 bytes per character of a text spool).
_SPOOL_BYTES = 1024 * 1024


def _read(path: str, prog: str, err: TextIO, max_bytes: int | None) -> bytes | None:
    try:
        return read_limited(path, max_bytes)
    except FileRefused as exc:
        err.write(f"{prog}: {exc}\n")
    except OSError as exc:
        err.write(f"{prog}: cannot read {path}: {exc.strerror or type(exc).__name__}\n")
    return None


def _status_codes(statuses: Sequence[StatusInfo]) -> str:
    return " ".join(":".join(p for p in (s.category, s.code, s.entity) if p) for s in statuses)


def _group_line(g: GroupResponse) -> str:
    return (
        f"999 {g.control_number} from {g.envelope.isa_sender_id}: group {g.functional_id} "
        f"{g.group_control_number} -> {g.status} ({g.accepted} of {g.included} accepted)"
    )


def _response_line(t: TransactionResponse) -> str:
    errors = ", ".join(
        f"{e.segment_id}@{e.position} IK3-{e.code}"
        + "".join(f" IK4-{x.code}({x.position})" for x in e.elements)
        for e in t.segment_errors
    )
    return f"  {t.transaction_set_id} {t.control_number}: {t.status}" + (
        f" [{errors}]" if errors else ""
    )


def _report_line(r: ClaimStatusReport, claims: int) -> str:
    return (
        f"{r.kind} {r.control_number} from {r.envelope.isa_sender_id} "
        f"(acknowledges batch {r.batch_reference or '-'}): {claims} claim(s)"
    )


def _claim_lines(c: ClaimStatus) -> str:
    lines = [
        f"  claim {c.patient_control_number or '(no reference)'}: {_status_codes(c.statuses)}"
        + (f" payer claim {c.payer_claim_number}" if c.payer_claim_number else "")
    ]
    lines += [
        f"    line {line.line_control_number or '-'}: {_status_codes(line.statuses)}"
        for line in c.lines
    ]
    return "\n".join(lines)


def summary_999(ack: Ack999) -> list[str]:
    lines = []
    for g in ack.groups:
        lines.append(_group_line(g))
        lines += [_response_line(t) for t in g.transactions]
    lines += [f"warning: {w}" for w in ack.warnings]
    return lines


def summary_277(ack: Ack277) -> list[str]:
    lines = []
    for r in ack.reports:
        lines.append(_report_line(r, len(r.claims)))
        lines += [_claim_lines(c) for c in r.claims]
    lines += [f"warning: {w}" for w in ack.warnings]
    return lines


def _spool() -> IO[str]:
    """Text held in memory up to a megabyte, then in a temporary file."""
    return tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES, mode="w+", encoding="utf-8")


def _with_items(whole: str, key: str, items: IO[str]) -> Iterator[str]:
    """``whole`` (compact JSON of a model whose list ``key`` is empty) with the JSON
    items spooled in ``items`` as that list."""
    marker = f'"{key}":[]'
    at = whole.index(marker) + len(marker) - 1
    yield whole[:at]
    items.seek(0)
    while chunk := items.read(1 << 16):
        yield chunk
    yield "\n]" + whole[at + 1 :]


def _write_acks(
    events: Iterator[AckEvent | StatusEvent], warnings: list[str], as_json: bool, sink: IO[str]
) -> None:
    """Write the events of a 999 or 277 as they come.  The items of a transaction set
    (its AK2 loops, its claims) come before the set's own fields, which are printed
    first: the items are spooled until then."""
    first = True
    items = _spool()
    count = 0
    try:
        for event in events:
            if isinstance(event, TransactionResponse | ClaimStatus):
                if as_json:
                    items.write(",\n  " if count else "\n  ")
                    items.write(event.model_dump_json())
                elif isinstance(event, TransactionResponse):
                    items.write(_response_line(event) + "\n")
                else:
                    items.write(_claim_lines(event) + "\n")
                count += 1
                continue
            if as_json:
                key = "transactions" if isinstance(event, GroupResponse) else "claims"
                if first:
                    sink.write('{"' + ("groups" if key == "transactions" else "reports") + '": [\n')
                else:
                    sink.write(",\n")
                whole = event.model_dump_json()
                for chunk in _with_items(whole, key, items) if count else (whole,):
                    sink.write(chunk)  # not writelines: a spool rolls over only in write
            else:
                if isinstance(event, GroupResponse):
                    sink.write(_group_line(event) + "\n")
                else:
                    sink.write(_report_line(event, count) + "\n")
                items.seek(0)
                shutil.copyfileobj(items, sink)
            first = False
            items.close()
            items, count = _spool(), 0
    finally:
        items.close()
    if as_json:
        sink.write('\n], "warnings": ' + json.dumps(warnings) + "}\n")
    else:
        for warning in warnings:
            sink.write(f"warning: {warning}\n")


def parse_ack_main(
    path: str,
    kind: str,
    as_json: bool,
    out: TextIO | None = None,
    err: TextIO | None = None,
    *,
    max_bytes: int | None = None,
) -> int:
    """``claims edi parse-999|parse-277 FILE [--json]``.

    The file is read as a stream (:func:`edi.x999.iter_999_events`,
    :func:`edi.x277.iter_277_events`): memory stays flat whatever its size.  What
    is printed goes through a spool (memory up to a megabyte, then a temporary
    file) and reaches ``out`` only when the whole file was read, so an error
    never leaves half a document."""
    from edi.x277 import iter_277_events
    from edi.x999 import iter_999_events

    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    prog = f"parse-{kind}"
    try:
        stream = open_limited(path, max_bytes)
    except FileRefused as exc:
        err.write(f"{prog}: {exc}\n")
        return 2
    except OSError as exc:
        err.write(f"{prog}: cannot read {path}: {exc.strerror or type(exc).__name__}\n")
        return 2
    warnings: list[str] = []
    with stream, _spool() as spool:
        try:
            events: Iterator[AckEvent | StatusEvent] = (
                iter_999_events(stream, warnings=warnings)
                if kind == "999"
                else iter_277_events(stream, warnings=warnings)
            )
            _write_acks(events, warnings, as_json, spool)
        except X12Error as exc:
            err.write(f"{prog}: {path}: {exc}\n")
            return 1
        except FileRefused as exc:
            err.write(f"{prog}: {exc}\n")
            return 2
        except OSError as exc:
            err.write(f"{prog}: cannot read {path}: {exc.strerror or type(exc).__name__}\n")
            return 2
        spool.seek(0)
        shutil.copyfileobj(spool, out)
    return 0


def ack_835_main(
    path: str,
    output: str | None,
    control_number: int,
    out: TextIO | None = None,
    err: TextIO | None = None,
    *,
    max_bytes: int | None = None,
    now: datetime | None = None,
) -> int:
    """``claims edi ack-835 FILE [--out F]``: the 999 answering an 835 we received.

    Exit status: 0 written, 1 not an X12 file it can answer, 2 the file cannot be
    read (or is over pyx12's limit) or ``--out`` cannot be written (it exists)."""
    from edi.validate import validate_x12
    from edi.x999 import acknowledge
    from workers.commands.edi837 import pyx12_refusal, validate_limit
    from workers.runtime.atomic_files import write_atomically

    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    refusal = pyx12_refusal(path, max_bytes)
    if refusal is not None:
        err.write(f"ack-835: {refusal}\n")
        return 2
    data = _read(path, "ack-835", err, validate_limit(max_bytes))
    if data is None:
        return 2
    report = validate_x12(data)
    try:
        text = acknowledge(
            data,
            report.findings,
            control_number=control_number,
            created_at=now or datetime.now(UTC),
        )
    except X12Error as exc:
        err.write(f"ack-835: {path}: {exc}\n")
        return 1
    if output:
        target = Path(output)
        try:
            write_atomically(target.parent, target.name, text.encode())
        except OSError as exc:  # DeliveryError: the target exists already
            err.write(f"ack-835: cannot write {target}: {exc.strerror or exc}\n")
            return 2
        err.write(f"ack-835: wrote {target} ({'accepted' if report.ok else 'rejected'})\n")
    else:
        out.write(text)
    return 0


def ingest_ack_main(settings: Settings, files: Sequence[str], expected: str) -> int:
    """``claims ingest 999|277 FILE...``: publish acknowledgements on ``acks.inbound``."""
    from workers.inbound.acknowledgements import AckIngestError, load_partners, messages
    from workers.inbound.inbox import producer_for

    partners = load_partners(settings)
    producer = producer_for(settings)
    status = 0
    try:
        for name in files:
            path = Path(name)
            if not path.is_file():
                print(f"{name}: cannot read: no such file", file=sys.stderr)
                status = max(status, 2)
                continue

            try:
                report, records = messages(path, partners, max_bytes=settings.max_edi_file_bytes)
                if report.kind != expected:
                    raise AckIngestError(f"the file is a {report.kind}, not a {expected}")
                for r in records:
                    producer.send(
                        settings.topic(r.topic), key=r.key, value=r.value, headers=list(r.headers)
                    )
                producer.flush()
            except (X12Error, ValueError, FileTooLarge) as exc:
                print(f"{name}: not ingested: {exc}", file=sys.stderr)
                status = max(status, 1)
                continue
            print(
                f"{name}: {report.kind}, {report.published} acknowledgement(s) published"
                + (
                    f" ({report.accepted} accepted, {report.rejected} rejected)"
                    if expected == "999"
                    else ""
                )
                + (f" for {', '.join(sorted(report.receivers))}" if report.receivers else "")
            )
            for line in report.skipped + [f"warning: {w}" for w in report.warnings]:
                print(f"{name}: {line}", file=sys.stderr)
            for line in report.refused_inquiries:
                print(f"{name}: REFUSED: {line}", file=sys.stderr)
    finally:
        producer.close()
    return status


def follow_up_rows(records: Sequence[ClaimRecord], now: datetime, days: int) -> list[list[str]]:
    from workers.claims.front_door import needs_follow_up

    rows = []
    for record in records:
        if not needs_follow_up(record, now, days):
            continue
        assert record.front_door_at is not None
        latest = record.versions[-1] if record.versions else None
        rows.append(
            [
                record.patient_control_number,
                record.receiver_id,
                latest.claim_id if latest else "-",
                record.front_door,
                record.front_door_at.date().isoformat(),
                str((now - record.front_door_at).days),
            ]
        )
    return sorted(rows, key=lambda r: (-int(r[5]), r[0]))


FOLLOW_UP_HEADERS = ["claim", "receiver", "version", "front door", "since", "days"]


def load_claim_records(settings: Settings) -> list[ClaimRecord]:
    from workers.claims import stored_records
    from workers.runtime.topic_scan import read_latest

    out: list[ClaimRecord] = []
    for value in read_latest(settings, "state.claims.records").values():
        try:
            out.append(stored_records.decode(value))
        except ValueError:
            continue
    return out


def follow_up_json(rows: list[list[str]]) -> str:
    return json.dumps([dict(zip(FOLLOW_UP_HEADERS, r, strict=True)) for r in rows], indent=2)
