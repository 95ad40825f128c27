"""TA1 interchange acknowledgements: what we tell a sender about its ISA/IEA.

:func:`render_ta1` answers one interchange we received: ``TA1`` repeats its
control number, date and time (ISA13, ISA09, ISA10), says whether it was
accepted (``A``), accepted with errors noted (``E``) or rejected (``R``), and
gives one note code (TA105).  The interchange carrying it has no functional
group (``IEA*0``) and goes back to the sender: our ISA ids are the received
file's receiver ids.

Used for the envelope faults the readers forgive (:mod:`edi.tolerance`): an
ISA not padded to its widths (``022``), a wrong IEA01 (``021``) or IEA02
(``001``) -- the file was read, so ``E``.

:func:`read_ta1` reads the TA1s a front door sends about *our* interchanges
(streamed; a TA1 may stand alone in its interchange or precede its groups):
each :class:`Ta1` names our ISA13 (TA101), its date and time, the verdict and
the note code, with the envelope of the interchange that carried it.  Bad
input is a :class:`TA1Error` naming the segment, never a value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final, Literal, cast

from edi.envelope import CONTROL_SEGMENTS, EnvelopeChecker
from edi.envelope_writer import EnvelopeWriter
from edi.segments import EncodingErrors, Segment, Source, X12Error, is_garbled, read_segments
from edi.tolerance import RULES, ReadWarning, Warnings

__all__ = [
    "MAX_TA1_PER_INTERCHANGE",
    "NO_ERROR",
    "TA1Error",
    "Ta1",
    "read_ta1",
    "render_ta1",
    "ta1_notes",
]

#: TA105 when nothing was wrong.
NO_ERROR: Final = "000"
#: TA1 segments one interchange may carry (a front door sends one per interchange
#: it received; beyond this the file is refused).
MAX_TA1_PER_INTERCHANGE: Final = 10_000


class TA1Error(X12Error):
    """A TA1 that cannot be read: a missing or malformed element, a TA1 outside an
    interchange or inside a functional group."""


@dataclass(frozen=True, slots=True)
class Ta1:
    """One TA1: the front door's verdict on one interchange of ours."""

    isa: Segment  # the interchange that carried the TA1 (their ISA)
    control_number: str  # TA101: our ISA13, 9 digits
    date: str  # TA102 YYMMDD
    time: str  # TA103 HHMM
    status: Literal["A", "E", "R"]  # TA104
    note_code: str  # TA105, 3 digits


def _ta1(segment: Segment, isa: Segment) -> Ta1:
    control, day, at, status, note = (segment.element(n) for n in range(1, 6))
    checks = (
        (control, 9, "TA101 (the interchange control number)"),
        (day, 6, "TA102 (the interchange date, YYMMDD)"),
        (at, 4, "TA103 (the interchange time, HHMM)"),
        (note, 3, "TA105 (the note code)"),
    )
    for value, digits, name in checks:
        if len(value) != digits or not (value.isascii() and value.isdigit()):
            raise TA1Error.at(segment, f"{name} must be {digits} digits")
    if status not in ("A", "E", "R"):
        raise TA1Error.at(segment, "TA104 must be A (accepted), E (accepted with errors) or R")
    return Ta1(isa, control, day, at, cast(Literal["A", "E", "R"], status), note)


def read_ta1(
    source: Source,
    *,
    encoding_errors: EncodingErrors = "replace",
    warnings: Warnings | None = None,
) -> Iterator[Ta1]:
    """Every TA1 of ``source``, in file order (groups in the same interchange are
    checked for their envelopes and otherwise skipped).  ``warnings``: the
    tolerance policy of :mod:`edi.tolerance`, as for the other readers."""
    checker = EnvelopeChecker(warnings)
    isa: Segment | None = None
    count = 0
    for segment in read_segments(source, encoding_errors=encoding_errors, warnings=warnings):
        sid = segment.id
        if sid == "TA1":
            if isa is None or checker.gs is not None:
                raise TA1Error.at(segment, "TA1 outside an interchange or inside a group")
            count += 1
            if count > MAX_TA1_PER_INTERCHANGE:
                raise TA1Error.at(
                    segment, f"more than {MAX_TA1_PER_INTERCHANGE:,} TA1s in one interchange"
                )
            yield _ta1(segment, isa)
        elif sid in CONTROL_SEGMENTS:
            checker.control(segment)
            if sid == "ISA":
                isa, count = segment, 0
        elif is_garbled(segment):
            raise TA1Error.at(segment, "invalid segment id")
        else:
            checker.body(segment)
    checker.finish()


def ta1_notes(tolerated: Sequence[ReadWarning]) -> list[str]:
    """The TA105 codes of the interchange-level faults among ``tolerated``, in file order."""
    codes: list[str] = []
    for w in sorted(tolerated, key=lambda w: w.segment):
        rule = RULES[w.rule]
        if rule.level == "interchange" and rule.ack_code and rule.ack_code not in codes:
            codes.append(rule.ack_code)
    return codes


def render_ta1(
    isa: Segment,
    notes: Sequence[str],
    *,
    control_number: int,
    created_at: dt.datetime,
    status: Literal["A", "E", "R"] | None = None,
) -> str:
    """The TA1 interchange answering the interchange opened by ``isa``.

    One ``TA1`` segment per note code (``000`` when ``notes`` is empty); the
    status is ``E`` when there are notes and ``A`` otherwise, unless given.
    """
    answer: Literal["A", "E", "R"] = status or ("E" if notes else "A")
    usage: Literal["P", "T"] = "T" if isa.element(15).strip() == "T" else "P"
    writer = EnvelopeWriter(line_break=True)
    writer.open_interchange(
        sender_id=isa.element(8).strip(),
        receiver_id=isa.element(6).strip(),
        sender_qualifier=isa.element(7).strip() or "ZZ",
        receiver_qualifier=isa.element(5).strip() or "ZZ",
        control_number=control_number,
        created_at=created_at,
        usage=usage,
    )
    for note in notes or [NO_ERROR]:
        writer.interchange_segment(
            "TA1", isa.element(13).strip(), isa.element(9), isa.element(10), answer, note
        )
    writer.close_interchange()
    return writer.text()
