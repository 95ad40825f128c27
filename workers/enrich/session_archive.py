"""How a patient's state is stored in the table ``enrich.patients``.

The enrichment stage writes a patient's state after every session, and the state
keeps a record of every session seen (to tell a redelivery or a duplicate, to
withdraw a cancelled session, to count a year's days with a payer).  Written
whole, a weekly regular's 52nd visit wrote 24 KB, 20 of them the records of
visits settled long ago.

Here the settled records (enriched, rejected, cancelled: nothing waits on them)
leave the state's value in groups once it holds more than :data:`HOT_MAX`: the
oldest go to a group of their own, under ``<patient key>|h<n>`` in the same table
(the same key partition, so the same changelog partition), written once; the
state keeps the newest :data:`HOT_KEEP` and the number of groups.  Reading puts
the groups back, oldest first, and the state's own records over them: a settled
record the stage changes again (a duplicate seen, a late cancellation) is simply
written in the state once more, and that copy wins.  The rules see the same
whole state as before.

Stored value of a state with groups::

    b"2\\n" + {"groups": n} + b"\\n" + the state (its own records only) as JSON

A state without groups (most patients: fewer than :data:`HOT_MAX` sessions) is
stored as before, the state as JSON, and so is everything written before this
format: no drain or migration is needed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import TypeAdapter

from schemas.state import PatientState, SessionRecord
from workers.runtime.codec import compact_json

#: the first bytes of a state stored with groups
FORMAT = b"2\n"
#: a state holding more settled records than this moves the oldest to a group
HOT_MAX = 12
#: ... keeping this many of the newest
HOT_KEEP = 4
#: what a group key adds to the patient's key
GROUP_MARK = "|h"

_GROUP = TypeAdapter(dict[str, SessionRecord])


class Table(Protocol):
    def get(self, key: bytes, /) -> bytes | None: ...


@dataclass
class Stored:
    """A state read from the table: whole, and what of it lives in groups."""

    state: PatientState
    groups: int = 0
    grouped: dict[str, SessionRecord] = field(default_factory=dict)


@dataclass
class ToWrite:
    """What storing a state writes: its value, and a new group if one is due."""

    value: bytes
    groups: int
    grouped: dict[str, SessionRecord]
    group: tuple[str, bytes] | None = None


def group_key(key: str, n: int) -> str:
    return f"{key}{GROUP_MARK}{n}"


def is_group_key(key: bytes) -> bool:
    return GROUP_MARK.encode() in key


def read(key: str, raw: bytes, table: Table) -> Stored:
    """The whole state a stored value holds (its groups read from ``table``)."""
    if not raw.startswith(FORMAT):
        return Stored(PatientState.parse_json(raw))
    _, meta, own = raw.split(b"\n", 2)
    groups = int(json.loads(meta)["groups"])
    grouped: dict[str, SessionRecord] = {}
    for n in range(groups):
        value = table.get(group_key(key, n).encode())
        if value is None:  # the table lost a group a state names: never deleted, a bug
            raise RuntimeError(f"enrich.patients has no {group_key(key, n)!r}")
        grouped.update(_GROUP.validate_json(value))
    hot = PatientState.parse_json(own)
    state = hot.model_copy(update={"sessions": {**grouped, **hot.sessions}})
    return Stored(state, groups, grouped)


def held_in(raw: bytes) -> bool:
    """Whether a stored value may hold a held session (held records are never
    grouped, so the state's own part tells)."""
    return b'"held"' in raw


def own_part(raw: bytes) -> bytes:
    """The state's own part of a stored value (the value itself before groups)."""
    return raw.split(b"\n", 2)[2] if raw.startswith(FORMAT) else raw


def write(key: str, state: PatientState, before: Stored) -> ToWrite:
    """How to store ``state`` over what was stored (``before``)."""
    grouped, groups = before.grouped, before.groups
    if any(sid not in state.sessions for sid in grouped):  # a record dropped: whole again
        grouped, groups = {}, 0
    own = {sid: r for sid, r in state.sessions.items() if grouped.get(sid) != r}
    group: tuple[str, bytes] | None = None
    settled = [(r.decided_at, sid) for sid, r in own.items() if _settled(r)]
    if len(settled) > HOT_MAX:
        leaving = {sid for _, sid in sorted(settled)[: len(settled) - HOT_KEEP]}
        records = {sid: r for sid, r in own.items() if sid in leaving}
        group = (group_key(key, groups), _GROUP.dump_json(records, exclude_defaults=True))
        grouped = {**grouped, **records}
        groups += 1
        own = {sid: r for sid, r in own.items() if sid not in leaving}
    if not groups:
        return ToWrite(compact_json(state).encode("utf-8"), 0, {})
    text = compact_json(state.model_copy(update={"sessions": own}))
    value = FORMAT + json.dumps({"groups": groups}).encode() + b"\n" + text.encode("utf-8")
    return ToWrite(value, groups, grouped, group)


def _settled(record: SessionRecord) -> bool:
    return record.status != "held" and record.hold is None
