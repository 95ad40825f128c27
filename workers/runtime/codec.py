"""JSON on the wire: decode bytes into contracts with PHI-free errors, encode back."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar, cast

from pydantic import BaseModel, TypeAdapter, ValidationError

from schemas import echo
from schemas.base import Versioned, describe_errors
from workers.runtime.failures import InvalidInput

T = TypeVar("T")


def decode(
    schema: type[T] | TypeAdapter[T] | Callable[[bytes], T],
    raw: bytes | None,
    *,
    what: str = "value",
) -> T:
    """Parse and validate ``raw``; raise :class:`InvalidInput` naming field and rule."""
    if raw is None:
        raise InvalidInput("missing-value", f"{what} is empty (null); a JSON object is required")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            "undecodable", f"{what} is not UTF-8 text (invalid byte at position {exc.start})"
        ) from None
    try:
        if isinstance(schema, TypeAdapter):
            return schema.validate_json(raw)
        if isinstance(schema, type) and issubclass(schema, Versioned):
            return cast(T, schema.parse_json(raw))
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            return cast(T, schema.model_validate_json(raw))
        return cast("Callable[[bytes], T]", schema)(raw)
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False, include_context=False)
        if errors and errors[0]["type"] == "json_invalid":
            raise InvalidInput(
                "undecodable", f"{what} is not valid JSON ({errors[0]['msg']})"
            ) from None
        raise InvalidInput(
            "schema-invalid", f"{what} violates the contract: " + "; ".join(describe_errors(exc))
        ) from None


def encode(model: BaseModel) -> bytes:
    return model.model_dump_json().encode("utf-8")


def compact_json(model: BaseModel) -> str:
    """``model`` as JSON without the fields that hold their default value (read back,
    the defaults fill them in again: the same model).

    Used for the stages' tables and kept copies, and for the hand-offs whose JSON
    Schemas carry the defaults (``sessions.enriched``, ``charges.billable``,
    ``claims.submitted``): a third smaller or so.  ``schema_version`` is always
    written (it has no default), and so is a top-level ``event_type``: what tells a
    message's kind apart stays readable by a reader that does not apply defaults.
    """
    text = model.model_dump_json(exclude_defaults=True)
    field = type(model).model_fields.get("event_type")
    value = getattr(model, "event_type", None)
    if field is None or value != field.default:  # written, or not there at all
        return text
    tag = json.dumps(value)
    return f'{{"event_type":{tag}}}' if text == "{}" else f'{{"event_type":{tag},{text[1:]}'


def encode_compact(model: BaseModel) -> bytes:
    """:func:`compact_json` as bytes (a table's value)."""
    return compact_json(model).encode("utf-8")


def encode_handoff(model: BaseModel) -> bytes:
    """:func:`encode_compact` for a hand-off to the next stage, which may run in this
    process: the model is kept with its bytes so that reader takes it back without
    validating it again (:mod:`schemas.echo`).  Only for a model whose fields hold
    what validation would make of them (see there)."""
    raw = encode_compact(model)
    echo.remember(raw, model)
    return raw


def encode_any(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), default=str).encode("utf-8")
