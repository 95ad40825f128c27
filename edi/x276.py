"""X12 276 claim status request (005010X212): writing our inquiries.

A 276 asks a payer where claims stand.  :func:`render_276` writes one
interchange for one receiver, with one transaction set holding every inquiry
given (one inquiry per claim), grouped the way the guide's hierarchy wants:

* ``HL`` ``20`` information source: the payer (``NM1*PR``, ``PI`` and the
  payer id), one per payer among the inquiries;
* ``HL`` ``21`` information receiver: us, the submitter (``NM1*41``, ``46`` and
  the id the receiver gave us);
* ``HL`` ``19`` service provider: the billing provider (``NM1*1P``, ``XX`` NPI);
* ``HL`` ``22`` subscriber (``NM1*IL``, ``MI`` member id), with ``DMG`` when
  the subscriber is the patient and the birth date is known;
* ``HL`` ``23`` dependent (``DMG`` and ``NM1*QC``) when the patient is not the
  subscriber;
* per claim (2200D, or 2200E under a dependent): ``TRN*1`` (our trace number,
  which the 277 echoes), ``REF*1K`` (the payer's claim number, when known),
  ``REF*EJ`` (our CLM01), ``AMT*T3`` (the total charge) and ``DTP*472`` (the
  service dates, ``RD8``).

:func:`read_276` reads such a file back (the payer simulator answers our 276s
with it): the inquiries, their envelope and who asked; anything out of place is
an :class:`X276Error` naming the segment by ordinal and byte offset.

The envelope comes from :class:`~edi.envelope_writer.EnvelopeWriter` (GS01
``HR``, GS08/ST03 ``005010X212``; ``BHT*0010*13``).  A value that cannot be
written raises :class:`X276RenderError`, whose message names the loop and the
element (and the claim by its CLM01, which is our own number), never a value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Literal

from edi.elements import read_amount
from edi.envelope_writer import EnvelopeWriter
from edi.segments import (
    Delimiters,
    Element,
    Segment,
    Source,
    X12Error,
    X12RenderError,
    read_segments,
)
from edi.x837p import transliterate
from edi.x999 import envelope_of
from schemas.acknowledgements import AckEnvelope
from schemas.claims import Claim, TradingPartner

__all__ = [
    "CLAIM_STATUS_GUIDE",
    "MAX_INQUIRIES_PER_TRANSACTION",
    "Read276",
    "RenderedInquiries",
    "StatusInquiry",
    "X276Error",
    "X276RenderError",
    "inquiry_of",
    "read_276",
    "render_276",
]

#: GS08 / ST03 of a 276 (and of the 277 that answers it).
CLAIM_STATUS_GUIDE: Final = "005010X212"
#: Inquiries in one 276 (a count the guide does not fix; kept near the 837's own).
MAX_INQUIRIES_PER_TRANSACTION: Final = 5_000

#: (min, max) length of the elements we fill from data, by element reference.
_LENGTHS: Final[dict[str, tuple[int, int]]] = {
    "NM103": (1, 60),
    "NM104": (1, 35),
    "NM109": (2, 80),
    "TRN02": (1, 50),
    "REF02": (1, 50),
}


class X276RenderError(X12RenderError):
    """An inquiry (or the trading partner) cannot be written as a valid 276.

    ``patient_control_number`` is the CLM01 of the claim at fault, ``None`` when
    the problem is the partner or the call.  The message names the loop and the
    element, never a value.
    """

    def __init__(self, message: str, *, patient_control_number: str | None = None) -> None:
        self.patient_control_number = patient_control_number
        super().__init__(message)


@dataclass(frozen=True)
class StatusInquiry:
    """What one 276 claim inquiry says, taken from the claim we sent."""

    trace_number: str
    patient_control_number: str
    payer_claim_number: str | None
    total_charge: Decimal
    service_from: dt.date
    service_to: dt.date
    payer_name: str
    payer_id: str
    provider_name: str
    provider_npi: str
    subscriber_last: str
    subscriber_first: str | None
    member_id: str | None
    subscriber_is_person: bool
    #: DMG of the subscriber (only when the subscriber is the patient)
    subscriber_birth_date: dt.date | None = None
    subscriber_sex: str | None = None
    #: the patient, when not the subscriber (HL 23)
    dependent_last: str | None = None
    dependent_first: str | None = None
    dependent_birth_date: dt.date | None = None
    dependent_sex: str | None = None


def inquiry_of(claim: Claim, *, trace_number: str, payer_claim_number: str | None) -> StatusInquiry:
    """The inquiry about ``claim`` (the version we sent last).  ``payer_claim_number``
    is the payer's own number for it (REF*1K), when known."""
    dates = [line.service_date for line in claim.lines]
    sub = claim.subscriber
    patient = claim.patient
    return StatusInquiry(
        trace_number=trace_number,
        patient_control_number=claim.patient_control_number,
        payer_claim_number=payer_claim_number,
        total_charge=claim.total_charge,
        service_from=min(dates),
        service_to=max(dates),
        payer_name=claim.payer.name,
        payer_id=claim.payer.payer_id,
        provider_name=claim.billing_provider.name,
        provider_npi=claim.billing_provider.npi,
        subscriber_last=sub.name.last_or_organisation_name,
        subscriber_first=sub.name.first_name,
        member_id=sub.member_id,
        subscriber_is_person=sub.name.kind == "person",
        subscriber_birth_date=sub.birth_date if patient is None else None,
        subscriber_sex=sub.sex if patient is None else None,
        dependent_last=patient.name.last_or_organisation_name if patient else None,
        dependent_first=patient.name.first_name if patient else None,
        dependent_birth_date=patient.birth_date if patient else None,
        dependent_sex=patient.sex if patient else None,
    )


@dataclass(frozen=True)
class RenderedInquiries:
    """A 276 interchange and what it holds."""

    text: str
    inquiries: int
    segment_count: int


def _d8(day: dt.date) -> str:
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def _money(amount: Decimal) -> str:
    return f"{amount:.2f}"


class _Writer:
    """Body segments with the 276's own checks: lengths, ASCII, and which claim is at fault."""

    def __init__(self, envelope: EnvelopeWriter) -> None:
        self.envelope = envelope
        self.pcn: str | None = None

    def fail(self, message: str) -> X276RenderError:
        return X276RenderError(message, patient_control_number=self.pcn)

    def text(self, loop: str, ref: str, value: str | None, *, required: bool = True) -> str | None:
        if value is None or value == "":
            if required:
                raise self.fail(f"{loop} {ref}: required but missing")
            return None
        ascii_value, _ = transliterate(value)
        low, high = _LENGTHS.get(ref, (1, 80))
        if not low <= len(ascii_value) <= high:
            raise self.fail(f"{loop} {ref}: length must be {low} to {high} characters")
        return ascii_value

    def segment(self, loop: str, segment_id: str, *elements: Element) -> None:
        try:
            self.envelope.segment(segment_id, *elements)
        except X12RenderError as exc:
            raise self.fail(f"{loop} {exc.reason}") from None


def _check_partner(partner: TradingPartner) -> Delimiters:
    try:
        return Delimiters(
            element=partner.element_separator,
            component=partner.component_separator,
            repetition=partner.repetition_separator,
            segment=partner.segment_terminator,
        )
    except X12Error as exc:
        raise X276RenderError(f"trading partner: {exc.reason}") from None


def _dmg(w: _Writer, loop: str, birth: dt.date | None, sex: str | None) -> None:
    if birth is None:
        raise w.fail(f"{loop} DMG02: the birth date is required")
    w.segment(loop, "DMG", "D8", _d8(birth), sex if sex in ("F", "M", "U") else "U")


def _claim(w: _Writer, loop: str, inquiry: StatusInquiry) -> None:
    w.segment(loop, "TRN", "1", w.text(loop, "TRN02", inquiry.trace_number))
    if inquiry.payer_claim_number:
        w.segment(loop, "REF", "1K", w.text(loop, "REF02", inquiry.payer_claim_number))
    w.segment(loop, "REF", "EJ", w.text(loop, "REF02", inquiry.patient_control_number))
    if inquiry.total_charge < 0:
        raise w.fail(f"{loop} AMT02: the total charge cannot be negative")
    w.segment(loop, "AMT", "T3", _money(inquiry.total_charge))
    if inquiry.service_to < inquiry.service_from:
        raise w.fail(f"{loop} DTP03: the service period ends before it starts")
    period = f"{_d8(inquiry.service_from)}-{_d8(inquiry.service_to)}"
    w.segment(loop, "DTP", "472", "RD8", period)


def render_276(
    inquiries: Sequence[StatusInquiry],
    partner: TradingPartner,
    *,
    control_number: int,
    created_at: dt.datetime,
    usage: Literal["P", "T"] | None = None,
) -> RenderedInquiries:
    """One 276 interchange to ``partner`` asking about ``inquiries``.

    ``control_number`` is ISA13, GS06 and ST02 alike (as the 837 files number
    them); ``created_at`` (timezone-aware) dates the envelope and the BHT.
    Raises :class:`X276RenderError` and returns nothing when any inquiry cannot
    be written.
    """
    if created_at.tzinfo is None or created_at.utcoffset() is None:
        raise X276RenderError("created_at must be timezone-aware")
    if not inquiries:
        raise X276RenderError("a 276 needs at least one inquiry")
    if len(inquiries) > MAX_INQUIRIES_PER_TRANSACTION:
        raise X276RenderError(
            f"a 276 holds at most {MAX_INQUIRIES_PER_TRANSACTION:,} inquiries"
        )
    if not 1 <= control_number <= 999_999_999:
        raise X276RenderError("ISA13: the control number must be 1 to 999999999")
    delimiters = _check_partner(partner)
    envelope = EnvelopeWriter(delimiters, line_break=partner.line_break_after_segment)
    try:
        envelope.open_interchange(
            sender_id=partner.isa_sender_id,
            receiver_id=partner.isa_receiver_id,
            control_number=control_number,
            created_at=created_at,
            sender_qualifier=partner.isa_sender_qualifier,
            receiver_qualifier=partner.isa_receiver_qualifier,
            usage=usage or partner.usage,
        )
        envelope.open_group(
            "HR",
            sender_code=partner.gs_sender_code,
            receiver_code=partner.gs_receiver_code,
            control_number=control_number,
            guide=CLAIM_STATUS_GUIDE,
        )
        envelope.open_transaction("276", control_number, CLAIM_STATUS_GUIDE)
    except X12RenderError as exc:
        raise X276RenderError(f"trading partner: {exc.reason}") from None
    w = _Writer(envelope)
    reference = f"{control_number:09d}"
    w.segment("BHT", "BHT", "0010", "13", reference, _d8(created_at.date()),
              f"{created_at.hour:02d}{created_at.minute:02d}")  # fmt: skip
    _body(w, inquiries, partner)
    envelope.close_transaction()
    envelope.close_group()
    envelope.close_interchange()
    return RenderedInquiries(envelope.text(), len(inquiries), envelope.segment_count)


def _body(w: _Writer, inquiries: Sequence[StatusInquiry], partner: TradingPartner) -> None:
    # payer -> provider -> subscriber (member id, name) -> claims, in first-seen order
    tree: dict[tuple[str, str], dict[tuple[str, str], dict[tuple[str | None, str], list[StatusInquiry]]]] = {}  # noqa: E501 -- one nested type
    seen: set[str] = set()
    for inquiry in inquiries:
        if inquiry.patient_control_number in seen:
            w.pcn = inquiry.patient_control_number
            raise w.fail("2200D REF02 (EJ): the same claim twice in one 276")
        seen.add(inquiry.patient_control_number)
        payer = tree.setdefault((inquiry.payer_id, inquiry.payer_name), {})
        provider = payer.setdefault((inquiry.provider_npi, inquiry.provider_name), {})
        provider.setdefault((inquiry.member_id, inquiry.subscriber_last), []).append(inquiry)
    hl = 0
    for (payer_id, payer_name), providers in tree.items():
        w.pcn = next(iter(next(iter(providers.values())).values()))[0].patient_control_number
        hl += 1
        w.segment("2000A", "HL", str(hl), None, "20", "1")
        w.segment("2100A", "NM1", "PR", "2", w.text("2100A", "NM103", payer_name),
                  None, None, None, None, "PI", w.text("2100A", "NM109", payer_id))  # fmt: skip
        hl += 1
        receiver_hl = hl
        w.pcn = None
        submitter = partner.submitter
        w.segment("2000B", "HL", str(hl), str(hl - 1), "21", "1")
        w.segment("2100B", "NM1", "41", "2", w.text("2100B", "NM103", submitter.name),
                  None, None, None, None, "46", w.text("2100B", "NM109", submitter.id))  # fmt: skip
        for (npi, name), subscribers in providers.items():
            w.pcn = next(iter(subscribers.values()))[0].patient_control_number
            hl += 1
            provider_hl = hl
            w.segment("2000C", "HL", str(hl), str(receiver_hl), "19", "1")
            w.segment("2100C", "NM1", "1P", "2", w.text("2100C", "NM103", name),
                      None, None, None, None, "XX", w.text("2100C", "NM109", npi))  # fmt: skip
            for claims in subscribers.values():
                hl = _subscriber(w, claims, provider_hl, hl)


def _subscriber(w: _Writer, claims: list[StatusInquiry], parent: int, hl: int) -> int:
    """The subscriber's HL 22 levels after HL ``hl``: one for the subscriber's own
    claims (2200D), one with the dependents' HL 23 levels under it; the last HL used."""
    own = [c for c in claims if c.dependent_last is None]
    dependents = [c for c in claims if c.dependent_last is not None]
    for group, has_dependents in ((own, False), (dependents, True)):
        if not group:
            continue
        first = group[0]
        w.pcn = first.patient_control_number
        hl += 1
        subscriber_hl = hl
        w.segment("2000D", "HL", str(hl), str(parent), "22", "1" if has_dependents else "0")
        if not first.subscriber_is_person:
            raise w.fail("2100D NM102: the subscriber must be a person in a 276")
        if not has_dependents and first.subscriber_birth_date is not None:
            _dmg(w, "2000D", first.subscriber_birth_date, first.subscriber_sex)
        w.segment("2100D", "NM1", "IL", "1", w.text("2100D", "NM103", first.subscriber_last),
                  w.text("2100D", "NM104", first.subscriber_first, required=False), None, None,
                  None, "MI", w.text("2100D", "NM109", first.member_id))  # fmt: skip
        for inquiry in group:
            w.pcn = inquiry.patient_control_number
            if not has_dependents:
                _claim(w, "2200D", inquiry)
                continue
            hl += 1
            w.segment("2000E", "HL", str(hl), str(subscriber_hl), "23")
            _dmg(w, "2000E", inquiry.dependent_birth_date, inquiry.dependent_sex)
            last = w.text("2100E", "NM103", inquiry.dependent_last)
            first_name = w.text("2100E", "NM104", inquiry.dependent_first, required=False)
            w.segment("2100E", "NM1", "QC", "1", last, first_name)
            _claim(w, "2200E", inquiry)
    return hl


# --- reading -------------------------------------------------------------------------


class X276Error(X12Error):
    """A 276 that cannot be read: not a 276, or its segments out of place."""


@dataclass(frozen=True)
class Read276:
    """One 276 transaction set as read: who asked, and about which claims."""

    envelope: AckEnvelope
    control_number: str
    reference: str
    submitter_name: str
    submitter_id: str
    inquiries: list[StatusInquiry]


def _d8_date(segment: Segment, text: str) -> dt.date:
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        raise X276Error.at(segment, "DTP03 is not a date (CCYYMMDD)") from None


class _Reader:
    """The state of one 276 transaction set being read."""

    def __init__(self, st: Segment, envelope: AckEnvelope) -> None:
        self.st = st
        self.envelope = envelope
        self.reference = ""
        self.level = ""
        self.names: dict[str, Segment] = {}
        self.claim: dict[str, object] | None = None
        self.inquiries: list[StatusInquiry] = []

    def segment(self, seg: Segment) -> None:
        sid = seg.id
        if sid == "BHT":
            if seg.element(1) != "0010" or seg.element(2) != "13":
                raise X276Error.at(seg, "BHT01/BHT02 are not 0010/13 (a claim status request)")
            self.reference = seg.element(3)
        elif sid == "HL":
            self.end_claim()
            self.level = seg.element(3)
            if self.level not in ("20", "21", "19", "22", "23"):
                raise X276Error.at(seg, "HL03 is not a 276 level (20, 21, 19, 22, 23)")
            if self.level in ("22",):
                self.names.pop("QC", None)
        elif sid == "NM1":
            self.names[seg.element(1)] = seg
        elif sid == "TRN":
            self.end_claim()
            if self.level not in ("22", "23"):
                raise X276Error.at(seg, "TRN outside a subscriber or dependent level")
            self.claim = {"trace": seg.element(2), "seg": seg}
        elif sid in ("REF", "AMT", "DTP", "DMG", "SVC"):
            if self.claim is None:
                if sid == "DMG":
                    return
                raise X276Error.at(seg, f"{sid} before the claim's TRN")
            if sid == "REF" and seg.element(1) in ("1K", "EJ") and "line" not in self.claim:
                self.claim[seg.element(1)] = seg.element(2)
            elif sid == "AMT" and seg.element(1) == "T3":
                self.claim["amount"] = read_amount(seg, 2, "AMT02", X276Error)
            elif sid == "DTP" and seg.element(1) == "472" and "line" not in self.claim:
                text = seg.element(3)
                start, _, end = text.partition("-")
                self.claim["from"] = _d8_date(seg, start)
                self.claim["to"] = _d8_date(seg, end or start)
            elif sid == "SVC":
                self.claim["line"] = True
        else:
            raise X276Error.at(seg, f"{sid} is not a segment of a 276")

    def _name(self, code: str, at: Segment) -> Segment:
        name = self.names.get(code)
        if name is None:
            raise X276Error.at(at, f"the claim has no NM1*{code} above it")
        return name

    def end_claim(self) -> None:
        claim, self.claim = self.claim, None
        if claim is None:
            return
        at = claim["seg"]
        assert isinstance(at, Segment)
        pcn = claim.get("EJ")
        if not isinstance(pcn, str) or not pcn:
            raise X276Error.at(at, "the claim has no REF*EJ (patient control number)")
        start, end = claim.get("from"), claim.get("to")
        if not isinstance(start, dt.date) or not isinstance(end, dt.date):
            raise X276Error.at(at, "the claim has no DTP*472 (service dates)")
        payer, provider = self._name("PR", at), self._name("1P", at)
        subscriber = self._name("IL", at)
        dependent = self.names.get("QC") if self.level == "23" else None
        amount = claim.get("amount")
        number = claim.get("1K")
        self.inquiries.append(
            StatusInquiry(
                trace_number=str(claim["trace"]),
                patient_control_number=pcn,
                payer_claim_number=number if isinstance(number, str) and number else None,
                total_charge=amount if isinstance(amount, Decimal) else Decimal("0"),
                service_from=start,
                service_to=end,
                payer_name=payer.element(3),
                payer_id=payer.element(9),
                provider_name=provider.element(3),
                provider_npi=provider.element(9),
                subscriber_last=subscriber.element(3),
                subscriber_first=subscriber.element(4) or None,
                member_id=subscriber.element(9) or None,
                subscriber_is_person=subscriber.element(2) == "1",
                dependent_last=dependent.element(3) if dependent else None,
                dependent_first=(dependent.element(4) or None) if dependent else None,
            )
        )

    def result(self) -> Read276:
        self.end_claim()
        receiver = self.names.get("41")
        return Read276(
            envelope=self.envelope,
            control_number=self.st.element(2),
            reference=self.reference,
            submitter_name=receiver.element(3) if receiver else "",
            submitter_id=receiver.element(9) if receiver else "",
            inquiries=self.inquiries,
        )


def read_276(source: Source) -> list[Read276]:
    """The 276 transaction sets of an interchange (or several), as read."""
    isa: Segment | None = None
    gs: Segment | None = None
    reader: _Reader | None = None
    found: list[Read276] = []
    for seg in read_segments(source):
        sid = seg.id
        if sid == "ISA":
            isa = seg
        elif sid == "GS":
            if seg.element(1) != "HR":
                raise X276Error.at(seg, "GS01 is not HR: this group holds no 276s")
            gs = seg
        elif sid == "ST":
            if seg.element(1) != "276" or isa is None or gs is None:
                raise X276Error.at(seg, "ST01 is not 276, or the ST is outside ISA/GS")
            reader = _Reader(seg, envelope_of(isa, gs))
        elif sid == "SE":
            if reader is None:
                raise X276Error.at(seg, "SE without ST")
            found.append(reader.result())
            reader = None
        elif sid in ("GE", "IEA"):
            continue
        elif reader is None:
            raise X276Error.at(seg, f"{sid} outside a 276 transaction set")
        else:
            reader.segment(seg)
    if not found:
        raise X276Error("no 276 transaction set in the file")
    return found
