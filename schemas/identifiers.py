"""Check digits and code formats (pure functions, no I/O)."""

from __future__ import annotations

import re

#: The second character is a digit, except in the genetic codes of FY2026 (QA0-).
_ICD10CM = re.compile(r"^[A-Z][0-9A-Z][0-9A-Z](\.?[0-9A-Z]{1,4})?$")


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check over a string of digits."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def npi_valid(npi: str) -> bool:
    """A 10-digit NPI whose last digit is the Luhn check digit of ``80840`` + its first 9."""
    return len(npi) == 10 and npi.isdigit() and luhn_valid("80840" + npi)


def npi_with_check_digit(first9: str) -> str:
    """Complete 9 digits into a valid NPI (for synthetic data)."""
    if len(first9) != 9 or not first9.isdigit():
        raise ValueError("an NPI starts with 9 digits")
    for check in "0123456789":
        if npi_valid(first9 + check):
            return first9 + check
    raise AssertionError("unreachable: one check digit always fits")


def icd10cm_valid(code: str) -> bool:
    """Shape of an ICD-10-CM code: letter, digit (a letter in QA0-), alphanumeric, then up to four
    more characters, with an optional dot after the third (``M54.50``, ``M6281``)."""
    return bool(_ICD10CM.fullmatch(code))  # not match: "$" also matches before a final "\n"


def icd10cm_normalised(code: str) -> str:
    """The code as X12 wants it: upper case, no dot."""
    return code.upper().replace(".", "")
