"""Hand-offs this process wrote a moment ago, kept with the model each was written from.

When every stage runs in one process, the units stage reads the enriched sessions
the enrichment stage has just written, and the claims stage the billable sessions
the units stage has just written.  Validating such a message again costs 60-120 µs
and can only give back the model it was written from, so the writer keeps it here
(:func:`remember`, with the exact bytes it sent) and
:meth:`schemas.base.Versioned.parse_json` asks here first (:func:`recall`).  Bytes
that differ in any way, another process's messages, and anything older than the
last :data:`KEPT` writes are validated as before.

Only a model whose fields hold what validation would make of them may be kept:
one built through validation, or copied with updates already of the field's type
and form (an enriched session gets its decision number and time that way).  A
``model_copy`` with, say, a string where a Decimal belongs would hand the reader
something its own parse would not give.  A test runs every hand-off of the demo's
data and checks each reads back equal to the model kept.  Contracts are frozen,
so readers cannot change what they share.  With
:func:`verify` on (the test suite turns it on), every hit is validated anyway and
compared, so a model that does not read back as itself fails loudly.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from pydantic import BaseModel

#: How many recent writes are kept (25-45 KB each in memory, so about 5 MB at most).
#: A reader in the same process that keeps up is a few messages behind; one behind by
#: more (a backlog: the enrichment stage runs ahead of the units stage through a
#: burst of sessions) validates as if nothing were kept, and a backlog must not cost
#: the worker hundreds of megabytes.
KEPT = 128

_lock = threading.Lock()
_kept: OrderedDict[bytes, BaseModel] = OrderedDict()


class _Options:
    verify = False


_options = _Options()


def remember(raw: bytes, model: BaseModel) -> None:
    """Keep ``model`` as what ``raw`` (exactly the bytes written) reads back as."""
    with _lock:
        _kept[raw] = model
        _kept.move_to_end(raw)
        while len(_kept) > KEPT:
            _kept.popitem(last=False)


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
