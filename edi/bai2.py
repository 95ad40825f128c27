"""BAI2 bank statement files (cash management balance reporting), read as a stream.

A bank reports the money that moved on its customer's accounts in BAI2: records
of comma-separated fields, each ended by ``/`` (or by the end of the line), in a
file (``01`` ... ``99``) of groups (``02`` ... ``98``, one as-of date each) of
accounts (``03`` ... ``49``).  A ``16`` record is one transaction: a type code,
an amount in minor units (cents, no decimal point), a funds type (and the
availability it announces), the bank's and the customer's references and free
text.  An ``88`` record continues the record before it: more summaries of an
``03``, more text of a ``16`` (where banks put the ACH addenda, so the 835's
reassociation trace ``TRN*1*<TRN02>*<TRN03>`` of a CCD+ payment).

What this reader does:

* **streams**: one record at a time, with only the open group and account kept
  (their running control totals and record counts), so memory does not grow with
  the file;
* **forgives the layout banks really use**: several records on one physical line
  (``.../  03,...``), a ``16`` whose text runs onto the next physical line
  without an ``88``, records without their ``/``, CR/LF or LF line ends, ``/``
  and ``,`` inside a ``16``'s text, signed or zero-padded amounts;
* **reads each transaction on its own**: a type code it does not know (banks
  add their own) or a debit is reported per record (:attr:`Bai2Transaction.kind`)
  and never stops the file;
* **checks the trailers**: an ``49``/``98``/``99`` control total that is not the
  sum of the amounts it closes refuses the file (the money is doubtful); a wrong
  record, account or group count is a warning (:class:`edi.tolerance`'s style:
  the amounts are intact); a blank control total is not checked.

Errors (:class:`Bai2Error`) and warnings name the record number (the logical
record's ordinal in the file, ``88`` records counted) and the rule, never a
value from the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import BinaryIO, Final, Literal

__all__ = [
    "RULES",
    "Bai2Error",
    "Bai2Transaction",
    "Bai2Warning",
    "iter_bai2",
    "reassociation_trace",
]

#: What the reader checks, by rule name: words for errors and warnings.
RULES: Final[dict[str, str]] = {
    "record-code": "a record code that is not 01, 02, 03, 16, 49, 88, 98 or 99",
    "record-order": "a record outside its file, group or account",
    "continuation-first": "an 88 continuation with no record before it",
    "field-missing": "a required field is empty or missing",
    "amount": "an amount that is not a whole number of minor units",
    "date": "a date that is not YYMMDD",
    "funds-type": "a funds type that is not Z, 0, 1, 2, V, S or D (or its availability is short)",
    "account-control-total": "the 49 control total is not the sum of the account's amounts",
    "group-control-total": "the 98 control total is not the sum of its accounts' totals",
    "file-control-total": "the 99 control total is not the sum of its groups' totals",
    "account-record-count": "the 49 record count does not count the account's records",
    "group-account-count": "the 98 account count does not count the group's accounts",
    "group-record-count": "the 98 record count does not count the group's records",
    "file-group-count": "the 99 group count does not count the file's groups",
    "file-record-count": "the 99 record count does not count the file's records",
    "missing-trailer": "the file ends inside a file, group or account (a trailer is missing)",
    "wrapped-line": "a physical line that starts no record: read as the rest of the one before",
    "type-code-unknown": "a transaction type code outside the BAI2 credit and debit ranges",
    "not-text": "the file is not text (a NUL byte, or not ASCII/Latin-1 characters)",
}

#: Text kept of one transaction (its 16 and 88s): enough for any addenda.
_TEXT_LIMIT: Final = 4096
_RECORD_START = re.compile(r"^\s*(\d{2}),")
# a record ends with "/"; a new one may follow on the same physical line
_NEXT_RECORD = re.compile(r"/\s*(?=(?:01|02|03|16|49|88|98|99),)")
_RECORD_CODES = frozenset({"01", "02", "03", "16", "49", "88", "98", "99"})
_AMOUNT = re.compile(r"^[+-]?\d+$")
_TRN = re.compile(r"TRN\*1\*([^*\\~/\s,]{1,50})(?:\*([^*\\~/\s,]{1,50}))?")


class Bai2Error(ValueError):
    """A BAI2 file that cannot be read or whose money does not add up; the message
    names the record number and the rule, never a value."""

    def __init__(self, record: int, rule: str, detail: str = "") -> None:
        self.record = record
        self.rule = rule
        words = RULES[rule] + (f" ({detail})" if detail else "")
        super().__init__(f"record {record}: {words} [{rule}]")


@dataclass(frozen=True, slots=True)
class Bai2Warning:
    """A fault forgiven: the record number and the rule."""

    record: int
    rule: str

    @property
    def words(self) -> str:
        return RULES[self.rule]

    def __str__(self) -> str:
        return f"record {self.record}: {self.words} [{self.rule}]"


TransactionKind = Literal["credit", "debit", "unknown"]


@dataclass(frozen=True, slots=True)
class Bai2Transaction:
    """One ``16`` record with its ``88`` continuations, in its account and group."""

    record: int
    as_of: date
    account: str
    currency: str | None
    type_code: str
    kind: TransactionKind
    amount_minor: int
    funds_type: str | None
    value_date: date | None
    bank_reference: str | None
    customer_reference: str | None
    text: str


def reassociation_trace(text: str) -> tuple[str | None, str | None]:
    """TRN02 and TRN03 of a CCD+ addenda (``TRN*1*<trace>*<payer id>``) in free text,
    whatever ends the segment (``\\``, ``~`` or nothing)."""
    found = _TRN.search(text)
    if found is None or found.group(2) is None:
        found = _TRN.search(text.replace(" ", "")) or found
    if found is None:
        return None, None
    return found.group(1), found.group(2)


def _kind(type_code: str) -> TransactionKind:
    if not type_code.isdigit() or len(type_code) != 3:
        return "unknown"
    code = int(type_code)
    if 100 <= code <= 399:
        return "credit"
    if 400 <= code <= 699:
        return "debit"
    return "unknown"


@dataclass
class _Record:
    number: int
    code: str
    body: str  # everything after "NN," without the trailing "/"


def _strip_end(text: str) -> str:
    text = text.rstrip()
    return text[:-1] if text.endswith("/") else text


def _records(lines: Iterable[str], warnings: list[Bai2Warning]) -> Iterator[_Record]:
    """Logical records from physical lines (88s are records of their own here)."""
    pending: _Record | None = None
    number = 0
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        if _RECORD_START.match(line) is None:
            if pending is None:
                raise Bai2Error(number + 1, "record-code")
            # the rest of the record before, wrapped by the bank's line length
            warnings.append(Bai2Warning(pending.number, "wrapped-line"))
            pending.body = pending.body + line
            continue
        pieces = _NEXT_RECORD.split(line.strip())
        for piece in pieces:
            if pending is not None:
                yield pending
            number += 1
            code, _, body = piece.partition(",")
            code = code.strip()
            if code not in _RECORD_CODES:
                raise Bai2Error(number, "record-code")
            pending = _Record(number, code, body)
    if pending is not None:
        yield pending


def _fields(body: str) -> list[str]:
    return _strip_end(body).split(",")


def _amount(text: str, record: int, *, required: bool = True) -> int | None:
    text = text.strip()
    if not text:
        if required:
            raise Bai2Error(record, "field-missing", "amount")
        return None
    if _AMOUNT.match(text) is None:
        raise Bai2Error(record, "amount")
    return int(text)


def _date(text: str, record: int) -> date:
    text = text.strip()
    if len(text) != 6 or not text.isdigit():
        raise Bai2Error(record, "date")
    year, month, day = int(text[:2]), int(text[2:4]), int(text[4:])
    try:
        return date(2000 + year if year < 80 else 1900 + year, month, day)
    except ValueError:
        raise Bai2Error(record, "date") from None


def _availability(fields: list[str], at: int, record: int) -> tuple[int, date | None]:
    """Skip a funds type's availability fields from ``fields[at]`` (the funds type);
    returns the index after them and the value date of funds type ``V``."""
    funds = fields[at].strip().upper() if at < len(fields) else ""
    at += 1
    if funds in ("", "Z", "0", "1", "2"):
        return at, None
    if funds == "V":
        if at + 2 > len(fields):
            raise Bai2Error(record, "funds-type")
        value_date = _date(fields[at], record) if fields[at].strip() else None
        return at + 2, value_date
    if funds == "S":
        if at + 3 > len(fields):
            raise Bai2Error(record, "funds-type")
        return at + 3, None
    if funds == "D":
        if at >= len(fields) or not fields[at].strip().isdigit():
            raise Bai2Error(record, "funds-type")
        count = int(fields[at])
        end = at + 1 + 2 * count
        if end > len(fields):
            raise Bai2Error(record, "funds-type")
        return end, None
    raise Bai2Error(record, "funds-type")


def _summary_total(fields: list[str], record: int) -> int:
    """The sum of the amounts of an ``03``'s summaries (with its ``88`` continuations):
    groups of type code, amount, item count, funds type and its availability."""
    total = 0
    at = 0
    while at < len(fields):
        code = fields[at].strip()
        if not code:
            at += 1
            continue
        if at + 1 >= len(fields):
            break  # a dangling type code: nothing to add
        amount = _amount(fields[at + 1], record, required=False)
        total += amount or 0
        if at + 3 >= len(fields):
            break
        at, _ = _availability(fields, at + 3, record)
    return total


@dataclass
class _Account:
    record: int
    number: str
    currency: str | None
    summary_fields: list[str] = field(default_factory=list)
    total: int = 0
    records: int = 1
    open_summary: bool = True


@dataclass
class _Group:
    record: int
    as_of: date
    currency: str | None
    total: int = 0
    records: int = 1
    accounts: int = 0


@dataclass
class _Detail:
    record: _Record
    texts: list[str] = field(default_factory=list)
    size: int = 0


class _Reader:
    def __init__(self, warnings: list[Bai2Warning], totals: Literal["refuse", "warn"]) -> None:
        self.warnings = warnings
        self.totals = totals
        self.file_open = False
        self.file_done = False
        self.file_total = 0
        self.file_records = 0
        self.groups = 0
        self.group: _Group | None = None
        self.account: _Account | None = None
        self.detail: _Detail | None = None
        self.last_code: str | None = None

    def _money(self, record: int, rule: str, expected: int, stated: int | None) -> None:
        if stated is None or stated == expected:
            return
        if self.totals == "refuse":
            raise Bai2Error(record, rule)
        self.warnings.append(Bai2Warning(record, rule))

    def _count(self, record: int, rule: str, expected: int, stated: str) -> None:
        stated = stated.strip()
        if stated.isdigit() and int(stated) != expected:
            self.warnings.append(Bai2Warning(record, rule))

    def _close_summary(self) -> None:
        account = self.account
        if account is not None and account.open_summary:
            account.total += _summary_total(account.summary_fields, account.record)
            account.summary_fields = []
            account.open_summary = False

    def _flush_detail(self) -> Bai2Transaction | None:
        detail, self.detail = self.detail, None
        if detail is None:
            return None
        assert self.group is not None and self.account is not None
        rec = detail.record
        fields = rec.body.split(",")
        if len(fields) < 2:
            raise Bai2Error(rec.number, "field-missing", "type code or amount")
        type_code = fields[0].strip()
        if not type_code:
            raise Bai2Error(rec.number, "field-missing", "type code")
        amount = _amount(fields[1], rec.number)
        assert amount is not None
        at, value_date = _availability(fields, 2, rec.number)
        rest = fields[at:]
        bank_ref = (_strip_end(rest[0]) if len(rest) == 1 else rest[0]).strip() if rest else ""
        customer_ref = _strip_end(rest[1]).strip() if len(rest) > 1 else ""
        text = _strip_end(",".join(rest[2:])) if len(rest) > 2 else ""
        text = "".join([text, *detail.texts]).strip()[:_TEXT_LIMIT]
        self.account.total += amount
        kind = _kind(type_code)
        if kind == "unknown":
            self.warnings.append(Bai2Warning(rec.number, "type-code-unknown"))
        return Bai2Transaction(
            record=rec.number,
            as_of=self.group.as_of,
            account=self.account.number,
            currency=self.account.currency or self.group.currency,
            type_code=type_code,
            kind=kind,
            amount_minor=abs(amount),
            funds_type=(fields[2].strip().upper() or None) if len(fields) > 2 else None,
            value_date=value_date,
            bank_reference=bank_ref or None,
            customer_reference=customer_ref or None,
            text=text,
        )

    def feed(self, rec: _Record) -> Bai2Transaction | None:
        code = rec.code
        out: Bai2Transaction | None = None
        if code == "88":
            if self.last_code is None:
                raise Bai2Error(rec.number, "continuation-first")
            self._counted()
            if self.detail is not None:
                if self.detail.size < _TEXT_LIMIT:
                    text = _strip_end(rec.body)
                    self.detail.texts.append(text)
                    self.detail.size += len(text)
            elif self.account is not None and self.account.open_summary:
                self.account.summary_fields += _fields(rec.body)
            return None
        if code != "16":
            out = self._flush_detail()
        self.last_code = code
        if code == "01":
            if self.file_open or self.file_done:
                raise Bai2Error(rec.number, "record-order")
            self.file_open = True
            self.file_records = 1
        elif code == "02":
            if not self.file_open or self.group is not None:
                raise Bai2Error(rec.number, "record-order")
            f = _fields(rec.body)
            as_of = _date(f[3] if len(f) > 3 else "", rec.number)
            currency = f[5].strip() if len(f) > 5 and f[5].strip() else None
            self.group = _Group(rec.number, as_of, currency)
            self.file_records += 1
        elif code == "03":
            if self.group is None or self.account is not None:
                raise Bai2Error(rec.number, "record-order")
            f = _fields(rec.body)
            number = f[0].strip() if f else ""
            if not number:
                raise Bai2Error(rec.number, "field-missing", "account number")
            currency = f[1].strip() if len(f) > 1 and f[1].strip() else None
            self.account = _Account(rec.number, number, currency, summary_fields=f[2:])
            self.group.records += 1
            self.file_records += 1
        elif code == "16":
            if self.account is None:
                raise Bai2Error(rec.number, "record-order")
            out = self._flush_detail()
            self._close_summary()
            self.detail = _Detail(rec)
            self._counted()
        elif code == "49":
            account = self.account
            if account is None or self.group is None:
                raise Bai2Error(rec.number, "record-order")
            self._close_summary()
            account.records += 1
            self.group.records += 1
            self.file_records += 1
            f = _fields(rec.body)
            stated = _amount(f[0], rec.number, required=False) if f else None
            self._money(rec.number, "account-control-total", account.total, stated)
            self._count(
                rec.number, "account-record-count", account.records, f[1] if len(f) > 1 else ""
            )
            self.group.total += stated if stated is not None else account.total
            self.group.accounts += 1
            self.account = None
        elif code == "98":
            group = self.group
            if group is None or self.account is not None:
                raise Bai2Error(rec.number, "record-order")
            group.records += 1
            self.file_records += 1
            f = _fields(rec.body)
            stated = _amount(f[0], rec.number, required=False) if f else None
            self._money(rec.number, "group-control-total", group.total, stated)
            self._count(
                rec.number, "group-account-count", group.accounts, f[1] if len(f) > 1 else ""
            )
            self._count(rec.number, "group-record-count", group.records, f[2] if len(f) > 2 else "")
            self.file_total += stated if stated is not None else group.total
            self.groups += 1
            self.group = None
        elif code == "99":
            if not self.file_open or self.group is not None:
                raise Bai2Error(rec.number, "record-order")
            self.file_records += 1
            f = _fields(rec.body)
            stated = _amount(f[0], rec.number, required=False) if f else None
            self._money(rec.number, "file-control-total", self.file_total, stated)
            self._count(rec.number, "file-group-count", self.groups, f[1] if len(f) > 1 else "")
            self._count(
                rec.number, "file-record-count", self.file_records, f[2] if len(f) > 2 else ""
            )
            self.file_open = False
            self.file_done = True
        return out

    def _counted(self) -> None:
        """A 16 or 88 record: counted in its account, group and file (an 88 of a header
        or trailer is counted where that record is)."""
        if self.account is not None:
            self.account.records += 1
        if self.group is not None:
            self.group.records += 1
        if self.file_open:
            self.file_records += 1

    def finish(self, last_record: int) -> Bai2Transaction | None:
        out = self._flush_detail()
        if self.account is not None or self.group is not None or self.file_open:
            raise Bai2Error(last_record + 1, "missing-trailer")
        return out


def _text_lines(fh: BinaryIO) -> Iterator[str]:
    for n, raw in enumerate(fh, start=1):
        if b"\x00" in raw:
            raise Bai2Error(n, "not-text", "a NUL byte on this physical line")
        yield (
            raw[3:].decode("latin-1")
            if n == 1 and raw.startswith(b"\xef\xbb\xbf")
            else (raw.decode("latin-1"))
        )


def iter_bai2(
    fh: BinaryIO,
    *,
    warnings: list[Bai2Warning] | None = None,
    totals: Literal["refuse", "warn"] = "refuse",
) -> Iterator[Bai2Transaction]:
    """Every transaction (``16``) of a BAI2 file, in file order, as it is read.

    Raises :class:`Bai2Error` (record number and rule) for what cannot be read or
    does not add up; ``totals="warn"`` makes a wrong control total a warning.  The
    faults forgiven are appended to ``warnings``."""
    seen = warnings if warnings is not None else []
    reader = _Reader(seen, totals)
    last = 0
    for rec in _records(_text_lines(fh), seen):
        last = rec.number
        out = reader.feed(rec)
        if out is not None:
            yield out
    if last == 0:
        raise Bai2Error(1, "record-order", "the file has no records")
    out = reader.finish(last)
    if out is not None:
        yield out
