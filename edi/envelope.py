"""Envelope checks: ISA/IEA, GS/GE and ST/SE pair up, count and carry the same control number.

:class:`EnvelopeChecker` is fed the control segments (``ISA``, ``GS``, ``ST``,
``SE``, ``GE``, ``IEA``) and :meth:`EnvelopeChecker.finish` at the end of the
input; a transaction parser that already dispatches on segment ids calls it
directly.  :func:`check_envelopes` wraps any segment stream and checks
everything, body segments included.

Rules (X12 control structures, 5010):

* ``GS`` only inside an interchange, ``ST`` only inside a group, body segments
  only inside a transaction set, and every envelope closed before the next one
  of the same level opens or the input ends;
* ``SE01`` = segments from ``ST`` to ``SE`` inclusive, ``SE02`` = ``ST02``;
* ``GE01`` = transaction sets in the group, ``GE02`` = ``GS06``;
* ``IEA01`` = functional groups in the interchange, ``IEA02`` = ``ISA13``;
* ``ST02`` unique within its group.

Every violation is an :class:`~edi.segments.X12EnvelopeError` located at the
segment that revealed it (at the end of input: the last segment read).  A
checker given a :class:`~edi.tolerance.Warnings` list notes a wrong trailer
count or control number there instead (the tolerance policy of
:mod:`edi.tolerance`); structural faults still raise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Final, TypeVar

from edi.segments import Segment, X12EnvelopeError, X12SyntaxError, is_garbled
from edi.tolerance import Warnings

__all__ = [
    "CONTROL_SEGMENTS",
    "EnvelopeChecker",
    "check_envelopes",
    "check_envelopes_leniently",
    "read_leniently",
]

CONTROL_SEGMENTS: Final = frozenset({"ISA", "IEA", "GS", "GE", "ST", "SE"})
T = TypeVar("T")


def _digits(value: str) -> bool:
    """ASCII digits only (``str.isdigit`` also accepts ``²`` and other digits ``int`` refuses)."""
    return value.isascii() and value.isdigit()


def _count(segment: Segment, n: int, name: str) -> int:
    value = segment.element(n)
    if not _digits(value):
        raise X12EnvelopeError.at(segment, f"{name} must be a number")
    return int(value)


def _same_control_number(left: str, right: str) -> bool:
    """Equal as text, or as numbers when both are digits (``1`` and ``0001``)."""
    left, right = left.strip(), right.strip()
    if left == right:
        return True
    return _digits(left) and _digits(right) and int(left) == int(right)


class EnvelopeChecker:
    """Checks one stream of segments; raises :class:`X12EnvelopeError` on the first problem."""

    def __init__(self, warnings: Warnings | None = None) -> None:
        self.warnings = warnings
        self.isa: Segment | None = None
        self.gs: Segment | None = None
        self.st: Segment | None = None
        self.groups = 0
        self.transactions = 0
        self.group_controls: set[str] = set()
        self.last: Segment | None = None

    def _fault(self, segment: Segment, rule: str, message: str) -> None:
        """A trailer's count or control number is wrong: a warning when tolerant."""
        if self.warnings is None:
            raise X12EnvelopeError.at(segment, message)
        self.warnings.add(
            rule, segment=segment.ordinal, offset=segment.offset, segment_id=segment.id
        )

    def control(self, segment: Segment) -> None:
        """Check a control segment (``segment.id`` in :data:`CONTROL_SEGMENTS`)."""
        self.last = segment
        getattr(self, f"_{segment.id.lower()}")(segment)

    def body(self, segment: Segment) -> None:
        """Check that a non-control segment is inside a transaction set."""
        self.last = segment
        if self.st is None:
            raise X12EnvelopeError.at(segment, f"{segment.id} outside a transaction set (ST..SE)")

    def finish(self) -> None:
        """End of input: every envelope must be closed."""
        last = self.last
        where = {"ordinal": last.ordinal, "offset": last.offset} if last else {}
        if self.st is not None:
            raise X12EnvelopeError("missing SE: the input ends after this segment", **where)
        if self.gs is not None:
            raise X12EnvelopeError("missing GE: the input ends after this segment", **where)
        if self.isa is not None:
            raise X12EnvelopeError("missing IEA: the input ends after this segment", **where)

    def _isa(self, segment: Segment) -> None:
        if self.isa is not None:
            raise X12EnvelopeError.at(segment, "ISA before the IEA of the previous interchange")
        self.isa = segment
        self.groups = 0

    def _gs(self, segment: Segment) -> None:
        if self.isa is None:
            raise X12EnvelopeError.at(segment, "GS outside an interchange")
        if self.gs is not None:
            raise X12EnvelopeError.at(segment, "GS before the GE of the previous group")
        self.gs = segment
        self.groups += 1
        self.transactions = 0
        self.group_controls = set()

    def _st(self, segment: Segment) -> None:
        if self.gs is None:
            raise X12EnvelopeError.at(segment, "ST outside a functional group")
        if self.st is not None:
            raise X12EnvelopeError.at(segment, "ST before the SE of the previous transaction set")
        control = segment.element(2)
        if not control:
            raise X12EnvelopeError.at(segment, "ST02 (control number) is missing")
        if control in self.group_controls:
            raise X12EnvelopeError.at(segment, "ST02 is used twice in the same group")
        self.group_controls.add(control)
        self.st = segment
        self.transactions += 1

    def _se(self, segment: Segment) -> None:
        st = self.st
        if st is None:
            raise X12EnvelopeError.at(segment, "SE without ST")
        counted = segment.ordinal - st.ordinal + 1
        if _count(segment, 1, "SE01") != counted:
            self._fault(
                segment,
                "se01-count",
                f"SE01 says {segment.element(1)} segments, the transaction has {counted}",
            )
        if not _same_control_number(segment.element(2), st.element(2)):
            self._fault(
                segment, "se02-control", f"SE02 does not match ST02 of segment {st.ordinal}"
            )
        self.st = None

    def _ge(self, segment: Segment) -> None:
        gs = self.gs
        if gs is None:
            raise X12EnvelopeError.at(segment, "GE without GS")
        if self.st is not None:
            raise X12EnvelopeError.at(segment, "GE inside a transaction set: missing SE")
        if _count(segment, 1, "GE01") != self.transactions:
            self._fault(
                segment,
                "ge01-count",
                f"GE01 says {segment.element(1)} transaction sets, "
                f"the group has {self.transactions}",
            )
        if not _same_control_number(segment.element(2), gs.element(6)):
            self._fault(
                segment, "ge02-control", f"GE02 does not match GS06 of segment {gs.ordinal}"
            )
        self.gs = None

    def _iea(self, segment: Segment) -> None:
        isa = self.isa
        if isa is None:
            raise X12EnvelopeError.at(segment, "IEA without ISA")
        if self.gs is not None:
            raise X12EnvelopeError.at(segment, "IEA inside a functional group: missing GE")
        if _count(segment, 1, "IEA01") != self.groups:
            self._fault(
                segment,
                "iea01-count",
                f"IEA01 says {segment.element(1)} functional groups, "
                f"the interchange has {self.groups}",
            )
        if not _same_control_number(segment.element(2), isa.element(13)):
            self._fault(
                segment, "iea02-control", f"IEA02 does not match ISA13 of segment {isa.ordinal}"
            )
        self.isa = None


def check_envelopes(segments: Iterable[Segment]) -> Iterator[Segment]:
    """Pass ``segments`` through, checking every envelope rule; raises at the first violation."""
    checker = EnvelopeChecker()
    control = CONTROL_SEGMENTS
    for segment in segments:
        if segment.id in control:
            checker.control(segment)
        else:
            checker.body(segment)
        yield segment
    checker.finish()


def check_envelopes_leniently(segments: Iterable[Segment], warnings: Warnings) -> Iterator[Segment]:
    """Like :func:`check_envelopes`, but a trailer with a wrong count or control
    number (``SE``, ``GE``, ``IEA``) is noted in ``warnings`` instead of raising
    (the tolerance policy of :mod:`edi.tolerance`).

    A 999 whose ``IEA02`` does not repeat its ``ISA13`` still says which of our
    transaction sets were accepted; losing that answer over a sloppy trailer
    would be worse than reading it with a warning.  Structural errors (segments
    outside their envelope, missing trailers) still raise, and so does a garbled
    segment id (passed on by a tolerant :func:`~edi.segments.read_segments`):
    everything inside an acknowledgement's transaction set is its data.
    """
    checker = EnvelopeChecker(warnings)
    control = CONTROL_SEGMENTS
    for segment in segments:
        if segment.id in control:
            checker.control(segment)
        else:
            if is_garbled(segment):
                raise X12SyntaxError.at(
                    segment, "invalid segment id (2 or 3 upper-case letters or digits expected)"
                )
            checker.body(segment)
        yield segment
    checker.finish()


def read_leniently(
    segments: Iterable[Segment],
    parse: Callable[[Iterator[Segment]], Iterator[T]],
    warnings: Warnings | None = None,
) -> tuple[list[T], Warnings]:
    """Everything ``parse`` yields from ``segments`` checked by
    :func:`check_envelopes_leniently`, and the faults it forgave (added to
    ``warnings`` when given: the tokenizer's own go there too)."""
    warnings = Warnings() if warnings is None else warnings
    items = list(parse(check_envelopes_leniently(segments, warnings)))
    return items, warnings
