"""How a session's entry is stored in the table ``claims.sources``.

An entry keeps its ``charges.billable`` message (as :func:`lifecycle.kept_copy`
made it) so that its claim can be priced again later.  Most of that message is
reference data copied by enrich: the clinic with its price list, the payer with
its fee schedule, the therapist, the next payer.  The same copies recur in every
session of a clinic and a payer; stored with every session they were half of the
stage's state and of its changelog.

Here such a copy is stored once, in the table ``claims.references`` (key
``p<partition>:<part>:<digest>``, the value the copy's JSON text), and the entry's
message names it with a mark ``{"$kept":"<key>"}`` in its place.  Reading the
entry puts the copies back: the text read is the text stored, byte for byte.
The key carries the partition of the entry's changelog record, so a worker that
recovers a partition recovers the references its entries name; the digest makes
a changed clinic or payer a new reference (the old one stays for the entries that
name it).

Stored value of an entry::

    b"2\\n" + the entry as JSON without source_json + b"\\n" + the message with marks

An entry written before this format (JSON starting with ``{``, the message in
``source_json``) is still read as it is: no drain or migration is needed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Protocol

from schemas.state import PendingEntry
from workers.runtime.codec import compact_json

#: the first bytes of an entry stored in this format
FORMAT = b"2\n"
#: what a mark starts with; a message that contains it is stored whole
_MARK = '{"$kept":"'
#: the parts of the enriched session stored once: shared by many sessions (a patient
#: or a prescription is shared by a few only, and each copy stored apart is a
#: changelog message more: measured, 0.38 more messages a session for 0.26 KB less)
KEPT_PARTS = ("clinic", "payer", "next_payer", "therapist")


class References(Protocol):
    """What reading needs of the references table."""

    def get(self, key: bytes, /) -> bytes | None: ...


@dataclass
class Packed:
    """An entry ready to store: its value, and the references it names."""

    value: bytes
    references: dict[bytes, bytes] = field(default_factory=dict)


def reference_key(partition: int, part: str, text: str) -> str:
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()
    return f"p{partition}:{part}:{digest}"


def _mark(key: str) -> str:
    return f'{_MARK}{key}"}}'


_DECODER = json.JSONDecoder()


def _copies(text: str) -> list[tuple[str, str]]:
    """Each kept part's JSON as it appears in the message (found after the key
    ``"enriched"`` as ``"<part>":{``, up to its closing brace).  Whatever object a
    search finds, storing it apart and putting it back gives the same text: only
    the sharing depends on finding the part itself."""
    start = text.find('"enriched":{')
    found: list[tuple[str, str]] = []
    if start < 0:
        return found
    for part in KEPT_PARTS:
        at = text.find(f'"{part}":{{', start)
        if at < 0:
            continue
        opening = at + len(part) + 3
        try:
            _, end = _DECODER.raw_decode(text, opening)
        except ValueError:
            continue
        found.append((part, text[opening:end]))
    return found


def pack(entry: PendingEntry, partition: int) -> Packed:
    """The stored value of a session's entry, with each reference copy its message
    holds taken out to a reference."""
    text = entry.source_json
    head = compact_json(entry.model_copy(update={"source_json": None}))
    if text is None:
        return Packed(FORMAT + head.encode("utf-8") + b"\n")
    references: dict[bytes, bytes] = {}
    if _MARK not in text:
        for part, copy in _copies(text):
            if len(copy) < 64 or copy not in text:
                continue  # too small to gain, or inside a copy taken out already
            key = reference_key(partition, part, copy)
            text = text.replace(copy, _mark(key))
            references[key.encode("utf-8")] = copy.encode("utf-8")
    value = FORMAT + head.encode("utf-8") + b"\n" + text.encode("utf-8")
    return Packed(value, references)


def source_text(raw: bytes, references: References) -> str | None:
    """The ``charges.billable`` message a stored entry holds, whole."""
    if not raw.startswith(FORMAT):
        return PendingEntry.parse_json(raw).source_json
    _, rest = raw.split(b"\n", 1)
    _, slim = rest.split(b"\n", 1)
    return _restore(slim.decode("utf-8"), references) if slim else None


def unpack(raw: bytes, references: References) -> PendingEntry:
    """The entry a stored value holds, its message whole."""
    if not raw.startswith(FORMAT):
        return PendingEntry.parse_json(raw)
    _, rest = raw.split(b"\n", 1)
    head, slim = rest.split(b"\n", 1)
    entry = PendingEntry.parse_json(head)
    if not slim:
        return entry
    return entry.model_copy(update={"source_json": _restore(slim.decode("utf-8"), references)})


def _restore(text: str, references: References) -> str:
    start = text.find(_MARK)
    if start < 0:
        return text
    out: list[str] = []
    done = 0
    while start >= 0:
        end = text.index('"}', start + len(_MARK))
        key = text[start + len(_MARK) : end]
        copy = references.get(key.encode("utf-8"))
        if copy is None:  # the table lost what the entry names: never deleted, so a bug
            raise RuntimeError(f"claims.references has no {key!r}, named by a kept source")
        out.append(text[done:start])
        out.append(copy.decode("utf-8"))
        done = end + 2
        start = text.find(_MARK, done)
    out.append(text[done:])
    return "".join(out)
