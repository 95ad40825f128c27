"""Which sessions a claim record claims (pure).

The claims stage answers "is this session claimed already, and by which claim?"
for every billable session that arrives (a redelivery or a re-sent session is
not billed twice; a visit late for its day joins the day's claim).  The answer
comes from the records themselves: each keeps ``session_keys``, every session
ever placed on it, and the stage builds its index from them when it recovers.
Records written before that field existed name their sessions in the current
claim and in their sources.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from schemas.billing import BillableSession
from schemas.claims import Claim
from schemas.state import ClaimRecord
from workers.claims import stored_records


def sessions_of_record(record: ClaimRecord) -> list[str]:
    """The sessions ``record`` claims, each once, in the order they were placed."""
    if record.session_keys:
        return list(record.session_keys)
    keys = list(Claim.parse_json(record.current_json).session_keys)
    for source in record.sources_json:
        try:
            key = BillableSession.parse_json(source).session_key
        except ValueError:
            continue
        if key not in keys:
            keys.append(key)
    return keys


def claimed_sessions(record: ClaimRecord, more: Iterable[str]) -> list[str]:
    """The record's sessions with ``more`` added: a session once placed on a claim
    stays claimed by it, even when a later version of the claim leaves it out (a
    withdrawn visit sent again is not billed on a claim of its own)."""
    keys = sessions_of_record(record)
    keys += [k for k in more if k not in keys]
    return keys


@dataclass(frozen=True)
class Claimed:
    """What a stored record says about the sessions it claims."""

    patient_control_number: str
    session_keys: list[str]
    #: when its latest version left (ISO 8601, UTC): of two records claiming one
    #: session, the later release names it
    last_sent: str
    #: a secondary claim (COB): it follows its primary's sessions and names none
    secondary: bool = False


def claimed_by_stored(raw: bytes) -> Claimed | None:
    """The sessions of a stored record, read without validating the whole record
    when it has ``session_keys`` (a recovery reads every record of the partitions it
    takes over)."""
    try:
        own, claim = stored_records.parts(raw)
        data = json.loads(own)
    except ValueError:  # not a record (a malformed value): as before, no sessions
        return None
    if not isinstance(data, dict) or not isinstance(data.get("patient_control_number"), str):
        return None
    current = claim if claim is not None else data.get("current_json")
    keys = data.get("session_keys")
    versions = data.get("versions")
    last = versions[-1] if isinstance(versions, list) and versions else {}
    sent = last.get("sent_at") if isinstance(last, dict) else None
    if not (isinstance(keys, list) and keys and all(isinstance(k, str) for k in keys)):
        try:
            keys = sessions_of_record(stored_records.decode(raw))
        except ValueError:
            return None
    return Claimed(
        data["patient_control_number"],
        keys,
        sent if isinstance(sent, str) else "",
        secondary=_is_secondary(current),
    )


def _is_secondary(current_json: object) -> bool:
    """Whether a stored record's current claim follows a primary claim (COB)."""
    if not isinstance(current_json, str) or '"primary_claim":"' not in current_json:
        return False  # a primary: the field null, or left out (at its default)
    try:
        claim = json.loads(current_json)
    except ValueError:
        return False
    return isinstance(claim, dict) and bool(claim.get("primary_claim"))


def index_of_claimed(records: Iterable[bytes | None]) -> dict[str, str]:
    """Session key -> patient control number from the stored records, as the stage
    keeps it while the records are written: each release of a primary claim names its
    claim's sessions (where two records claim a session, the one released last names
    it); a secondary claim names none: a session withdrawn later is taken off the
    claim it was placed on, its primary."""
    found = [
        c
        for raw in records
        if raw is not None and (c := claimed_by_stored(raw)) and not c.secondary
    ]
    found.sort(key=lambda c: _instant(c.last_sent))
    index: dict[str, str] = {}
    for claimed in found:
        index.update(dict.fromkeys(claimed.session_keys, claimed.patient_control_number))
    return index


def _instant(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return when if when.tzinfo else when.replace(tzinfo=UTC)
