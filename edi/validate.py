"""The validation gate: pyx12 behind one function, with findings safe to put anywhere.

:func:`validate_x12` runs pyx12's validator (``pyx12.x12n_document``, the engine
of its ``x12valid`` script) over X12 text or bytes and returns a
:class:`ValidationReport`: ``ok`` and a list of :class:`Finding` objects, each
locating one problem (segment ordinal in the file, position in the transaction
set, segment id, element reference, error code) with a message.

Guarantees
----------
* **No files.**  Everything happens in memory (``io.StringIO``); pyx12's own
  script writes its reports next to its input, this never does.
* **No data values in findings.**  pyx12's messages sometimes quote the
  offending value (``len("SMITH") = 5``, ``(XX) is not a valid code``, a
  segment's first element, control numbers, whole ISA segments).  Every message
  is matched against pyx12's known message shapes and rewritten without the
  value; a message of an unknown shape is withheld (the finding keeps its
  code, segment and element).  Segment ids are reported only when they are
  real segment ids of the 837P/envelope maps.  Findings can therefore go
  into dead-letter headers and logs.
* **No state between calls.**  pyx12 builds its error tree and walker afresh on
  every call, so one file cannot influence the next.  Its XML maps are loaded
  once per process and reused (:func:`reuse_maps`): loading them was nearly all
  of pyx12's fixed cost per call (about 0.15 s on the 2-core development
  machine; each claim adds about 2 ms).  In pyx12 4 a map is read-only while a
  file is walked (loop and segment counts live in the walker's ``NodeCounter``;
  the map nodes' own counters raise ``DeprecationWarning``); the unit tests pin
  that, and check on a corpus of good and broken files, in mixed order, that
  every verdict and finding equals the one from freshly loaded maps.
  The only process-wide change is that pyx12's loggers are silenced (they log
  the same value-quoting messages): the ``pyx12`` logger gets a ``NullHandler``,
  level ``CRITICAL`` and no propagation.

Input handling: a UTF-8 byte-order mark is removed (a warning finding says so);
bytes that are not UTF-8 are an error finding (with the byte offset) and are
replaced by U+FFFD so the rest of the file is still checked; input that does
not start with an ``ISA`` is an error without calling pyx12; pyx12 engine
failures (e.g. no map for the group's GS08, such as ``005010X222A2``) become
findings instead of exceptions.

Size: pyx12 holds the whole document and its error tree (about 10 MB of memory
and 10 s per MB of input on the development machine), so the commands that run
it on a file (``claims edi validate``, ``claims edi ack-835``) read at most
``workers.runtime.limits.VALIDATE_FILE_BYTES`` (10 MB), less than the readers'
own limit.

ISA11
-----
pyx12's 837 map (``837.5010.X222.A1.xml``) still describes ISA11 with its 4010
meaning (code ``U``), while in 5010 ISA11 is the repetition separator.  In
pyx12 4.0.0 this does not matter: ``x12n_document`` always validates the ISA
against ``x12.control.00501.xml`` (ISA11 = data element I65, any one
character), never against the transaction map's ISA node.  A proper ``^`` is
therefore accepted as it is (and so would be ``U``: pyx12 does not check ISA11
at all), no normalisation is applied, and a unit test pins this behaviour so a
pyx12 upgrade that starts using the transaction map's ISA is noticed.
"""

from __future__ import annotations

import io
import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, Final, Literal

__all__ = ["Finding", "ValidationReport", "validate_x12"]

Severity = Literal["error", "warning"]
Level = Literal["file", "interchange", "group", "transaction", "segment", "element"]

_BOM: Final = "\ufeff"
_BOM_BYTES: Final = b"\xef\xbb\xbf"

#: Segment ids of pyx12's 837P (005010X222A1) and 5010 control maps.
_KNOWN_SEGMENT_IDS: Final = (
    "AMT BHT CAS CLM CN1 CR1 CR2 CR3 CRC CTP CUR DMG DTP FRM GE GS HCP HI HL IEA ISA K3 LIN "
    "LQ LX MEA MOA N3 N4 NM1 NTE OI PAT PER PRV PS1 PWK QTY REF SBR SE ST SV1 SV5 SVD TA1"
)
KNOWN_SEGMENTS: Final = frozenset(_KNOWN_SEGMENT_IDS.split())


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem pyx12 (or the gate) found.  Never holds a data value.

    ``ordinal`` is the 1-based position of the segment in the file,
    ``position`` its position within the transaction set (``ST`` = 1) when
    pyx12 knows it, ``element`` a reference such as ``NM103`` or ``CLM05-03``,
    ``code`` pyx12's error code (X12 999 IK3/IK4/IK5/AK9 or TA1 codes, or
    pyx12's own such as ``HL1``) or one of the gate's own codes: ``bom``,
    ``encoding``, ``not-x12``, ``no-map``, ``engine``.
    """

    severity: Severity
    level: Level
    code: str
    message: str
    segment_id: str | None = None
    ordinal: int | None = None
    position: int | None = None
    element: str | None = None
    segment_name: str | None = None

    def __str__(self) -> str:
        where = []
        if self.ordinal is not None:
            where.append(f"segment {self.ordinal}")
        if self.segment_id is not None:
            where.append(self.segment_id)
        if self.segment_name:
            where.append(f"({self.segment_name})")
        if self.element is not None:
            where.append(f"element {self.element}")
        place = " ".join(where) or self.level
        return f"{self.severity}: {place}: [{self.code}] {self.message}"


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """The verdict on one input: ``ok`` when pyx12 found no error."""

    ok: bool
    findings: list[Finding] = field(default_factory=list)
    #: Wall-clock seconds spent inside pyx12 (0 when it was not called).
    pyx12_seconds: float = 0.0

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]


# --- message scrubbing ------------------------------------------------------------------

_NAME = r'"[^"]*"'
_REF = r"\([A-Z0-9]{2,3}[0-9]{2}(?:-[0-9]{2})?\)"

#: Messages kept as they are: everything in them comes from pyx12's maps.
_SAFE: Final = tuple(
    re.compile(p)
    for p in (
        rf"Mandatory data element {_NAME} {_REF} is missing",
        rf"Data element {_NAME} {_REF} is (?:marked as Not Used|an invalid composite)",
        rf"(?:Mandatory composite|Composite) {_NAME} {_REF} "
        r"(?:is missing|is marked as Not Used)",
        rf"Too many sub-elements in composite {_NAME} {_REF}",
        rf"Too many elements in segment {_NAME} \([A-Z0-9]+\)\. Has \d+, should have \d+",
        rf"Mandatory (?:segment|loop) {_NAME} \([A-Z0-9]+\) missing",
        r"(?:Segment|Loop) [A-Z0-9]+ found but marked as not used",
        r"(?:Segment|Loop) [A-Z0-9]+ exceeded max count\.  Found \d+, should have \d+",
        r"Syntax Error \([A-Z0-9]+\): [A-Za-z0-9 ,]+",
        r"Segment contains a leading space",
        r"Segment contains trailing element terminators",
    )
)

#: Messages that quote a value, and how to say them without it.
_REWRITES: Final = tuple(
    (re.compile(p, re.DOTALL), r)
    for p, r in (
        (
            rf"(Data element {_NAME} {_REF}) is too (short|long): "
            r'len\(".*"\) = (\d+) ([<>]) (\d+) \((min_len|max_len)\)',
            r"\1 is too \2: length \3 \4 \5 (\6)",
        ),
        (
            rf"(Data element {_NAME} {_REF}),? contains an invalid control character\(.*\)",
            r"\1 contains an invalid control character",
        ),
        (
            rf"(Data element {_NAME} {_REF}) has unnecessary trailing spaces\. \(.*\)",
            r"\1 has unnecessary trailing spaces",
        ),
        (
            rf"(Data element {_NAME} {_REF}) contains an invalid (date|time) \(.*\)",
            r"\1 contains an invalid \2",
        ),
        (
            rf"(Data element {_NAME} {_REF}) is type (\w+), contains an invalid character\(.*\)",
            r"\1 is type \2, contains an invalid character",
        ),
        (
            rf"Data element ({_NAME}) with a value of \(.*\) failed to match "
            rf"the regular expression ({_NAME})",
            r"Data element \1 failed to match the regular expression \2",
        ),
        (rf".* is not a valid code for ([^\"()]+ {_REF})", r"Value is not a valid code for \1"),
        (r'Segment ".*" is empty', "Segment is empty"),
        (r'Segment identifier ".*" is invalid', "Segment identifier is invalid"),
        (r"The ISA segment must have 16 elements.*", "The ISA segment must have 16 elements"),
        (
            r"(ISA|GS|ST) Interchange Control Number .* not unique within file",
            r"\1 control number is not unique within the file",
        ),
        (
            r"My HL count (\d+) does not match your HL count .*",
            r"HL01 does not match the HL count (expected \1)",
        ),
        (r"HL parent \(.*\) is not a valid parent", "HL02 does not name a valid parent"),
        (
            r"Your 2400/LX01 Service Line Number .* does not match my count of (\d+)",
            r"LX01 does not match the service line count (expected \1)",
        ),
        (r"Unterminated Loop .*", "Unterminated loop (a trailer is missing)"),
        (r"Unterminated segment .*", "Unterminated transaction set (SE missing)"),
        (r"IEA id=.* does not match ISA id=.*", "IEA02 does not match ISA13"),
        (r"IEA count for IEA02=.* is wrong", "IEA01 (group count) is wrong"),
        (r"GE id=.* does not match GS id=.*", "GE02 does not match GS06"),
        (
            r"GE count of .* is wrong\. I count (\d+)",
            r"GE01 (transaction count) is wrong, expected \1",
        ),
        (r"SE id=.* does not match ST id=.*", "SE02 does not match ST02"),
        (r"SE count of .* is wrong\. I count (\d+)", r"SE01 (segment count) is wrong, expected \1"),
        (
            r'Mandatory segment ("[A-Za-z ]+") \((SE|GE|IEA)=.*\) missing',
            r"Mandatory segment \1 (\2) missing",
        ),
        (r"First line does not begin with 'ISA'.*", "The input does not start with an ISA segment"),
        (r"ISA line is only \d+ characters", "The ISA segment is shorter than 106 characters"),
        (
            r"ISA Interchange Control Version Number is unknown.*",
            "ISA12 (version) is not 00401 or 00501",
        ),
    )
)

_NOT_FOUND: Final = re.compile(r"Segment (.*) not found\.  Started at (/\S*)", re.DOTALL)
_WITHHELD: Final = "message withheld (a pyx12 message of unknown shape may quote data)"


def _segment_not_found(match: re.Match[str]) -> str:
    """pyx12 quotes the segment id and its first element; keep a real segment id only."""
    segment_id = match.group(1).split("*", 1)[0]
    shown = segment_id if segment_id in KNOWN_SEGMENTS else "(unknown id)"
    return f"Segment {shown} not found here (search started at {match.group(2)})"


def scrub_message(message: str, value: str | None = None) -> str:
    """pyx12's ``message`` without any data value it quotes (see the module docstring)."""
    text = message.strip()
    for pattern in _SAFE:
        if pattern.fullmatch(text):
            return _without_value(text, value)
    for pattern, replacement in _REWRITES:
        match = pattern.fullmatch(text)
        if match:
            return _without_value(match.expand(replacement), value)
    match = _NOT_FOUND.fullmatch(text)
    if match:
        return _without_value(_segment_not_found(match), value)
    return _WITHHELD


def _without_value(text: str, value: str | None) -> str:
    """Belt and braces: the reported value never appears as a word in the message."""
    if not value or not value.strip():
        return text
    pattern = rf"(?<![A-Za-z0-9]){re.escape(value.strip())}(?![A-Za-z0-9])"
    return re.sub(pattern, "(value)", text)


def _segment_id(raw: Any) -> str | None:
    return raw if isinstance(raw, str) and raw in KNOWN_SEGMENTS else None


# --- reading pyx12's error tree ---------------------------------------------------------


def _envelope_findings(node: dict[str, Any], level: Level, segment_id: str) -> list[Finding]:
    ordinal = node.get("cur_line")
    return [
        Finding(
            severity="error",
            level=level,
            code=str(error.get("err_cde")),
            message=scrub_message(str(error.get("err_str", ""))),
            segment_id=segment_id,
            ordinal=ordinal if isinstance(ordinal, int) else None,
        )
        for error in node.get("errors") or []
    ]


def _element_ref(segment_id: str | None, element: dict[str, Any]) -> str | None:
    position = element.get("ele_pos")
    if segment_id is None or not isinstance(position, int):
        return None
    sub = element.get("subele_pos")
    return f"{segment_id}{position:02d}" + (f"-{sub:02d}" if isinstance(sub, int) else "")


def _segment_findings(segment: dict[str, Any]) -> list[Finding]:
    segment_id = _segment_id(segment.get("seg_id"))
    line = segment.get("cur_line")
    count = segment.get("seg_count")
    name = segment.get("name") if isinstance(segment.get("name"), str) else None
    common: dict[str, Any] = {
        "segment_id": segment_id,
        "ordinal": line if isinstance(line, int) else None,
        "position": count if isinstance(count, int) else None,
        "segment_name": name if name and name != "Unknown" else None,
    }
    findings = [
        Finding(
            severity="error",
            level="segment",
            code=str(error.get("err_cde")),
            message=scrub_message(str(error.get("err_str", "")), error.get("err_val")),
            **common,
        )
        for error in segment.get("errors") or []
    ]
    for element in segment.get("elements") or []:
        ref = _element_ref(segment_id, element)
        findings.extend(
            Finding(
                severity="error",
                level="element",
                code=str(error.get("err_cde")),
                message=scrub_message(str(error.get("err_str", "")), error.get("err_val")),
                element=ref,
                **common,
            )
            for error in element.get("errors") or []
        )
    return findings


def _findings_from_tree(document: dict[str, Any]) -> list[Finding]:
    findings: list[Finding] = []
    for interchange in document.get("interchanges") or []:
        findings += _envelope_findings(interchange, "interchange", "ISA")
        for group in interchange.get("groups") or []:
            findings += _envelope_findings(group, "group", "GS")
            for transaction in group.get("transactions") or []:
                findings += _envelope_findings(transaction, "transaction", "ST")
                for segment in transaction.get("segments") or []:
                    findings += _segment_findings(segment)
    findings.sort(key=lambda f: (f.ordinal is None, f.ordinal or 0))
    return findings


# --- running pyx12 ----------------------------------------------------------------------


def _quiet_pyx12() -> None:
    """pyx12 logs its messages with the values in them: keep them out of every log."""
    logger = logging.getLogger("pyx12")
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())
    logger.setLevel(logging.CRITICAL)
    logger.propagate = False


def _decode(data: str | bytes) -> tuple[str, list[Finding]]:
    findings: list[Finding] = []
    if isinstance(data, bytes):
        if data.startswith(_BOM_BYTES):
            data = data[len(_BOM_BYTES) :]
            findings.append(_bom_finding())
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            findings.append(
                Finding(
                    severity="error",
                    level="file",
                    code="encoding",
                    message=f"the input is not UTF-8 text (first bad byte at offset {exc.start}); "
                    "bad bytes were replaced to check the rest",
                )
            )
            text = data.decode("utf-8", errors="replace")
    else:
        text = data
    if text.startswith(_BOM):
        text = text[1:]
        findings.append(_bom_finding())
    return text, findings


def _bom_finding() -> Finding:
    return Finding(
        severity="warning",
        level="file",
        code="bom",
        message="the input starts with a byte-order mark, which X12 does not allow; it was ignored",
    )


def _gs_codes(text: str) -> str:
    """GS01/GS08 of the first group, for the no-map message (codes only, never data)."""
    if len(text) < 106:
        return ""
    element, terminator = text[3], text[105]
    for segment in text[106:4096].split(terminator):
        fields = segment.strip().split(element)
        if fields[0] == "GS" and len(fields) > 8:
            codes = (fields[1], fields[8])
            if all(re.fullmatch(r"[A-Z0-9]{1,12}", code) for code in codes):
                return f" (GS01 {codes[0]}, GS08 {codes[1]})"
            return ""
    return ""


def _isa_problem(text: str) -> Finding | None:
    """What pyx12's reader says about the ISA (``x12n_document`` only logs it)."""
    import pyx12.errors
    import pyx12.rawx12file

    try:
        pyx12.rawx12file.RawX12File(io.StringIO(text[:512]))
    except pyx12.errors.X12Error as exc:
        return Finding(
            severity="error",
            level="interchange",
            code="not-x12",
            message=scrub_message(str(exc)),
            segment_id="ISA",
            ordinal=1,
        )
    return None


#: pyx12 maps loaded in this process, by (file, directory, parameters).
_MAPS: dict[tuple[str, str | None, str], Any] = {}
_reuse = True


def reuse_maps(enabled: bool) -> bool:
    """Whether :func:`validate_x12` reuses the maps it loaded (the default) or loads
    them afresh on every call, as pyx12 itself does; returns the previous setting."""
    global _reuse
    previous, _reuse = _reuse, enabled
    return previous


def _load_maps_once() -> None:
    """Route ``x12n_document``'s map loads through :data:`_MAPS`."""
    import pyx12.map_if

    if getattr(pyx12.map_if, "_claims_maps_reused", False):
        return
    load = pyx12.map_if.load_map_file

    def load_map_file(map_file: str, param: Any, map_path: str | None = None) -> Any:
        if not _reuse:
            return load(map_file, param, map_path)
        key = (map_file, map_path, repr(sorted(param.params.items())))
        found = _MAPS.get(key)
        if found is None:
            found = _MAPS[key] = load(map_file, param, map_path)
        return found

    pyx12.map_if.load_map_file = load_map_file
    pyx12.map_if._claims_maps_reused = True


def _run_pyx12(text: str) -> tuple[bool, dict[str, Any]]:
    import pyx12.params
    import pyx12.x12n_document

    _load_maps_once()
    sink = io.StringIO()
    valid = pyx12.x12n_document.x12n_document(
        pyx12.params.ParamsBase(), io.StringIO(text), None, None, None, sink
    )
    raw = sink.getvalue()
    return bool(valid), (json.loads(raw) if raw else {})


def _engine_finding(text: str, exc: Exception) -> Finding:
    import pyx12.errors

    if isinstance(exc, pyx12.errors.EngineError) and "Map not found" in str(exc):
        return Finding(
            severity="error",
            level="group",
            code="no-map",
            message="pyx12 has no map for this functional group's version" + _gs_codes(text),
            segment_id="GS",
        )
    if isinstance(exc, pyx12.errors.X12Error):
        return Finding(
            severity="error",
            level="interchange",
            code="not-x12",
            message=scrub_message(str(exc)),
            segment_id="ISA",
        )
    return Finding(
        severity="error",
        level="file",
        code="engine",
        message=f"pyx12 could not process the input ({type(exc).__name__})",
    )


def validate_x12(data: str | bytes) -> ValidationReport:
    """Validate X12 ``data`` with pyx12; never raises for bad input, never writes files."""
    text, findings = _decode(data)
    if not text.startswith("ISA"):
        findings.append(
            Finding(
                severity="error",
                level="file",
                code="not-x12",
                message="the input does not start with an ISA segment",
            )
        )
        return ValidationReport(ok=False, findings=findings)
    _quiet_pyx12()
    problem = _isa_problem(text)
    if problem is not None:
        return ValidationReport(ok=False, findings=[*findings, problem])
    started = time.perf_counter()
    try:
        valid, document = _run_pyx12(text)
    except Exception as exc:  # pyx12 raises for several kinds of malformed input
        findings.append(_engine_finding(text, exc))
        return ValidationReport(
            ok=False, findings=findings, pyx12_seconds=time.perf_counter() - started
        )
    elapsed = time.perf_counter() - started
    findings += _findings_from_tree(document)
    errors = any(f.severity == "error" for f in findings)
    if not valid and not errors:
        findings.append(
            Finding(
                severity="error",
                level="file",
                code="engine",
                message="pyx12 rejected the input without saying where",
            )
        )
        errors = True
    return ValidationReport(ok=not errors, findings=findings, pyx12_seconds=elapsed)
