"""Reading the code-list data files shipped beside the units engine (no pydantic:
the ``claims units`` calculator must start fast)."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any


def load(name: str) -> dict[str, Any]:
    text = resources.files("workers.pricing").joinpath("data", name).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@lru_cache(maxsize=1)
def default_untimed_codes() -> frozenset[str]:
    return frozenset(load("untimed_codes.json")["codes"])
