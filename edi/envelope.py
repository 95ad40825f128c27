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
segment that revealed it (at the end of input: the last segment read).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Final, TypeVar

from edi.elements import ascii_digits, read_count, too_long
from edi.segments import Segment, X12EnvelopeError

__all__ = [
    "CONTROL_SEGMENTS",
    "EnvelopeChecker",
    "check_envelopes",
    "check_envelopes_leniently",
    "read_leniently",
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


def _same_control_number(left: str, right: str) -> bool:
    """Equal as text, or as numbers when both are digits (``1`` and ``0001``)."""
    left, right = left.strip(), right.strip()
    if left == right:
        return True
    return ascii_digits(left) and ascii_digits(right) and int(left) == int(right)


class EnvelopeChecker:
    """Checks one stream of segments; raises :class:`X12EnvelopeError` on the first problem."""

    def __init__(self) -> None:
        self.isa: Segment | None = None
        self.gs: Segment | None = None
        self.st: Segment | None = None
        self.groups = 0
        self.transactions = 0
        self.group_controls: set[str] = set()
        self.last: Segment | None = None

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

    def _se(self, segment: Segment) -> None:
        st = self.st
        if st is None:
            raise X12EnvelopeError.at(segment, "SE without ST")
        counted = segment.ordinal - st.ordinal + 1
        if _count(segment, 1, "SE01") != counted:
            raise X12EnvelopeError.at(
                segment, f"SE01 says {segment.element(1)} segments, the transaction has {counted}"
            )
        if not _same_control_number(_control(segment, 2, "SE02"), st.element(2)):
            raise X12EnvelopeError.at(segment, f"SE02 does not match ST02 of segment {st.ordinal}")
        self.st = None

    def _ge(self, segment: Segment) -> None:
        gs = self.gs
        if gs is None:
            raise X12EnvelopeError.at(segment, "GE without GS")
        if self.st is not None:
            raise X12EnvelopeError.at(segment, "GE inside a transaction set: missing SE")
        if _count(segment, 1, "GE01") != self.transactions:
            raise X12EnvelopeError.at(
                segment,
                f"GE01 says {segment.element(1)} transaction sets, "
                f"the group has {self.transactions}",
            )
        if not _same_control_number(_control(segment, 2, "GE02"), gs.element(6)):
            raise X12EnvelopeError.at(segment, f"GE02 does not match GS06 of segment {gs.ordinal}")
        self.gs = None

    def _iea(self, segment: Segment) -> None:
        isa = self.isa
        if isa is None:
            raise X12EnvelopeError.at(segment, "IEA without ISA")
        if self.gs is not None:
            raise X12EnvelopeError.at(segment, "IEA inside a functional group: missing GE")
        if _count(segment, 1, "IEA01") != self.groups:
            raise X12EnvelopeError.at(
                segment,
                f"IEA01 says {segment.element(1)} functional groups, "
                f"the interchange has {self.groups}",
            )
        if not _same_control_number(_control(segment, 2, "IEA02"), isa.element(13)):
            raise X12EnvelopeError.at(
                segment, f"IEA02 does not match ISA13 of segment {isa.ordinal}"
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


#: Trailers whose count or control number may be wrong without hiding what the
#: envelope holds: a lenient reader notes the problem and closes the envelope.
_TRAILERS: Final = {"SE": ("st", None), "GE": ("gs", "st"), "IEA": ("isa", "gs")}


def check_envelopes_leniently(
    segments: Iterable[Segment], problems: list[str]
) -> Iterator[Segment]:
    """Like :func:`check_envelopes`, but a trailer with a wrong count or control
    number (``SE``, ``GE``, ``IEA``) is noted in ``problems`` instead of raising.

    For acknowledgements: a 999 whose ``IEA02`` does not repeat its ``ISA13``
    still says which of our transaction sets were accepted; losing that answer
    over a sloppy trailer would be worse than reading it with a warning.
    Structural errors (segments outside their envelope, missing trailers) still
    raise.
    """
    checker = EnvelopeChecker()
    control = CONTROL_SEGMENTS
    for segment in segments:
        if segment.id in control:
            try:
                checker.control(segment)
            except X12EnvelopeError as exc:
                closes, inner = _TRAILERS.get(segment.id, (None, None))
                if closes is None or getattr(checker, closes) is None:
                    raise
                if inner is not None and getattr(checker, inner) is not None:
                    raise  # a trailer inside an open envelope: structure, not a count
                problems.append(str(exc))
                setattr(checker, closes, None)
        else:
            checker.body(segment)
        yield segment
    checker.finish()


def read_leniently(
    segments: Iterable[Segment], parse: Callable[[Iterator[Segment]], Iterator[T]]
) -> tuple[list[T], list[str]]:
    """Everything ``parse`` yields from ``segments`` checked by
    :func:`check_envelopes_leniently`, and the envelope problems it noted."""
    problems: list[str] = []
    items = list(parse(check_envelopes_leniently(segments, problems)))
    return items, problems
