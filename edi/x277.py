"""X12 277 claim acknowledgement (277CA, 005010X214) and status response (005010X212).

Reading
-------
:func:`parse_277` reads every 277 transaction set of a file into
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
answers our own 837s with it); ``parse_277`` reads it back to the same report.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final, Literal

from edi.envelope import read_leniently
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

__all__ = ["CLAIM_ACK_GUIDE", "PartyName", "X277Error", "parse_277", "render_277ca"]

#: GS08 / ST03 of a 277CA.
CLAIM_ACK_GUIDE: Final = "005010X214"
_PATIENT_LEVELS: Final = frozenset({"PT", "22", "23"})


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
    text = segment.element(n)
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise X277Error.at(segment, f"{name} is not a decimal number") from None
    if not value.is_finite():
        raise X277Error.at(segment, f"{name} is not a decimal number")
    return value


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


@dataclass
class _Line:
    svc: Segment
    statuses: list[StatusInfo]
    control: str | None = None
    date: dt.date | None = None

    def model(self) -> LineStatus:
        composite = self.svc.components(1)
        units = self.svc.element(7)
        return LineStatus(
            line_control_number=self.control,
            procedure=composite[1] if len(composite) > 1 else None,
            charge=_amount(self.svc, 2, "SVC02"),
            units=Decimal(units) if units and _is_number(units) else None,
            statuses=self.statuses,
            service_date=self.date,
        )


def _is_number(text: str) -> bool:
    try:
        return Decimal(text).is_finite()
    except InvalidOperation:
        return False


@dataclass
class _Claim:
    trn: Segment
    npi: str | None
    statuses: list[StatusInfo]
    refs: dict[str, str]
    service: tuple[dt.date | None, dt.date | None] = (None, None)
    lines: list[_Line] | None = None

    def model(self, kind: str) -> ClaimStatus:
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
            lines=[line.model() for line in self.lines or []],
        )


class _Transaction:
    def __init__(self, st: Segment, envelope: AckEnvelope) -> None:
        self.st = st
        self.envelope = envelope
        self.bht: Segment | None = None
        self.level: str | None = None
        self.payer: Segment | None = None
        self.dates: dict[str, dt.date | None] = {}
        self.batch_reference: str | None = None
        self.batch_statuses: list[StatusInfo] = []
        self.provider_statuses: list[StatusInfo] = []
        self.npi: str | None = None
        self.claims: list[_Claim] = []
        self.claim: _Claim | None = None
        self.line: _Line | None = None

    def report(self, se: Segment) -> ClaimStatusReport:
        if self.bht is None:
            raise X277Error.at(se, "BHT is missing")
        implementation = self.st.element(3) or self.envelope.version
        kind: Literal["277CA", "277"] = (
            "277CA" if implementation.startswith(CLAIM_ACK_GUIDE) else "277"
        )
        return ClaimStatusReport(
            kind=kind,
            control_number=self.st.element(2),
            implementation=implementation,
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
            claims=[c.model(kind) for c in self.claims],
            envelope=self.envelope,
        )


class _Parser:
    def __init__(self) -> None:
        self.isa: Segment | None = None
        self.gs: Segment | None = None
        self.tx: _Transaction | None = None

    def run(self, segments: Iterator[Segment]) -> Iterator[ClaimStatusReport]:
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
                yield tx.report(segment)
                self.tx = None
            elif sid in ("GE", "IEA"):
                continue
            else:
                self._body(self._open(segment), segment)

    def _open(self, segment: Segment) -> _Transaction:
        if self.tx is None:
            raise X277Error.at(segment, f"{segment.id} outside a 277 transaction set")
        return self.tx

    def _body(self, tx: _Transaction, segment: Segment) -> None:
        sid = segment.id
        if sid == "BHT":
            tx.bht = segment
            return
        if sid == "HL":
            code = segment.element(3)
            if not code:
                raise X277Error.at(segment, "HL03 (level code) is required")
            tx.level, tx.claim, tx.line = code, None, None
            return
        level = tx.level
        if level is None:
            if tx.bht is None:
                raise X277Error.at(segment, f"{sid} before BHT")
            raise X277Error.at(segment, f"{sid} before the first HL")
        if level == "20":
            if sid == "NM1":
                tx.payer = segment
            elif sid == "DTP":
                tx.dates[segment.element(1)] = _date(segment.element(3))
        elif level == "21":
            if sid == "TRN":
                tx.batch_reference = segment.element(2) or None
            elif sid == "STC":
                tx.batch_statuses += _statuses(segment)
        elif level == "19":
            if sid == "NM1":
                npi = segment.element(9) if segment.element(8) == "XX" else ""
                tx.npi = npi or None
            elif sid == "STC":
                tx.provider_statuses += _statuses(segment)
        elif level in _PATIENT_LEVELS:
            self._patient(tx, segment)

    def _patient(self, tx: _Transaction, segment: Segment) -> None:
        sid = segment.id
        if sid == "TRN":
            tx.claim = _Claim(segment, tx.npi, [], {})
            tx.line = None
            tx.claims.append(tx.claim)
            return
        if sid == "NM1":
            return  # the patient's name and member id: not kept
        claim = tx.claim
        if claim is None:
            if sid in ("STC", "REF", "DTP", "SVC"):
                raise X277Error.at(segment, f"{sid} before the claim's TRN")
            return
        line = tx.line
        if sid == "SVC":
            tx.line = _Line(segment, [])
            claim.lines = [*(claim.lines or []), tx.line]
        elif sid == "STC":
            if line is not None:
                line.statuses += _statuses(segment)
            else:
                claim.statuses += _statuses(segment)
        elif sid == "REF":
            if line is not None:
                if segment.element(1) == "FJ":
                    line.control = segment.element(2) or None
            else:
                claim.refs.setdefault(segment.element(1), segment.element(2))
        elif sid == "DTP" and segment.element(1) == "472":
            if line is not None:
                line.date = _service_dates(segment)[0]
            else:
                claim.service = _service_dates(segment)


def parse_277(source: Source, *, encoding_errors: EncodingErrors = "replace") -> Ack277:
    """Every 277 transaction set of ``source`` (bytes, a binary file or chunks)."""
    tolerated = Warnings()
    segments = read_segments(source, encoding_errors=encoding_errors, warnings=tolerated)
    reports, warnings = read_leniently(segments, _Parser().run, tolerated)
    if not reports:
        raise X277Error("the file holds no 277 transaction set")
    return Ack277(reports=reports, warnings=[str(w) for w in warnings])


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
