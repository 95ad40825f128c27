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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from edi.segments import X12Error, read_segments
from edi.ta1 import Ta1, read_ta1
from edi.tolerance import Warnings
from edi.x277 import iter_277_events
from edi.x999 import iter_999_events
from schemas.acknowledgements import (
    AckEnvelope,
    AckSource,
    ClaimStatusReceived,
    ClaimStatusReport,
    GroupResponse,
    InterchangeAcknowledged,
    TransactionAcknowledged,
    TransactionResponse,
)
from schemas.claims import TradingPartner
from workers.inbound.remittances import H_FILE, H_SHA, file_sha256
from workers.runtime.limits import check_file_size, open_limited
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
    #: our 270 or 276 groups the partner refused (999 ``AK9`` other than A or E):
    #: no answer will come for those inquiries
    refused_inquiries: list[str] = field(default_factory=list)


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
) -> tuple[AckFileReport, Iterator[Outgoing]]:
    """The report and the messages of one 999, 277 or TA1 file (nothing is sent here).

    Two passes over the file, both streaming (memory stays flat whatever its size):
    the first reads everything -- a file that does not parse, or names a sender no
    partner has, publishes nothing -- and keeps only each 999 group's or 277
    report's envelope and verdict (a few hundred bytes each); the second yields
    the messages, each paired with its group or report."""
    check_file_size(path, max_bytes)
    with open_limited(path, max_bytes) as fh:
        head = fh.read(8192)
    when = now or datetime.now(UTC)
    sha = file_sha256(path, max_bytes)
    kind_code = sniff(head)
    if kind_code not in ("FA", "HN", "TA1"):
        what = {"HP": "an 835 remittance (use claims ingest 835)"}.get(
            kind_code or "", "neither a 999 nor a 277"
        )
        raise AckIngestError(f"the file is {what}")
    kinds: dict[str | None, AckFileKind] = {"FA": "999", "TA1": "TA1"}
    report = AckFileReport(path.name, sha, kinds.get(kind_code, "277"))
    reading = _Reading(path, max_bytes, partners, report, sha, when)
    for _ in reading.outgoing(kind_code, first_pass=True):
        pass
    return report, reading.outgoing(kind_code, first_pass=False)


@dataclass
class _Reading:
    """One acknowledgement file read twice: what the first pass keeps, and how a
    message is made."""

    path: Path
    max_bytes: int | None
    partners: Sequence[TradingPartner]
    report: AckFileReport
    sha: str
    when: datetime
    #: per 999 group / 277 report, in file order (from the first pass)
    envelopes: list[GroupResponse | ClaimStatusReport] = field(default_factory=list)

    def outgoing(self, kind_code: str, *, first_pass: bool) -> Iterator[Outgoing]:
        report = self.report
        text: list[str] = []  # the warnings, as words (each pass finds the same)
        with open_limited(self.path, self.max_bytes) as fh:
            if kind_code == "FA":
                yield from self._from_999(iter_999_events(fh, warnings=text), first_pass)
            elif kind_code == "HN":
                yield from self._from_277(iter_277_events(fh, warnings=text), first_pass)
            else:
                yield from self._from_ta1(read_ta1(fh, warnings=Warnings(text=text)), first_pass)
        if first_pass:
            report.warnings = text

    def _message(self, event: AckMessage, receiver: str) -> Outgoing:
        headers = ((H_FILE, self.path.name.encode()), (H_SHA, self.sha.encode()))
        return Outgoing(INBOUND, receiver.encode(), event.model_dump_json().encode(), headers)

    def _source(self, control_number: str) -> AckSource:
        return AckSource(
            file_name=self.path.name,
            file_sha256=self.sha,
            transaction_control_number=control_number,
            ingested_at=self.when,
        )

    def _from_999(self, events: Iterator[Any], first_pass: bool) -> Iterator[Outgoing]:
        report, index, group_no = self.report, 0, 0
        accepted = rejected = 0  # the current group's AK2 verdicts (first pass)
        for event in events:
            if first_pass:
                if isinstance(event, TransactionResponse):
                    accepted += event.accepted
                    rejected += not event.accepted
                    continue
                self.envelopes.append(event)
                if event.functional_id != "HC":
                    report.skipped.append(
                        f"999 {event.control_number} acknowledges a group of type "
                        f"{event.functional_id} (not 837 claims, HC): skipped"
                    )
                    refused = _refused_inquiry(event)
                    if refused is not None:
                        report.refused_inquiries.append(refused)
                else:
                    # refuses an unknown sender before anything is published
                    report.receivers.add(receiver_for(event.envelope, self.partners))
                    if accepted + rejected == 0:  # judged only as a group (AK9)
                        ok = event.status in ("A", "E")
                        accepted, rejected = int(ok), int(not ok)
                    report.accepted += accepted
                    report.rejected += rejected
                    report.published += accepted + rejected
                accepted = rejected = 0
                continue
            group = self.envelopes[group_no]
            assert isinstance(group, GroupResponse)
            if isinstance(event, GroupResponse):
                if index == 0 and group.functional_id == "HC":
                    yield self._ack_999(group, None, 1)
                group_no, index = group_no + 1, 0
            elif group.functional_id == "HC":
                index += 1
                yield self._ack_999(group, event, index)

    def _ack_999(
        self, group: GroupResponse, response: TransactionResponse | None, index: int
    ) -> Outgoing:
        env = group.envelope
        receiver = receiver_for(env, self.partners)
        event = TransactionAcknowledged.new(
            ack_id=_ack_id(
                "999",
                env.isa_sender_id,
                env.interchange_control_number,
                env.group_control_number,
                group.control_number,
                str(index),
            ),
            receiver_id=receiver,
            group_control_number=group.group_control_number,
            functional_id=group.functional_id,
            group_status=group.status,
            group_error_codes=group.error_codes,
            response=response,
            envelope=env,
            source=self._source(group.control_number),
        )
        return self._message(event, receiver)

    def _from_277(self, events: Iterator[Any], first_pass: bool) -> Iterator[Outgoing]:
        report, index, report_no = self.report, 0, 0
        for event in events:
            if first_pass:
                if isinstance(event, ClaimStatusReport):
                    self.envelopes.append(event)
                    receiver = receiver_for(event.envelope, self.partners)
                    if index == 0:
                        report.skipped.append(
                            f"277 {event.control_number} reports no claim "
                            "(information receiver or provider level only): skipped"
                        )
                    else:
                        report.receivers.add(receiver)
                    index = 0
                else:
                    index += 1
                    report.published += 1
                continue
            status_report = self.envelopes[report_no]
            assert isinstance(status_report, ClaimStatusReport)
            if isinstance(event, ClaimStatusReport):
                report_no, index = report_no + 1, 0
                continue
            index += 1
            env = status_report.envelope
            receiver = receiver_for(env, self.partners)
            yield self._message(
                ClaimStatusReceived.new(
                    ack_id=_ack_id(
                        status_report.kind,
                        env.isa_sender_id,
                        env.interchange_control_number,
                        env.group_control_number,
                        status_report.control_number,
                        str(index),
                    ),
                    receiver_id=receiver,
                    kind=status_report.kind,
                    batch_reference=status_report.batch_reference,
                    payer_name=status_report.payer_name,
                    payer_id=status_report.payer_id,
                    source_entity=status_report.source_entity,
                    claim=event,
                    envelope=env,
                    source=self._source(status_report.control_number),
                ),
                receiver,
            )

    def _from_ta1(self, ta1s: Iterator[Ta1], first_pass: bool) -> Iterator[Outgoing]:
        report = self.report
        for index, ta1 in enumerate(ta1s, start=1):
            env = _ta1_envelope(ta1)
            receiver = receiver_for(env, self.partners)
            if first_pass:
                report.receivers.add(receiver)
                ok = ta1.status != "R"
                report.accepted += ok
                report.rejected += not ok
                report.published += 1
                continue
            event = InterchangeAcknowledged.new(
                ack_id=_ack_id(
                    "TA1",
                    env.isa_sender_id,
                    env.interchange_control_number,
                    "",
                    ta1.control_number,
                    str(index),
                ),
                receiver_id=receiver,
                interchange_control_number=ta1.control_number,
                status=ta1.status,
                note_code=ta1.note_code,
                envelope=env,
                source=self._source(ta1.control_number),
            )
            yield self._message(event, receiver)


AckMessage = TransactionAcknowledged | ClaimStatusReceived | InterchangeAcknowledged


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


#: the inquiries we send, by functional identifier (GS01 / AK101)
INQUIRY_GROUPS = {"HS": "270 eligibility inquiries", "HR": "276 claim status inquiries"}


def _refused_inquiry(group: GroupResponse) -> str | None:
    """The words for one of our 270/276 groups a 999 refused (None: not refused, or
    not an inquiry group).  Control numbers and codes only, never a value."""
    what = INQUIRY_GROUPS.get(group.functional_id)
    if what is None or group.status in ("A", "E"):
        return None
    verdict = "partly accepted" if group.status == "P" else "rejected"
    codes = f" (AK9 codes {', '.join(group.error_codes)})" if group.error_codes else ""
    return (
        f"999 {group.control_number}: our group {group.group_control_number} of {what} "
        f"was {verdict}{codes}: {group.received - group.accepted} of {group.received} "
        "transaction sets get no answer; correct and send them again"
    )
