"""Hand-offs this process wrote a moment ago, kept with the model each was written from.

When every stage runs in one process, the units stage reads the enriched sessions
the enrichment stage has just written, and the claims stage the billable sessions
the units stage has just written.  Validating such a message again costs 60-120 µs
and can only give back the model it was written from, so the writer keeps it here
(:func:`remember`, with the exact bytes it sent) and
:meth:`schemas.base.Versioned.parse_json` asks here first (:func:`recall`).  Bytes
that differ in any way, another process's messages, and anything older than the
last :data:`KEPT` writes are validated as before.

Only models the writer built through validation may be remembered (a
``model_copy(update=...)`` skips it, and what the reader would parse could then
differ); the hand-offs that use this are built by their stages' constructors.
Contracts are frozen, so readers cannot change what they share.  With
:func:`verify` on (the test suite turns it on), every hit is validated anyway and
compared, so a model that does not read back as itself fails loudly.
"""

from __future__ import annotations

import threading
from typing import Any

from pydantic import BaseModel

#: How many recent writes are kept (about 25-45 KB each in memory).  The reader in the
#: same process is normally a few hundred messages behind; past that, it validates.
KEPT = 512

_lock = threading.Lock()
_kept: dict[bytes, BaseModel] = {}


class _Options:
    verify = False


_options = _Options()


def remember(raw: bytes, model: BaseModel) -> None:
    """Keep ``model`` as what ``raw`` (exactly the bytes written) reads back as."""
    with _lock:
        _kept.pop(raw, None)
        _kept[raw] = model
        while len(_kept) > KEPT:
            del _kept[next(iter(_kept))]


def recall(cls: type[Any], raw: bytes | str) -> Any | None:
    """The model of class ``cls`` this process wrote as ``raw``, if it is still kept."""
    if not _kept or not isinstance(raw, bytes):
        return None
    model = _kept.get(raw)
    if model is None or type(model) is not cls:
        return None
    if _options.verify:
        fresh = cls.model_validate_json(raw)
        if fresh != model:
            raise AssertionError(
                f"{cls.__name__} remembered for its bytes does not read back as itself"
            )
    return model


def verify(on: bool) -> None:
    """Validate every hit anyway and compare (tests)."""
    _options.verify = on


def forget() -> None:
    """Drop everything kept."""
    with _lock:
        _kept.clear()
