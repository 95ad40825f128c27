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
* ``ST02`` unique within its group;
* every count and control number within its X12 maximum length, checked
  before it is compared or converted: ``SE01`` 10 digits, ``GE01`` 6,
  ``IEA01`` 5; ``ST02``/``SE02``, ``GS06``/``GE02`` and ``IEA02`` 9
  characters; so a group holds at most 999,999 transaction sets and an
  interchange at most 99,999 groups.

Every violation is an :class:`~edi.segments.X12EnvelopeError` located at the
segment that revealed it (at the end of input: the last segment read).  A
checker given a :class:`~edi.tolerance.Warnings` list notes a wrong trailer
count or control number there instead (the tolerance policy of
:mod:`edi.tolerance`); structural faults still raise.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Final, TypeVar

from edi.elements import ascii_digits, read_count, too_long
from edi.segments import Segment, X12EnvelopeError, X12SyntaxError, is_garbled
from edi.tolerance import Warnings

__all__ = [
    "CONTROL_SEGMENTS",
    "EnvelopeChecker",
    "check_envelopes",
    "check_envelopes_leniently",
]

CONTROL_SEGMENTS: Final = frozenset({"ISA", "IEA", "GS", "GE", "ST", "SE"})
T = TypeVar("T")
#: X12 maximum lengths of the counts (digits) and control numbers (characters).
_COUNT_DIGITS: Final = {"SE01": 10, "GE01": 6, "IEA01": 5}
_CONTROL_CHARS: Final = 9
#: The most transaction sets a group, and groups an interchange, can count.
MAX_TRANSACTIONS_PER_GROUP: Final = 10 ** _COUNT_DIGITS["GE01"] - 1
MAX_GROUPS_PER_INTERCHANGE: Final = 10 ** _COUNT_DIGITS["IEA01"] - 1


def _count(segment: Segment, n: int, name: str) -> int:
    return read_count(segment, n, name, _COUNT_DIGITS[name], X12EnvelopeError)


def _control(segment: Segment, n: int, name: str) -> str:
    """A control number, refused when longer than X12 allows (9 characters)."""
    problem = too_long(segment, n, name, _CONTROL_CHARS)
    if problem is not None:
        raise X12EnvelopeError.at(segment, problem)
    return segment.element(n)


#: Per trailer count: the words after "SE01 says N" and the header element it repeats.
_TRAILER_WORDS: Final = {
    "SE01": ("segments, the transaction has", "ST02"),
    "GE01": ("transaction sets, the group has", "GS06"),
    "IEA01": ("functional groups, the interchange has", "ISA13"),
}


def _same_control_number(left: str, right: str) -> bool:
    """Equal as text, or as numbers when both are digits (``1`` and ``0001``)."""
    left, right = left.strip(), right.strip()
    if left == right:
        return True
    return ascii_digits(left) and ascii_digits(right) and int(left) == int(right)


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
            rule,
            segment=segment.ordinal,
            offset=segment.offset,
            segment_id=segment.id,
            detail=message,
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
        _control(segment, 6, "GS06")
        if self.groups >= MAX_GROUPS_PER_INTERCHANGE:
            raise X12EnvelopeError.at(
                segment,
                f"more than {MAX_GROUPS_PER_INTERCHANGE:,} functional groups in one "
                "interchange (IEA01 has at most 5 digits)",
            )
        self.gs = segment
        self.groups += 1
        self.transactions = 0
        self.group_controls = set()

    def _st(self, segment: Segment) -> None:
        if self.gs is None:
            raise X12EnvelopeError.at(segment, "ST outside a functional group")
        if self.st is not None:
            raise X12EnvelopeError.at(segment, "ST before the SE of the previous transaction set")
        control = _control(segment, 2, "ST02")
        if not control:
            raise X12EnvelopeError.at(segment, "ST02 (control number) is missing")
        if self.transactions >= MAX_TRANSACTIONS_PER_GROUP:
            raise X12EnvelopeError.at(
                segment,
                f"more than {MAX_TRANSACTIONS_PER_GROUP:,} transaction sets in one "
                "functional group (GE01 has at most 6 digits)",
            )
        if control in self.group_controls:
            raise X12EnvelopeError.at(segment, "ST02 is used twice in the same group")
        self.group_controls.add(control)
        self.st = segment
        self.transactions += 1

    def _trailer(
        self,
        segment: Segment,
        names: tuple[str, str],
        rules: tuple[str, str],
        count: int,
        control: str,
        opened: Segment,
    ) -> None:
        """A trailer's count (element 1) and control number (element 2): wrong,
        unreadable or too long, each is a fault (a warning when tolerant)."""
        count_name, control_name = names
        counted, header = _TRAILER_WORDS[count_name]
        try:
            said = _count(segment, 1, count_name)
        except X12EnvelopeError as exc:
            self._fault(segment, rules[0], exc.reason)
        else:
            if said != count:
                self._fault(
                    segment,
                    rules[0],
                    f"{count_name} says {segment.element(1)} {counted} {count}",
                )
        try:
            theirs = _control(segment, 2, control_name)
        except X12EnvelopeError as exc:
            self._fault(segment, rules[1], exc.reason)
        else:
            if not _same_control_number(theirs, control):
                self._fault(
                    segment,
                    rules[1],
                    f"{control_name} does not match {header} of segment {opened.ordinal}",
                )

    def _se(self, segment: Segment) -> None:
        st = self.st
        if st is None:
            raise X12EnvelopeError.at(segment, "SE without ST")
        counted = segment.ordinal - st.ordinal + 1
        self._trailer(
            segment, ("SE01", "SE02"), ("se01-count", "se02-control"), counted, st.element(2), st
        )
        self.st = None

    def _ge(self, segment: Segment) -> None:
        gs = self.gs
        if gs is None:
            raise X12EnvelopeError.at(segment, "GE without GS")
        if self.st is not None:
            raise X12EnvelopeError.at(segment, "GE inside a transaction set: missing SE")
        self._trailer(
            segment,
            ("GE01", "GE02"),
            ("ge01-count", "ge02-control"),
            self.transactions,
            gs.element(6),
            gs,
        )
        self.gs = None

    def _iea(self, segment: Segment) -> None:
        isa = self.isa
        if isa is None:
            raise X12EnvelopeError.at(segment, "IEA without ISA")
        if self.gs is not None:
            raise X12EnvelopeError.at(segment, "IEA inside a functional group: missing GE")
        self._trailer(
            segment,
            ("IEA01", "IEA02"),
            ("iea01-count", "iea02-control"),
            self.groups,
            isa.element(13),
            isa,
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
