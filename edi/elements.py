"""What a numeric X12 element may hold, checked the same way by every reader.

Two kinds of element carry numbers:

* **amounts and quantities** (X12 type ``R``): an optional minus sign, ASCII
  digits and at most one decimal point, at most :data:`MAX_AMOUNT_DIGITS`
  digits.  Nothing else that Python's ``Decimal()`` would take: no exponent
  (``1E+30``), no underscore (``1_000``), no plus sign, no blanks, no digits of
  other scripts, no ``NaN`` or ``Infinity``.  Eighteen digits keep every sum and
  every rounding to the cent within the decimal context's precision.
* **counts and control numbers** (X12 type ``N0``, and the ``AN`` control
  numbers ST02/SE02): bounded by their X12 maximum length *before* anything
  converts them, so a 5,000-digit count is the reader's own error rather than
  Python's integer-conversion limit (``ValueError``).

The functions take the reader's error class, so that a bad element in an 835 is
an ``X835Error``, in an 837P an ``X837Error``, and so on; every message names
the element and the rule, never the value.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Final

from edi.segments import Segment, X12Error

__all__ = [
    "MAX_AMOUNT_DIGITS",
    "amount_problem",
    "ascii_digits",
    "read_amount",
    "read_count",
    "read_optional_amount",
    "too_long",
]

#: At most this many digits in an amount or quantity (X12 type R: 1 to 18 digits).
MAX_AMOUNT_DIGITS: Final = 18
_AMOUNT: Final = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def ascii_digits(text: str) -> bool:
    """ASCII digits only (``str.isdigit`` also accepts ``²`` and other scripts' digits)."""
    return text.isascii() and text.isdigit()


def amount_problem(text: str) -> str | None:
    """``None`` when ``text`` is an X12 decimal of at most 18 digits, else what is wrong
    (``"is not a decimal number"`` or ``"has more than 18 digits"``)."""
    if not _AMOUNT.fullmatch(text):
        return "is not a decimal number"
    if len(text) - (text[0] == "-") - ("." in text) > MAX_AMOUNT_DIGITS:
        return f"has more than {MAX_AMOUNT_DIGITS} digits"
    return None


def read_amount(segment: Segment, n: int, name: str, error: type[X12Error]) -> Decimal:
    """Element ``n`` as an amount; ``error`` (located at ``segment``) when missing or bad."""
    text = segment.element(n)
    if not text:
        raise error.at(segment, f"{name} is missing")
    problem = amount_problem(text)
    if problem is not None:
        raise error.at(segment, f"{name} {problem}")
    return Decimal(text)


def read_optional_amount(
    segment: Segment, n: int, name: str, error: type[X12Error]
) -> Decimal | None:
    """Element ``n`` as an amount, or ``None`` when it is empty."""
    if not segment.element(n):
        return None
    return read_amount(segment, n, name, error)


def too_long(segment: Segment, n: int, name: str, max_chars: int) -> str | None:
    """The problem when element ``n`` is longer than ``max_chars`` (a control number)."""
    if len(segment.element(n)) > max_chars:
        return f"{name} has more than {max_chars} characters"
    return None


def read_count(
    segment: Segment, n: int, name: str, max_digits: int, error: type[X12Error]
) -> int:
    """Element ``n`` as a whole number of at most ``max_digits`` ASCII digits.

    Raises ``error`` (``"... must be a number"`` / ``"... has more than N digits"``)
    before ``int()`` ever sees the text."""
    text = segment.element(n)
    if not ascii_digits(text):
        raise error.at(segment, f"{name} must be a number")
    if len(text) > max_digits:
        raise error.at(segment, f"{name} has more than {max_digits} digits")
    return int(text)
