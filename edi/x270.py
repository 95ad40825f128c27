"""270 eligibility inquiries (005010X279A1), written.

:func:`render_270` writes one interchange for one payer (its trading partner's
envelope ids), one functional group ``HS``, and one 270 transaction set per
inquiry, each with its own hierarchy:

* ``BHT*0022*13``: an inquiry, ``BHT03`` the transaction's control number;
* 2000A/2100A ``HL*1**20*1`` and ``NM1*PR`` (the payer, ``PI`` its EDI id);
* 2000B/2100B ``HL*2*1*21*1`` and ``NM1*1P`` (the clinic, ``XX`` its NPI);
* 2000C ``HL*3*2*22*n``: ``TRN*1`` with our trace (the coverage and the date
  asked, :func:`schemas.eligibility.inquiry_trace`) and ``TRN03`` = ``1`` +
  the clinic's EIN; 2100C ``NM1*IL`` with the member id (``MI``), ``DMG`` and
  ``DTP*291`` (the date or range asked); one 2110C ``EQ`` per service type;
* for a dependent: the subscriber's loop carries no trace, date or EQ, and a
  2000D ``HL*4*3*23*0`` holds them with the dependent's ``NM1*03``.

Writing goes through :class:`~edi.envelope_writer.EnvelopeWriter`; a value
holding a delimiter is an :class:`X270RenderError` naming the inquiry's position
and the element, never the value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Final

from edi.envelope_writer import EnvelopeWriter
from edi.segments import Delimiters, Element, X12RenderError
from schemas.claims import TradingPartner
from schemas.eligibility import EligibilityInquiry, InquiryPerson

__all__ = ["ELIGIBILITY_GUIDE", "X270RenderError", "delimiters_of", "render_270"]

#: GS08 and ST03 of a 270 and 271.
ELIGIBILITY_GUIDE: Final = "005010X279A1"


class X270RenderError(X12RenderError):
    """An inquiry that cannot be written as a 270 (names its position and the element)."""


def delimiters_of(partner: TradingPartner) -> Delimiters:
    """The partner's separators."""
    return Delimiters(
        partner.element_separator,
        partner.component_separator,
        partner.repetition_separator,
        partner.segment_terminator,
    )


def _d8(day: dt.date) -> str:
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def _person(writer: _Writer, entity: str, person: InquiryPerson, *, member_id: bool) -> None:
    name = person.name
    ident: tuple[Element, ...] = ()
    if member_id and person.member_id is not None:
        ident = ("MI", person.member_id)
    writer.segment(
        "NM1", entity, "1", name.last_name, name.first_name, name.middle_name, None, None, *ident
    )
    if person.birth_date is not None:
        writer.segment("DMG", "D8", _d8(person.birth_date))


class _Writer:
    __slots__ = ("envelope", "where")

    def __init__(self, envelope: EnvelopeWriter) -> None:
        self.envelope = envelope
        self.where = "envelope"

    def segment(self, segment_id: str, *elements: Element) -> None:
        try:
            self.envelope.segment(segment_id, *elements)
        except X12RenderError as exc:
            raise X270RenderError(f"{self.where}: {exc.reason}") from None


def _inquiry(
    writer: _Writer, inquiry: EligibilityInquiry, control: str, created: dt.datetime
) -> None:
    writer.segment("BHT", "0022", "13", control, _d8(created.date()), f"{created:%H%M}")
    writer.segment("HL", "1", None, "20", "1")
    writer.segment(
        "NM1", "PR", "2", inquiry.payer_name, None, None, None, None, "PI", inquiry.payer_edi_id
    )
    writer.segment("HL", "2", "1", "21", "1")
    writer.segment(
        "NM1", "1P", "2", inquiry.provider_name, None, None, None, None, "XX", inquiry.provider_npi
    )
    dependent = inquiry.dependent
    writer.segment("HL", "3", "2", "22", "0" if dependent is None else "1")
    if dependent is None:
        _asked(writer, inquiry, person=inquiry.subscriber, entity="IL", member_id=True)
    else:
        _person(writer, "IL", inquiry.subscriber, member_id=True)
        writer.segment("HL", "4", "3", "23", "0")
        _asked(writer, inquiry, person=dependent, entity="03", member_id=False)


def _asked(
    writer: _Writer,
    inquiry: EligibilityInquiry,
    *,
    person: InquiryPerson,
    entity: str,
    member_id: bool,
) -> None:
    """The loop of the person asked about: TRN, name, DMG, DTP*291 and the EQs."""
    writer.segment("TRN", "1", inquiry.trace, f"1{inquiry.provider_tax_id}")
    _person(writer, entity, person, member_id=member_id)
    if inquiry.asked_to is None or inquiry.asked_to == inquiry.asked_from:
        writer.segment("DTP", "291", "D8", _d8(inquiry.asked_from))
    else:
        writer.segment("DTP", "291", "RD8", f"{_d8(inquiry.asked_from)}-{_d8(inquiry.asked_to)}")
    for code in inquiry.service_types:
        writer.segment("EQ", code)


def render_270(
    inquiries: Sequence[EligibilityInquiry],
    *,
    partner: TradingPartner,
    control_number: int,
    created_at: dt.datetime,
) -> str:
    """One interchange (ISA13 = GS06 = ``control_number``) with a 270 per inquiry
    (ST02 ``0001``, ``0002``, ... in the order given)."""
    if not inquiries:
        raise X270RenderError("no inquiry to write")
    envelope = EnvelopeWriter(delimiters_of(partner), line_break=partner.line_break_after_segment)
    envelope.open_interchange(
        sender_id=partner.isa_sender_id,
        receiver_id=partner.isa_receiver_id,
        sender_qualifier=partner.isa_sender_qualifier,
        receiver_qualifier=partner.isa_receiver_qualifier,
        control_number=control_number,
        created_at=created_at,
        usage=partner.usage,
    )
    envelope.open_group(
        "HS",
        sender_code=partner.gs_sender_code,
        receiver_code=partner.gs_receiver_code,
        control_number=control_number,
        guide=ELIGIBILITY_GUIDE,
    )
    writer = _Writer(envelope)
    for position, inquiry in enumerate(inquiries, start=1):
        writer.where = f"inquiry {position}"
        control = f"{position:04d}"
        envelope.open_transaction("270", control, ELIGIBILITY_GUIDE)
        try:
            _inquiry(writer, inquiry, control, created_at)
        except ValueError as exc:  # the trace: ids too long for TRN02
            raise X270RenderError(f"inquiry {position}: TRN02: {exc}") from None
        envelope.close_transaction()
    envelope.close_group()
    envelope.close_interchange()
    return envelope.text()
