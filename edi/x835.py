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

Writing: :func:`render_835` (one transaction set) and
:func:`render_835_interchange` (several) write a remittance, plus the
:class:`~schemas.adjudication.RemittanceDetails` the canonical model does not
hold (payer address and technical contact, names, allowed amounts, ...), as a
005010X221A1 interchange that ``parse_835`` reads back to the same remittance.
They raise :class:`X835RenderError` naming the transaction, the claim's
position and the element, never a value.

Errors: envelope problems raise :class:`~edi.segments.X12EnvelopeError` (see
:mod:`edi.envelope`), lexical ones :class:`~edi.segments.X12SyntaxError`, and
an 835 that cannot be read (a CLP before the BPR, an SVC outside a claim, an
amount that is not a number, another transaction set than 835)
:class:`X835Error`.  All are :class:`~edi.segments.X12Error` with the segment
ordinal and byte offset, and none quotes a data value.  Given a ``warnings``
list, the readers forgive the envelope faults of :mod:`edi.tolerance` (an ISA
not padded, wrong trailer counts and control numbers, a garbled segment id
outside the claims) and note them there.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from sys import intern
from typing import Final, Literal, TypeAlias

from edi.elements import read_amount
from edi.envelope import CONTROL_SEGMENTS, EnvelopeChecker
from edi.envelope_writer import EnvelopeWriter
from edi.segments import (
    DEFAULT_DELIMITERS,
    Delimiters,
    Element,
    EncodingErrors,
    Segment,
    Source,
    X12Error,
    X12RenderError,
    is_garbled,
    read_segments,
)
from edi.tolerance import Warnings
from schemas.adjudication import (
    ClaimDetails,
    NameDetails,
    PayerContact,
    PostalAddress,
    RemittanceAdvice,
    RemittanceDetails,
    ServiceDetails,
)
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
    quantity_text,
)

__all__ = [
    "MAX_ADJUSTMENTS_PER_CLAIM",
    "MAX_BALANCE_ERRORS_LISTED",
    "MAX_CAS_TRIPLES",
    "MAX_PLB_ADJUSTMENTS",
    "MAX_PROVIDER_ADJUSTMENTS_PER_TRANSACTION",
    "MAX_SERVICES_PER_CLAIM",
    "REMITTANCE_GUIDE",
    "RemittanceEvent",
    "X835Error",
    "X835RenderError",
    "check_balance",
    "claim_balance_errors",
    "iter_835_events",
    "parse_835",
    "parse_835_file",
    "render_835",
    "render_835_interchange",
    "transaction_balance_error",
]

RemittanceEvent: TypeAlias = RemittanceHeader | ClaimPayment | RemittanceSummary


class X835Error(X12Error):
    """An 835 that cannot be read: segments out of place, a bad amount, not an 835."""


_ZERO: Final = Decimal(0)
_ONE: Final = Decimal(1)

# Per-transaction limits: a claim is held whole until its next CLP, and a
# transaction's provider adjustments and balance errors until its SE, so each is
# bounded; whatever the size of the file, the reader's memory is not.

#: Service lines (SVC, loop 2110) of one claim: the guide's repeat count for 2110.
MAX_SERVICES_PER_CLAIM: Final = 999
#: Adjustments (CAS triples) and remark codes (MOA, LQ) of one claim, its lines included.
MAX_ADJUSTMENTS_PER_CLAIM: Final = 10_000
#: Provider adjustments (PLB pairs) of one transaction set.
MAX_PROVIDER_ADJUSTMENTS_PER_TRANSACTION: Final = 10_000
#: Balance errors listed per transaction set, failing equations and format problems
#: each: beyond that they are counted in ``balance.ok`` but not listed.
MAX_BALANCE_ERRORS_LISTED: Final = 1_000
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
        value = read_amount(segment, n, name, X835Error)
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
        if len(text) == 8 and text.isascii() and text.isdigit():
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

    __slots__ = ("adjustments", "crossover_carrier", "fields", "items", "remarks", "services")

    def __init__(self, fields: dict[str, object]):
        self.fields = fields
        self.adjustments: list[Adjustment] = []
        self.services: list[ServicePayment] = []
        self.remarks: list[Remark] = []
        self.crossover_carrier: str | None = None
        self.items = 0  # adjustments and remark codes, its lines' included

    def add_items(self, segment: Segment, count: int) -> None:
        """Count ``count`` more adjustments or remark codes; refuse the claim beyond the limit."""
        self.items += count
        if self.items > MAX_ADJUSTMENTS_PER_CLAIM:
            raise X835Error.at(
                segment,
                f"a claim with more than {MAX_ADJUSTMENTS_PER_CLAIM:,} adjustments and "
                "remark codes",
            )


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
        self.listed = {True: 0, False: 0}  # errors listed: equations, format problems
        self.equations_ok = True

    def note(self, errors: Iterable[BalanceError]) -> None:
        """Record balance errors, listing at most MAX_BALANCE_ERRORS_LISTED of each kind."""
        for error in errors:
            equation = error.is_equation
            if equation:
                self.equations_ok = False
            if self.listed[equation] < MAX_BALANCE_ERRORS_LISTED:
                self.listed[equation] += 1
                self.errors.append(error)


class _Parser:
    """The 835 state machine over one stream of segments."""

    def __init__(self, warnings: Warnings | None = None) -> None:
        self.values = _Values()
        self.warnings = warnings
        self.checker = EnvelopeChecker(warnings)
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
            "MOA": self._moa,
            "NM1": self._nm1,
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
                elif self.warnings is not None and is_garbled(segment):
                    self._garbled(segment)
            if pending:
                yield from pending
                pending.clear()
        checker.finish()

    def _garbled(self, segment: Segment) -> None:
        """A garbled segment id: forgiven outside a claim, refused inside one."""
        if self.claim is not None:
            raise X835Error.at(
                segment, "invalid segment id inside a claim's data (the claim cannot be read)"
            )
        assert self.warnings is not None
        self.warnings.add(
            "garbled-segment-id", segment=segment.ordinal, offset=segment.offset, segment_id="?"
        )

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
            tx.note((error,))
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
                    **tx.payment,  # type: ignore[arg-type]  # pydantic validates the dict's values at run time
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
            tx.note((_format_error("transaction", "BPR16", raw_date),))
        tx.payment_amount = self.values.decimal(segment, 2, "BPR02")
        tx.payment = {
            "amount": tx.payment_amount,
            "credit_debit": _text(segment, 3),
            "method": _text(segment, 4),
            "date": paid_on,
            "handling": _text(segment, 1),
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

    def _moa(self, segment: Segment) -> None:
        """MOA03-MOA07: the claim's remark codes (the rest of MOA is Medicare's)."""
        claim = self.claim
        if claim is None:
            raise X835Error.at(segment, "MOA outside a claim")
        codes = [code for code in (_code(segment, n) for n in range(3, 8)) if code is not None]
        claim.add_items(segment, len(codes))
        claim.remarks.extend(Remark(qualifier="HE", code=code) for code in codes)

    def _nm1(self, segment: Segment) -> None:
        """In a claim, NM1*TT names the payer the claim was crossed over to; patients'
        and insureds' names (QC, IL) are not kept."""
        claim = self.claim
        if claim is not None and segment.element(1) == "TT" and self.service is None:
            claim.crossover_carrier = _text(segment, 3) or "(unnamed)"

    def _cas(self, segment: Segment) -> None:
        owner = self.service or self.claim
        if owner is None or self.claim is None:
            raise X835Error.at(segment, "CAS outside a claim")
        self.claim.add_items(segment, len(segment.fields) // 3)
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
        if len(claim.services) >= MAX_SERVICES_PER_CLAIM:
            raise X835Error.at(
                segment, f"a claim with more than {MAX_SERVICES_PER_CLAIM} service lines"
            )
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
        assert self.claim is not None  # a service line is inside a claim
        self.claim.add_items(segment, 1)
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
            tx.note((_format_error("transaction", "PLB02", raw_date),))
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
            if len(tx.provider_adjustments) >= MAX_PROVIDER_ADJUSTMENTS_PER_TRANSACTION:
                raise X835Error.at(
                    segment,
                    "a transaction set with more than "
                    f"{MAX_PROVIDER_ADJUSTMENTS_PER_TRANSACTION:,} provider adjustments (PLB)",
                )
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
                tx.note((_format_error("line", reference, raw_date),))
            fields["service_date"] = served
        if service.line_control is not None:
            fields["line_control_number"] = service.line_control
        if service.adjustments:
            fields["adjustments"] = tuple(service.adjustments)
        if service.remarks:
            fields["remarks"] = tuple(service.remarks)
        claim.services.append(ServicePayment(**fields))  # type: ignore[arg-type]  # pydantic validates the dict's values at run time

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
        if claim.remarks:
            fields["remarks"] = tuple(claim.remarks)
        if claim.crossover_carrier is not None:
            fields["crossover_carrier"] = claim.crossover_carrier
        payment = ClaimPayment(**fields)  # type: ignore[arg-type]  # pydantic validates the dict's values at run time
        tx.note(claim_balance_errors(payment))
        tx.claim_count += 1
        tx.paid_total += payment.paid
        self.pending.append(payment)


# --- entry points -------------------------------------------------------------------


def iter_835_events(
    source: Source,
    *,
    encoding_errors: EncodingErrors = "replace",
    warnings: Warnings | None = None,
) -> Iterator[RemittanceEvent]:
    """Per transaction set: its header, each claim in file order, then its summary.

    With a ``warnings`` list the read follows the tolerance policy of
    :mod:`edi.tolerance`: envelope faults that leave the money intact are noted
    there instead of raising.  Whether such a file may be posted is the
    caller's decision (every transaction must balance).
    """
    segments = read_segments(source, encoding_errors=encoding_errors, warnings=warnings)
    return _Parser(warnings).run(segments)


def parse_835(
    source: Source,
    *,
    encoding_errors: EncodingErrors = "replace",
    warnings: Warnings | None = None,
) -> Iterator[Remittance]:
    """One :class:`Remittance` per 835 transaction set, in file order (``warnings``:
    as for :func:`iter_835_events`)."""
    header: RemittanceHeader | None = None
    claims: list[ClaimPayment] = []
    for event in iter_835_events(source, encoding_errors=encoding_errors, warnings=warnings):
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


# --- writing -----------------------------------------------------------------------
#
# :func:`render_835` is the other direction: a canonical remittance (plus the
# details it does not hold) as 835 text that ``parse_835`` reads back to the
# same remittance.

#: GS08 of every 835 written here (ST03 is not used in the 835).
REMITTANCE_GUIDE: Final = "005010X221A1"
#: Adjustment triples per CAS segment, and adjustments per PLB segment.
MAX_CAS_TRIPLES: Final = 6
MAX_PLB_ADJUSTMENTS: Final = 6

#: (min, max) lengths of the free-text elements written, where the models allow more.
_LENGTHS_835: Final[dict[str, tuple[int, int]]] = {
    "ST02": (4, 9),
    "TRN02": (1, 50),
    "TRN03": (10, 10),
    "BPR10": (10, 10),
    "N102": (1, 60),
    "N104": (2, 80),
    "CLP01": (1, 38),
    "CLP07": (1, 50),
    "CLP08": (1, 2),
    "CLP09": (1, 1),
    "NM103": (1, 60),
    "NM104": (1, 35),
    "NM105": (1, 25),
    "NM109": (2, 80),
    "SVC01-2": (1, 48),
    "SVC06-2": (1, 48),
    "REF02": (1, 50),
    "LQ02": (1, 30),
    "MOA03": (1, 50),
    "PLB01": (1, 50),
    "PLB03-2": (1, 50),
}


class X835RenderError(X12RenderError):
    """A remittance that cannot be written as a valid 835.

    The message names the transaction (ST02), the claim by its position and
    the element, never a value.
    """


def _d8(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


class _Writer835:
    """Checks lengths, says where an error happened and writes through ``envelope``."""

    __slots__ = ("envelope", "where")

    def __init__(self, envelope: EnvelopeWriter) -> None:
        self.envelope = envelope
        self.where = "envelope"

    def error(self, reason: str) -> X835RenderError:
        return X835RenderError(f"{self.where}: {reason}")

    def segment(self, segment_id: str, *elements: Element) -> None:
        for index, value in enumerate(elements, start=1):
            if isinstance(value, str):
                self._check_length(f"{segment_id}{index:02d}", value)
            elif value is not None:
                for n, part in enumerate(value, start=1):
                    if part:
                        self._check_length(f"{segment_id}{index:02d}-{n}", part)
        try:
            self.envelope.segment(segment_id, *elements)
        except X12RenderError as exc:
            raise self.error(exc.reason) from None

    def open_transaction(self, control: str) -> None:
        """``ST*835`` (no ST03 in the 835), ST02 checked for length like any element."""
        self._check_length("ST02", control)
        try:
            self.envelope.open_transaction("835", control)
        except X12RenderError as exc:
            raise self.error(exc.reason) from None

    def _check_length(self, ref: str, value: str) -> None:
        limits = _LENGTHS_835.get(ref)
        if limits is not None and not limits[0] <= len(value) <= limits[1]:
            raise self.error(f"{ref} must be {limits[0]} to {limits[1]} characters long")

    def required(self, value: str | None, ref: str) -> str:
        if not value:
            raise self.error(f"{ref} is required")
        return value


def _payment_method_elements(
    payment: Payment, details: RemittanceDetails, writer: _Writer835
) -> list[Element]:
    """BPR05..BPR15: the bank details of an ACH payment (required then), else nothing."""
    bank = details.bank
    if payment.method != "ACH":
        return [None] * 11
    if bank is None:
        raise writer.error("BPR05-BPR15: an ACH payment needs the bank details (details.bank)")
    payer_id = writer.required(payment.payer_trace_id, "TRN03 (for BPR10)")
    return [
        "CCP", "01", bank.payer_routing_number, "DA", bank.payer_account_number,
        payer_id, None, "01", bank.payee_routing_number, "DA", bank.payee_account_number,
    ]  # fmt: skip


def _financial_information(
    writer: _Writer835, remittance: Remittance, details: RemittanceDetails
) -> None:
    """BPR, TRN and DTM*405."""
    payment = remittance.payment
    writer.where = f"transaction {remittance.control_number}, header"
    method = writer.required(payment.method, "BPR04 (payment method)")
    flag = writer.required(payment.credit_debit, "BPR03 (credit/debit flag)")
    if payment.date is None:
        raise writer.error("BPR16 (payment effective date) is required")
    handling = payment.handling or ("H" if method == "NON" else "I")
    writer.segment(
        "BPR",
        handling,
        money_text(payment.amount),
        flag,
        method,
        *_payment_method_elements(payment, details, writer),
        _d8(payment.date),
    )
    trace = writer.required(payment.trace_number, "TRN02 (trace number)")
    payer_trace = writer.required(payment.payer_trace_id, "TRN03 (payer identifier)")
    writer.segment("TRN", "1", trace, payer_trace)
    if details.production_date is not None:
        writer.segment("DTM", "405", _d8(details.production_date))


def _address_835(writer: _Writer835, address: PostalAddress) -> None:
    writer.segment("N3", address.line1, address.line2)
    writer.segment("N4", address.city, address.state, address.postal_code)


def _contact_elements(contact: PayerContact) -> list[Element]:
    elements: list[Element] = []
    for qualifier, value in (("TE", contact.phone), ("EM", contact.email), ("UR", contact.url)):
        if value is not None:
            elements += [qualifier, value]
    return elements


def _parties(writer: _Writer835, remittance: Remittance, details: RemittanceDetails) -> None:
    """1000A payer (N1, N3, N4, PER*BL) and 1000B payee (N1, N3, N4, REF*TJ)."""
    payer, payee = remittance.payer, remittance.payee
    writer.where = f"transaction {remittance.control_number}, loop 1000A"
    name = writer.required(payer.name, "N102 (payer name)")
    writer.segment("N1", "PR", name, *(("XV", payer.id) if payer.id else ()))
    if details.payer_address is None:
        raise writer.error("N3/N4 (payer address) are required")
    _address_835(writer, details.payer_address)
    contact = details.payer_contact
    writer.segment("PER", "BL", contact.name, *_contact_elements(contact))
    writer.where = f"transaction {remittance.control_number}, loop 1000B"
    payee_name = writer.required(payee.name, "N102 (payee name)")
    if payee.npi:
        writer.segment("N1", "PE", payee_name, "XX", payee.npi)
    elif payee.tax_id:
        writer.segment("N1", "PE", payee_name, "FI", payee.tax_id)
    else:
        raise writer.error("N103/N104: the payee needs an NPI or a tax id")
    if details.payee_address is not None:
        _address_835(writer, details.payee_address)
    if payee.npi and payee.tax_id:
        writer.segment("REF", "TJ", payee.tax_id)


def _grouped(adjustments: Sequence[Adjustment]) -> list[tuple[str, list[Adjustment]]]:
    """Adjustments by group code, groups in order of first appearance."""
    groups: dict[str, list[Adjustment]] = {}
    for adjustment in adjustments:
        groups.setdefault(adjustment.group, []).append(adjustment)
    return list(groups.items())


def _cas(writer: _Writer835, adjustments: Sequence[Adjustment]) -> None:
    """One CAS per group code (more when a group has more than six adjustments)."""
    for group, members in _grouped(adjustments):
        for start in range(0, len(members), MAX_CAS_TRIPLES):
            triples: list[Element] = []
            for adjustment in members[start : start + MAX_CAS_TRIPLES]:
                quantity = adjustment.quantity
                triples += [
                    adjustment.reason,
                    money_text(adjustment.amount),
                    None if quantity is None else quantity_text(quantity),
                ]
            writer.segment("CAS", group, *triples)


def _nm1_835(writer: _Writer835, entity: str, name: NameDetails, entity_type: str) -> None:
    elements: list[Element] = [entity, entity_type, name.last_name]
    if entity_type == "1":
        elements += [name.first_name, name.middle_name]
    else:
        elements += [None, None]
    if name.identifier is not None:
        elements += [None, None, name.id_qualifier or "MI", name.identifier]
    writer.segment("NM1", *elements)


def _claim_parties(writer: _Writer835, details: ClaimDetails | None) -> None:
    """NM1*QC (required, written without a name when none is known) and NM1*IL."""
    patient = details.patient if details is not None else None
    if patient is None:
        writer.segment("NM1", "QC", "1")
    else:
        _nm1_835(writer, "QC", patient, "1")
    insured = details.insured if details is not None else None
    if insured is not None:
        if insured.identifier is None:
            raise writer.error("NM109 (insured identifier) is required in NM1*IL")
        _nm1_835(writer, "IL", insured, insured.entity_type)


def _claim_dates(writer: _Writer835, details: ClaimDetails, claim: ClaimPayment) -> None:
    remarks = details.claim_remarks or tuple(r.code for r in claim.remarks)
    if remarks:
        writer.segment("MOA", None, None, *remarks[:5])
    if details.statement_from is not None:
        writer.segment("DTM", "232", _d8(details.statement_from))
    if details.statement_to is not None:
        writer.segment("DTM", "233", _d8(details.statement_to))
    if details.received is not None:
        writer.segment("DTM", "050", _d8(details.received))


def _service(writer: _Writer835, service: ServicePayment, extra: ServiceDetails | None) -> None:
    """One 2110 loop: SVC, DTM, CAS, REF*6R, AMT*B6, LQ."""
    procedure = writer.required(service.procedure, "SVC01-2 (procedure code)")
    original: Element = None
    if service.original_procedure is not None:
        original = ("HC", service.original_procedure)
    units = None if service.units == 1 else quantity_text(service.units)
    original_units = service.original_units
    writer.segment(
        "SVC",
        ("HC", procedure, *service.modifiers),
        money_text(service.charge),
        money_text(service.paid),
        None,
        units,
        original,
        None if original_units is None else quantity_text(original_units),
    )
    end = extra.service_date_end if extra is not None else None
    if service.service_date is not None:
        if end is not None and end != service.service_date:
            writer.segment("DTM", "150", _d8(service.service_date))
            writer.segment("DTM", "151", _d8(end))
        else:
            writer.segment("DTM", "472", _d8(service.service_date))
    _cas(writer, service.adjustments)
    if service.line_control_number is not None:
        writer.segment("REF", "6R", service.line_control_number)
    if extra is not None and extra.allowed is not None:
        writer.segment("AMT", "B6", money_text(extra.allowed))
    for remark in service.remarks:
        writer.segment("LQ", remark.qualifier, remark.code)


def _claim_payment(
    writer: _Writer835, claim: ClaimPayment, details: ClaimDetails | None, where: str
) -> None:
    """One 2100 loop and its 2110 loops."""
    writer.where = where
    responsibility = claim.patient_responsibility
    writer.segment(
        "CLP",
        claim.patient_control_number,
        claim.status_code,
        money_text(claim.charge),
        money_text(claim.paid),
        None if responsibility is None else money_text(responsibility),
        writer.required(claim.filing_indicator, "CLP06 (claim filing indicator)"),
        writer.required(claim.payer_claim_control_number, "CLP07 (payer claim control number)"),
        details.facility_code if details is not None else None,
        details.frequency if details is not None else None,
    )
    _cas(writer, claim.adjustments)
    _claim_parties(writer, details)
    if claim.crossover_carrier is not None:
        writer.segment("NM1", "TT", "2", claim.crossover_carrier)
    if details is not None:
        _claim_dates(writer, details, claim)
    elif claim.remarks:
        writer.segment("MOA", None, None, *(r.code for r in claim.remarks[:5]))
    services = details.services if details is not None else ()
    if services and len(services) != len(claim.services):
        raise writer.error("details: one ServiceDetails per service line, or none")
    for number, service in enumerate(claim.services):
        writer.where = f"{where}, service line {number + 1}"
        _service(writer, service, services[number] if services else None)


def _provider_adjustments(writer: _Writer835, remittance: Remittance) -> None:
    """PLB segments: consecutive adjustments of one provider and date share a segment."""
    writer.where = f"transaction {remittance.control_number}, provider adjustments"
    rows: list[list[ProviderAdjustment]] = []
    for adjustment in remittance.provider_adjustments:
        if adjustment.date is None:
            raise writer.error("PLB02 (fiscal period date) is required")
        last = rows[-1] if rows else None
        if (
            last is not None
            and len(last) < MAX_PLB_ADJUSTMENTS
            and (last[0].provider_id, last[0].date) == (adjustment.provider_id, adjustment.date)
        ):
            last.append(adjustment)
        else:
            rows.append([adjustment])
    for row in rows:
        first_date = row[0].date
        assert first_date is not None
        pairs: list[Element] = []
        for adjustment in row:
            pairs += [(adjustment.reason, adjustment.reference), money_text(adjustment.amount)]
        writer.segment("PLB", row[0].provider_id, _d8(first_date), *pairs)


def _transaction(writer: _Writer835, advice: RemittanceAdvice) -> None:
    """ST..SE of one remittance."""
    remittance, details = advice.remittance, advice.details
    control = remittance.control_number
    writer.where = f"transaction {control}"
    if details.claims and len(details.claims) != len(remittance.claims):
        raise writer.error("details: one ClaimDetails per claim, or none")
    writer.open_transaction(control)
    _financial_information(writer, remittance, details)
    _parties(writer, remittance, details)
    if remittance.claims:
        writer.where = f"transaction {control}, loop 2000"
        writer.segment("LX", "1")
    for number, claim in enumerate(remittance.claims):
        extra = details.claims[number] if details.claims else None
        _claim_payment(writer, claim, extra, f"transaction {control}, claim {number + 1}")
    _provider_adjustments(writer, remittance)
    writer.envelope.close_transaction()


def render_835(
    remittance: Remittance,
    *,
    sender_id: str,
    receiver_id: str,
    control_number: int,
    created_at: dt.datetime,
    details: RemittanceDetails | None = None,
    sender_qualifier: str = "ZZ",
    receiver_qualifier: str = "ZZ",
    gs_sender_code: str | None = None,
    gs_receiver_code: str | None = None,
    usage: Literal["P", "T"] = "P",
    delimiters: Delimiters = DEFAULT_DELIMITERS,
    line_break: bool = True,
) -> str:
    """One 835 interchange holding one transaction set: ``remittance`` (ST02 its control number).

    ``details`` adds what the canonical model does not hold (payer address and
    contact, names, allowed amounts, ...; see
    :class:`~schemas.adjudication.RemittanceDetails`).  The other arguments are
    those of :func:`render_835_interchange`.
    """
    advice = RemittanceAdvice(remittance=remittance, details=details or RemittanceDetails())
    return render_835_interchange(
        [advice],
        sender_id=sender_id,
        receiver_id=receiver_id,
        control_number=control_number,
        created_at=created_at,
        sender_qualifier=sender_qualifier,
        receiver_qualifier=receiver_qualifier,
        gs_sender_code=gs_sender_code,
        gs_receiver_code=gs_receiver_code,
        usage=usage,
        delimiters=delimiters,
        line_break=line_break,
    )


def render_835_interchange(
    advices: Sequence[RemittanceAdvice],
    *,
    sender_id: str,
    receiver_id: str,
    control_number: int,
    created_at: dt.datetime,
    sender_qualifier: str = "ZZ",
    receiver_qualifier: str = "ZZ",
    gs_sender_code: str | None = None,
    gs_receiver_code: str | None = None,
    usage: Literal["P", "T"] = "P",
    delimiters: Delimiters = DEFAULT_DELIMITERS,
    line_break: bool = True,
) -> str:
    """One 835 interchange (``ISA``..``IEA``), one group (``GS*HP``), one ST per advice.

    ``control_number`` is ISA13 and GS06; ST02 is each remittance's
    ``control_number`` (4 to 9 characters, unique in the group).  GS02/GS03
    default to the ISA ids.  ``created_at`` (timezone-aware) gives ISA09/10 and
    GS04/05.  What is written (per transaction): ``BPR`` (``I``, or ``H`` with
    method ``NON``; bank details for ACH when ``details.bank`` is set), ``TRN*1``,
    ``DTM*405``, ``N1*PR`` (with ``XV`` and the payer id when known) ``N3``
    ``N4`` ``PER*BL``, ``N1*PE`` (``XX`` NPI, else ``FI`` tax id) ``N3`` ``N4``
    ``REF*TJ``, ``LX*1``, per claim ``CLP`` ``CAS`` ``NM1*QC`` ``NM1*IL`` ``MOA``
    ``DTM*232/233/050`` and per line ``SVC`` (``SVC05`` omitted for one unit)
    ``DTM*472`` (or ``150``/``151``) ``CAS`` ``REF*6R`` ``AMT*B6`` ``LQ``, then ``PLB``.
    Adjustments are written grouped by group code (one ``CAS`` per group, six
    triples each), so a model whose adjustments are grouped that way reads back
    identical; a payer without an id reads back with TRN03 as its id.  The
    payer's address (``details.payer_address``) is required: 1000A ``N3``/``N4``
    are required segments.  Raises :class:`X835RenderError` (an
    :class:`~edi.segments.X12RenderError`) naming the transaction, claim position
    and element when something required is missing, too long or holds a
    delimiter; no partial text is returned.
    """
    if created_at.tzinfo is None or created_at.utcoffset() is None:
        raise X835RenderError("created_at must be timezone-aware")
    if not advices:
        raise X835RenderError("an 835 interchange needs at least one transaction set")
    controls = [advice.remittance.control_number for advice in advices]
    if len(set(controls)) != len(controls):
        raise X835RenderError("ST02: each transaction set needs its own control number")
    envelope = EnvelopeWriter(delimiters, line_break=line_break)
    try:
        envelope.open_interchange(
            sender_id=sender_id,
            receiver_id=receiver_id,
            control_number=control_number,
            created_at=created_at,
            sender_qualifier=sender_qualifier,
            receiver_qualifier=receiver_qualifier,
            usage=usage,
        )
    except X12RenderError as exc:
        raise X835RenderError(exc.reason) from None
    writer = _Writer835(envelope)
    try:
        envelope.open_group(
            "HP",
            sender_code=gs_sender_code or sender_id,
            receiver_code=gs_receiver_code or receiver_id,
            control_number=control_number,
            guide=REMITTANCE_GUIDE,
        )
    except X12RenderError as exc:
        raise writer.error(exc.reason) from None
    for advice in advices:
        _transaction(writer, advice)
    envelope.close_group()
    envelope.close_interchange()
    return envelope.text()
