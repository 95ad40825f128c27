"""835 (005010X221A1) -> canonical remittance models, streamed, with balancing.

Three ways to read an 835, all streaming over :func:`edi.segments.read_segments`:

* :func:`iter_835_events` yields, per transaction set, a
  :class:`~schemas.remittance.RemittanceHeader`, then one
  :class:`~schemas.remittance.ClaimPayment` per CLP in file order, then a
  :class:`~schemas.remittance.RemittanceSummary` with the provider adjustments
  and the balance.  Memory stays flat however many claims a transaction has.
* :func:`parse_835` yields one whole :class:`~schemas.remittance.Remittance`
  per transaction set (the claims of one transaction are held together).
* :func:`parse_835_file` does the same for a path.

What is read: BPR (amount, credit/debit flag, method, effective date), TRN
(trace number, payer id), N1*PR (payer), N1*PE with REF*TJ (payee), each CLP
with its claim-level CAS, each SVC with its DTM*472 (or DTM*150), CAS, REF*6R
and LQ, and PLB.  Other segments (NM1, MIA, MOA, AMT, QTY, TS3, ...) are
skipped; patient names are never read.

Balancing (the equations of the implementation guide, reversals included):

* line: SVC02 charge - sum of the line's CAS amounts = SVC03 paid;
* claim: CLP03 charge - claim-level CAS - line-level CAS = CLP04 paid;
* transaction: BPR02 = sum of CLP04 - sum of PLB amounts.

A failing equation is a :class:`~schemas.remittance.BalanceError` and makes
``balance.ok`` false.  An invalid date (BPR16, PLB02, DTM*472/150) becomes
``None`` plus a balance error entry that names the element; it does not make
``ok`` false, since the money still adds up.

Errors: envelope problems raise :class:`~edi.segments.X12EnvelopeError` (see
:mod:`edi.envelope`), lexical ones :class:`~edi.segments.X12SyntaxError`, and
an 835 that cannot be read (a CLP before the BPR, an SVC outside a claim, an
amount that is not a number, another transaction set than 835)
:class:`X835Error`.  All are :class:`~edi.segments.X12Error` with the segment
ordinal and byte offset, and none quotes a data value.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal
from sys import intern
from typing import Final, TypeAlias

from edi.envelope import CONTROL_SEGMENTS, EnvelopeChecker
from edi.segments import EncodingErrors, Segment, Source, X12Error, read_segments
from schemas.remittance import (
    DATE_EXPECTED,
    Adjustment,
    Balance,
    BalanceError,
    BalanceLevel,
    ClaimPayment,
    Payee,
    Payer,
    Payment,
    ProviderAdjustment,
    Remark,
    Remittance,
    RemittanceHeader,
    RemittanceSummary,
    ServicePayment,
    money_text,
)

__all__ = [
    "RemittanceEvent",
    "X835Error",
    "check_balance",
    "claim_balance_errors",
    "iter_835_events",
    "parse_835",
    "parse_835_file",
    "transaction_balance_error",
]

RemittanceEvent: TypeAlias = RemittanceHeader | ClaimPayment | RemittanceSummary


class X835Error(X12Error):
    """An 835 that cannot be read: segments out of place, a bad amount, not an 835."""


_ZERO: Final = Decimal(0)
_ONE: Final = Decimal(1)
_DECIMAL: Final = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
#: CAS: group code then up to six (reason, amount, quantity) triples.
_CAS_TRIPLES: Final = tuple(range(2, 20, 3))
#: PLB: provider id, date, then up to six (reason:reference, amount) pairs.
_PLB_PAIRS: Final = tuple(range(3, 15, 2))


# --- values ------------------------------------------------------------------------


class _Values:
    """Parses amounts, quantities and dates, with small caches (values repeat a lot)."""

    def __init__(self) -> None:
        self.decimals: dict[str, Decimal] = {}
        self.dates: dict[str, dt.date | None] = {}

    def decimal(self, segment: Segment, n: int, name: str) -> Decimal:
        fields = segment.fields
        text = fields[n] if n < len(fields) else ""
        value = self.decimals.get(text)
        if value is not None:
            return value
        if not text:
            raise X835Error.at(segment, f"{name} is missing")
        if not _DECIMAL.fullmatch(text):
            raise X835Error.at(segment, f"{name} is not a decimal number")
        value = Decimal(text)
        if len(self.decimals) > 4096:
            self.decimals.clear()
        self.decimals[text] = value
        return value

    def optional_decimal(self, segment: Segment, n: int, name: str) -> Decimal | None:
        fields = segment.fields
        if n >= len(fields) or not fields[n]:
            return None
        return self.decimal(segment, n, name)

    def date(self, text: str) -> dt.date | None:
        """A CCYYMMDD date, or ``None`` when it is not one."""
        if text in self.dates:
            return self.dates[text]
        value = None
        if len(text) == 8 and text.isdigit():
            try:
                value = dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
            except ValueError:
                value = None
        if len(self.dates) > 4096:
            self.dates.clear()
        self.dates[text] = value
        return value


def _text(segment: Segment, n: int) -> str | None:
    """Element ``n`` or ``None`` when absent or empty."""
    fields = segment.fields
    return (fields[n] or None) if n < len(fields) else None


def _code(segment: Segment, n: int) -> str | None:
    """Element ``n`` as a shared (interned) string: codes repeat on every claim."""
    fields = segment.fields
    return (intern(fields[n]) or None) if n < len(fields) else None


def _format_error(level: BalanceLevel, reference: str, actual: str) -> BalanceError:
    return BalanceError(level=level, reference=reference, expected=DATE_EXPECTED, actual=actual)


# --- balancing ----------------------------------------------------------------------


def _adjustment_total(adjustments: Iterable[Adjustment | ProviderAdjustment]) -> Decimal:
    total = _ZERO
    for adjustment in adjustments:
        total += adjustment.amount
    return total


def claim_balance_errors(claim: ClaimPayment) -> list[BalanceError]:
    """The line and claim equations of one claim that do not hold."""
    errors = []
    line_adjustments = _ZERO
    pcn = claim.patient_control_number
    for number, service in enumerate(claim.services, start=1):
        adjusted = _adjustment_total(service.adjustments)
        line_adjustments += adjusted
        expected = service.charge - adjusted
        if expected != service.paid:
            errors.append(
                BalanceError(
                    level="line",
                    reference=f"{pcn}/line {number}",
                    expected=money_text(expected),
                    actual=money_text(service.paid),
                )
            )
    expected = claim.charge - _adjustment_total(claim.adjustments) - line_adjustments
    if expected != claim.paid:
        errors.append(
            BalanceError(
                level="claim",
                reference=pcn,
                expected=money_text(expected),
                actual=money_text(claim.paid),
            )
        )
    return errors


def transaction_balance_error(
    control_number: str,
    payment: Decimal,
    paid_total: Decimal,
    provider_adjustment_total: Decimal,
) -> BalanceError | None:
    """BPR02 = sum of CLP04 - sum of PLB amounts, or the error saying it is not."""
    expected = paid_total - provider_adjustment_total
    if expected == payment:
        return None
    return BalanceError(
        level="transaction",
        reference=control_number,
        expected=money_text(expected),
        actual=money_text(payment),
    )


def check_balance(remittance: Remittance) -> Balance:
    """Balance a whole remittance again (equations only; format problems are not re-found)."""
    errors: list[BalanceError] = []
    paid_total = _ZERO
    for claim in remittance.claims:
        errors.extend(claim_balance_errors(claim))
        paid_total += claim.paid
    plb_total = _ZERO
    for adjustment in remittance.provider_adjustments:
        plb_total += adjustment.amount
    error = transaction_balance_error(
        remittance.control_number, remittance.payment.amount, paid_total, plb_total
    )
    if error is not None:
        errors.append(error)
    return Balance(ok=not errors, errors=tuple(errors))


# --- the parser ---------------------------------------------------------------------


class _Service:
    """A service line (SVC) being read."""

    __slots__ = ("adjustments", "date_150", "date_472", "fields", "line_control", "remarks")

    def __init__(self, fields: dict[str, object]):
        self.fields = fields
        self.adjustments: list[Adjustment] = []
        self.remarks: list[Remark] = []
        self.date_472: str | None = None
        self.date_150: str | None = None
        self.line_control: str | None = None


class _Claim:
    """A claim (CLP) being read."""

    __slots__ = ("adjustments", "fields", "services")

    def __init__(self, fields: dict[str, object]):
        self.fields = fields
        self.adjustments: list[Adjustment] = []
        self.services: list[ServicePayment] = []


class _Transaction:
    """The transaction set (ST..SE) being read."""

    def __init__(self, st: Segment):
        self.st = st
        self.control_number = st.element(2)
        self.payment: dict[str, object] | None = None  # BPR: amount, flag, method, date
        self.trace_number: str | None = None
        self.payer_trace_id: str | None = None
        self.payer_name: str | None = None
        self.payer_id: str | None = None
        self.payee_name: str | None = None
        self.payee_npi: str | None = None
        self.payee_tax_id: str | None = None
        self.party: str | None = None  # N101 of the current 1000 loop
        self.header_sent = False
        self.in_summary = False  # after the first PLB
        self.claim_count = 0
        self.paid_total = _ZERO
        self.payment_amount = _ZERO
        self.provider_adjustments: list[ProviderAdjustment] = []
        self.errors: list[BalanceError] = []
        self.equations_ok = True


class _Parser:
    """The 835 state machine over one stream of segments."""

    def __init__(self) -> None:
        self.values = _Values()
        self.checker = EnvelopeChecker()
        self.tx: _Transaction | None = None
        self.claim: _Claim | None = None
        self.service: _Service | None = None
        self.pending: list[RemittanceEvent] = []
        self.handlers = {
            "BPR": self._bpr,
            "TRN": self._trn,
            "N1": self._n1,
            "REF": self._ref,
            "LX": self._lx,
            "CLP": self._clp,
            "CAS": self._cas,
            "SVC": self._svc,
            "DTM": self._dtm,
            "LQ": self._lq,
            "PLB": self._plb,
        }

    def run(self, segments: Iterable[Segment]) -> Iterator[RemittanceEvent]:
        handlers = self.handlers
        pending = self.pending
        checker = self.checker
        control = CONTROL_SEGMENTS
        for segment in segments:
            sid = segment.id
            if sid in control:
                checker.control(segment)
                if sid == "ST":
                    self._st(segment)
                elif sid == "SE":
                    self._se(segment)
            elif self.tx is None:
                checker.body(segment)
            else:
                handler = handlers.get(sid)
                if handler is not None:
                    handler(segment)
            if pending:
                yield from pending
                pending.clear()
        checker.finish()

    # --- envelope of the transaction

    def _st(self, segment: Segment) -> None:
        if segment.element(1) != "835":
            raise X835Error.at(segment, "ST01: this transaction set is not an 835")
        self.tx = _Transaction(segment)

    def _se(self, segment: Segment) -> None:
        tx = self._transaction(segment)
        self._end_claim()
        self._send_header(segment)
        error = transaction_balance_error(
            tx.control_number,
            tx.payment_amount,
            tx.paid_total,
            _adjustment_total(tx.provider_adjustments),
        )
        if error is not None:
            tx.errors.append(error)
            tx.equations_ok = False
        self.pending.append(
            RemittanceSummary(
                control_number=tx.control_number,
                claim_count=tx.claim_count,
                paid_total=tx.paid_total,
                provider_adjustments=tuple(tx.provider_adjustments),
                balance=Balance(ok=tx.equations_ok, errors=tuple(tx.errors)),
            )
        )
        self.tx = None

    def _transaction(self, segment: Segment) -> _Transaction:
        if self.tx is None:  # pragma: no cover - the envelope checker prevents it
            raise X835Error.at(segment, f"{segment.id} outside a transaction set")
        return self.tx

    def _send_header(self, segment: Segment) -> None:
        tx = self._transaction(segment)
        if tx.header_sent:
            return
        if tx.payment is None:
            raise X835Error.at(segment, f"{segment.id} before the BPR (financial information)")
        tx.header_sent = True
        self.pending.append(
            RemittanceHeader(
                control_number=tx.control_number,
                payer=Payer(name=tx.payer_name, id=tx.payer_id or tx.payer_trace_id),
                payee=Payee(name=tx.payee_name, npi=tx.payee_npi, tax_id=tx.payee_tax_id),
                payment=Payment(
                    **tx.payment,  # type: ignore[arg-type]
                    trace_number=tx.trace_number,
                    payer_trace_id=tx.payer_trace_id,
                ),
            )
        )

    # --- header (table 1)

    def _bpr(self, segment: Segment) -> None:
        tx = self._transaction(segment)
        if tx.payment is not None or tx.header_sent:
            raise X835Error.at(segment, "a second BPR in the transaction set")
        raw_date = segment.element(16)
        paid_on = self.values.date(raw_date) if raw_date else None
        if paid_on is None:  # BPR16 is required: missing is as wrong as invalid
            tx.errors.append(_format_error("transaction", "BPR16", raw_date))
        tx.payment_amount = self.values.decimal(segment, 2, "BPR02")
        tx.payment = {
            "amount": tx.payment_amount,
            "credit_debit": _text(segment, 3),
            "method": _text(segment, 4),
            "date": paid_on,
        }

    def _trn(self, segment: Segment) -> None:
        tx = self._transaction(segment)
        if tx.trace_number is None and not tx.header_sent:
            tx.trace_number = _text(segment, 2)
            tx.payer_trace_id = _text(segment, 3)

    def _n1(self, segment: Segment) -> None:
        tx = self._transaction(segment)
        if tx.header_sent:
            return  # no N1 after the header in 5010; ignore rather than guess
        party = segment.element(1)
        tx.party = party
        if party == "PR":
            tx.payer_name = _text(segment, 2)
            tx.payer_id = _text(segment, 4)
        elif party == "PE":
            tx.payee_name = _text(segment, 2)
            qualifier, identifier = segment.element(3), _text(segment, 4)
            if qualifier == "XX":
                tx.payee_npi = identifier
            elif qualifier == "FI":
                tx.payee_tax_id = identifier

    def _ref(self, segment: Segment) -> None:
        qualifier = segment.element(1)
        if self.service is not None:
            if qualifier == "6R":
                self.service.line_control = _text(segment, 2)
            return
        tx = self._transaction(segment)
        if not tx.header_sent and tx.party == "PE" and qualifier == "TJ":
            tx.payee_tax_id = tx.payee_tax_id or _text(segment, 2)

    # --- detail (table 2)

    def _lx(self, segment: Segment) -> None:
        self._in_detail(segment)
        self._end_claim()

    def _in_detail(self, segment: Segment) -> _Transaction:
        tx = self._transaction(segment)
        if tx.in_summary:
            raise X835Error.at(segment, f"{segment.id} after the PLB (provider adjustments)")
        self._send_header(segment)
        return tx

    def _clp(self, segment: Segment) -> None:
        self._in_detail(segment)
        self._end_claim()
        values = self.values
        pcn = _text(segment, 1)
        if pcn is None:
            raise X835Error.at(segment, "CLP01 (patient control number) is missing")
        status = _code(segment, 2)
        if status is None:
            raise X835Error.at(segment, "CLP02 (claim status) is missing")
        self.claim = _Claim(
            {
                "patient_control_number": pcn,
                "status_code": status,
                "charge": values.decimal(segment, 3, "CLP03"),
                "paid": values.decimal(segment, 4, "CLP04"),
                "patient_responsibility": values.optional_decimal(segment, 5, "CLP05"),
                "filing_indicator": _code(segment, 6),
                "payer_claim_control_number": _text(segment, 7),
            }
        )

    def _cas(self, segment: Segment) -> None:
        owner = self.service or self.claim
        if owner is None:
            raise X835Error.at(segment, "CAS outside a claim")
        group = _code(segment, 1)
        if group is None:
            raise X835Error.at(segment, "CAS01 (group code) is missing")
        fields = segment.fields
        size = len(fields)
        values = self.values
        for n in _CAS_TRIPLES:
            if n >= size:
                break
            reason = fields[n]
            if not reason:
                if any(fields[n : n + 3]):
                    raise X835Error.at(segment, f"CAS{n:02d} (reason code) is missing")
                continue
            owner.adjustments.append(
                Adjustment(
                    group=group,
                    reason=intern(reason),
                    amount=values.decimal(segment, n + 1, f"CAS{n + 1:02d}"),
                    quantity=values.optional_decimal(segment, n + 2, f"CAS{n + 2:02d}"),
                )
            )

    def _svc(self, segment: Segment) -> None:
        claim = self.claim
        if claim is None:
            raise X835Error.at(segment, "SVC outside a claim")
        self._end_service()
        values = self.values
        component = segment.delimiters.component
        procedure = segment.element(1).split(component)
        original = segment.element(6).split(component)
        units = values.optional_decimal(segment, 5, "SVC05")
        self.service = _Service(
            {
                "procedure": (intern(procedure[1]) or None) if len(procedure) > 1 else None,
                "modifiers": tuple(intern(m) for m in procedure[2:6] if m),
                "charge": values.decimal(segment, 2, "SVC02"),
                "paid": values.decimal(segment, 3, "SVC03"),
                "units": _ONE if units is None else units,
                "original_procedure": (original[1] or None) if len(original) > 1 else None,
                "original_units": values.optional_decimal(segment, 7, "SVC07"),
            }
        )

    def _dtm(self, segment: Segment) -> None:
        service = self.service
        if service is None:
            return
        qualifier = segment.element(1)
        if qualifier == "472":
            service.date_472 = segment.element(2)
        elif qualifier == "150":
            service.date_150 = segment.element(2)

    def _lq(self, segment: Segment) -> None:
        service = self.service
        if service is None:
            raise X835Error.at(segment, "LQ outside a service line")
        qualifier, code = _code(segment, 1), _code(segment, 2)
        if qualifier is None or code is None:
            raise X835Error.at(segment, "LQ01 and LQ02 are required")
        service.remarks.append(Remark(qualifier=qualifier, code=code))

    # --- summary (table 3)

    def _plb(self, segment: Segment) -> None:
        tx = self._transaction(segment)
        self._send_header(segment)
        self._end_claim()
        tx.in_summary = True
        provider = _text(segment, 1)
        if provider is None:
            raise X835Error.at(segment, "PLB01 (provider identifier) is missing")
        raw_date = segment.element(2)
        fiscal_date = self.values.date(raw_date) if raw_date else None
        if fiscal_date is None:
            tx.errors.append(_format_error("transaction", "PLB02", raw_date))
        fields = segment.fields
        component = segment.delimiters.component
        for n in _PLB_PAIRS:
            if n >= len(fields):
                break
            if not fields[n]:
                if n + 1 < len(fields) and fields[n + 1]:
                    raise X835Error.at(segment, f"PLB{n:02d} (adjustment reason) is missing")
                continue
            reason, _, reference = fields[n].partition(component)
            tx.provider_adjustments.append(
                ProviderAdjustment(
                    provider_id=provider,
                    date=fiscal_date,
                    reason=intern(reason),
                    reference=reference or None,
                    amount=self.values.decimal(segment, n + 1, f"PLB{n + 1:02d}"),
                )
            )

    # --- closing loops

    def _end_service(self) -> None:
        service = self.service
        claim = self.claim
        if service is None or claim is None:
            return
        self.service = None
        fields = service.fields
        raw_date = service.date_472 or service.date_150
        if raw_date:
            served = self.values.date(raw_date)
            if served is None:
                tx = self.tx
                assert tx is not None
                reference = f"{claim.fields['patient_control_number']}/line "
                reference += f"{len(claim.services) + 1}/DTM02"
                tx.errors.append(_format_error("line", reference, raw_date))
            fields["service_date"] = served
        if service.line_control is not None:
            fields["line_control_number"] = service.line_control
        if service.adjustments:
            fields["adjustments"] = tuple(service.adjustments)
        if service.remarks:
            fields["remarks"] = tuple(service.remarks)
        claim.services.append(ServicePayment(**fields))  # type: ignore[arg-type]

    def _end_claim(self) -> None:
        self._end_service()
        claim = self.claim
        if claim is None:
            return
        self.claim = None
        tx = self.tx
        assert tx is not None
        fields = claim.fields
        if claim.adjustments:
            fields["adjustments"] = tuple(claim.adjustments)
        if claim.services:
            fields["services"] = tuple(claim.services)
        payment = ClaimPayment(**fields)  # type: ignore[arg-type]
        errors = claim_balance_errors(payment)
        if errors:
            tx.errors.extend(errors)
            tx.equations_ok = False
        tx.claim_count += 1
        tx.paid_total += payment.paid
        self.pending.append(payment)


# --- entry points -------------------------------------------------------------------


def iter_835_events(
    source: Source, *, encoding_errors: EncodingErrors = "replace"
) -> Iterator[RemittanceEvent]:
    """Per transaction set: its header, each claim in file order, then its summary."""
    segments = read_segments(source, encoding_errors=encoding_errors)
    return _Parser().run(segments)


def parse_835(
    source: Source, *, encoding_errors: EncodingErrors = "replace"
) -> Iterator[Remittance]:
    """One :class:`Remittance` per 835 transaction set, in file order."""
    header: RemittanceHeader | None = None
    claims: list[ClaimPayment] = []
    for event in iter_835_events(source, encoding_errors=encoding_errors):
        if isinstance(event, RemittanceHeader):
            header, claims = event, []
        elif isinstance(event, ClaimPayment):
            claims.append(event)
        else:
            assert header is not None
            yield Remittance(
                control_number=header.control_number,
                payer=header.payer,
                payee=header.payee,
                payment=header.payment,
                claims=tuple(claims),
                provider_adjustments=event.provider_adjustments,
                balance=event.balance,
            )
            header, claims = None, []


def parse_835_file(
    path: str | os.PathLike[str], *, encoding_errors: EncodingErrors = "replace"
) -> Iterator[Remittance]:
    """:func:`parse_835` over a file, read in chunks (``OSError`` when it cannot be read)."""
    with open(path, "rb") as stream:
        yield from parse_835(stream, encoding_errors=encoding_errors)
