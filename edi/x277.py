"""X12 277 claim acknowledgement (277CA, 005010X214) and status response (005010X212).

Reading
-------
:func:`iter_277_events` streams the 277 transaction sets of a file and
:func:`parse_277` holds them whole as
:class:`~schemas.acknowledgements.ClaimStatusReport` objects.  The hierarchy
(``HL``) is followed by level code:

* ``20`` information source (the payer): ``NM1*PR``, ``TRN``, ``DTP*050``
  (received) and ``DTP*009`` (processed);
* ``21`` information receiver (us, the submitter): ``TRN*2`` echoes the
  ``BHT03`` of the 837 being acknowledged, ``STC`` the batch's status;
* ``19`` provider: billing provider NPI (``NM109`` with qualifier ``XX``) and
  its ``STC``;
* ``PT`` (277CA), ``22``/``23`` (277 status response) patient, subscriber or
  dependent: each ``TRN`` starts one claim (``TRN02`` = our CLM01 in a
  277CA), followed by
  its ``STC``s, ``REF*1K`` (payer claim number), ``REF*D9``, ``REF*EJ`` (our
  CLM01 in a 277 status response, whose ``TRN02`` is the 276's trace number),
  ``DTP*472`` and ``SVC`` service lines with their ``STC``, ``REF*FJ`` (our
  line control number) and ``DTP*472``.

Patient names and member ids (``NM1*QC``/``NM1*IL``) are deliberately not kept.
``kind`` is ``277CA`` for 005010X214 and ``277`` otherwise.  Anything out of
place raises :class:`X277Error` with the segment ordinal and byte offset.

Writing
-------
:func:`render_277ca` writes a 277CA for claims we know (the payer simulator
answers our own 837s with it), and :func:`render_277_status` a 277 status
response (005010X212, ``BHT06`` ``DG``) answering our own 276s; ``parse_277``
reads either back to the same report.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Literal, TypeAlias

from edi.elements import read_optional_amount
from edi.envelope import check_envelopes_leniently
from edi.segments import (
    DEFAULT_DELIMITERS,
    Delimiters,
    EncodingErrors,
    Segment,
    Source,
    X12Error,
    X12RenderError,
    read_segments,
)
from edi.tolerance import Warnings
from edi.x999 import envelope_of, open_acknowledgement
from schemas.acknowledgements import (
    Ack277,
    AckEnvelope,
    ClaimStatus,
    ClaimStatusReport,
    LineStatus,
    StatusInfo,
)

__all__ = [
    "CLAIM_ACK_GUIDE",
    "MAX_CLAIMS_PER_TRANSACTION",
    "MAX_LINES_PER_CLAIM",
    "MAX_STATUSES",
    "PartyName",
    "StatusEvent",
    "StatusParties",
    "X277Error",
    "iter_277_events",
    "parse_277",
    "render_277_status",
    "render_277ca",
]

#: GS08 / ST03 of a 277CA.
CLAIM_ACK_GUIDE: Final = "005010X214"
#: GS08 / ST03 of a 277 claim status response (and of the 276 it answers).
CLAIM_STATUS_GUIDE: Final = "005010X212"
_PATIENT_LEVELS: Final = frozenset({"PT", "22", "23"})
#: Claims (TRN at a patient level) in one 277 transaction set; each is sent on as
#: it ends, so this bounds a count, not memory.
MAX_CLAIMS_PER_TRANSACTION: Final = 999_999
#: Service lines (SVC, 2220D) of one claim: the guide's repeat count.
MAX_LINES_PER_CLAIM: Final = 999
#: Statuses (STC01, STC10, STC11) of one claim with its lines, and of a transaction
#: set's information receiver and provider levels together.
MAX_STATUSES: Final = 9_999

StatusEvent: TypeAlias = ClaimStatus | ClaimStatusReport


class X277Error(X12Error):
    """A 277 that cannot be read."""


def _date(text: str) -> dt.date | None:
    if len(text) == 8 and text.isascii() and text.isdigit():
        try:
            return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        except ValueError:
            return None
    return None


def _amount(segment: Segment, n: int, name: str) -> Decimal | None:
    return read_optional_amount(segment, n, name, X277Error)


def _statuses(segment: Segment) -> list[StatusInfo]:
    """STC01, STC10 and STC11 (the same date, action and amount apply to each)."""
    effective = _date(segment.element(2))
    action = segment.element(3) or None
    amount = _amount(segment, 4, "STC04")
    message = segment.element(12) or None
    out: list[StatusInfo] = []
    for n in (1, 10, 11):
        parts = segment.components(n)
        if not parts or not parts[0]:
            if n == 1:
                raise X277Error.at(segment, "STC01-1 (status category) is required")
            continue
        out.append(
            StatusInfo(
                category=parts[0],
                code=parts[1] if len(parts) > 1 and parts[1] else None,
                entity=parts[2] if len(parts) > 2 and parts[2] else None,
                effective_date=effective,
                action=action if n == 1 else None,
                amount=amount if n == 1 else None,
                message=message if n == 1 else None,
            )
        )
    return out


def _service_dates(segment: Segment) -> tuple[dt.date | None, dt.date | None]:
    fmt, value = segment.element(2), segment.element(3)
    if fmt == "RD8" and "-" in value:
        start, end = value.split("-", 1)
        return _date(start), _date(end)
    day = _date(value)
    return day, day


class _Line:
    """A service line (2220D) being read."""

    __slots__ = ("control", "date", "statuses", "svc")

    def __init__(self, svc: Segment) -> None:
        self.svc = svc
        self.statuses: list[StatusInfo] = []
        self.control: str | None = None
        self.date: dt.date | None = None

    def model(self) -> LineStatus:
        composite = self.svc.components(1)
        return LineStatus(
            line_control_number=self.control,
            procedure=composite[1] if len(composite) > 1 else None,
            charge=_amount(self.svc, 2, "SVC02"),
            units=_amount(self.svc, 7, "SVC07"),
            statuses=self.statuses,
            service_date=self.date,
        )


#: The claim references kept (REF01): payer claim number, clearinghouse trace, our CLM01.
_CLAIM_REFS: Final = frozenset({"1K", "D9", "EJ"})
#: The information source's dates kept (DTP01): received, processed.
_SOURCE_DATES: Final = frozenset({"050", "009"})


class _Claim:
    """A claim (a TRN at a patient level, 2200D) being read, with its service lines."""

    __slots__ = ("held", "line", "lines", "npi", "refs", "service", "statuses", "trn")

    def __init__(self, trn: Segment, npi: str | None) -> None:
        self.trn = trn
        self.npi = npi
        self.statuses: list[StatusInfo] = []
        self.refs: dict[str, str] = {}
        self.service: tuple[dt.date | None, dt.date | None] = (None, None)
        self.lines: list[LineStatus] = []
        self.line: _Line | None = None
        self.held = 0  # statuses of the claim and its lines

    def add_statuses(self, segment: Segment) -> None:
        """The STC's statuses to the current line, or to the claim."""
        statuses = _statuses(segment)
        self.held += len(statuses)
        if self.held > MAX_STATUSES:
            raise X277Error.at(segment, f"a claim with more than {MAX_STATUSES:,} statuses (STC)")
        target = self.line.statuses if self.line is not None else self.statuses
        target += statuses

    def start_line(self, svc: Segment) -> None:
        self.end_line()
        if len(self.lines) >= MAX_LINES_PER_CLAIM:
            raise X277Error.at(
                svc, f"a claim with more than {MAX_LINES_PER_CLAIM} service lines (SVC)"
            )
        self.line = _Line(svc)

    def end_line(self) -> None:
        if self.line is not None:
            self.lines.append(self.line.model())
            self.line = None

    def model(self, kind: str) -> ClaimStatus:
        self.end_line()
        trace = self.trn.element(2) or None
        return ClaimStatus(
            patient_control_number=trace if kind == "277CA" else self.refs.get("EJ"),
            trace_number=trace,
            payer_claim_number=self.refs.get("1K"),
            clearinghouse_trace=self.refs.get("D9"),
            billing_provider_npi=self.npi,
            statuses=self.statuses,
            service_from=self.service[0],
            service_to=self.service[1],
            lines=self.lines,
        )


class _Transaction:
    def __init__(self, st: Segment, envelope: AckEnvelope) -> None:
        self.st = st
        self.envelope = envelope
        self.implementation = st.element(3) or envelope.version
        self.kind: Literal["277CA", "277"] = (
            "277CA" if self.implementation.startswith(CLAIM_ACK_GUIDE) else "277"
        )
        self.bht: Segment | None = None
        self.level: str | None = None
        self.payer: Segment | None = None
        self.dates: dict[str, dt.date | None] = {}
        self.batch_reference: str | None = None
        self.batch_statuses: list[StatusInfo] = []
        self.provider_statuses: list[StatusInfo] = []
        self.npi: str | None = None
        self.claims = 0
        self.claim: _Claim | None = None

    def add_statuses(self, into: list[StatusInfo], segment: Segment) -> None:
        """An STC of the information receiver or a provider level."""
        statuses = _statuses(segment)
        held = len(self.batch_statuses) + len(self.provider_statuses)
        if held + len(statuses) > MAX_STATUSES:
            raise X277Error.at(
                segment,
                f"a 277 transaction set with more than {MAX_STATUSES:,} information receiver "
                "and provider statuses (STC)",
            )
        into += statuses

    def start_claim(self, trn: Segment) -> ClaimStatus | None:
        """Open the claim of ``trn``; the claim it ends, if any."""
        ended = self.end_claim()
        self.claims += 1
        if self.claims > MAX_CLAIMS_PER_TRANSACTION:
            raise X277Error.at(
                trn, f"a 277 transaction set with more than {MAX_CLAIMS_PER_TRANSACTION:,} claims"
            )
        self.claim = _Claim(trn, self.npi)
        return ended

    def end_claim(self) -> ClaimStatus | None:
        claim, self.claim = self.claim, None
        return claim.model(self.kind) if claim is not None else None

    def report(self, se: Segment) -> ClaimStatusReport:
        """The transaction set's report, without its claims (they were sent before it)."""
        if self.bht is None:
            raise X277Error.at(se, "BHT is missing")
        return ClaimStatusReport(
            kind=self.kind,
            control_number=self.st.element(2),
            implementation=self.implementation,
            reference=self.bht.element(3),
            created=_date(self.bht.element(4)),
            payer_name=(self.payer.element(3) or None) if self.payer else None,
            payer_id=(self.payer.element(9) or None) if self.payer else None,
            source_entity=(self.payer.element(1) or None) if self.payer else None,
            receipt_date=self.dates.get("050"),
            process_date=self.dates.get("009"),
            batch_reference=self.batch_reference,
            batch_statuses=self.batch_statuses,
            provider_statuses=self.provider_statuses,
            claims=[],
            envelope=self.envelope,
        )


class _Parser:
    def __init__(self) -> None:
        self.isa: Segment | None = None
        self.gs: Segment | None = None
        self.tx: _Transaction | None = None

    def run(self, segments: Iterator[Segment]) -> Iterator[StatusEvent]:
        for segment in segments:
            sid = segment.id
            if sid == "ISA":
                self.isa = segment
            elif sid == "GS":
                if segment.element(1) != "HN":
                    raise X277Error.at(segment, "GS01 is not HN: this group holds no 277s")
                self.gs = segment
            elif sid == "ST":
                if segment.element(1) != "277":
                    raise X277Error.at(segment, "ST01 is not 277")
                assert self.isa is not None and self.gs is not None
                self.tx = _Transaction(segment, envelope_of(self.isa, self.gs))
            elif sid == "SE":
                tx = self._open(segment)
                ended = tx.end_claim()
                if ended is not None:
                    yield ended
                yield tx.report(segment)
                self.tx = None
            elif sid in ("GE", "IEA"):
                continue
            else:
                ended = self._body(self._open(segment), segment)
                if ended is not None:
                    yield ended

    def _open(self, segment: Segment) -> _Transaction:
        if self.tx is None:
            raise X277Error.at(segment, f"{segment.id} outside a 277 transaction set")
        return self.tx

    def _body(self, tx: _Transaction, segment: Segment) -> ClaimStatus | None:
        """Read one segment of the transaction set; a claim it ends, if any."""
        sid = segment.id
        if sid == "BHT":
            tx.bht = segment
            return None
        if sid == "HL":
            code = segment.element(3)
            if not code:
                raise X277Error.at(segment, "HL03 (level code) is required")
            tx.level = code
            return tx.end_claim()
        level = tx.level
        if level is None:
            if tx.bht is None:
                raise X277Error.at(segment, f"{sid} before BHT")
            raise X277Error.at(segment, f"{sid} before the first HL")
        if level == "20":
            if sid == "NM1":
                tx.payer = segment
            elif sid == "DTP" and segment.element(1) in _SOURCE_DATES:
                tx.dates[segment.element(1)] = _date(segment.element(3))
        elif level == "21":
            if sid == "TRN":
                tx.batch_reference = segment.element(2) or None
            elif sid == "STC":
                tx.add_statuses(tx.batch_statuses, segment)
        elif level == "19":
            if sid == "NM1":
                npi = segment.element(9) if segment.element(8) == "XX" else ""
                tx.npi = npi or None
            elif sid == "STC":
                tx.add_statuses(tx.provider_statuses, segment)
        elif level in _PATIENT_LEVELS:
            if sid == "TRN":
                return tx.start_claim(segment)
            self._patient(tx, segment)
        return None

    def _patient(self, tx: _Transaction, segment: Segment) -> None:
        sid = segment.id
        if sid == "NM1":
            return  # the patient's name and member id: not kept
        claim = tx.claim
        if claim is None:
            if sid in ("STC", "REF", "DTP", "SVC"):
                raise X277Error.at(segment, f"{sid} before the claim's TRN")
            return
        line = claim.line
        if sid == "SVC":
            claim.start_line(segment)
        elif sid == "STC":
            claim.add_statuses(segment)
        elif sid == "REF":
            if line is not None:
                if segment.element(1) == "FJ":
                    line.control = segment.element(2) or None
            elif segment.element(1) in _CLAIM_REFS:
                claim.refs.setdefault(segment.element(1), segment.element(2))
        elif sid == "DTP" and segment.element(1) == "472":
            if line is not None:
                line.date = _service_dates(segment)[0]
            else:
                claim.service = _service_dates(segment)


def iter_277_events(
    source: Source,
    *,
    encoding_errors: EncodingErrors = "replace",
    warnings: list[str] | None = None,
) -> Iterator[StatusEvent]:
    """The 277s of ``source``, streamed: per transaction set, each claim's
    :class:`~schemas.acknowledgements.ClaimStatus` (when the next claim, level or
    ``SE`` ends it), then the :class:`~schemas.acknowledgements.ClaimStatusReport`
    (at its ``SE``, with ``claims`` empty: they came before it).

    Envelope problems that :func:`parse_277` reports as warnings are appended to
    ``warnings`` as they are found.  Memory stays flat however many claims a 277
    holds; a transaction set is bounded by :data:`MAX_CLAIMS_PER_TRANSACTION`, a
    claim by :data:`MAX_LINES_PER_CLAIM` and :data:`MAX_STATUSES` (beyond them:
    :class:`X277Error`).
    """
    tolerated = Warnings(text=warnings)  # the tolerance policy of edi.tolerance
    segments = check_envelopes_leniently(
        read_segments(source, encoding_errors=encoding_errors, warnings=tolerated), tolerated
    )
    reports = 0
    for event in _Parser().run(segments):
        reports += isinstance(event, ClaimStatusReport)
        yield event
    if not reports:
        raise X277Error("the file holds no 277 transaction set")


def parse_277(source: Source, *, encoding_errors: EncodingErrors = "replace") -> Ack277:
    """Every 277 transaction set of ``source`` (bytes, a binary file or chunks), held whole.

    For files of any size, :func:`iter_277_events` streams the same content."""
    warnings: list[str] = []
    reports: list[ClaimStatusReport] = []
    pending: list[ClaimStatus] = []
    for event in iter_277_events(source, encoding_errors=encoding_errors, warnings=warnings):
        if isinstance(event, ClaimStatusReport):
            reports.append(event.model_copy(update={"claims": pending}))
            pending = []
        else:
            pending.append(event)
    return Ack277(reports=reports, warnings=warnings)


# --- writing -------------------------------------------------------------------------


@dataclass(frozen=True)
class PartyName:
    """A name (and id) the 277CA must repeat but the report does not keep."""

    last_or_organisation: str
    first: str | None = None
    identifier: str | None = None


def _money(value: Decimal | None) -> str | None:
    if value is None:
        return None
    text = f"{value.quantize(Decimal('0.01')):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _stc(status: StatusInfo, extra: Sequence[StatusInfo] = ()) -> list[str | list[str] | None]:
    def composite(s: StatusInfo) -> list[str]:
        return [s.category, s.code or "", s.entity or ""]

    elements: list[str | list[str] | None] = [
        composite(status),
        status.effective_date.strftime("%Y%m%d") if status.effective_date else None,
        status.action,
        _money(status.amount),
    ]
    for n, more in enumerate(extra[:2]):
        elements += [None] * (9 + n - len(elements)) + [composite(more)]
    return elements


def render_277ca(
    report: ClaimStatusReport,
    *,
    submitter: PartyName,
    providers: Mapping[str, PartyName],
    patients: Mapping[str, PartyName],
    control_number: int,
    created_at: dt.datetime,
    usage: Literal["P", "T"] = "P",
    delimiters: Delimiters = DEFAULT_DELIMITERS,
) -> str:
    """One interchange with ``report`` as a 277CA (005010X214).

    ``report.envelope`` gives the ISA/GS ids (the payer is the sender);
    ``submitter`` names 2100B, ``providers`` the billing providers (by NPI,
    2100C) and ``patients`` each claim's patient (by patient control number,
    2100D, with the member id).  Claims are grouped under their billing
    provider in report order.  As the guide wants it, 2200C ``STC`` has no date
    and 2220D (service lines) is for rejected lines: its ``STC`` is written
    with action ``U`` and no amount.
    """
    env = report.envelope
    out = open_acknowledgement(
        env,
        "HN",
        CLAIM_ACK_GUIDE,
        control_number=control_number,
        created_at=created_at,
        usage=usage,
        delimiters=delimiters,
    )
    seg = out.segment
    day = created_at.strftime("%Y%m%d")

    def stcs(statuses: Sequence[StatusInfo]) -> None:
        for status in statuses:
            seg("STC", *_stc(status))

    out.open_transaction("277", report.control_number, CLAIM_ACK_GUIDE)
    seg("BHT", "0085", "08", report.reference, day, created_at.strftime("%H%M"), "TH")
    seg("HL", "1", None, "20", "1")
    seg("NM1", "PR", "2", report.payer_name or "PAYER", None, None, None, None, "PI",
        report.payer_id or env.isa_sender_id)  # fmt: skip
    seg("TRN", "1", report.reference)
    seg("DTP", "050", "D8", (report.receipt_date or created_at.date()).strftime("%Y%m%d"))
    seg("DTP", "009", "D8", (report.process_date or created_at.date()).strftime("%Y%m%d"))
    seg("HL", "2", "1", "21", "1")
    seg("NM1", "41", "2", submitter.last_or_organisation, None, None, None, None, "46",
        submitter.identifier)  # fmt: skip
    seg("TRN", "2", report.batch_reference)
    stcs(report.batch_statuses)
    by_provider: dict[str | None, list[ClaimStatus]] = {}
    for claim in report.claims:
        by_provider.setdefault(claim.billing_provider_npi, []).append(claim)
    hl = 2
    for npi, claims in by_provider.items():
        hl += 1
        provider_hl = hl
        name = providers.get(npi or "")
        if npi is None or name is None:
            raise X12RenderError("2100C: every claim needs a named billing provider NPI")
        seg("HL", str(provider_hl), "2", "19", "1")
        seg("NM1", "85", "2", name.last_or_organisation, None, None, None, None, "XX", npi)
        seg("TRN", "1", f"{report.control_number}{provider_hl}")
        if not report.provider_statuses:
            raise X12RenderError("2200C STC: the billing provider's status is required")
        stcs([s.model_copy(update={"effective_date": None}) for s in report.provider_statuses])
        for claim in claims:
            hl += 1
            pcn = claim.patient_control_number
            patient = patients.get(pcn or "")
            if pcn is None or patient is None:
                raise X12RenderError("2100D: every claim needs a patient control number and name")
            seg("HL", str(hl), str(provider_hl), "PT")
            seg("NM1", "QC", "1", patient.last_or_organisation, patient.first, None, None, None,
                "MI", patient.identifier)  # fmt: skip
            seg("TRN", "2", claim.trace_number or pcn)
            stcs(claim.statuses)
            if claim.payer_claim_number:
                seg("REF", "1K", claim.payer_claim_number)
            if claim.clearinghouse_trace:
                seg("REF", "D9", claim.clearinghouse_trace)
            start_day, end_day = claim.service_from, claim.service_to
            if start_day is None:
                raise X12RenderError("2200D DTP*472: the claim's service date is required")
            if end_day is None or end_day == start_day:
                seg("DTP", "472", "D8", start_day.strftime("%Y%m%d"))
            else:
                seg("DTP", "472", "RD8", f"{start_day:%Y%m%d}-{end_day:%Y%m%d}")
            for line in claim.lines:
                units = f"{line.units.normalize():f}" if line.units is not None else None
                seg("SVC", ["HC", line.procedure or ""], _money(line.charge), None, None, None,
                    None, units)  # fmt: skip
                for status in line.statuses:  # 2220D reports rejected lines: U, no amount
                    seg("STC", *_stc(status.model_copy(update={"amount": None, "action": "U"})))
                if line.line_control_number:
                    seg("REF", "FJ", line.line_control_number)
                if line.service_date:
                    seg("DTP", "472", "D8", line.service_date.strftime("%Y%m%d"))
    out.close_transaction()
    out.close_group()
    out.close_interchange()
    return out.text()


@dataclass(frozen=True)
class StatusParties:
    """The names a 277 status response repeats from the 276 it answers (per claim, by
    patient control number): the subscriber (with the member id) and the dependent."""

    subscriber: PartyName
    dependent: PartyName | None = None


def render_277_status(
    report: ClaimStatusReport,
    *,
    submitter: PartyName,
    providers: Mapping[str, PartyName],
    parties: Mapping[str, StatusParties],
    control_number: int,
    created_at: dt.datetime,
    usage: Literal["P", "T"] = "P",
    delimiters: Delimiters = DEFAULT_DELIMITERS,
) -> str:
    """One interchange with ``report`` as a 277 claim status response (005010X212).

    The hierarchy is the 276's: the payer (20), the information receiver (21), each
    billing provider (19, ``NM1*1P`` by NPI in ``providers``), then per claim its
    subscriber (22) and, for a dependent, the dependent (23), named from
    ``parties``; under them ``TRN*2`` (the 276's trace), the claim's ``STC``s
    (``STC04`` its charge), ``REF*1K``, ``REF*EJ`` and ``DTP*472``.
    """
    env = report.envelope
    out = open_acknowledgement(
        env,
        "HN",
        CLAIM_STATUS_GUIDE,
        control_number=control_number,
        created_at=created_at,
        usage=usage,
        delimiters=delimiters,
    )
    seg = out.segment
    out.open_transaction("277", report.control_number, CLAIM_STATUS_GUIDE)
    seg("BHT", "0010", "08", report.reference, created_at.strftime("%Y%m%d"),
        created_at.strftime("%H%M"), "DG")  # fmt: skip
    seg("HL", "1", None, "20", "1")
    seg("NM1", "PR", "2", report.payer_name or "PAYER", None, None, None, None, "PI",
        report.payer_id or env.isa_sender_id)  # fmt: skip
    seg("HL", "2", "1", "21", "1")
    seg("NM1", "41", "2", submitter.last_or_organisation, None, None, None, None, "46",
        submitter.identifier)  # fmt: skip
    by_provider: dict[str | None, list[ClaimStatus]] = {}
    for claim in report.claims:
        by_provider.setdefault(claim.billing_provider_npi, []).append(claim)
    hl = 2
    for npi, claims in by_provider.items():
        name = providers.get(npi or "")
        if npi is None or name is None:
            raise X12RenderError("2100C: every claim needs a named billing provider NPI")
        hl += 1
        provider_hl = hl
        seg("HL", str(provider_hl), "2", "19", "1")
        seg("NM1", "1P", "2", name.last_or_organisation, None, None, None, None, "XX", npi)
        for claim in claims:
            pcn = claim.patient_control_number
            who = parties.get(pcn or "")
            if pcn is None or who is None:
                raise X12RenderError("2100D: every claim needs a patient control number and name")
            hl += 1
            sub = who.subscriber
            seg("HL", str(hl), str(provider_hl), "22", "1" if who.dependent else "0")
            seg("NM1", "IL", "1", sub.last_or_organisation, sub.first, None, None, None, "MI",
                sub.identifier)  # fmt: skip
            if who.dependent is not None:
                hl += 1
                seg("HL", str(hl), str(hl - 1), "23")
                seg("NM1", "QC", "1", who.dependent.last_or_organisation, who.dependent.first)
            seg("TRN", "2", claim.trace_number or pcn)
            if not claim.statuses:
                raise X12RenderError("2200D STC: every claim needs a status")
            for status in claim.statuses:
                seg("STC", *_stc(status.model_copy(update={"action": None})))
            if claim.payer_claim_number:
                seg("REF", "1K", claim.payer_claim_number)
            seg("REF", "EJ", pcn)
            start_day, end_day = claim.service_from, claim.service_to
            if start_day is not None:
                end_day = end_day or start_day
                seg("DTP", "472", "RD8", f"{start_day:%Y%m%d}-{end_day:%Y%m%d}")
    out.close_transaction()
    out.close_group()
    out.close_interchange()
    return out.text()
