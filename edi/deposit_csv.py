"""Deposits as a plain CSV file: one credit per line, for banks without a BAI2 export.

The first line names the columns; four are read, in any order (other columns are
ignored, names in any case, spaces or dashes for underscores):

==============  ===============================================================
``date``        the day the money was deposited: ``YYYY-MM-DD`` or ``MM/DD/YYYY``
``amount``      the amount credited, in dollars and cents (``1234.56``; a ``$``
                and thousands separators are allowed); must be more than zero
``trace_number`` the payment's trace: the 835's TRN02 (ACH reassociation trace
                or check number), as the bank shows it; may be empty
``payer_id``    who paid, as the 835 names the payer (N104 or TRN03); may be empty
==============  ===============================================================

The file is read line by line (:func:`iter_deposit_csv`); a line that cannot be
read raises :class:`DepositCsvError` with its line number, the column and the
rule, never the value.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import BinaryIO, Final

__all__ = ["COLUMNS", "DepositCsvError", "DepositLine", "iter_deposit_csv"]

COLUMNS: Final = ("date", "amount", "trace_number", "payer_id")
_REQUIRED: Final = ("date", "amount")
_MONEY: Final = re.compile(r"^\$?\d{1,3}(,\d{3})*(\.\d{1,2})?$|^\$?\d+(\.\d{1,2})?$")
_MAX_FIELD: Final = 80


class DepositCsvError(ValueError):
    """A line of a deposit CSV that cannot be read: line number, column and rule."""

    def __init__(self, line: int, column: str | None, rule: str) -> None:
        self.line = line
        self.column = column
        self.rule = rule
        where = f"line {line}" + (f", column {column}" if column else "")
        super().__init__(f"{where}: {rule}")


@dataclass(frozen=True, slots=True)
class DepositLine:
    line: int
    deposited_on: date
    amount_minor: int
    trace_number: str | None
    payer_id: str | None


def _column_name(text: str) -> str:
    return re.sub(r"[\s-]+", "_", text.strip().lower())


def _date(text: str, line: int) -> date:
    text = text.strip()
    for pattern in ("%Y-%m-%d", "%m/%d/%Y"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise DepositCsvError(line, "date", "not a date YYYY-MM-DD or MM/DD/YYYY")


def _amount(text: str, line: int) -> int:
    text = text.strip()
    if not _MONEY.match(text):
        raise DepositCsvError(line, "amount", "not an amount in dollars and cents (1234.56)")
    try:
        value = Decimal(text.lstrip("$").replace(",", ""))
    except InvalidOperation:  # pragma: no cover - the pattern already said no
        raise DepositCsvError(line, "amount", "not an amount") from None
    cents = int(value * 100)
    if cents <= 0:
        raise DepositCsvError(line, "amount", "a deposit must be more than zero")
    return cents


def _optional(text: str | None, line: int, column: str) -> str | None:
    value = (text or "").strip()
    if len(value) > _MAX_FIELD:
        raise DepositCsvError(line, column, f"longer than {_MAX_FIELD} characters")
    if any(ord(c) < 32 for c in value):
        raise DepositCsvError(line, column, "control characters")
    return value or None


def iter_deposit_csv(fh: BinaryIO) -> Iterator[DepositLine]:
    """Every deposit of the file, line by line (blank lines are skipped)."""
    text = io.TextIOWrapper(fh, encoding="utf-8-sig", errors="strict", newline="")
    rows = csv.reader(text)
    try:
        header = next(rows)
    except StopIteration:
        raise DepositCsvError(1, None, "the file is empty: a header line is required") from None
    except UnicodeDecodeError:
        raise DepositCsvError(1, None, "not UTF-8 text") from None
    names = [_column_name(h) for h in header]
    for required in _REQUIRED:
        if required not in names:
            raise DepositCsvError(1, required, "the header has no such column")
    index: dict[str, int] = {name: names.index(name) for name in COLUMNS if name in names}
    line = 1
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except UnicodeDecodeError:
            raise DepositCsvError(line + 1, None, "not UTF-8 text") from None
        except csv.Error:
            raise DepositCsvError(line + 1, None, "not valid CSV") from None
        line = rows.line_num
        if not any(cell.strip() for cell in row):
            continue

        def cell(name: str, row: list[str] = row) -> str | None:
            at = index.get(name)
            return row[at] if at is not None and at < len(row) else None

        for required in _REQUIRED:
            if not (cell(required) or "").strip():
                raise DepositCsvError(line, required, "required, and empty")
        yield DepositLine(
            line=line,
            deposited_on=_date(cell("date") or "", line),
            amount_minor=_amount(cell("amount") or "", line),
            trace_number=_optional(cell("trace_number"), line, "trace_number"),
            payer_id=_optional(cell("payer_id"), line, "payer_id"),
        )
