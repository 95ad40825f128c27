"""271 files onto ``eligibility.responses``: parse the whole file, then publish.

Like the acknowledgements (:mod:`workers.inbound.acknowledgements`), nothing is
published from a file that does not parse, and every message carries the file's
name and sha256 in headers.  Each answer is keyed by the coverage its echoed
trace names (``<clinic_id>:<patient_id>:<payer_id>``, see
:func:`schemas.eligibility.inquiry_trace`); an answer that names no coverage of
ours (another system's trace, or a rejection of the whole inquiry at the payer
or provider level, which echoes no trace) is reported as skipped, not published.
Envelope faults the tolerance policy forgives (:mod:`edi.tolerance`) are read
with warnings, which the report lists.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edi.tolerance import Warnings
from edi.x271 import iter_271_events
from workers.inbound.remittances import H_FILE, H_SHA
from workers.runtime.limits import check_file_size, read_limited
from workers.runtime.records import Outgoing

RESPONSES = "eligibility.responses"


@dataclass
class EligibilityFileReport:
    file_name: str
    sha256: str
    published: int = 0
    active: int = 0
    inactive: int = 0
    rejected: int = 0
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def messages(
    path: Path, max_bytes: int | None = None
) -> tuple[EligibilityFileReport, list[Outgoing]]:
    """The report and the messages of one 271 file (nothing is sent here)."""
    check_file_size(path, max_bytes)
    data = read_limited(path, max_bytes)
    sha = hashlib.sha256(data).hexdigest()
    report = EligibilityFileReport(path.name, sha)
    headers = ((H_FILE, path.name.encode()), (H_SHA, sha.encode()))
    warnings = Warnings()
    out: list[Outgoing] = []
    for answer in iter_271_events(data, warnings=warnings):
        key = answer.key
        if key is None:
            report.skipped.append(
                f"271 {answer.control_number}: a {answer.level} answer ({answer.status}) "
                "names no coverage of ours: skipped"
            )
            continue
        stamped = answer.model_copy(update={"file_sha256": sha})
        out.append(Outgoing(RESPONSES, key.encode(), stamped.model_dump_json().encode(), headers))
        report.active += stamped.status == "active"
        report.inactive += stamped.status == "inactive"
        report.rejected += stamped.status == "rejected"
    report.warnings = [str(w) for w in warnings]
    report.published = len(out)
    return report, out


Send = Callable[[str, bytes | None, bytes | None, list[tuple[str, bytes]]], Any]


def ingest_271_file(
    path: Path, send: Send, topic_name: Callable[[str], str], max_bytes: int | None = None
) -> EligibilityFileReport:
    """Parse one 271 file and publish its answers with ``send(topic, key, value, headers)``."""
    report, records = messages(path, max_bytes)
    for r in records:
        send(topic_name(r.topic), r.key, r.value, list(r.headers))
    return report
