"""Writing X12 envelopes: ISA, GS and ST around a writer's segments, then SE, GE and IEA.

The 837P, 835, 999 and 277CA writers each write an interchange through an
:class:`EnvelopeWriter`, so the envelope rules live here once instead of in
every writer:

* ``ISA`` comes from :func:`~edi.segments.render_isa` (fixed width, ISA13 as 9
  digits); ``IEA01`` = functional groups written, ``IEA02`` = ISA13 (9 digits);
* ``GS04``/``GS05`` are the interchange's creation date and time as
  ``CCYYMMDD``/``HHMM``, ``GS07`` is ``X`` and ``GS08`` the implementation guide;
  ``GE01`` = transaction sets written in the group, ``GE02`` = ``GS06``;
* ``ST03`` is the implementation guide when the transaction set uses one; an
  integer ST02 is written with at least 4 digits; ``SE01`` = segments from ``ST``
  to ``SE`` inclusive, ``SE02`` = ``ST02``;
* every segment ends with the partner's terminator, plus a line break if asked.

Counts come from what was actually written, so they cannot disagree with the
text.  They are the rules :class:`edi.envelope.EnvelopeChecker` enforces when
reading.

Values go through :func:`~edi.segments.render_segment`: one holding a delimiter
raises :class:`~edi.segments.X12DelimiterError` naming the element, and the
calling writer relabels it with its own context.  Calling the writer out of
order (a body segment outside ``ST``..``SE``, a ``GE`` while a transaction set
is open, the text of an unclosed interchange) is a bug in the calling writer,
not bad data, so it raises :class:`~edi.segments.X12EnvelopeError` rather than a
render error a writer would blame on a claim.  A segment that fails to render
changes nothing: state is updated only after the text exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from edi.envelope import CONTROL_SEGMENTS
from edi.segments import (
    DEFAULT_DELIMITERS,
    Delimiters,
    Element,
    X12EnvelopeError,
    X12RenderError,
    render_isa,
    render_segment,
)

__all__ = ["EnvelopeWriter"]


def _ccyymmdd(day: date) -> str:
    """Always 8 digits: ``strftime("%Y")`` writes fewer for years before 1000."""
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def _hhmm(when: datetime) -> str:
    return f"{when.hour:02d}{when.minute:02d}"


@dataclass(slots=True)
class _Open:
    """An open envelope: the control number its trailer repeats, and what it counts."""

    control: str
    #: Segments written before its header (SE01 counts from the ST on).
    start: int
    #: Groups opened in an interchange, transaction sets opened in a group.
    members: int = 0


class EnvelopeWriter:
    """Collects the text of an interchange and writes its envelope segments.

    Use: :meth:`open_interchange`, :meth:`open_group`, then per transaction set
    :meth:`open_transaction`, :meth:`segment` for each body segment and
    :meth:`close_transaction`; then :meth:`close_group`,
    :meth:`close_interchange` and :meth:`text`.
    """

    __slots__ = (
        "_created_at",
        "_group",
        "_interchange",
        "_line_end",
        "_parts",
        "_transaction",
        "delimiters",
        "segment_count",
    )

    def __init__(self, delimiters: Delimiters = DEFAULT_DELIMITERS, *, line_break: bool) -> None:
        self.delimiters = delimiters
        self._line_end = "\n" if line_break else ""
        self._parts: list[str] = []
        #: Segments written so far, envelope included (ISA..IEA once closed).
        self.segment_count = 0
        self._interchange: _Open | None = None
        self._group: _Open | None = None
        self._transaction: _Open | None = None
        self._created_at: datetime | None = None

    def open_interchange(
        self,
        *,
        sender_id: str,
        receiver_id: str,
        control_number: int,
        created_at: datetime,
        sender_qualifier: str = "ZZ",
        receiver_qualifier: str = "ZZ",
        usage: Literal["P", "T"] = "P",
    ) -> None:
        """``ISA``; ``created_at`` (timezone-aware) also dates the groups."""
        if self._interchange is not None:
            raise X12EnvelopeError("ISA before the IEA of the previous interchange")
        if created_at.tzinfo is None or created_at.utcoffset() is None:
            raise X12RenderError("created_at must be timezone-aware")
        isa = render_isa(
            sender_id=sender_id,
            receiver_id=receiver_id,
            control_number=control_number,
            created=created_at.date(),
            created_time=created_at.time(),
            sender_qualifier=sender_qualifier,
            receiver_qualifier=receiver_qualifier,
            usage=usage,
            delimiters=self.delimiters,
        )
        self._interchange = _Open(f"{control_number:09d}", self.segment_count)
        self._created_at = created_at
        self._append(isa)

    def interchange_segment(self, segment_id: str, *elements: Element) -> None:
        """A segment of the interchange itself, outside any group (a ``TA1``)."""
        if self._interchange is None:
            raise X12EnvelopeError(f"{segment_id} outside an interchange")
        if self._group is not None:
            raise X12EnvelopeError(f"{segment_id} inside a functional group")
        if segment_id != "TA1":
            raise X12EnvelopeError(f"{segment_id} is not an interchange-level segment")
        self._write(segment_id, *elements)

    def open_group(
        self,
        functional_id: str,
        *,
        sender_code: str,
        receiver_code: str,
        control_number: int,
        guide: str,
    ) -> None:
        """``GS``, dated like the interchange; ``guide`` is GS08."""
        interchange, created_at = self._interchange, self._created_at
        if interchange is None or created_at is None:
            raise X12EnvelopeError("GS outside an interchange")
        if self._group is not None:
            raise X12EnvelopeError("GS before the GE of the previous group")
        control = str(control_number)
        start = self.segment_count
        day, hhmm = _ccyymmdd(created_at.date()), _hhmm(created_at)
        self._write("GS", functional_id, sender_code, receiver_code, day, hhmm, control, "X", guide)
        interchange.members += 1
        self._group = _Open(control, start)

    def open_transaction(
        self, set_id: str, control_number: str | int, guide: str | None = None
    ) -> None:
        """``ST``; ``guide`` is ST03 (``None`` leaves it out, as the 835 does)."""
        group = self._group
        if group is None:
            raise X12EnvelopeError("ST outside a functional group")
        if self._transaction is not None:
            raise X12EnvelopeError("ST before the SE of the previous transaction set")
        control = f"{control_number:04d}" if isinstance(control_number, int) else control_number
        start = self.segment_count
        self._write("ST", set_id, control, guide)
        group.members += 1
        self._transaction = _Open(control, start)

    def segment(self, segment_id: str, *elements: Element) -> None:
        """One body segment of the open transaction set (``elements[0]`` is element 1)."""
        if self._transaction is None:
            raise X12EnvelopeError(f"{segment_id} outside a transaction set (ST..SE)")
        if segment_id in CONTROL_SEGMENTS:
            raise X12EnvelopeError(f"{segment_id} is an envelope segment: open or close it")
        self._write(segment_id, *elements)

    def close_transaction(self) -> None:
        """``SE``: the segments from ``ST`` to this ``SE`` inclusive, and ST02."""
        transaction = self._transaction
        if transaction is None:
            raise X12EnvelopeError("SE without ST")
        self._write("SE", str(self.segment_count - transaction.start + 1), transaction.control)
        self._transaction = None

    def close_group(self) -> None:
        """``GE``: the transaction sets of the group, and GS06."""
        group = self._group
        if group is None:
            raise X12EnvelopeError("GE without GS")
        if self._transaction is not None:
            raise X12EnvelopeError("GE inside a transaction set: missing SE")
        self._write("GE", str(group.members), group.control)
        self._group = None

    def close_interchange(self) -> None:
        """``IEA``: the functional groups of the interchange, and ISA13 (9 digits)."""
        interchange = self._interchange
        if interchange is None:
            raise X12EnvelopeError("IEA without ISA")
        if self._group is not None:
            raise X12EnvelopeError("IEA inside a functional group: missing GE")
        self._write("IEA", str(interchange.members), interchange.control)
        self._interchange = None

    def text(self) -> str:
        """Everything written; refused while an envelope is open (its trailer would be lost)."""
        if self._interchange is not None:
            raise X12EnvelopeError("the interchange is not closed: missing IEA")
        return "".join(self._parts)

    def _write(self, segment_id: str, *elements: Element) -> None:
        self._append(render_segment(segment_id, elements, self.delimiters))

    def _append(self, text: str) -> None:
        self._parts.append(text + self._line_end)
        self.segment_count += 1
