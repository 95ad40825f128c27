"""X12 999 implementation acknowledgement (005010X231A1): read and write.

Reading
-------
:func:`iter_999_events` streams the 999 transaction sets of a file (several
interchanges and groups allowed) and :func:`parse_999` holds them whole in
:class:`~schemas.acknowledgements.Ack999`:
per 999, the group it answers (``AK1``), each transaction set's verdict
(``AK2`` .. ``IK5``, with ``IK3`` segment and ``IK4`` element errors; ``CTX``
context segments are skipped) and the group verdict (``AK9``), plus the
envelope that says who sent it.  Trailers with a wrong count or control
number are reported in ``warnings`` instead of failing the file (see
:func:`edi.envelope.check_envelopes_leniently`); anything else out of place is
an :class:`X999Error` naming the segment ordinal and byte offset.

Writing
-------
:func:`render_999` writes groups of verdicts back as one interchange, e.g. the
999 a payer asks for when we receive its 835s (:func:`acknowledge` builds the
verdict from the validation gate's findings).  ``parse_999(render_999(g))``
gives ``g`` back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Final, Literal, TypeAlias, cast

from edi.elements import ascii_digits, read_count
from edi.envelope import check_envelopes_leniently
from edi.envelope_writer import EnvelopeWriter
from edi.segments import (
    DEFAULT_DELIMITERS,
    Delimiters,
    EncodingErrors,
    Segment,
    Source,
    X12Error,
    X12RenderError,
    read_segments,
)
from edi.tolerance import RULES, ReadWarning, Warnings
from edi.validate import Finding
from schemas.acknowledgements import (
    Ack999,
    AckEnvelope,
    ElementError,
    GroupResponse,
    GroupStatus,
    SegmentError,
    TransactionResponse,
    TransactionStatus,
)

__all__ = [
    "ACK_GUIDE",
    "MAX_ERRORS_PER_RESPONSE",
    "MAX_RESPONSES_PER_TRANSACTION",
    "AckEvent",
    "X999Error",
    "acknowledge",
    "envelope_of",
    "iter_999_events",
    "open_acknowledgement",
    "parse_999",
    "render_999",
]

#: GS08 / ST03 of every 999 written here.
ACK_GUIDE: Final = "005010X231A1"
_TRANSACTION_STATUS: Final = frozenset("AEMRWX")
_GROUP_STATUS: Final = frozenset("AEMPRWX")
#: AK2 loops (acknowledged transaction sets) in one 999 transaction set: AK902 has
#: at most 6 digits, so a 999 cannot count more.
MAX_RESPONSES_PER_TRANSACTION: Final = 999_999
#: IK3 (segment) and IK4 (element) errors of one AK2 loop, held until its IK5.
MAX_ERRORS_PER_RESPONSE: Final = 1_000
#: AK902..AK904 are N0 1/6; IK302 (a segment position) N0 1/10.
_AK9_DIGITS: Final = 6
_IK302_DIGITS: Final = 10

AckEvent: TypeAlias = TransactionResponse | GroupResponse


class X999Error(X12Error):
    """A 999 that cannot be read: not a 999, or its segments out of place."""


def envelope_of(isa: Segment, gs: Segment) -> AckEnvelope:
    """Who sent the acknowledgement whose ISA and GS these are."""
    return AckEnvelope(
        isa_sender_qualifier=isa.element(5).strip(),
        isa_sender_id=isa.element(6).strip(),
        isa_receiver_qualifier=isa.element(7).strip(),
        isa_receiver_id=isa.element(8).strip(),
        interchange_control_number=isa.element(13).strip(),
        gs_sender_code=gs.element(2).strip(),
        gs_receiver_code=gs.element(3).strip(),
        group_control_number=gs.element(6).strip(),
        version=gs.element(8).strip(),
        usage=isa.element(15).strip(),
    )


def _codes(segment: Segment, first: int, last: int) -> list[str]:
    return [c for c in (segment.element(n) for n in range(first, last + 1)) if c]


class _Transaction:
    """An AK2 loop being read: its IK3 segment errors, each with its IK4 element errors."""

    __slots__ = ("ak2", "entries", "errors")

    def __init__(self, ak2: Segment) -> None:
        self.ak2 = ak2
        self.errors: list[tuple[Segment, list[ElementError]]] = []
        self.entries = 0  # IK3 and IK4 segments

    def count(self, segment: Segment) -> None:
        self.entries += 1
        if self.entries > MAX_ERRORS_PER_RESPONSE:
            raise X999Error.at(
                segment,
                f"an AK2 loop with more than {MAX_ERRORS_PER_RESPONSE:,} IK3 and IK4 segments",
            )


class _Group:
    """A 999 transaction set being read."""

    __slots__ = ("ak1", "envelope", "loops", "result", "st", "tx")

    def __init__(self, st: Segment, envelope: AckEnvelope) -> None:
        self.st = st
        self.envelope = envelope
        self.ak1: Segment | None = None
        self.loops = 0  # AK2 loops
        self.tx: _Transaction | None = None  # the AK2 loop whose IK5 has not come yet
        self.result: GroupResponse | None = None


class _Parser:
    def __init__(self) -> None:
        self.isa: Segment | None = None
        self.gs: Segment | None = None
        self.group: _Group | None = None

    def run(self, segments: Iterator[Segment]) -> Iterator[AckEvent]:
        for segment in segments:
            handler = getattr(self, f"_{segment.id.lower()}", None)
            if handler is None:
                if self.group is None:
                    raise X999Error.at(segment, f"{segment.id} outside a 999 transaction set")
                continue  # CTX and anything else a 999 may carry: not needed here
            result = handler(segment)
            if result is not None:
                yield result

    # envelopes
    def _isa(self, segment: Segment) -> None:
        self.isa = segment

    def _iea(self, segment: Segment) -> None:
        self.isa = None

    def _gs(self, segment: Segment) -> None:
        if segment.element(1) != "FA":
            raise X999Error.at(segment, "GS01 is not FA: this group holds no 999 acknowledgements")
        self.gs = segment

    def _ge(self, segment: Segment) -> None:
        self.gs = None

    def _st(self, segment: Segment) -> None:
        if segment.element(1) != "999":
            raise X999Error.at(segment, "ST01 is not 999")
        assert self.isa is not None and self.gs is not None  # the envelope checker saw them
        self.group = _Group(segment, envelope_of(self.isa, self.gs))

    def _se(self, segment: Segment) -> GroupResponse:
        group = self._open(segment)
        if group.result is None:
            raise X999Error.at(segment, "AK9 (functional group response trailer) is missing")
        self.group = None
        return group.result

    # body
    def _open(self, segment: Segment) -> _Group:
        if self.group is None:
            raise X999Error.at(segment, f"{segment.id} outside a 999 transaction set")
        return self.group

    def _ak1(self, segment: Segment) -> None:
        group = self._open(segment)
        if group.ak1 is not None:
            raise X999Error.at(segment, "a second AK1 in one 999 transaction set")
        if not segment.element(1) or not segment.element(2):
            raise X999Error.at(segment, "AK101 and AK102 are required")
        group.ak1 = segment

    def _ak2(self, segment: Segment) -> None:
        group = self._open(segment)
        if group.ak1 is None:
            raise X999Error.at(segment, "AK2 before AK1")
        if not segment.element(1) or not segment.element(2):
            raise X999Error.at(segment, "AK201 and AK202 are required")
        self._close_transaction(segment)
        group.loops += 1
        if group.loops > MAX_RESPONSES_PER_TRANSACTION:
            raise X999Error.at(
                segment,
                f"a 999 transaction set with more than {MAX_RESPONSES_PER_TRANSACTION:,} "
                "AK2 loops",
            )
        group.tx = _Transaction(segment)

    def _current(self, segment: Segment) -> _Transaction:
        tx = self._open(segment).tx
        if tx is None:
            raise X999Error.at(segment, f"{segment.id} outside an AK2 loop")
        return tx

    def _ik3(self, segment: Segment) -> None:
        tx = self._current(segment)
        tx.count(segment)
        position = segment.element(2)
        if ascii_digits(position) and len(position) > _IK302_DIGITS:
            raise X999Error.at(segment, f"IK302 has more than {_IK302_DIGITS} digits")
        tx.errors.append((segment, []))

    def _ik4(self, segment: Segment) -> None:
        tx = self._current(segment)
        tx.count(segment)
        element = ElementError(
            position=":".join(segment.components(1)) or segment.element(1),
            reference=segment.element(2) or None,
            code=segment.element(3),
        )
        if not element.code:
            raise X999Error.at(segment, "IK403 (error code) is required")
        if not tx.errors:
            raise X999Error.at(segment, "IK4 without its IK3")
        tx.errors[-1][1].append(element)

    def _ik5(self, segment: Segment) -> TransactionResponse:
        group = self._open(segment)
        tx = self._current(segment)
        status = segment.element(1)
        if status not in _TRANSACTION_STATUS:
            raise X999Error.at(segment, "IK501 is not a transaction set acknowledgment code")
        group.tx = None
        return TransactionResponse(
            transaction_set_id=tx.ak2.element(1),
            control_number=tx.ak2.element(2),
            implementation=tx.ak2.element(3) or None,
            status=cast(TransactionStatus, status),
            error_codes=_codes(segment, 2, 6),
            segment_errors=[_segment_error(ik3, elements) for ik3, elements in tx.errors],
        )

    def _close_transaction(self, segment: Segment) -> None:
        if self._open(segment).tx is not None:
            raise X999Error.at(segment, "the previous AK2 loop has no IK5")

    def _ak9(self, segment: Segment) -> None:
        group = self._open(segment)
        if group.ak1 is None:
            raise X999Error.at(segment, "AK9 without AK1")
        self._close_transaction(segment)
        status = segment.element(1)
        if status not in _GROUP_STATUS:
            raise X999Error.at(segment, "AK901 is not a functional group acknowledge code")
        group.result = GroupResponse(
            control_number=group.st.element(2),
            functional_id=group.ak1.element(1),
            group_control_number=group.ak1.element(2),
            version=group.ak1.element(3) or None,
            transactions=[],
            status=cast(GroupStatus, status),
            included=read_count(segment, 2, "AK902", _AK9_DIGITS, X999Error),
            received=read_count(segment, 3, "AK903", _AK9_DIGITS, X999Error),
            accepted=read_count(segment, 4, "AK904", _AK9_DIGITS, X999Error),
            error_codes=_codes(segment, 5, 9),
            envelope=group.envelope,
        )


def _segment_error(ik3: Segment, elements: list[ElementError]) -> SegmentError:
    position = ik3.element(2)
    return SegmentError(
        segment_id=ik3.element(1),
        position=int(position) if ascii_digits(position) else None,
        loop_id=ik3.element(3) or None,
        code=ik3.element(4) or None,
        elements=elements,
    )


def iter_999_events(
    source: Source,
    *,
    encoding_errors: EncodingErrors = "replace",
    warnings: list[str] | None = None,
) -> Iterator[AckEvent]:
    """The 999s of ``source``, streamed: per 999 transaction set, each
    :class:`~schemas.acknowledgements.TransactionResponse` (one per ``AK2`` loop, at
    its ``IK5``), then the :class:`~schemas.acknowledgements.GroupResponse` (at its
    ``SE``, with ``transactions`` empty: they came before it).

    Envelope problems that :func:`parse_999` reports as warnings are appended to
    ``warnings`` as they are found.  Memory stays flat however many ``AK2`` loops
    a 999 holds; each transaction set is bounded by
    :data:`MAX_RESPONSES_PER_TRANSACTION` and each ``AK2`` loop by
    :data:`MAX_ERRORS_PER_RESPONSE` (beyond them: :class:`X999Error`).
    """
    tolerated = Warnings(text=warnings)  # the tolerance policy of edi.tolerance
    segments = check_envelopes_leniently(
        read_segments(source, encoding_errors=encoding_errors, warnings=tolerated), tolerated
    )
    groups = 0
    for event in _Parser().run(segments):
        groups += isinstance(event, GroupResponse)
        yield event
    if not groups:
        raise X999Error("the file holds no 999 transaction set")


def parse_999(source: Source, *, encoding_errors: EncodingErrors = "replace") -> Ack999:
    """Every 999 transaction set of ``source`` (bytes, a binary file or chunks), held whole.

    For files of any size, :func:`iter_999_events` streams the same content."""
    warnings: list[str] = []
    groups: list[GroupResponse] = []
    pending: list[TransactionResponse] = []
    for event in iter_999_events(source, encoding_errors=encoding_errors, warnings=warnings):
        if isinstance(event, GroupResponse):
            groups.append(event.model_copy(update={"transactions": pending}))
            pending = []
        else:
            pending.append(event)
    return Ack999(groups=groups, warnings=warnings)


# --- writing -------------------------------------------------------------------------


def open_acknowledgement(
    env: AckEnvelope,
    functional_id: str,
    guide: str,
    *,
    control_number: int,
    created_at: dt.datetime,
    usage: Literal["P", "T"],
    delimiters: Delimiters,
    line_break: bool = True,
) -> EnvelopeWriter:
    """An acknowledgement interchange with its ISA and its one GS written, ids from the
    envelope of who sends it; ``control_number`` is both ISA13 and GS06."""
    envelope = EnvelopeWriter(delimiters, line_break=line_break)
    envelope.open_interchange(
        sender_id=env.isa_sender_id,
        receiver_id=env.isa_receiver_id,
        sender_qualifier=env.isa_sender_qualifier,
        receiver_qualifier=env.isa_receiver_qualifier,
        control_number=control_number,
        created_at=created_at,
        usage=usage,
    )
    envelope.open_group(
        functional_id,
        sender_code=env.gs_sender_code,
        receiver_code=env.gs_receiver_code,
        control_number=control_number,
        guide=guide,
    )
    return envelope


def render_999(
    groups: Sequence[GroupResponse],
    *,
    control_number: int,
    created_at: dt.datetime,
    usage: Literal["P", "T"] = "P",
    delimiters: Delimiters = DEFAULT_DELIMITERS,
    line_break: bool = True,
) -> str:
    """One interchange holding one 999 per group verdict.

    The interchange and group headers come from the first group's envelope
    (ISA/GS sender and receiver ids, qualifiers); ``control_number`` is ISA13
    and GS06, and each 999's ST02 is its group's ``control_number``.  Raises
    :class:`~edi.segments.X12RenderError` naming the element when a value is
    missing, too long or holds a delimiter.
    """
    if not groups:
        raise X12RenderError("a 999 interchange needs at least one group verdict")
    out = open_acknowledgement(
        groups[0].envelope,
        "FA",
        ACK_GUIDE,
        control_number=control_number,
        created_at=created_at,
        usage=usage,
        delimiters=delimiters,
        line_break=line_break,
    )
    seg = out.segment
    for group in groups:
        out.open_transaction("999", group.control_number, ACK_GUIDE)
        seg("AK1", group.functional_id, group.group_control_number, group.version)
        for tx in group.transactions:
            seg("AK2", tx.transaction_set_id, tx.control_number, tx.implementation)
            for error in tx.segment_errors:
                position = str(error.position) if error.position is not None else None
                seg("IK3", error.segment_id, position, error.loop_id, error.code)
                for element in error.elements:
                    seg("IK4", element.position.split(":"), element.reference, element.code)
            seg("IK5", tx.status, *tx.error_codes[:5])
        seg(
            "AK9",
            group.status,
            str(group.included),
            str(group.received),
            str(group.accepted),
            *group.error_codes[:5],
        )
        out.close_transaction()
    out.close_group()
    out.close_interchange()
    return out.text()


# --- acknowledging what we receive ------------------------------------------------------


def _element_position(reference: str | None, segment_id: str) -> str | None:
    """``CLP05`` -> ``5``, ``SVC01-02`` -> ``1:2`` (IK401), from a finding's element reference."""
    if not reference or not reference.startswith(segment_id):
        return None
    rest = reference[len(segment_id) :]
    element, _, component = rest.partition("-")
    if not element.isdigit():
        return None
    return f"{int(element)}:{int(component)}" if component.isdigit() else str(int(element))


def acknowledge(
    data: Source,
    findings: Sequence[Finding],
    *,
    control_number: int,
    created_at: dt.datetime,
    tolerated: Sequence[ReadWarning] = (),
) -> str:
    """The 999 for a file we received, from the validation gate's findings.

    One 999 per functional group of ``data``, one ``AK2`` per transaction set:
    ``IK5*A`` when no error finding falls inside the transaction set, else
    ``IK5*R*5`` with an ``IK3`` per segment in error (code from the finding, or
    ``8`` for element errors) and an ``IK4`` per element error; errors outside
    every transaction set (envelopes) reject the group (``AK9*R``).  The 999 goes
    back to the sender: our ISA/GS ids are the received file's receiver ids.

    ``tolerated`` are the faults our reader forgave (:mod:`edi.tolerance`): the
    findings they explain no longer reject anything; a transaction set whose
    only faults they are is ``IK5*E`` (accepted, errors noted) with the
    trailer's code (``4`` SE01, ``3`` SE02; ``5`` for a garbled segment, which
    keeps its ``IK3``), and its group ``AK9*E`` with the group trailer's code
    (``5`` GE01, ``4`` GE02).  Interchange faults belong in a TA1
    (:func:`edi.ta1.render_ta1`).
    """
    groups: list[tuple[Segment, Segment, list[tuple[Segment, int]]]] = []
    isa: Segment | None = None
    current: list[tuple[Segment, int]] = []
    st: Segment | None = None
    for segment in read_segments(data, warnings=Warnings()):  # what the reader forgave, too
        if segment.id == "ISA":
            isa = segment
        elif segment.id == "GS" and isa is not None:
            current = []
            groups.append((isa, segment, current))
        elif segment.id == "ST":
            st = segment
        elif segment.id == "SE" and st is not None:
            current.append((st, segment.ordinal))
            st = None
    if not groups:
        raise X999Error("nothing to acknowledge: the file holds no functional group")
    forgiven = {(w.segment, RULES[w.rule].ack_code) for w in tolerated}
    garbled = {w.segment for w in tolerated if w.rule == "garbled-segment-id"}

    def explained(f: Finding) -> bool:
        """A finding the reader's word accounts for.  pyx12 reports a garbled segment
        id at the segment and again, as code 1 without an id, at the next one."""
        if (f.ordinal, f.code) in forgiven:
            return True
        if f.ordinal is None or f.level == "group":
            return False
        return f.ordinal in garbled or (
            f.ordinal - 1 in garbled and f.code == "1" and f.segment_id is None
        )

    errors = [f for f in findings if f.severity == "error"]
    noted = [f for f in errors if explained(f)]
    errors = [f for f in errors if not explained(f)]
    responses: list[GroupResponse] = []
    for isa_seg, gs, transactions in groups:
        verdicts: list[TransactionResponse] = []
        inside: set[int] = set()
        ge_ordinal = (transactions[-1][1] if transactions else gs.ordinal) + 1
        group_codes = sorted(
            {
                str(RULES[w.rule].ack_code)
                for w in tolerated
                if RULES[w.rule].level == "group" and w.segment == ge_ordinal
            }
        )
        for st_seg, se_ordinal in transactions:
            mine = [
                f
                for f in errors
                if f.ordinal is not None and st_seg.ordinal <= f.ordinal <= se_ordinal
            ]
            inside.update(id(f) for f in mine)
            notes = [
                f
                for f in noted
                if f.ordinal is not None and st_seg.ordinal <= f.ordinal <= se_ordinal
            ]
            rejected = bool(mine)
            # the reader's own word decides, whether or not the validator saw the file
            trailer_codes = sorted(
                {
                    str(RULES[w.rule].ack_code)
                    for w in tolerated
                    if RULES[w.rule].level == "transaction" and w.segment == se_ordinal
                }
            )
            segment_notes = [f for f in notes if f.level != "transaction"]
            garbled_here = sorted(g for g in garbled if st_seg.ordinal < g < se_ordinal)
            if garbled_here:
                trailer_codes.append("5")
            by_segment: dict[int, SegmentError] = {
                g: SegmentError(  # unrecognized segment id, at its place in the set
                    segment_id="ZZZ", position=g - st_seg.ordinal + 1, loop_id=None, code="1"
                )
                for g in garbled_here
            }
            for f in mine + segment_notes:
                sid = f.segment_id or "ZZZ"
                seg_error = by_segment.get(f.ordinal or 0)
                if seg_error is None:
                    code = f.code if f.level == "segment" else "8"
                    seg_error = SegmentError(
                        segment_id=sid,
                        position=f.position,
                        loop_id=None,
                        code=code if code in _SEGMENT_CODES else "8",
                    )
                if f.level == "element":
                    position = _element_position(f.element, sid) or "1"
                    seg_error = seg_error.model_copy(
                        update={
                            "elements": [
                                *seg_error.elements,
                                ElementError(
                                    position=position,
                                    reference=None,
                                    code=f.code if f.code in _ELEMENT_CODES else "7",
                                ),
                            ]
                        }
                    )
                by_segment[f.ordinal or 0] = seg_error
            verdicts.append(
                TransactionResponse(
                    transaction_set_id=st_seg.element(1),
                    control_number=st_seg.element(2),
                    implementation=st_seg.element(3) or gs.element(8) or None,
                    status="R" if rejected else ("E" if trailer_codes else "A"),
                    error_codes=["5"] if rejected else trailer_codes,
                    segment_errors=list(by_segment.values())[:20],
                )
            )
        outside = [f for f in errors if id(f) not in inside]
        accepted = sum(v.status in ("A", "E") for v in verdicts)
        status: GroupStatus
        if outside or accepted == 0:
            status = "R" if outside or verdicts else "A"
        elif accepted < len(verdicts):
            status = "P"
        else:
            noted_any = group_codes or any(v.status == "E" for v in verdicts)
            status = "E" if noted_any else "A"
        responses.append(
            GroupResponse(
                control_number=f"{len(responses) + 1:04d}",
                functional_id=gs.element(1),
                group_control_number=gs.element(6),
                version=gs.element(8) or None,
                transactions=verdicts,
                status=status,
                included=len(verdicts),
                received=len(verdicts),
                accepted=0 if outside else accepted,
                error_codes=[] if outside else group_codes,
                envelope=AckEnvelope(
                    isa_sender_qualifier=isa_seg.element(7).strip(),
                    isa_sender_id=isa_seg.element(8).strip(),
                    isa_receiver_qualifier=isa_seg.element(5).strip(),
                    isa_receiver_id=isa_seg.element(6).strip(),
                    interchange_control_number=str(control_number),
                    gs_sender_code=gs.element(3).strip(),
                    gs_receiver_code=gs.element(2).strip(),
                    group_control_number=str(control_number),
                    version=ACK_GUIDE,
                    usage=isa_seg.element(15).strip() or "P",
                ),
            )
        )
    usage: Literal["P", "T"] = "T" if responses[0].envelope.usage == "T" else "P"
    return render_999(responses, control_number=control_number, created_at=created_at, usage=usage)


#: IK304 and IK403 codes a 999 may carry (others from the validator become 8 / 7).
_SEGMENT_CODES: Final = frozenset(
    ["1", "2", "3", "4", "5", "6", "7", "8", "I4", "I6", "I7", "I8", "I9"]
)
_ELEMENT_CODES: Final = frozenset(
    [
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
        "7",
        "8",
        "9",
        "10",
        "12",
        "13",
        "I6",
        "I9",
        "I10",
        "I11",
        "I12",
        "I13",
    ]
)
