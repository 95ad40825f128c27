"""The simulated payer answers 270 inquiries with 271s (005010X279A1).

Each 270 transaction set gets one 271 transaction set that echoes its trace
(``TRN*2``), its payer and provider, and the person asked about.  What the
answer says is chosen by the member id (deterministic, for tests and the demo):

* containing ``INACTIVE``: coverage inactive (``EB*6``), plan ended the day before
  the date asked;
* containing ``REJECT``: ``AAA*Y**75*C`` (subscriber not found; correct and
  resubmit), no benefits;
* containing ``LIMIT``: active, with 20 physical-medicine visits per calendar year
  of which 12 remain (``EB*F`` with ``EB09``/``EB10``), 8 used, and the massage
  limit as ``HSD``;
* anything else: active, a $25 copay per visit for physical medicine and a $500
  calendar-year deductible with $320 remaining.

The 271 is one interchange, sender and receiver swapped from the 270's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from edi.envelope import check_envelopes
from edi.envelope_writer import EnvelopeWriter
from edi.segments import DEFAULT_DELIMITERS, Segment, Source, X12Error, read_segments
from edi.x270 import ELIGIBILITY_GUIDE

__all__ = ["Scenario", "X270ReadError", "answer_270", "scenario_for"]

Scenario = Literal["active", "inactive", "rejected", "limits"]


class X270ReadError(X12Error):
    """A 270 the simulator cannot answer (names the segment, never a value)."""


def scenario_for(member_id: str) -> Scenario:
    upper = member_id.upper()
    if "INACTIVE" in upper:
        return "inactive"
    if "REJECT" in upper:
        return "rejected"
    if "LIMIT" in upper:
        return "limits"
    return "active"


@dataclass
class _Question:
    """What one 270 transaction set asks: the parties, the person and the date."""

    payer: list[str] = field(default_factory=list)
    provider: list[str] = field(default_factory=list)
    subscriber: list[str] = field(default_factory=list)
    dependent: list[str] | None = None
    trace: list[str] = field(default_factory=list)
    asked: dt.date | None = None
    service_types: list[str] = field(default_factory=list)

    @property
    def member_id(self) -> str:
        return self.subscriber[9] if len(self.subscriber) > 9 else ""


def _questions(segments: Iterator[Segment]) -> Iterator[tuple[Segment, Segment, _Question]]:
    isa: Segment | None = None
    gs: Segment | None = None
    question: _Question | None = None
    level = ""
    for segment in segments:
        sid = segment.id
        if sid == "ISA":
            isa = segment
        elif sid == "GS":
            if segment.element(1) != "HS":
                raise X270ReadError.at(segment, "GS01 is not HS: this group holds no 270s")
            gs = segment
        elif sid == "ST":
            if segment.element(1) != "270":
                raise X270ReadError.at(segment, "ST01 is not 270")
            question, level = _Question(), ""
        elif sid == "SE":
            if question is None or isa is None or gs is None:
                raise X270ReadError.at(segment, "SE without ST")
            yield isa, gs, question
            question = None
        elif question is not None:
            fields = [sid, *segment.elements]
            if sid == "HL":
                level = segment.element(3)
            elif sid == "NM1":
                if level == "20":
                    question.payer = fields
                elif level == "21":
                    question.provider = fields
                elif level == "22":
                    question.subscriber = fields
                elif level == "23":
                    question.dependent = fields
            elif sid == "TRN":
                question.trace = fields
            elif sid == "DTP" and segment.element(1) == "291":
                text = segment.element(3)[:8]
                if len(text) == 8 and text.isascii() and text.isdigit():
                    try:
                        question.asked = dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
                    except ValueError:
                        raise X270ReadError.at(segment, "DTP03 is not a date") from None
            elif sid == "EQ":
                question.service_types.append(segment.element(1))


def _d8(day: dt.date) -> str:
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def _answer(envelope: EnvelopeWriter, q: _Question, control: str, now: dt.datetime) -> Scenario:
    seg = envelope.segment
    scenario = scenario_for(q.member_id)
    asked = q.asked or now.date()
    seg("BHT", "0022", "11", control, _d8(now.date()), f"{now:%H%M}")
    seg("HL", "1", None, "20", "1")
    seg("NM1", *q.payer[1:])
    seg("HL", "2", "1", "21", "1")
    seg("NM1", *q.provider[1:])
    dependent = q.dependent
    seg("HL", "3", "2", "22", "0" if dependent is None else "1")
    if dependent is not None:
        seg("NM1", *q.subscriber[1:])
        seg("HL", "4", "3", "23", "0")
    if q.trace:
        seg("TRN", "2", *q.trace[2:4])
    seg("NM1", *(dependent or q.subscriber)[1:])
    if scenario == "rejected":
        seg("AAA", "Y", None, "75", "C")
        return scenario
    year = dt.date(asked.year, 1, 1)
    if scenario == "inactive":
        seg("DTP", "346", "D8", _d8(dt.date(asked.year - 1, 1, 1)))
        seg("DTP", "347", "D8", _d8(asked - dt.timedelta(days=1)))
        seg("EB", "6", "IND", "30")
        return scenario
    seg("DTP", "346", "D8", _d8(year))
    seg("EB", "1", "IND", "30", "C1", "SIMULATED HEALTH PLAN")
    if scenario == "limits":
        seg("EB", "F", "IND", "AE", None, None, "23", None, None, "VS", "20")
        seg("EB", "F", "IND", "AE", None, None, "29", None, None, "VS", "12")
        seg("EB", "F", "IND", "AE", None, None, None, None, None, "99", "8")
        seg("EB", "F", "IND", "BE")
        seg("HSD", "VS", "10", None, None, "23")
        return scenario
    seg("EB", "B", "IND", "AE", None, None, "27", "25", None, None, None, None, "Y")
    seg("EB", "C", "IND", "30", None, None, "23", "500")
    seg("EB", "C", "IND", "30", None, None, "29", "320")
    return scenario


def answer_270(source: Source, *, control_number: int, now: dt.datetime) -> tuple[str, list[str]]:
    """The 271 interchange answering every 270 of ``source``, and the scenario of each."""
    envelope: EnvelopeWriter | None = None
    scenarios: list[str] = []
    for position, (isa, gs, question) in enumerate(
        _questions(check_envelopes(read_segments(source))), start=1
    ):
        if not question.payer or not question.provider or not question.subscriber:
            raise X270ReadError(f"270 number {position} lacks its payer, provider or subscriber")
        if envelope is None:
            envelope = EnvelopeWriter(DEFAULT_DELIMITERS, line_break=True)
            envelope.open_interchange(
                sender_id=isa.element(8).strip(),
                receiver_id=isa.element(6).strip(),
                sender_qualifier=isa.element(7).strip(),
                receiver_qualifier=isa.element(5).strip(),
                control_number=control_number,
                created_at=now,
                usage="T" if isa.element(15) == "T" else "P",
            )
            envelope.open_group(
                "HB",
                sender_code=gs.element(3),
                receiver_code=gs.element(2),
                control_number=control_number,
                guide=ELIGIBILITY_GUIDE,
            )
        control = f"{position:04d}"
        envelope.open_transaction("271", control, ELIGIBILITY_GUIDE)
        scenarios.append(_answer(envelope, question, control, now))
        envelope.close_transaction()
    if envelope is None:
        raise X270ReadError("the file holds no 270 transaction set")
    envelope.close_group()
    envelope.close_interchange()
    return envelope.text(), scenarios
