"""What the readers forgive: envelope faults that leave the data intact.

One policy for the 835, 999 and 277 readers (``docs/x12-reading.md``):

* **Tolerated, read with a warning** -- faults of the envelope that change
  nothing the transaction says: an ISA whose elements are not padded to their
  fixed widths, a wrong count or control number in a trailer (``SE01``,
  ``SE02``, ``GE01``, ``GE02``, ``IEA01``, ``IEA02``), and a segment whose id is
  garbled outside the data a reader takes (an 835's claims, a 999's responses,
  a 277's status loops).  Each becomes a :class:`ReadWarning`: the segment's
  ordinal and byte offset and the rule, never a value.
* **Refused, with the reader's typed error** -- anything that makes the data
  uncertain: segments outside their envelope, a missing trailer, a control
  number used twice in a group, a garbled segment inside the data, an amount or
  a date that cannot be read; and, for an 835, a transaction whose money does
  not balance when the file has warnings (a file that is both sloppy and out of
  balance is not posted).

Where X12 reports each tolerated fault back to the sender is part of the rule:
ISA faults in a TA1 (``TA105``), transaction set trailers in the 999's ``IK5``,
group trailers in its ``AK9``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "RULES",
    "ReadWarning",
    "Rule",
    "Warnings",
]

Level = Literal["interchange", "group", "transaction", "segment"]


@dataclass(frozen=True, slots=True)
class Rule:
    """A tolerated fault: its words, and the code X12 reports it with where it belongs."""

    level: Level
    words: str
    ack_code: str | None  # TA105 (interchange), AK905 (group), IK502 (transaction)


#: Every fault a reader tolerates, by rule name.
RULES: Final[dict[str, Rule]] = {
    "isa-not-fixed-width": Rule(
        "interchange", "the ISA's elements are not padded to their fixed widths", "022"
    ),
    "iea01-count": Rule(
        "interchange", "IEA01 does not count the interchange's functional groups", "021"
    ),
    "iea02-control": Rule("interchange", "IEA02 does not repeat ISA13", "001"),
    "ge01-count": Rule("group", "GE01 does not count the group's transaction sets", "5"),
    "ge02-control": Rule("group", "GE02 does not repeat GS06", "4"),
    "se01-count": Rule("transaction", "SE01 does not count the transaction's segments", "4"),
    "se02-control": Rule("transaction", "SE02 does not repeat ST02", "3"),
    "garbled-segment-id": Rule(
        "segment", "a segment id that is not 2 or 3 letters or digits, outside the data", None
    ),
}


@dataclass(frozen=True, slots=True)
class ReadWarning:
    """One tolerated fault, located; ``segment`` is the segment's ordinal in the file."""

    segment: int
    offset: int
    rule: str
    segment_id: str
    detail: str = ""  # what exactly was wrong (counts, lengths), never a data value

    @property
    def words(self) -> str:
        return RULES[self.rule].words

    @property
    def level(self) -> Level:
        return RULES[self.rule].level

    def as_json(self) -> dict[str, object]:
        return {
            "segment": self.segment,
            "offset": self.offset,
            "rule": self.rule,
            "segment_id": self.segment_id,
            "message": self.detail or self.words,
        }

    def __str__(self) -> str:
        said = self.detail or self.words
        return f"segment {self.segment} (byte {self.offset}): {said} [{self.rule}]"


class Warnings(list[ReadWarning]):
    """Where a reader collects what it forgave (a list, so callers can inspect it).

    ``text``, when given, also receives each warning as words (for the
    acknowledgement messages, whose ``warnings`` are text), as it is found.
    """

    def __init__(self, text: list[str] | None = None) -> None:
        super().__init__()
        self._text = text

    def add(
        self, rule: str, *, segment: int, offset: int, segment_id: str, detail: str = ""
    ) -> None:
        if rule not in RULES:  # pragma: no cover - a programming error, not input
            raise KeyError(rule)
        warning = ReadWarning(segment, offset, rule, segment_id, detail)
        self.append(warning)
        if self._text is not None:
            self._text.append(str(warning))
