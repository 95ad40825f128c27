"""999, 277 and TA1 files onto ``acks.inbound``: parse, find the receiver, publish.

The whole file is parsed first (nothing is published from a file that does
not parse).  Each acknowledgement is attributed to the trading partner whose
front door sent it: the partner whose ``isa_receiver_id`` (the ISA08 of our
837s) is the acknowledgement's ISA06, narrowed by GS02 = ``gs_receiver_code``
when several partners share an ISA id.  Its messages are keyed by that
partner's receiver id, so they reach the claims processor partition that owns
the receiver's claims.

* a 999 gives one :class:`TransactionAcknowledged` per ``AK2`` (or one for the
  whole group when the 999 has only ``AK9``); a 999 acknowledging anything but
  claims (``AK101`` other than ``HC``, e.g. ``BE`` for 834 enrolment) is
  skipped and reported;
* a 277CA (or 277 status response) gives one :class:`ClaimStatusReceived` per
  claim.
* a TA1 (an interchange acknowledgement, before any group or alone) gives one
  :class:`InterchangeAcknowledged` per TA1: ``R`` rejects every claim of the 837
  interchange it names.

Ids are derived from the content (sender, ISA13, the acknowledgement's ST02,
position), so the same file ingested twice publishes the same ids and the
claims processor applies it once.  Every message carries the file's name and
sha256 in headers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from edi.segments import X12Error, read_segments
from edi.ta1 import Ta1, read_ta1
from edi.tolerance import Warnings
from edi.x277 import parse_277
from edi.x999 import parse_999
from schemas.acknowledgements import (
    AckEnvelope,
    AckSource,
    ClaimStatusReceived,
    InterchangeAcknowledged,
    TransactionAcknowledged,
    TransactionResponse,
)
from schemas.claims import TradingPartner
from workers.inbound.remittances import H_FILE, H_SHA
from workers.runtime.limits import check_file_size, read_limited
from workers.runtime.records import Outgoing

INBOUND = "acks.inbound"
AckFileKind = Literal["999", "277", "TA1"]


class AckIngestError(ValueError):
    """The file cannot be taken in (the message says why; no values but envelope ids)."""


@dataclass
class AckFileReport:
    file_name: str
    sha256: str
    kind: AckFileKind
    published: int = 0
    receivers: set[str] = field(default_factory=set)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rejected: int = 0
    accepted: int = 0


def sniff(data: bytes) -> str | None:
    """The functional identifier (GS01) of the first group: ``FA`` 999, ``HN`` 277, ``HP``
    835; ``TA1`` for an interchange acknowledgement that comes before any group."""
    try:
        for segment in read_segments(data[:8192], warnings=Warnings()):
            if segment.id == "GS":
                return segment.element(1)
            if segment.id == "TA1":
                return "TA1"
    except X12Error:
        return None
    return None


def receiver_for(envelope: AckEnvelope, partners: Sequence[TradingPartner]) -> str:
    """The receiver id of the partner whose front door sent this acknowledgement."""
    by_isa = [p for p in partners if p.isa_receiver_id.strip() == envelope.isa_sender_id]
    if len(by_isa) == 1:
        return by_isa[0].receiver_id
    by_gs = [p for p in by_isa if p.gs_receiver_code.strip() == envelope.gs_sender_code]
    if len(by_gs) == 1:
        return by_gs[0].receiver_id
    if not by_isa:
        raise AckIngestError(
            f"no trading partner receives our 837s as ISA08 {envelope.isa_sender_id!r}, the "
            "sender (ISA06) of this acknowledgement; add it to ref.partners"
        )
    raise AckIngestError(
        f"{len(by_isa)} trading partners share ISA id {envelope.isa_sender_id!r} and GS02 "
        f"{envelope.gs_sender_code!r} does not tell them apart"
    )


def wants_999(data: bytes, partners: Sequence[TradingPartner]) -> bool:
    """Whether the partner that sent this 835 (its ISA06 is the partner's ISA08 id)
    asks for a 999 answer (``acknowledge_835``)."""
    try:
        isa = next(iter(read_segments(data[:4096], warnings=Warnings())))
    except (X12Error, StopIteration):
        return False
    sender = isa.element(6).strip()
    return any(p.acknowledge_835 for p in partners if p.isa_receiver_id.strip() == sender)


def _ack_id(*parts: str) -> str:
    return "K" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:20].upper()


def messages(
    path: Path,
    partners: Sequence[TradingPartner],
    now: datetime | None = None,
    max_bytes: int | None = None,
) -> tuple[AckFileReport, list[Outgoing]]:
    """The report and the messages of one 999 or 277 file (nothing is sent here)."""
    check_file_size(path, max_bytes)
    data = read_limited(path, max_bytes)
    when = now or datetime.now(UTC)
    sha = hashlib.sha256(data).hexdigest()
    kind_code = sniff(data)
    headers = ((H_FILE, path.name.encode()), (H_SHA, sha.encode()))
    out: list[Outgoing] = []
    kinds: dict[str | None, AckFileKind] = {"FA": "999", "TA1": "TA1"}
    report = AckFileReport(path.name, sha, kinds.get(kind_code, "277"))

    @dataclass
    class Transaction:
        """One acknowledgement transaction set: who sent it, and what each message shares."""

        env: AckEnvelope
        kind: str
        control_number: str

        def __post_init__(self) -> None:
            self.receiver = receiver_for(self.env, partners)
            self.source = AckSource(
                file_name=path.name,
                file_sha256=sha,
                transaction_control_number=self.control_number,
                ingested_at=when,
            )

        def ack_id(self, index: int) -> str:
            env = self.env
            return _ack_id(
                self.kind,
                env.isa_sender_id,
                env.interchange_control_number,
                env.group_control_number,
                self.control_number,
                str(index),
            )

        def publish(
            self, event: TransactionAcknowledged | ClaimStatusReceived | InterchangeAcknowledged
        ) -> None:
            value = event.model_dump_json().encode()
            out.append(Outgoing(INBOUND, self.receiver.encode(), value, headers))
            report.receivers.add(self.receiver)

    if kind_code == "FA":
        ack = parse_999(data)
        report.warnings = list(ack.warnings)
        for group in ack.groups:
            if group.functional_id != "HC":
                report.skipped.append(
                    f"999 {group.control_number} acknowledges a group of type "
                    f"{group.functional_id} (not 837 claims, HC): skipped"
                )
                continue
            tx = Transaction(group.envelope, "999", group.control_number)
            responses: list[TransactionResponse | None] = [*group.transactions] or [None]
            for index, response in enumerate(responses, start=1):
                tx.publish(
                    TransactionAcknowledged.new(
                        ack_id=tx.ack_id(index),
                        receiver_id=tx.receiver,
                        group_control_number=group.group_control_number,
                        functional_id=group.functional_id,
                        group_status=group.status,
                        group_error_codes=group.error_codes,
                        response=response,
                        envelope=tx.env,
                        source=tx.source,
                    )
                )
                ok = response.accepted if response else group.status in ("A", "E")
                report.accepted += ok
                report.rejected += not ok
    elif kind_code == "HN":
        parsed = parse_277(data)
        report.warnings = list(parsed.warnings)
        for status_report in parsed.reports:
            tx = Transaction(
                status_report.envelope, status_report.kind, status_report.control_number
            )
            if not status_report.claims:
                report.skipped.append(
                    f"277 {status_report.control_number} reports no claim "
                    "(information receiver or provider level only): skipped"
                )
            for index, claim in enumerate(status_report.claims, start=1):
                tx.publish(
                    ClaimStatusReceived.new(
                        ack_id=tx.ack_id(index),
                        receiver_id=tx.receiver,
                        kind=status_report.kind,
                        batch_reference=status_report.batch_reference,
                        payer_name=status_report.payer_name,
                        payer_id=status_report.payer_id,
                        source_entity=status_report.source_entity,
                        claim=claim,
                        envelope=tx.env,
                        source=tx.source,
                    )
                )
    elif kind_code == "TA1":
        tolerated = Warnings(text=report.warnings)
        for index, ta1 in enumerate(read_ta1(data, warnings=tolerated), start=1):
            env = _ta1_envelope(ta1)
            tx = Transaction(env, "TA1", ta1.control_number)
            ok = ta1.status != "R"
            report.accepted += ok
            report.rejected += not ok
            tx.publish(
                InterchangeAcknowledged.new(
                    ack_id=tx.ack_id(index),
                    receiver_id=tx.receiver,
                    interchange_control_number=ta1.control_number,
                    status=ta1.status,
                    note_code=ta1.note_code,
                    envelope=env,
                    source=tx.source,
                )
            )
    else:
        what = {"HP": "an 835 remittance (use claims ingest 835)"}.get(
            kind_code or "", "neither a 999 nor a 277"
        )
        raise AckIngestError(f"the file is {what}")
    report.published = len(out)
    return report, out


def _ta1_envelope(ta1: Ta1) -> AckEnvelope:
    """Who sent a TA1: their ISA (a TA1 has no group: the GS ids are empty)."""
    isa = ta1.isa
    return AckEnvelope(
        isa_sender_qualifier=isa.element(5).strip(),
        isa_sender_id=isa.element(6).strip(),
        isa_receiver_qualifier=isa.element(7).strip(),
        isa_receiver_id=isa.element(8).strip(),
        interchange_control_number=isa.element(13).strip(),
        gs_sender_code="",
        gs_receiver_code="",
        group_control_number="",
        version=isa.element(12).strip(),
        usage=isa.element(15).strip(),
    )


Send = Callable[[str, bytes | None, bytes | None, list[tuple[str, bytes]]], Any]


def ingest_ack_file(
    path: Path,
    send: Send,
    topic_name: Callable[[str], str],
    partners: Sequence[TradingPartner],
    max_bytes: int | None = None,
) -> AckFileReport:
    """Parse one 999 or 277 file and publish it with ``send(topic, key, value, headers)``."""
    report, records = messages(path, partners, max_bytes=max_bytes)
    for r in records:
        send(topic_name(r.topic), r.key, r.value, list(r.headers))
    return report


def load_partners(settings: Any) -> list[TradingPartner]:
    """Every valid trading partner on ``ref.partners`` (latest record per key)."""
    from workers.runtime.topic_scan import read_latest

    partners = []
    for value in read_latest(settings, "ref.partners").values():
        try:
            partners.append(TradingPartner.parse_json(value))
        except ValueError:
            continue
    return partners
