"""271 eligibility answers (005010X279A1), read as a stream.

:func:`iter_271_events` yields one :class:`~schemas.eligibility.EligibilityResponse`
per subscriber (2000C) or dependent (2000D) as its loop ends, and one for a
transaction set that answers nobody because the payer rejected the inquiry at
the payer or provider level (``AAA`` in 2100A/2100B).  What is read:

* 2100A ``NM1*PR`` (the payer's id), 2100B ``NM1*1P`` (the provider's NPI);
* per person: ``TRN*2`` (our trace echoed: the coverage and the date asked),
  ``NM1*IL`` member id (``MI``), ``DTP`` 291/346/347 (plan) and 356/357
  (eligibility) in 2100C/D, ``AAA`` (2100 or 2110), and each ``EB`` with the
  ``HSD`` that follow it; benefit-related entities (``LS``..``LE``, 2120) are
  skipped, and so are names, addresses and dates of birth.

From the ``EB``s: the status (``EB01`` 1..5 active, 6..8 inactive; those for
service type 30, or for none, decide, else any), the plan name (``EB05``),
copays (``B``, ``EB07``), co-insurance (``A``, ``EB08``), deductibles (``C``,
``EB07``; ``EB06`` 29 is what remains) and visit limits (``F`` with
``EB09``/``EB10`` or ``HSD``; quantity qualifier ``99`` is what was used).

Standards shared with the other readers: every error is an :class:`X271Error`
(or the envelope's and tokenizer's errors) with the segment ordinal and byte
offset and no data value; amounts and quantities go through
:mod:`edi.elements`; given a ``warnings`` list, envelope faults of
:mod:`edi.tolerance` are noted there instead of refused (without one, they are
refused).  Memory is bounded by one person's benefits
(:data:`MAX_BENEFITS_PER_PERSON`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Final, Literal

from edi.elements import read_amount
from edi.envelope import check_envelopes, check_envelopes_leniently
from edi.segments import EncodingErrors, Segment, Source, X12Error, read_segments
from edi.tolerance import Warnings
from schemas.eligibility import (
    CostShare,
    EligibilityResponse,
    Level,
    Loop,
    Rejection,
    Status,
    VisitLimit,
    parse_trace,
)

__all__ = [
    "MAX_BENEFITS_PER_PERSON",
    "MAX_REJECTIONS",
    "PERIODS",
    "X271Error",
    "aaa_follow_up",
    "aaa_reason",
    "iter_271_events",
    "parse_271",
]

#: EB (and HSD) segments of one subscriber or dependent: held until the person ends.
MAX_BENEFITS_PER_PERSON: Final = 10_000
#: AAA segments of one person, or of the payer and provider levels of a transaction.
MAX_REJECTIONS: Final = 1_000

#: EB06 / HSD05 time period qualifiers, in words.
PERIODS: Final[dict[str, str]] = {
    "6": "hour",
    "7": "day",
    "13": "24 hours",
    "21": "years",
    "22": "service year",
    "23": "calendar year",
    "24": "year to date",
    "25": "contract",
    "26": "episode",
    "27": "visit",
    "28": "outlier",
    "29": "remaining",
    "30": "exceeded",
    "31": "not exceeded",
    "32": "lifetime",
    "33": "lifetime remaining",
    "34": "month",
    "35": "week",
    "36": "admission",
}
_REMAINING: Final = frozenset({"29", "33"})
_NETWORK: Final[dict[str, Literal["Y", "N", "U", "W"]]] = {"Y": "Y", "N": "N", "U": "U", "W": "W"}
_ACTIVE: Final = frozenset({"1", "2", "3", "4", "5"})
_INACTIVE: Final = frozenset({"6", "7", "8"})
_PLAN_DATES: Final = frozenset({"291", "346", "347", "356", "357"})
_PERSON_LEVELS: Final[dict[str, Level]] = {"22": "subscriber", "23": "dependent"}
_LOOPS: Final[dict[str, tuple[Loop, Loop]]] = {
    "20": ("2100A", "2100A"),
    "21": ("2100B", "2100B"),
    "22": ("2100C", "2110C"),
    "23": ("2100D", "2110D"),
}


class X271Error(X12Error):
    """A 271 that cannot be read: segments out of place, a bad amount or date, not a 271."""


@cache
def _codes() -> dict[str, dict[str, str]]:
    raw = resources.files("edi").joinpath("data", "aaa_reasons.json").read_text()
    data: dict[str, dict[str, str]] = json.loads(raw)
    return data


def aaa_reason(code: str) -> str:
    """AAA03 in words (``unknown reason code`` for one not in the list)."""
    return _codes()["reasons"].get(code, "unknown reason code")


def aaa_follow_up(code: str) -> str | None:
    """AAA04 in words."""
    return _codes()["follow_up"].get(code) if code else None


def _date(segment: Segment, text: str, name: str) -> dt.date:
    if len(text) == 8 and text.isascii() and text.isdigit():
        try:
            return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        except ValueError:
            pass
    raise X271Error.at(segment, f"{name} is not a CCYYMMDD date")


def _dates(segment: Segment) -> tuple[dt.date, dt.date]:
    """DTP03 as (first, last): D8 or RD8."""
    fmt, value = segment.element(2), segment.element(3)
    if fmt == "D8":
        day = _date(segment, value, "DTP03")
        return day, day
    if fmt == "RD8":
        first, sep, last = value.partition("-")
        if not sep:
            raise X271Error.at(segment, "DTP03 is not a CCYYMMDD-CCYYMMDD range")
        return _date(segment, first, "DTP03"), _date(segment, last, "DTP03")
    raise X271Error.at(segment, "DTP02 must be D8 or RD8")


def _rejection(segment: Segment, loop: Loop) -> Rejection:
    code = segment.element(3)
    if not code:
        raise X271Error.at(segment, "AAA03 (reject reason) is required")
    follow = segment.element(4) or None
    return Rejection(
        loop=loop,
        valid_request=segment.element(1) == "Y",
        code=code,
        reason=aaa_reason(code),
        follow_up=follow,
        follow_up_words=aaa_follow_up(follow or ""),
    )


class _Person:
    """A subscriber or dependent being read."""

    def __init__(self, level: Level, hl: Segment, member_id: str | None) -> None:
        self.level = level
        self.has_child = hl.element(4) == "1"
        self.member_id = member_id
        self.trace: str | None = None
        self.dates: dict[str, tuple[dt.date, dt.date]] = {}
        self.benefits = 0
        self.in_benefits = False  # past the first EB: 2110
        self.statuses: list[tuple[str, bool]] = []  # (EB01, applies to the plan: 30 or none)
        self.plan_name: str | None = None
        self.copays: list[CostShare] = []
        self.coinsurance: list[Decimal] = []
        self.deductibles: list[CostShare] = []
        self.limits: list[VisitLimit] = []
        self.rejections: list[Rejection] = []
        self.last_eb: Segment | None = None

    def said_anything(self) -> bool:
        return bool(self.benefits or self.rejections)

    def status(self) -> Status:
        plan = [code for code, general in self.statuses if general]
        for codes in (plan, [code for code, _ in self.statuses]):
            if any(c in _INACTIVE for c in codes):
                return "inactive"
            if any(c in _ACTIVE for c in codes):
                return "active"
        return "rejected" if self.rejections else "unknown"


def _service_types(eb: Segment) -> list[str]:
    return [code for code in eb.repetitions(3) if code][:99]


def _in_network(eb: Segment) -> Literal["Y", "N", "U", "W"] | None:
    return _NETWORK.get(eb.element(12))


class _Transaction:
    def __init__(self, st: Segment) -> None:
        self.control = st.element(2)
        self.payer_edi_id: str | None = None
        self.provider_npi: str | None = None
        self.level: str | None = None
        self.person: _Person | None = None
        self.subscriber_member_id: str | None = None
        self.top_rejections: list[tuple[str, Rejection]] = []  # (level, AAA) at 2100A/2100B
        self.answered = 0
        self.in_entity = False  # between LS and LE (2120)

    def response(self, person: _Person) -> EligibilityResponse:
        parsed = parse_trace(person.trace) if person.trace else None
        plan = person.dates.get("291")
        return EligibilityResponse(
            coverage=parsed[0] if parsed else None,
            trace=person.trace,
            asked_on=parsed[1] if parsed else None,
            control_number=self.control,
            payer_edi_id=self.payer_edi_id,
            provider_npi=self.provider_npi,
            level=person.level,
            member_id=person.member_id,
            status=person.status(),
            plan_name=person.plan_name,
            plan_begin=_first(person.dates.get("346")) or (plan[0] if plan else None),
            plan_end=_first(person.dates.get("347")) or (plan[1] if plan else None),
            eligibility_begin=_first(person.dates.get("356")),
            eligibility_end=_first(person.dates.get("357")),
            copays=person.copays,
            coinsurance_percent=person.coinsurance,
            deductibles=person.deductibles,
            visit_limits=person.limits,
            rejections=[r for _, r in self.top_rejections] + person.rejections,
        )

    def end_person(self) -> EligibilityResponse | None:
        person, self.person = self.person, None
        if person is None or (person.has_child and not person.said_anything()):
            return None
        self.answered += 1
        return self.response(person)

    def end(self) -> EligibilityResponse | None:
        """At SE: the transaction's rejection when it answered nobody."""
        if self.answered or not self.top_rejections:
            return None
        level: Level = "source" if self.top_rejections[-1][0] == "20" else "receiver"
        return EligibilityResponse(
            control_number=self.control,
            payer_edi_id=self.payer_edi_id,
            provider_npi=self.provider_npi,
            level=level,
            status="rejected",
            rejections=[r for _, r in self.top_rejections],
        )


def _first(dates: tuple[dt.date, dt.date] | None) -> dt.date | None:
    return dates[0] if dates else None


class _Parser:
    def __init__(self) -> None:
        self.group_ok = False
        self.tx: _Transaction | None = None
        self.transactions = 0

    def run(self, segments: Iterator[Segment]) -> Iterator[EligibilityResponse]:
        for segment in segments:
            sid = segment.id
            if sid == "GS":
                if segment.element(1) != "HB":
                    raise X271Error.at(segment, "GS01 is not HB: this group holds no 271s")
            elif sid == "ST":
                if segment.element(1) != "271":
                    raise X271Error.at(segment, "ST01 is not 271")
                self.tx = _Transaction(segment)
            elif sid == "SE":
                tx = self._open(segment)
                ended = tx.end_person()
                if ended is not None:
                    yield ended
                rejected = tx.end()
                if rejected is not None:
                    yield rejected
                self.tx = None
                self.transactions += 1
            elif sid in ("ISA", "GE", "IEA"):
                continue
            else:
                ended = self._body(self._open(segment), segment)
                if ended is not None:
                    yield ended

    def _open(self, segment: Segment) -> _Transaction:
        if self.tx is None:
            raise X271Error.at(segment, f"{segment.id} outside a 271 transaction set")
        return self.tx

    def _body(self, tx: _Transaction, segment: Segment) -> EligibilityResponse | None:
        sid = segment.id
        if sid == "HL":
            level = segment.element(3)
            if not level:
                raise X271Error.at(segment, "HL03 (level code) is required")
            ended = tx.end_person()
            tx.level = level
            tx.in_entity = False
            if level in _PERSON_LEVELS:
                member = tx.subscriber_member_id if level == "23" else None
                tx.person = _Person(_PERSON_LEVELS[level], segment, member)
            return ended
        if sid == "BHT" or tx.level is None:
            if sid not in ("BHT",):
                raise X271Error.at(segment, f"{sid} before the first HL")
            return None
        if sid == "LS":
            tx.in_entity = True
            return None
        if sid == "LE":
            tx.in_entity = False
            return None
        if tx.in_entity:
            return None  # 2120: a benefit-related entity (other payer, PCP)
        person = tx.person
        if person is None:
            self._top(tx, segment)
        else:
            self._person(tx, person, segment)
        return None

    def _top(self, tx: _Transaction, segment: Segment) -> None:
        """2000A/2100A (payer) and 2000B/2100B (provider)."""
        sid, level = segment.id, tx.level
        if sid == "NM1":
            qualifier, ident = segment.element(8), segment.element(9) or None
            if level == "20":
                tx.payer_edi_id = ident
            elif level == "21" and qualifier == "XX":
                tx.provider_npi = ident
        elif sid == "AAA" and level in ("20", "21"):
            if len(tx.top_rejections) >= MAX_REJECTIONS:
                raise X271Error.at(segment, f"more than {MAX_REJECTIONS} AAA segments")
            tx.top_rejections.append((level, _rejection(segment, _LOOPS[level][0])))
        elif sid in ("EB", "HSD"):
            raise X271Error.at(segment, f"{sid} outside a subscriber or dependent")

    def _person(self, tx: _Transaction, person: _Person, segment: Segment) -> None:
        sid = segment.id
        level = "22" if person.level == "subscriber" else "23"
        if sid == "TRN":
            if segment.element(1) == "2" and (person.trace is None or parse_trace(
                segment.element(2)
            ) is not None):  # fmt: skip
                person.trace = segment.element(2) or None
        elif sid == "NM1" and segment.element(1) == "IL":
            if segment.element(8) == "MI":
                person.member_id = segment.element(9) or None
                if person.level == "subscriber":
                    tx.subscriber_member_id = person.member_id
        elif sid == "DTP":
            if not person.in_benefits and segment.element(1) in _PLAN_DATES:
                person.dates[segment.element(1)] = _dates(segment)
        elif sid == "AAA":
            if len(person.rejections) >= MAX_REJECTIONS:
                raise X271Error.at(segment, f"more than {MAX_REJECTIONS} AAA segments")
            loop = _LOOPS[level][1 if person.in_benefits else 0]
            person.rejections.append(_rejection(segment, loop))
        elif sid == "EB":
            self._benefit(person, segment)
        elif sid == "HSD":
            if person.last_eb is None:
                raise X271Error.at(segment, "HSD before any EB")
            self._count(person, segment)
            self._hsd(person, person.last_eb, segment)

    def _count(self, person: _Person, segment: Segment) -> None:
        person.benefits += 1
        if person.benefits > MAX_BENEFITS_PER_PERSON:
            raise X271Error.at(
                segment, f"more than {MAX_BENEFITS_PER_PERSON} EB and HSD segments for one person"
            )

    def _benefit(self, person: _Person, eb: Segment) -> None:
        code = eb.element(1)
        if not code:
            raise X271Error.at(eb, "EB01 (eligibility or benefit information) is required")
        self._count(person, eb)
        person.in_benefits = True
        person.last_eb = eb
        types = _service_types(eb)
        period = eb.element(6) or None
        if code in _ACTIVE or code in _INACTIVE:
            person.statuses.append((code, not types or "30" in types))
            if code in _ACTIVE and person.plan_name is None and eb.element(5):
                person.plan_name = eb.element(5)[:60]
        if code in ("B", "C") and eb.element(7):
            share = CostShare(
                service_types=types,
                amount=read_amount(eb, 7, "EB07", X271Error),
                period=period,
                period_words=PERIODS.get(period or ""),
                coverage_level=eb.element(2) or None,
                in_network=_in_network(eb),
            )
            (person.copays if code == "B" else person.deductibles).append(share)
        elif code == "A" and eb.element(8):
            person.coinsurance.append(read_amount(eb, 8, "EB08", X271Error))
        elif code == "F" and eb.element(9) and eb.element(10):
            qualifier = eb.element(9)
            person.limits.append(
                VisitLimit(
                    service_types=types,
                    quantity=read_amount(eb, 10, "EB10", X271Error),
                    qualifier=qualifier,
                    period=period,
                    period_words=PERIODS.get(period or ""),
                    remaining=period in _REMAINING,
                    used=qualifier == "99",
                )
            )

    def _hsd(self, person: _Person, eb: Segment, hsd: Segment) -> None:
        if eb.element(1) != "F" or not hsd.element(2):
            return
        qualifier = hsd.element(1) or "VS"
        period = hsd.element(5) or eb.element(6) or None
        person.limits.append(
            VisitLimit(
                service_types=_service_types(eb),
                quantity=read_amount(hsd, 2, "HSD02", X271Error),
                qualifier=qualifier,
                period=period,
                period_words=PERIODS.get(period or ""),
                remaining=period in _REMAINING,
                used=qualifier == "99",
            )
        )


def iter_271_events(
    source: Source,
    *,
    encoding_errors: EncodingErrors = "replace",
    warnings: Warnings | None = None,
) -> Iterator[EligibilityResponse]:
    """Each answer of ``source`` as its loop ends (see the module's documentation).

    With a ``warnings`` list, envelope faults that change nothing the file says
    (:mod:`edi.tolerance`) are noted there; without one they are refused."""
    segments = read_segments(source, encoding_errors=encoding_errors, warnings=warnings)
    checked = (
        check_envelopes(segments)
        if warnings is None
        else check_envelopes_leniently(segments, warnings)
    )
    parser = _Parser()
    yield from parser.run(checked)
    if not parser.transactions:
        raise X271Error("the file holds no 271 transaction set")


def parse_271(
    source: Source, *, encoding_errors: EncodingErrors = "replace", warnings: Warnings | None = None
) -> list[EligibilityResponse]:
    """Every answer of ``source``, held whole."""
    return list(iter_271_events(source, encoding_errors=encoding_errors, warnings=warnings))
