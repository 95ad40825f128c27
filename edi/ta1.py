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
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Final, Literal

from edi.envelope_writer import EnvelopeWriter
from edi.segments import Segment
from edi.tolerance import RULES, ReadWarning

__all__ = ["NO_ERROR", "render_ta1", "ta1_notes"]

#: TA105 when nothing was wrong.
NO_ERROR: Final = "000"


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
