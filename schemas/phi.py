"""Which contract fields hold protected health information (from the ``PHI`` markers).

:func:`phi_field_names` walks every contract of the ``schemas`` package and returns
the names of the fields marked ``Annotated[..., PHI]``; the masked views of dead
letters and work queues hide every value under those names, at any depth.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from functools import lru_cache

from pydantic import BaseModel

import schemas
from schemas.base import PHI, Contract


def contracts() -> Iterator[type[BaseModel]]:
    """Every contract class of the ``schemas`` package (modules imported on the way)."""
    for info in pkgutil.walk_packages(schemas.__path__, "schemas."):
        importlib.import_module(info.name)
    seen: set[type[BaseModel]] = set()
    pending: list[type[BaseModel]] = [Contract]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            if sub not in seen and sub.__module__.startswith("schemas."):
                seen.add(sub)
                pending.append(sub)
    yield from sorted(seen, key=lambda c: (c.__module__, c.__qualname__))


def is_phi(cls: type[BaseModel], field: str) -> bool:
    return any(m is PHI for m in cls.model_fields[field].metadata)


@lru_cache(maxsize=1)
def phi_field_names() -> frozenset[str]:
    """Names of the fields marked PHI in any contract."""
    return frozenset(name for cls in contracts() for name in cls.model_fields if is_phi(cls, name))
