"""Acknowledgement commands: parse 999/277 files, ingest them, answer 835s with a 999,
and list the claims that need follow-up.

Exit status of the parse commands: 0 parsed, 1 not a readable 999/277 (the
message names the segment ordinal and byte offset), 2 the file cannot be read.
Messages never quote data values of the file (envelope ids aside).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from edi.segments import X12Error
from schemas.acknowledgements import Ack277, Ack999
from schemas.state import ClaimRecord
from workers.runtime.limits import FileTooLarge, check_file_size
from workers.runtime.settings import Settings


def _read(path: str, prog: str, err: TextIO, max_bytes: int | None) -> bytes | None:
    try:
        check_file_size(path, max_bytes)
        return Path(path).read_bytes()
    except FileTooLarge as exc:
        err.write(f"{prog}: {exc}\n")
    except OSError as exc:
        err.write(f"{prog}: cannot read {path}: {exc.strerror or type(exc).__name__}\n")
    return None


def summary_999(ack: Ack999) -> list[str]:
    lines = []
    for g in ack.groups:
        env = g.envelope
        lines.append(
            f"999 {g.control_number} from {env.isa_sender_id}: group {g.functional_id} "
            f"{g.group_control_number} -> {g.status} ({g.accepted} of {g.included} accepted)"
        )
        for t in g.transactions:
            errors = ", ".join(
                f"{e.segment_id}@{e.position} IK3-{e.code}"
                + "".join(f" IK4-{x.code}({x.position})" for x in e.elements)
                for e in t.segment_errors
            )
            lines.append(
                f"  {t.transaction_set_id} {t.control_number}: {t.status}"
                + (f" [{errors}]" if errors else "")
            )
    lines += [f"warning: {w}" for w in ack.warnings]
    return lines


def summary_277(ack: Ack277) -> list[str]:
    lines = []
    for r in ack.reports:
        lines.append(
            f"{r.kind} {r.control_number} from {r.envelope.isa_sender_id} "
            f"(acknowledges batch {r.batch_reference or '-'}): {len(r.claims)} claim(s)"
        )
        for c in r.claims:
            statuses = " ".join(
                ":".join(p for p in (s.category, s.code, s.entity) if p) for s in c.statuses
            )
            lines.append(
                f"  claim {c.patient_control_number or '(no reference)'}: {statuses}"
                + (f" payer claim {c.payer_claim_number}" if c.payer_claim_number else "")
            )
            for line in c.lines:
                ls = " ".join(
                    ":".join(p for p in (s.category, s.code, s.entity) if p) for s in line.statuses
                )
                lines.append(f"    line {line.line_control_number or '-'}: {ls}")
    lines += [f"warning: {w}" for w in ack.warnings]
    return lines


def parse_ack_main(
    path: str,
    kind: str,
    as_json: bool,
    out: TextIO | None = None,
    err: TextIO | None = None,
    *,
    max_bytes: int | None = None,
) -> int:
    """``claims edi parse-999|parse-277 FILE [--json]``."""
    from edi.x277 import parse_277
    from edi.x999 import parse_999

    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    prog = f"parse-{kind}"
    data = _read(path, prog, err, max_bytes)
    if data is None:
        return 2
    try:
        parsed: Ack999 | Ack277 = parse_999(data) if kind == "999" else parse_277(data)
    except X12Error as exc:
        err.write(f"{prog}: {path}: {exc}\n")
        return 1
    if as_json:
        out.write(parsed.model_dump_json(indent=2) + "\n")
    else:
        lines = summary_999(parsed) if isinstance(parsed, Ack999) else summary_277(parsed)
        out.write("\n".join(lines) + "\n")
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
    """``claims edi ack-835 FILE [--out F]``: the 999 answering an 835 we received."""
    from edi.validate import validate_x12
    from edi.x999 import acknowledge
    from workers.runtime.atomic_files import write_atomically

    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    data = _read(path, "ack-835", err, max_bytes)
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
        write_atomically(target.parent, target.name, text.encode())
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
    from workers.runtime.topic_scan import read_latest

    out: list[ClaimRecord] = []
    for value in read_latest(settings, "state.claims.records").values():
        try:
            out.append(ClaimRecord.parse_json(value))
        except ValueError:
            continue
    return out


def follow_up_json(rows: list[list[str]]) -> str:
    return json.dumps([dict(zip(FOLLOW_UP_HEADERS, r, strict=True)) for r in rows], indent=2)
