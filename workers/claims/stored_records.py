"""How a claim record is stored in the table ``claims.records``.

A record's ``current_json`` is the claim last sent, itself JSON.  Stored inside
the record's JSON it was a string: every quote of the claim escaped, a tenth of
the record's bytes, and escaped again and parsed twice on every read.  Here the
claim follows the record instead::

    b"2\\n" + the record as JSON with current_json "" + b"\\n" + the claim's JSON

The record part never holds a line break (JSON escapes them in strings), so the
claim is everything after the second one, exactly as it was.  A record stored
before this format (JSON starting with ``{``) is read as it is: no drain or
migration is needed; it is written in this format when it next changes.
"""

from __future__ import annotations

from schemas.state import ClaimRecord
from workers.runtime.codec import compact_json

#: the first bytes of a record stored in this format
FORMAT = b"2\n"


def encode(record: ClaimRecord) -> bytes:
    head = compact_json(record.model_copy(update={"current_json": ""}))
    return FORMAT + head.encode("utf-8") + b"\n" + record.current_json.encode("utf-8")


def parts(raw: bytes) -> tuple[bytes, str | None]:
    """The record's own JSON, and the claim's JSON when it is stored after it (None:
    a record of the earlier format, its claim inside the JSON)."""
    if not raw.startswith(FORMAT):
        return raw, None
    head, claim = raw[len(FORMAT) :].split(b"\n", 1)
    return head, claim.decode("utf-8")


def head(raw: bytes) -> bytes:
    """The record's own JSON (what a scan for a field's value may look at)."""
    return parts(raw)[0]


def decode(raw: bytes) -> ClaimRecord:
    own, claim = parts(raw)
    record = ClaimRecord.parse_json(own)
    return record if claim is None else record.model_copy(update={"current_json": claim})
