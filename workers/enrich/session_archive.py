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
state keeps the newest :data:`HOT_KEEP` and the number of groups.  The group also
takes the visit lists (per prescription or authorization) that none of the
records left in the state counts against: a finished prescription's visits.
Reading puts the groups back, oldest first, and the state's own records and
lists over them: a record or list the stage changes again (a duplicate seen, a
late cancellation freeing a visit) is simply written in the state once more, and
that copy wins.  The rules see the same whole state as before.

The patient's profile (:data:`PROFILE`: the patient, prescriptions,
authorizations, 271 answers) changes with reference data, not with sessions: it
is stored apart under ``<patient key>|p`` and written only when it changes, so a
session writes its records and visits alone.

Stored value of a state in parts::

    b"2\\n" + {"groups": n, "profile": 0 or 1} + b"\\n" + the state (its own
    records and lists, without the profile) as JSON

A state with neither (no patient, prescription or answer yet, and few sessions)
is stored as before, the state as JSON, and so is everything written before this
format: no drain or migration is needed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from schemas.state import PatientState, SessionRecord, Visit
from workers.runtime.codec import compact_json

#: the first bytes of a state stored in parts
FORMAT = b"2\n"
#: a state holding more settled records than this moves the oldest to a group
HOT_MAX = 12
#: ... keeping this many of the newest
HOT_KEEP = 4
#: what a group key adds to the patient's key
GROUP_MARK = "|h"
#: the key of the patient's profile: the patient's key and this
PROFILE_MARK = "|p"
#: what of a state changes with reference data, not with sessions: its profile
PROFILE = ("patient", "prescriptions", "authorizations", "eligibility")


class Group(BaseModel):
    """What a group holds: settled session records, and the visits counted against
    prescriptions (or authorizations) none of the state's own records names."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sessions: dict[str, SessionRecord] = Field(default_factory=dict)
    visits: dict[str, list[Visit]] = Field(default_factory=dict)


class Table(Protocol):
    def get(self, key: bytes, /) -> bytes | None: ...


@dataclass
class Stored:
    """A state read from the table: whole, and what of it lives in groups."""

    state: PatientState
    groups: int = 0
    grouped: Group = field(default_factory=Group)
    #: the profile as stored apart (None: in the value, or none)
    profile: PatientState | None = None


@dataclass
class ToWrite:
    """What storing a state writes: its value, and a new group or profile if due
    (each written before the value that names it)."""

    value: bytes
    groups: int
    grouped: Group
    group: tuple[str, bytes] | None = None
    profile: PatientState | None = None
    profile_write: tuple[str, bytes] | None = None


def group_key(key: str, n: int) -> str:
    return f"{key}{GROUP_MARK}{n}"


def profile_key(key: str) -> str:
    return f"{key}{PROFILE_MARK}"


def is_part_key(key: bytes) -> bool:
    """A group's or a profile's key, not a patient's (identifiers hold no ``|``)."""
    return b"|" in key


def read(key: str, raw: bytes, table: Table) -> Stored:
    """The whole state a stored value holds (its groups read from ``table``)."""
    if not raw.startswith(FORMAT):
        return Stored(PatientState.parse_json(raw))
    _, meta_text, own = raw.split(b"\n", 2)
    meta = json.loads(meta_text)
    groups = int(meta.get("groups", 0))
    sessions: dict[str, SessionRecord] = {}
    visits: dict[str, list[Visit]] = {}
    for n in range(groups):
        value = table.get(group_key(key, n).encode())
        if value is None:  # the table lost a group a state names: never deleted, a bug
            raise RuntimeError(f"enrich.patients has no {group_key(key, n)!r}")
        group = Group.model_validate_json(value)
        sessions.update(group.sessions)
        visits.update(group.visits)
    profile: PatientState | None = None
    kept: dict[str, object] = {}
    if meta.get("profile"):
        value = table.get(profile_key(key).encode())
        if value is None:  # as for a group: never deleted, a bug
            raise RuntimeError(f"enrich.patients has no {profile_key(key)!r}")
        profile = PatientState.parse_json(value)
        kept = {f: getattr(profile, f) for f in PROFILE}
    hot = PatientState.parse_json(own)
    state = hot.model_copy(
        update={
            **kept,
            "sessions": {**sessions, **hot.sessions},
            "visits": {**visits, **hot.visits},
        }
    )
    return Stored(state, groups, Group(sessions=sessions, visits=visits), profile)


def held_in(raw: bytes) -> bool:
    """Whether a stored value may hold a held session (held records are never
    grouped, so the state's own part tells)."""
    return b'"held"' in raw


def own_part(raw: bytes) -> bytes:
    """The state's own part of a stored value (the value itself before parts)."""
    return raw.split(b"\n", 2)[2] if raw.startswith(FORMAT) else raw


def write(key: str, state: PatientState, before: Stored) -> ToWrite:
    """How to store ``state`` over what was stored (``before``)."""
    grouped, groups = before.grouped, before.groups
    dropped = any(sid not in state.sessions for sid in grouped.sessions) or any(
        k not in state.visits for k in grouped.visits
    )
    if dropped:  # something grouped is gone: groups cannot say so, group again
        grouped, groups = Group(), 0
    # what the rules did not touch is the very object read from a group: ``is`` first
    own = {sid: r for sid, r in state.sessions.items() if not _same(grouped.sessions.get(sid), r)}
    own_visits = {k: v for k, v in state.visits.items() if not _same(grouped.visits.get(k), v)}
    group: tuple[str, bytes] | None = None
    settled = [(r.decided_at, sid) for sid, r in own.items() if _settled(r)]
    if len(settled) > HOT_MAX:
        leaving = {sid for _, sid in sorted(settled)[: len(settled) - HOT_KEEP]}
        own = {sid: r for sid, r in own.items() if sid not in leaving}
        named = _named(own)
        new = Group(
            sessions={sid: r for sid, r in state.sessions.items() if sid in leaving},
            visits={k: v for k, v in own_visits.items() if k not in named},
        )
        own_visits = {k: v for k, v in own_visits.items() if k in named}
        group = (group_key(key, groups), new.model_dump_json(exclude_defaults=True).encode())
        grouped = Group(
            sessions={**grouped.sessions, **new.sessions},
            visits={**grouped.visits, **new.visits},
        )
        groups += 1
    profile, profile_write = _profile(key, state, before.profile)
    if not groups and profile is None:
        return ToWrite(compact_json(state).encode("utf-8"), 0, Group())
    update: dict[str, object] = {"sessions": own, "visits": own_visits}
    if profile is not None:  # left out of the value (at their defaults: not written)
        update.update(patient=None, prescriptions={}, authorizations={}, eligibility={})
    text = compact_json(state.model_copy(update=update))
    meta = json.dumps({"groups": groups, "profile": int(profile is not None)}).encode()
    value = FORMAT + meta + b"\n" + text.encode("utf-8")
    return ToWrite(value, groups, grouped, group, profile, profile_write)


def _profile(
    key: str, state: PatientState, stored: PatientState | None
) -> tuple[PatientState | None, tuple[str, bytes] | None]:
    """The state's profile stored apart, and what to write for it (None: the stored
    one is the same).  A session changes its visits and records, not its profile,
    so the profile is written when reference data changes, not with every visit."""
    now = {f: getattr(state, f) for f in PROFILE}
    if state.patient is None and not any(now[f] for f in PROFILE[1:]):
        return None, None  # nothing to keep apart
    if stored is not None and all(_same(getattr(stored, f), v) for f, v in now.items()):
        return stored, None
    profile = PatientState.new().model_copy(update=now)
    return profile, (profile_key(key), compact_json(profile).encode("utf-8"))


def _same(kept: object, now: object) -> bool:
    return kept is now or (kept is not None and kept == now)


def _named(records: dict[str, SessionRecord]) -> set[str]:
    """The visit lists the records count against (a prescription, ``auth:<id>``)."""
    named = {r.prescription_id for r in records.values() if r.prescription_id}
    named |= {f"auth:{r.authorization_id}" for r in records.values() if r.authorization_id}
    return named


def _settled(record: SessionRecord) -> bool:
    return record.status != "held" and record.hold is None
