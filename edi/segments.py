"""X12 segments: a streaming reader, a writer, and the typed errors of both.

Reading
-------
:func:`read_segments` turns X12 bytes (a ``bytes`` value, a binary file or any
iterable of byte chunks) into :class:`Segment` objects, one at a time, without
holding the file in memory.  The delimiters are read from every ``ISA``:

* element separator = the 4th character of the ISA,
* repetition separator = ISA11 (``None`` when ISA11 is a letter or digit, as in
  4010 files where it holds the code ``U``),
* component separator = ISA16 (the 105th character),
* segment terminator = the 106th character.

A file may hold several interchanges, each with its own delimiters.  Line
breaks and other white space around segments are ignored (so ``~\\r\\n``,
``~\\n`` and a bare newline used as the terminator all work), a UTF-8 byte-order
mark at the start is skipped, and only an ``ISA`` at the start of a segment
begins an interchange (a patient called ``ISAAC`` is data).  White space at the
start or end of a segment is not data; white space inside it is kept.

Text is decoded as UTF-8, which covers the X12 basic and extended character
sets.  A byte sequence that is not UTF-8 becomes U+FFFD (the replacement
character) by default, so one odd byte in a name does not block a payment; pass
``encoding_errors="strict"`` to get an :class:`X12EncodingError` instead.  The
delimiters themselves must be ASCII.

Each segment knows its id, its elements, its 1-based ordinal in the file, the
byte offset of its first character (0-based, counting a byte-order mark) and
the delimiters in force, so every later error can say where it happened.

The reader checks the lexical level only (ISA present, fixed width and first,
valid segment ids, nothing but an ISA after an IEA).  Envelope counts and
control numbers are checked by :mod:`edi.envelope`.

Writing
-------
:class:`Delimiters` (``*``, ``:``, ``^``, ``~`` by default), :func:`render_segment`
for one segment and :func:`render_isa` for the fixed-width ISA header.  Values
are never escaped: a value holding a delimiter or a control character is
refused with an :class:`X12DelimiterError` that names the segment and element
position but never the value.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, time
from functools import lru_cache
from typing import IO, Final, Literal, Self, TypeAlias

from edi.tolerance import ReadWarning, Warnings

__all__ = [
    "DEFAULT_DELIMITERS",
    "ISA_LENGTH",
    "Delimiters",
    "Element",
    "Segment",
    "X12DelimiterError",
    "X12EncodingError",
    "X12EnvelopeError",
    "X12Error",
    "X12RenderError",
    "X12SyntaxError",
    "parse_isa",
    "read_segments",
    "render_isa",
    "render_segment",
]

# --- errors -----------------------------------------------------------------------


class X12Error(Exception):
    """Base of every X12 error.  ``ordinal`` and ``offset`` locate the segment when known.

    The message never quotes data values (they may be patient data); it names
    segments and element positions instead.
    """

    def __init__(self, message: str, *, ordinal: int | None = None, offset: int | None = None):
        self.reason = message
        self.ordinal = ordinal
        self.offset = offset
        super().__init__(self._located(message))

    def _located(self, message: str) -> str:
        where = []
        if self.ordinal is not None:
            where.append(f"segment {self.ordinal}")
        if self.offset is not None:
            where.append(f"byte offset {self.offset}")
        return f"{message} (at {', '.join(where)})" if where else message

    @classmethod
    def at(cls, segment: Segment, message: str) -> Self:
        """The error located at ``segment``."""
        return cls(message, ordinal=segment.ordinal, offset=segment.offset)


class X12SyntaxError(X12Error):
    """The bytes are not X12: no ISA, a malformed ISA, a bad segment id, stray data."""


class X12EncodingError(X12SyntaxError):
    """A segment is not valid UTF-8 (only with ``encoding_errors="strict"``)."""


class X12EnvelopeError(X12Error):
    """ISA/IEA, GS/GE or ST/SE do not match: missing trailer, wrong count or control number."""


class X12RenderError(X12Error):
    """A segment cannot be written: bad segment id, value too long, wrong type."""


class X12DelimiterError(X12RenderError):
    """A value to write contains a delimiter or control character."""


# --- delimiters and segments ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delimiters:
    """The four X12 delimiters.  ``repetition`` is ``None`` when the interchange has none."""

    element: str = "*"
    component: str = ":"
    repetition: str | None = "^"
    segment: str = "~"

    def __post_init__(self) -> None:
        chars = [self.element, self.component, self.segment]
        if self.repetition is not None:
            chars.append(self.repetition)
        for char in chars:
            if len(char) != 1 or not char.isascii() or char.isalnum() or char == " ":
                raise X12SyntaxError(
                    "a delimiter must be one ASCII character that is not a letter, "
                    "a digit or a space"
                )
        if len(set(chars)) != len(chars):
            raise X12SyntaxError("the delimiters must all be different")


DEFAULT_DELIMITERS: Final = Delimiters()

#: Length of the ISA segment including its terminator.
ISA_LENGTH: Final = 106


class Segment:
    """One segment as read: ``fields[0]`` is the id, ``fields[n]`` element n (1-based).

    ``ordinal`` is the 1-based position of the segment in the file and
    ``offset`` the byte offset of its first character.
    """

    __slots__ = ("delimiters", "fields", "id", "offset", "ordinal")

    def __init__(self, fields: list[str], ordinal: int, offset: int, delimiters: Delimiters):
        self.id: str = fields[0]
        self.fields = fields
        self.ordinal = ordinal
        self.offset = offset
        self.delimiters = delimiters

    @property
    def elements(self) -> list[str]:
        """The elements after the id (``elements[0]`` is element 1)."""
        return self.fields[1:]

    def element(self, n: int) -> str:
        """Element ``n`` (1-based); ``""`` when absent."""
        fields = self.fields
        return fields[n] if n < len(fields) else ""

    def components(self, n: int) -> list[str]:
        """Element ``n`` split by the component separator; ``[]`` when absent or empty."""
        value = self.element(n)
        return value.split(self.delimiters.component) if value else []

    def repetitions(self, n: int) -> list[str]:
        """Element ``n`` split by the repetition separator; ``[]`` when absent or empty."""
        value = self.element(n)
        if not value:
            return []
        sep = self.delimiters.repetition
        return value.split(sep) if sep is not None else [value]

    def __repr__(self) -> str:
        return (
            f"Segment(id={self.id!r}, elements={len(self.fields) - 1}, "
            f"ordinal={self.ordinal}, offset={self.offset})"
        )


# --- reading -----------------------------------------------------------------------

Source: TypeAlias = bytes | bytearray | memoryview | IO[bytes] | Iterable[bytes]
EncodingErrors: TypeAlias = Literal["replace", "strict"]

_CHUNK_SIZE: Final = 1 << 18
#: A run of bytes this long without a terminator is not X12.
_MAX_SEGMENT_BYTES: Final = 1 << 20
_BOM: Final = b"\xef\xbb\xbf"
_WHITESPACE: Final = frozenset(b" \t\r\n\x0b\x0c")
_SKIP_WHITESPACE: Final = re.compile(rb"[ \t\r\n\x0b\x0c]*")
_SEGMENT_ID: Final = re.compile(r"[A-Z0-9]{2,3}")
#: (start, end) of ISA01..ISA16 inside the 106 characters; separators in between.
_ISA_ELEMENTS: Final = (
    (4, 6), (7, 17), (18, 20), (21, 31), (32, 34), (35, 50), (51, 53), (54, 69),
    (70, 76), (77, 81), (82, 83), (84, 89), (90, 99), (100, 101), (102, 103), (104, 105),
)  # fmt: skip
_ISA_SEPARATORS: Final = tuple(start - 1 for start, _ in _ISA_ELEMENTS)


def _skip_whitespace(buf: bytes, pos: int) -> int:
    """Where the whitespace starting at ``pos`` ends (``pos`` itself when there is none)."""
    match = _SKIP_WHITESPACE.match(buf, pos)
    assert match is not None  # the pattern matches the empty string at any position
    return match.end()


def read_segments(
    source: Source,
    *,
    chunk_size: int = _CHUNK_SIZE,
    encoding_errors: EncodingErrors = "replace",
    warnings: Warnings | None = None,
) -> Iterator[Segment]:
    """Stream the segments of ``source``: bytes, a binary file, or an iterable of chunks.

    Raises :class:`X12SyntaxError` (with the segment's ordinal and byte offset)
    when the input does not start with an ISA, an ISA is not exactly 106
    characters, a segment id is malformed, or data follows an IEA that is not
    the next ISA.  A last segment without a terminator is accepted.

    With a ``warnings`` list (the tolerance policy of :mod:`edi.tolerance`), an
    ISA whose elements are not padded to their widths is read by its separators
    instead, and a segment whose id is garbled is passed on (its ``id`` is then
    not 2 or 3 letters or digits, see :func:`is_garbled`) for the reader to
    forgive or refuse; each is noted there.
    """
    return _Tokenizer(encoding_errors, warnings).run(_chunks(source, chunk_size))


def is_garbled(segment: Segment) -> bool:
    """The segment's id is not a segment id (only passed on by a tolerant read)."""
    return _SEGMENT_ID.fullmatch(segment.id) is None


def _chunks(source: Source, chunk_size: int) -> Iterator[bytes]:
    if isinstance(source, bytes | bytearray | memoryview):
        yield bytes(source)
        return
    read = getattr(source, "read", None)
    if read is not None:
        while chunk := read(chunk_size):
            if not isinstance(chunk, bytes | bytearray):
                raise TypeError("read_segments needs a binary file (open it with 'rb')")
            yield bytes(chunk)
        return
    if isinstance(source, str):
        raise TypeError("read_segments reads bytes: encode the text or open the file with 'rb'")
    for chunk in source:
        if not isinstance(chunk, bytes | bytearray | memoryview):
            raise TypeError("read_segments needs chunks of bytes")
        yield bytes(chunk)


def parse_isa(raw: bytes, *, ordinal: int, offset: int) -> tuple[list[str], Delimiters]:
    """Fields and delimiters of one ISA (``raw`` is its 106 bytes, terminator included)."""
    if len(raw) < ISA_LENGTH:
        raise X12SyntaxError(
            f"truncated ISA: {len(raw)} bytes where an ISA is exactly {ISA_LENGTH} "
            "characters including its terminator",
            ordinal=ordinal,
            offset=offset,
        )
    if not raw.isascii():
        raise X12SyntaxError("the ISA must be ASCII", ordinal=ordinal, offset=offset)
    text = raw[:ISA_LENGTH].decode("ascii")
    element = text[3]
    if any(text[i] != element for i in _ISA_SEPARATORS) or text.count(element, 0, 105) != 16:
        raise X12SyntaxError(
            f"the ISA is not fixed-width: each element must have its exact length "
            f"and the ISA exactly {ISA_LENGTH} characters including its terminator",
            ordinal=ordinal,
            offset=offset,
        )
    fields = ["ISA", *(text[start:end] for start, end in _ISA_ELEMENTS)]
    # 4010 style: ISA11 holds a code (U), not a separator
    repetition = None if fields[11].isalnum() else fields[11]
    try:
        delimiters = Delimiters(element, fields[16], repetition, text[105])
    except X12SyntaxError as exc:
        raise X12SyntaxError(
            f"invalid delimiters in the ISA: {exc.reason}", ordinal=ordinal, offset=offset
        ) from None
    return fields, delimiters


#: The longest ISA a tolerant read looks for (elements longer than their widths
#: are refused later by the readers' own checks).
_MAX_LOOSE_ISA: Final = 2 * ISA_LENGTH


def parse_loose_isa(raw: bytes, *, ordinal: int, offset: int) -> tuple[list[str], Delimiters, int]:
    """An ISA whose elements are not padded, read by its separators: fields,
    delimiters and its length in bytes (terminator included).

    The element separator is the 4th character, ISA16 is the one character after
    the 16th separator, and the character after it is the segment terminator.
    Each field is padded back to its fixed width so what follows reads the same
    as from a well-formed ISA.
    """
    head = raw[:_MAX_LOOSE_ISA]
    if len(head) < 4 or not head.isascii():
        raise X12SyntaxError("the ISA must be ASCII", ordinal=ordinal, offset=offset)
    text = head.decode("ascii")
    element = text[3]
    at = 3
    for _ in range(15):
        at = text.find(element, at + 1)
        if at < 0:
            break
    end = at + 1 + 1  # ISA16 is one character; the terminator follows
    if at < 0 or end >= len(text):
        raise X12SyntaxError(
            "the ISA is not fixed-width and its 16 elements cannot be found",
            ordinal=ordinal,
            offset=offset,
        )
    values = text[4:end].split(element)
    if len(values) != 16 or len(values[15]) != 1:
        raise X12SyntaxError(
            "the ISA is not fixed-width and its 16 elements cannot be found",
            ordinal=ordinal,
            offset=offset,
        )
    fields = ["ISA"]
    for raw_value, (start, stop) in zip(values, _ISA_ELEMENTS, strict=True):
        width, value = stop - start, raw_value.strip()
        if len(value) > width:
            raise X12SyntaxError(
                f"ISA{len(fields):02d} is longer than its {width} characters",
                ordinal=ordinal,
                offset=offset,
            )
        fields.append(value.zfill(width) if len(fields) == 13 else value.ljust(width))
    repetition = None if fields[11].isalnum() else fields[11]
    try:
        delimiters = Delimiters(element, fields[16], repetition, text[end])
    except X12SyntaxError as exc:
        raise X12SyntaxError(
            f"invalid delimiters in the ISA: {exc.reason}", ordinal=ordinal, offset=offset
        ) from None
    return fields, delimiters, end + 1


def pad_loose_isas(data: bytes, warnings: Iterable[ReadWarning]) -> bytes:
    """``data`` with every ISA a tolerant read found unpadded written at its fixed
    width (for tools that insist on it, such as the validator behind our 999s);
    segment ordinals are unchanged."""
    loose = sorted(
        (w for w in warnings if w.rule == "isa-not-fixed-width"),
        key=lambda w: w.offset,
        reverse=True,
    )
    for w in loose:
        fields, delimiters, length = parse_loose_isa(
            data[w.offset :], ordinal=w.segment, offset=w.offset
        )
        fixed = (delimiters.element.join(fields) + delimiters.segment).encode("ascii")
        data = data[: w.offset] + fixed + data[w.offset + length :]
    return data


def _is_isa_start(raw: bytes) -> bool:
    """``raw`` (stripped) starts with an ISA header rather than a longer segment id."""
    return raw[:3] == b"ISA" and (len(raw) == 3 or not chr(raw[3]).isalnum())


class _Tokenizer:
    """The state of one :func:`read_segments` run."""

    def __init__(self, encoding_errors: EncodingErrors, warnings: Warnings | None = None):
        self.errors: str = encoding_errors
        self.warnings = warnings
        self.ordinal = 0
        self.delimiters: Delimiters | None = None
        self.expect_isa = True  # the next data must be an ISA (start, or delimiters change)
        self.in_interchange = False
        self.seen_isa = False
        self.valid_ids: set[str] = set()

    def run(self, chunks: Iterator[bytes]) -> Iterator[Segment]:
        buf = b""
        base = 0  # file offset of buf[0]
        first = True
        for chunk in chunks:
            if not chunk:
                continue
            buf = buf + chunk if buf else chunk
            pos = 0
            if first:
                if len(buf) < len(_BOM) and _BOM.startswith(buf):
                    continue  # wait for enough bytes to tell whether this is a BOM
                first = False
                if buf.startswith(_BOM):
                    pos = len(_BOM)
            pos = yield from self._consume(buf, base, pos, final=False)
            buf = buf[pos:]
            base += pos
        yield from self._consume(buf, base, 0, final=True)
        if not self.seen_isa:
            raise X12SyntaxError("missing ISA: the input is empty", ordinal=1, offset=base)

    def _consume(
        self, buf: bytes, base: int, pos: int, *, final: bool
    ) -> Generator[Segment, None, int]:
        """Yield the complete segments of ``buf[pos:]``; return where unread data starts."""
        while True:
            if self.expect_isa or (not self.in_interchange and self._next_isa_differs(buf, pos)):
                start = _skip_whitespace(buf, pos)
                if start == len(buf) or (len(buf) - start < ISA_LENGTH and not final):
                    return start
                segment, length = self._read_isa(buf, base, start)
                yield segment
                pos = start + length
                continue
            resync, pos = yield from self._split(buf, base, pos, final=final)
            if resync is None:
                return pos
            pos = resync

    def _next_isa_differs(self, buf: bytes, pos: int) -> bool:
        """After an IEA: is the next ISA unread, or does it end with another terminator?"""
        assert self.delimiters is not None
        start = _skip_whitespace(buf, pos)
        if start == len(buf) or not _is_isa_start(buf[start : start + 4]):
            return False  # nothing yet, or not an ISA (which _split reports)
        end = start + ISA_LENGTH - 1
        return end >= len(buf) or buf[end] != ord(self.delimiters.segment)

    def _read_isa(self, buf: bytes, base: int, start: int) -> tuple[Segment, int]:
        ordinal = self.ordinal + 1
        offset = base + start
        if not _is_isa_start(buf[start : start + 4]):
            if self.seen_isa:
                raise X12SyntaxError(
                    "data after an IEA that is not the next ISA", ordinal=ordinal, offset=offset
                )
            raise X12SyntaxError(
                "missing ISA: the input does not start with an interchange header",
                ordinal=ordinal,
                offset=offset,
            )
        length = ISA_LENGTH
        try:
            fields, delimiters = parse_isa(
                buf[start : start + ISA_LENGTH], ordinal=ordinal, offset=offset
            )
        except X12SyntaxError as exc:
            if self.warnings is None or "not fixed-width" not in exc.reason:
                raise
            fields, delimiters, length = parse_loose_isa(
                buf[start:], ordinal=ordinal, offset=offset
            )
            self.warnings.add(
                "isa-not-fixed-width", segment=ordinal, offset=offset, segment_id="ISA"
            )
        return self._open_interchange(fields, delimiters, offset), length

    def _open_interchange(self, fields: list[str], delimiters: Delimiters, offset: int) -> Segment:
        self.ordinal += 1
        self.delimiters = delimiters
        self.expect_isa = False
        self.in_interchange = True
        self.seen_isa = True
        return Segment(fields, self.ordinal, offset, delimiters)

    def _split(
        self, buf: bytes, base: int, pos: int, *, final: bool
    ) -> Generator[Segment, None, tuple[int | None, int]]:
        """Yield the segments of ``buf[pos:]`` split on the current terminator.

        Returns ``(resync, unread)``: ``resync`` is the buffer position of an
        ISA to read again because the delimiters change (else ``None``) and
        ``unread`` where the incomplete tail starts.
        """
        delimiters = self.delimiters
        assert delimiters is not None
        term = delimiters.segment.encode("ascii")
        parts = buf[pos:].split(term)
        tail = b"" if final else parts.pop()
        cursor = base + pos  # file offset of the current part
        element = delimiters.element
        errors = self.errors
        valid_ids: set[str] | frozenset[str] = (
            self.valid_ids if self.in_interchange else frozenset()
        )
        whitespace = _WHITESPACE
        ordinal = self.ordinal
        for part in parts:
            size = len(part)
            lead = 0
            if size and (part[0] in whitespace or part[-1] in whitespace):
                stripped = part.lstrip()
                lead = size - len(stripped)
                part = stripped.rstrip()  # noqa: PLW2901 -- hot loop: no second name for the stripped part
            if not part:
                cursor += size + 1
                continue
            offset = cursor + lead
            try:
                fields = part.decode("utf-8", errors).split(element)
            except UnicodeDecodeError:
                raise X12EncodingError(
                    "a segment is not valid UTF-8", ordinal=ordinal + 1, offset=offset
                ) from None
            if fields[0] not in valid_ids:
                self.ordinal = ordinal
                new = self._special(part, fields, offset)
                if new is None:  # an ISA with other delimiters: read it again
                    self.expect_isa = True
                    return offset - base, offset - base
                if new.id == "ISA":
                    delimiters = new.delimiters
                    element = delimiters.element
                    valid_ids = self.valid_ids
                elif new.id == "IEA":
                    valid_ids = frozenset()
                ordinal = self.ordinal
                yield new
                cursor += size + 1
                continue
            ordinal += 1
            yield Segment(fields, ordinal, offset, delimiters)
            cursor += size + 1
        self.ordinal = ordinal
        if len(tail) > _MAX_SEGMENT_BYTES:
            stripped = tail.lstrip()
            if _is_isa_start(stripped[:4]):
                self.expect_isa = True
                resync = cursor - base + len(tail) - len(stripped)
                return resync, resync
            raise X12SyntaxError(
                f"no segment terminator within {_MAX_SEGMENT_BYTES} bytes",
                ordinal=ordinal + 1,
                offset=cursor,
            )
        return None, len(buf) - len(tail)

    def _special(self, raw: bytes, fields: list[str], offset: int) -> Segment | None:
        """A segment off the fast path: ISA, IEA, a new id, or data outside an interchange.

        Returns ``None`` for an ISA that must be read again with its own delimiters.
        """
        assert self.delimiters is not None
        ordinal = self.ordinal + 1
        if _is_isa_start(raw[:4]):
            if len(raw) != ISA_LENGTH - 1:
                return None
            isa_fields, delimiters = parse_isa(
                raw + self.delimiters.segment.encode("ascii"), ordinal=ordinal, offset=offset
            )
            return self._open_interchange(isa_fields, delimiters, offset)
        if not self.in_interchange:
            raise X12SyntaxError(
                "data after an IEA that is not the next ISA", ordinal=ordinal, offset=offset
            )
        segment_id = fields[0]
        if not _SEGMENT_ID.fullmatch(segment_id):
            if self.warnings is not None:  # the reader knows whether it may forgive it
                self.ordinal = ordinal
                return Segment(fields, ordinal, offset, self.delimiters)
            raise X12SyntaxError(
                "invalid segment id (2 or 3 upper-case letters or digits expected)",
                ordinal=ordinal,
                offset=offset,
            )
        if segment_id == "IEA":
            self.in_interchange = False
        else:
            self.valid_ids.add(segment_id)
        self.ordinal = ordinal
        return Segment(fields, ordinal, offset, self.delimiters)


# --- writing -----------------------------------------------------------------------

#: One element to write: text, a composite (its components), or ``None`` for empty.
Element: TypeAlias = str | Sequence[str | None] | None


@lru_cache(maxsize=16)
def _forbidden(delimiters: Delimiters) -> re.Pattern[str]:
    chars = delimiters.element + delimiters.component + delimiters.segment
    chars += delimiters.repetition or ""
    return re.compile(f"[{re.escape(chars)}\\x00-\\x1f\\x7f]")


def _check_value(value: object, forbidden: re.Pattern[str], where: str) -> str:
    if not isinstance(value, str):
        raise X12RenderError(f"{where}: expected text, got {type(value).__name__}")
    if forbidden.search(value):
        raise X12DelimiterError(f"{where} contains a delimiter or control character")
    return value


def render_segment(
    segment_id: str,
    elements: Sequence[Element],
    delimiters: Delimiters = DEFAULT_DELIMITERS,
) -> str:
    """One segment, terminator included, e.g. ``render_segment("SV1", [("HC", "97140"), "40"])``.

    ``elements[0]`` is element 1.  A composite is a tuple or list of its
    components.  ``None`` and ``""`` are empty; trailing empty elements (and
    trailing empty components of a composite) are left out.  Raises
    :class:`X12DelimiterError` naming the position (``SV101-2``) when a value
    contains a delimiter or a control character, and :class:`X12RenderError`
    for a malformed segment id or a value that is not text.
    """
    if not isinstance(segment_id, str) or not _SEGMENT_ID.fullmatch(segment_id):
        raise X12RenderError("invalid segment id (2 or 3 upper-case letters or digits expected)")
    forbidden = _forbidden(delimiters)
    quick = _render_clean(segment_id, elements, delimiters, forbidden)
    if quick is not None:
        return quick
    # something is wrong: render again checking each value, to name its position
    texts = [segment_id]
    for index, value in enumerate(elements, start=1):
        where = f"{segment_id}{index:02d}"
        if value is None:
            texts.append("")
        elif isinstance(value, str):
            texts.append(_check_value(value, forbidden, where))
        elif not isinstance(value, Sequence):
            raise X12RenderError(f"{where}: expected text, got {type(value).__name__}")
        else:
            parts = [
                "" if part is None else _check_value(part, forbidden, f"{where}-{n}")
                for n, part in enumerate(value, start=1)
            ]
            while parts and not parts[-1]:
                parts.pop()
            texts.append(delimiters.component.join(parts))
    while len(texts) > 1 and not texts[-1]:
        texts.pop()
    return delimiters.element.join(texts) + delimiters.segment


def _render_clean(
    segment_id: str,
    elements: Sequence[Element],
    delimiters: Delimiters,
    forbidden: re.Pattern[str],
) -> str | None:
    """:func:`render_segment` for a segment whose values are all plain text without
    a delimiter or control character (nearly every one), checked once over all of
    them; None when any is not, so the caller finds which and says where."""
    texts = [segment_id]
    values: list[str] = []
    for value in elements:
        if value is None:
            texts.append("")
        elif type(value) is str:
            texts.append(value)
            values.append(value)
        elif type(value) is tuple or type(value) is list:
            parts = ["" if part is None else part for part in value]
            if any(type(part) is not str for part in parts):
                return None
            values += parts
            while parts and not parts[-1]:
                parts.pop()
            texts.append(delimiters.component.join(parts))
        else:
            return None
    if forbidden.search("".join(values)):
        return None
    while len(texts) > 1 and not texts[-1]:
        texts.pop()
    return delimiters.element.join(texts) + delimiters.segment


def _fixed(value: str, width: int, where: str, forbidden: re.Pattern[str]) -> str:
    _check_value(value, forbidden, where)
    if len(value) > width:
        raise X12RenderError(f"{where} is longer than {width} characters")
    return value.ljust(width)


def render_isa(
    *,
    sender_id: str,
    receiver_id: str,
    control_number: int,
    created: date,
    created_time: time,
    sender_qualifier: str = "ZZ",
    receiver_qualifier: str = "ZZ",
    usage: Literal["P", "T"] = "P",
    acknowledgment_requested: bool = False,
    version: str = "00501",
    authorization_qualifier: str = "00",
    authorization: str = "",
    security_qualifier: str = "00",
    security: str = "",
    delimiters: Delimiters = DEFAULT_DELIMITERS,
) -> str:
    """The fixed-width ISA header: exactly 106 characters, terminator included.

    Text elements are padded with spaces to their width (ISA02/ISA04 10,
    ISA06/ISA08 15), ISA09 is ``YYMMDD``, ISA10 ``HHMM`` and ISA13 the control
    number as 9 digits.  ISA11 is the repetition separator and ISA16 the
    component separator of ``delimiters``.
    """
    if delimiters.repetition is None:
        raise X12RenderError("ISA11: a 5010 interchange needs a repetition separator")
    if not 0 < control_number <= 999_999_999:
        raise X12RenderError("ISA13: the control number must be between 1 and 999999999")
    forbidden = _forbidden(delimiters)
    elements = [
        _fixed(authorization_qualifier, 2, "ISA01", forbidden).replace(" ", "0"),
        _fixed(authorization, 10, "ISA02", forbidden),
        _fixed(security_qualifier, 2, "ISA03", forbidden).replace(" ", "0"),
        _fixed(security, 10, "ISA04", forbidden),
        _fixed(sender_qualifier, 2, "ISA05", forbidden),
        _fixed(sender_id, 15, "ISA06", forbidden),
        _fixed(receiver_qualifier, 2, "ISA07", forbidden),
        _fixed(receiver_id, 15, "ISA08", forbidden),
        created.strftime("%y%m%d"),
        created_time.strftime("%H%M"),
        delimiters.repetition,
        _fixed(version, 5, "ISA12", forbidden),
        f"{control_number:09d}",
        "1" if acknowledgment_requested else "0",
        usage,
        delimiters.component,
    ]
    for index, (value, (start, end)) in enumerate(zip(elements, _ISA_ELEMENTS, strict=True), 1):
        if len(value) != end - start:
            raise X12RenderError(f"ISA{index:02d} must be {end - start} characters")
    text = delimiters.element.join(["ISA", *elements]) + delimiters.segment
    assert len(text) == ISA_LENGTH
    return text
