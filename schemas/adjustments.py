"""What an 835 adjustment means for the money (data, not code).

Each CAS triple has a group code (who carries the amount) and a claim adjustment
reason code (why).  ``data/adjustment_classes.json`` maps them to one class:

* ``contractual`` -- the provider writes it off (CO-45 over the fee schedule);
  never billed to the patient;
* ``patient`` -- patient responsibility (any PR: deductible, coinsurance, copay,
  non-covered with the patient liable), or the next payer's when there is one;
* ``denial`` -- the payer did not pay it for a reason someone must work (CO-50,
  CO-97, CO-197 ...): still owed by the payer until appealed or written off;
* ``exhausted`` -- the payer's benefit maximum was reached (CO-119): the next
  payer's, else a denial;
* ``coordination`` -- the coverage order is wrong (CO-22, CO-109): the claim
  belongs to another payer first;
* ``prior-payer`` -- a secondary's note of what the primary did (OA-23): not
  money of its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Literal, Protocol

AdjustmentClass = Literal[
    "contractual", "patient", "denial", "exhausted", "coordination", "prior-payer"
]
CLASSES: tuple[AdjustmentClass, ...] = (
    "contractual",
    "patient",
    "denial",
    "exhausted",
    "coordination",
    "prior-payer",
)


class _Adjustment(Protocol):
    @property
    def group(self) -> str: ...

    @property
    def reason(self) -> str: ...

    @property
    def amount(self) -> Decimal: ...


@lru_cache(maxsize=1)
def _table() -> tuple[dict[str, AdjustmentClass], dict[tuple[str, str], AdjustmentClass], str]:
    raw = resources.files("schemas").joinpath("data", "adjustment_classes.json").read_text()
    data = json.loads(raw)
    defaults: dict[str, AdjustmentClass] = data["defaults"]
    codes: dict[tuple[str, str], AdjustmentClass] = {
        (row["group"], row["reason"]): row["class"] for row in data["codes"]
    }
    for cls in [*defaults.values(), *codes.values()]:
        if cls not in CLASSES:
            raise ValueError(f"adjustment_classes.json: unknown class {cls!r}")
    return defaults, codes, str(data["version"])


def classify(group: str, reason: str) -> AdjustmentClass:
    """The class of one CAS triple (an unknown group is a denial: someone looks)."""
    defaults, codes, _ = _table()
    return codes.get((group, reason)) or defaults.get(group, "denial")


def version() -> str:
    return _table()[2]


def totals(adjustments: Iterable[_Adjustment]) -> dict[AdjustmentClass, Decimal]:
    """The adjustments' amounts summed per class (every class present, zero or not)."""
    out: dict[AdjustmentClass, Decimal] = dict.fromkeys(CLASSES, Decimal(0))
    for adj in adjustments:
        out[classify(adj.group, adj.reason)] += adj.amount
    return out
