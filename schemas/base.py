"""Base classes of every public contract: strict, versioned, PHI-safe errors.

* ``Contract`` rejects unknown fields and wrong types, and hides input values
  from validation errors (``hide_input_in_errors``).
* ``Versioned`` contracts carry ``schema_version``; :meth:`Versioned.parse_json`
  accepts every version up to the reader's own and upgrades older payloads, so
  state written by an older engine (compacted topics, changelogs) stays
  readable.  A payload from a newer engine is refused with a clear error.
* :func:`describe_errors` turns a ``ValidationError`` into lines that name the
  field path and the rule, never the value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Self, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from schemas import echo

JsonDict = dict[str, Any]
Upgrade = Callable[[JsonDict], JsonDict]


class PhiMarker:
    """Marks a contract field as protected health information: ``Annotated[T, PHI]``.

    Views that show payloads to operators without ``--reveal`` (dead letters, work
    queues) mask every field so marked, by name, at any depth
    (:func:`schemas.phi.phi_field_names`); a test fails on a personal field left
    unmarked, so a new one cannot be forgotten."""

    def __repr__(self) -> str:
        return "PHI"


PHI = PhiMarker()

#: Identifier of a clinic, patient, therapist, session, prescription, coverage or payer.
#: No colon: a global id is ``<clinic_id>:<id>``.
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")]
#: A 10-digit National Provider Identifier (check digit verified by business rules).
NpiText = Annotated[str, StringConstraints(pattern=r"^[0-9]{10}$")]
#: Short free text that goes into claims (names, cities): printable, bounded.
ShortText = Annotated[
    str, StringConstraints(min_length=1, max_length=60, pattern=r"^[^\x00-\x1f]+$")
]


class Contract(BaseModel):
    """Strict model for data that crosses a boundary."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        hide_input_in_errors=True,
        populate_by_name=False,
        ser_json_timedelta="iso8601",
    )


class Versioned(Contract):
    """A contract with a ``schema_version`` and upgrades from older versions.

    Read stored or received payloads with :meth:`parse_json`: the current
    version validates directly (strict JSON mode); an older one is upgraded
    step by step with ``UPGRADES`` (a function per version n -> n + 1 over the
    JSON object) and validated again.  A payload newer than this engine, or too
    old to upgrade, is refused with an error on ``schema_version``.  A
    container whose nested versioned contract changes shape upgrades the
    nested object in its own step.
    """

    SCHEMA_VERSION: ClassVar[int] = 1
    UPGRADES: ClassVar[dict[int, Upgrade]] = {}

    schema_version: int = Field(ge=1, description="Version of this contract the payload follows.")

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, version: int) -> int:
        if version > cls.SCHEMA_VERSION:
            raise ValueError(
                f"schema_version {version} is newer than this engine reads "
                f"({cls.__name__} up to {cls.SCHEMA_VERSION})"
            )
        if version < cls.SCHEMA_VERSION:
            if version not in cls.UPGRADES:
                raise ValueError(
                    f"schema_version {version} of {cls.__name__} can no longer be read"
                )
            raise ValueError(
                f"schema_version {version} is older than {cls.SCHEMA_VERSION}: "
                "read it with parse_json"
            )
        return version

    @classmethod
    def parse_json(cls, raw: bytes | str) -> Self:
        """Validate a JSON payload, upgrading an older ``schema_version`` first.

        A hand-off this process wrote itself moments ago comes back as the model it
        was written from, without validating it again (:mod:`schemas.echo`)."""
        kept = echo.recall(cls, raw)
        if kept is not None:
            return cast(Self, kept)
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            if not any(e["loc"] == ("schema_version",) for e in exc.errors()):
                raise
            try:
                data = json.loads(raw)
            except ValueError:
                raise exc from None
            version = data.get("schema_version") if isinstance(data, dict) else None
            if not isinstance(version, int) or isinstance(version, bool):
                raise
            if version >= cls.SCHEMA_VERSION or version not in cls.UPGRADES:
                raise
            while version < cls.SCHEMA_VERSION and version in cls.UPGRADES:
                data = cls.UPGRADES[version](dict(data))
                version += 1
                data["schema_version"] = version
            return cls.model_validate_json(json.dumps(data))

    @classmethod
    def new(cls, **fields: Any) -> Self:
        """Build the current version (fills ``schema_version``)."""
        return cls.model_validate({"schema_version": cls.SCHEMA_VERSION, **fields}, strict=False)


_PATH_INDEX = re.compile(r"\.(\d+)(?=\.|$)")

#: Error types whose pydantic message quotes part of the input.
_QUOTING_TYPES = {
    "uuid_parsing": "Input should be a valid UUID",
    "uuid_type": "Input should be a valid UUID",
}


def field_path(loc: tuple[int | str, ...]) -> str:
    """``('techniques', 0, 'minutes')`` -> ``techniques[0].minutes``."""
    path = ".".join(str(p) for p in loc)
    return _PATH_INDEX.sub(r"[\1]", path) or "(message)"


def describe_errors(exc: ValidationError, limit: int = 10) -> list[str]:
    """One line per error: ``<field path>: <rule> (<type>)``, never the value."""
    lines = []
    for err in exc.errors(include_input=False, include_url=False, include_context=True):
        if err["type"] in ("union_tag_not_found", "union_tag_invalid"):
            ctx = err.get("ctx", {})
            tag = ctx.get("discriminator", "tag").strip("'")
            loc = (*err["loc"][:-1], tag) if err["type"] == "union_tag_invalid" else (tag,)
            expected = ctx.get("expected_tags")
            rule = f"must be one of {expected}" if expected else "Field required"
            lines.append(f"{field_path(loc)}: {rule} ({err['type']})")
            continue
        rule = _QUOTING_TYPES.get(err["type"], err["msg"])
        if rule.startswith("Value error, "):
            rule = rule[len("Value error, ") :]
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        lines.append(f"{field_path(loc)}: {rule} ({err['type']})")
    if len(lines) > limit:
        lines = [*lines[:limit], f"... and {len(lines) - limit} more"]
    return lines
