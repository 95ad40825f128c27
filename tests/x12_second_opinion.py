"""A second, independent X12 implementation for the tests: x12sdk.

The engine gates its 837s with pyx12 (`edi/validate.py`); a validator we gate
with is never the only one we test with.  x12sdk (the Pydantic 2 continuation of
LinuxForHealth x12) shares no code or data with pyx12: pyx12 walks the
implementation guide's XML maps, x12sdk places each segment in a loop by its id
and qualifiers and then validates the whole transaction set as nested Pydantic
models (required loops and segments, repeat limits, element lengths, code
values, dates, HL parent links, the SE01 segment count).

:func:`second_opinion_837` and :func:`second_opinion_835` return the problems
x12sdk finds, one string each, empty when it finds none.  Each names the segment:
``"segment 12 CLM: ..."`` when x12sdk could not place or read a segment, or the
loop path and element, such as ``"2000A[0] 2000B[0] 2300[0] CLM02
(total_claim_charge_amount): Field required"``, when the finished transaction set
fails validation.

What x12sdk does not check (pyx12 does, at the gate): the envelope's control
numbers and counts (ISA13/IEA02, GS06/GE02, GE01, IEA01) and ST02/SE02 (its
ISA, GS, GE and IEA models are applied to those segments' elements here, but
their agreement is left to pyx12); the order of segments within a loop; some
code values (SV101-1, the HI qualifiers) and some required elements (NM108/NM109
of 2010AA).  It knows 005010X222A2, the errata after A1, and reads the A1 files
the engine writes with that model.  Known defect of x12sdk 2.2.0: DMG03 U
(unknown sex), which the guide allows, is refused
(`tests/unit/test_second_validator.py` pins it).
"""

from __future__ import annotations

import functools
import importlib
import os
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from pydantic import BaseModel, ValidationError

__all__ = [
    "second_opinion_270",
    "second_opinion_276",
    "second_opinion_277",
    "second_opinion_835",
    "second_opinion_837",
]

_ENVELOPE = ("ISA", "GS", "GE", "IEA")

#: transaction set code -> x12sdk's model of it (the latest implementation it knows)
_TRANSACTION_MODELS = {
    "837": ("x12sdk.v5010.x12_837_005010X222A2.transaction_set", "HealthCareClaimProfessional"),
    "835": ("x12sdk.v5010.x12_835_005010X221A1.transaction_set", "HealthCareClaimPayment"),
    "270": ("x12sdk.v5010.x12_270_005010X279A1.transaction_set", "EligibilityInquiry"),
    "276": ("x12sdk.v5010.x12_276_005010X212.transaction_set", "HealthCareClaimsStatusRequest"),
    "277": ("x12sdk.v5010.x12_277_005010X212.transaction_set", "HealthCareClaimsStatusResponse"),
}


@dataclass(frozen=True)
class _Library:
    io: ModuleType
    parsing: ModuleType
    segments: ModuleType


@functools.cache
def _x12sdk() -> _Library:
    """x12sdk, imported without its import-time ``load_dotenv()``.

    ``x12sdk/__init__.py`` calls ``dotenv.load_dotenv()``, which copies the first
    ``.env`` found above its installed folder (so the repository's, if a
    developer keeps one) into ``os.environ`` for the rest of the test process;
    tests that build ``Settings(_env_file=None)`` would then see it anyway.
    """
    switch = "PYTHON_DOTENV_DISABLED"
    before = os.environ.get(switch)
    os.environ[switch] = "1"
    try:
        from x12sdk import io, parsing
        from x12sdk.v5010 import segments
    finally:
        if before is None:
            del os.environ[switch]
        else:
            os.environ[switch] = before
    return _Library(io=io, parsing=parsing, segments=segments)


def _transaction_model(code: str) -> type[BaseModel]:
    _x12sdk()
    module, name = _TRANSACTION_MODELS[code]
    model: type[BaseModel] = getattr(importlib.import_module(module), name)
    return model


def second_opinion_837(text: str) -> list[str]:
    """x12sdk's problems with an 837P interchange (005010X222); empty when it finds none."""
    return _second_opinion(text, "837", "005010X222")


def second_opinion_835(text: str) -> list[str]:
    """x12sdk's problems with 835 interchanges (005010X221); empty when it finds none.

    The payer simulator writes several interchanges one after the other; all are read.
    """
    return _second_opinion(text, "835", "005010X221")


def second_opinion_270(text: str) -> list[str]:
    """x12sdk's problems with a 270 interchange (005010X279A1); empty when it finds none."""
    return _second_opinion(text, "270", "005010X279")


def second_opinion_276(text: str) -> list[str]:
    """x12sdk's problems with a 276 interchange (005010X212); empty when it finds none."""
    return _second_opinion(text, "276", "005010X212")


def second_opinion_277(text: str) -> list[str]:
    """x12sdk's problems with a 277 claim status response (005010X212); empty when none."""
    return _second_opinion(text, "277", "005010X212")


def _second_opinion(text: str, code: str, version: str) -> list[str]:
    if not text.startswith("ISA"):
        return ["segment 1: the text does not start with an ISA segment"]
    lib = _x12sdk()
    expected = _transaction_model(code)
    problems: list[str] = []
    parser: Any = None  # x12sdk's X12Parser for the open transaction set
    in_set = False  # between an ST and its SE
    group_version: str | None = None
    transaction_sets = 0
    with lib.io.X12SegmentReader(text) as reader:
        for ordinal, (segment_id, fields) in enumerate(reader.segments(), start=1):
            where = f"segment {ordinal} {segment_id}"
            if segment_id in _ENVELOPE:
                if in_set:
                    problems.append(f"{where}: inside a transaction set (no SE before it)")
                    in_set, parser = False, None
                problems += _envelope_problems(lib, where, segment_id, fields)
                if segment_id == "GS":
                    group_version = fields[8] if len(fields) > 8 else None
                    if not (group_version or "").startswith(version):
                        problems.append(f"{where}: GS08 is not {version}")
                continue
            if segment_id == "ST":
                if in_set:
                    problems.append(f"{where}: a new ST before the SE of the previous one")
                in_set, parser = True, None
                if len(fields) < 2 or fields[1] != code:
                    problems.append(f"{where}: ST01 is not {code}")
                else:
                    try:
                        parser = lib.parsing.create_parser(
                            code, group_version or fields[-1], reader.delimiters
                        )
                    except (KeyError, ModuleNotFoundError) as exc:
                        problems.append(f"{where}: x12sdk has no model for it ({exc})")
            elif not in_set:
                problems.append(f"{where}: outside a transaction set")
                continue
            if parser is None:  # a transaction set x12sdk gave up on: skip to its SE
                in_set = segment_id != "SE"
                continue
            try:
                model = parser.parse(segment_id, fields)
            except ValidationError as exc:  # raised at SE, for the whole transaction set
                problems += [f"{where}: {p}" for p in _validation_problems(exc, expected)]
                in_set, parser = False, None
            except Exception as exc:  # x12sdk could not place or read the segment
                problems.append(f"{where}: x12sdk failed on it: {type(exc).__name__}: {exc}")
                in_set, parser = segment_id != "SE", None
            else:
                if model is not None:
                    transaction_sets += 1
                    in_set, parser = False, None
                    if not isinstance(model, expected):
                        problems.append(f"{where}: read as {type(model).__name__}")
    if in_set:
        problems.append("end of text: a transaction set has no SE")
    if transaction_sets == 0 and not problems:
        problems.append(f"end of text: no {code} transaction set")
    return problems


def _envelope_problems(lib: _Library, where: str, segment_id: str, fields: list[str]) -> list[str]:
    """The elements of ISA, GS, GE or IEA against x12sdk's models of them."""
    model: type[BaseModel] = getattr(lib.segments, f"{segment_id.title()}Segment")
    names = [name for name in model.model_fields if name != "delimiters"]
    if len(fields) > len(names):
        return [f"{where}: {len(fields) - 1} elements, at most {len(names) - 1} expected"]
    record = {name: value or None for name, value in zip(names, fields, strict=False)}
    try:
        model.model_validate(record)
    except ValidationError as exc:
        return [f"{where}: {problem}" for problem in _validation_problems(exc, model)]
    return []


def _validation_problems(exc: ValidationError, model: type[BaseModel]) -> list[str]:
    return [
        f"{_location(model, error['loc'])}: {error['msg']}".lstrip(": ") for error in exc.errors()
    ]


def _location(model: type[BaseModel] | None, loc: Sequence[int | str]) -> str:
    """``('loop_2000a', 0, 'clm_segment', 'total_claim_charge_amount')`` as
    ``2000A[0] CLM02 (total_claim_charge_amount)``: loops by number, elements by position."""
    parts: list[str] = []
    segment: str | None = None
    for item in loc:
        if isinstance(item, int):
            if parts:
                parts[-1] += f"[{item}]"
            continue
        field = model.model_fields.get(item) if model is not None else None
        if model is None or field is None:
            parts.append(f"<{item}>")  # a union member's tag (``str``, ``date``)
            model = None
            continue
        if segment is not None:  # an element of that segment: NM103, or NM1[1] NM103
            names = [name for name in model.model_fields if name != "delimiters"]
            element = f"{segment}{names.index(item):02d} ({item})"
            if parts[-1] == segment:
                parts[-1] = element
            else:
                parts.append(element)
            segment = None
        elif item.startswith("loop_"):
            parts.append(item.removeprefix("loop_").upper())
        elif item.endswith("_segment"):
            segment = item.removesuffix("_segment").upper()
            parts.append(segment)
        else:
            parts.append(item)  # header, footer
        model = _inner_model(field.annotation)
    return " ".join(parts)


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    """The model an annotation holds, through ``Optional`` and ``List``; None for scalars."""
    pending: list[Any] = [annotation]
    while pending:
        current = pending.pop()
        if isinstance(current, type) and issubclass(current, BaseModel):
            return current
        pending.extend(arg for arg in typing.get_args(current) if arg is not type(None))
    return None
