"""Minutes to 15-minute units: the CMS total-time method and the AMA per-code method.

Plain integers in, plain integers out (no models), so the ``claims units``
calculator starts fast and property tests run quickly.

CMS (Medicare Claims Processing Manual 100-04, ch. 5, 20.2), for the timed codes
of one date of service:

* total units = (total timed minutes + 7) // 15, i.e. 8-22 minutes -> 1,
  23-37 -> 2, ... (nothing under 8 minutes);
* each code first gets minutes // 15 units (15 minutes earn a unit);
* the units left over go, one each, to the codes with the largest leftover
  minutes (minutes % 15).  **Tie-break** (CMS leaves it to the provider): more
  total minutes of the code first, then the code performed first.  Fees never
  decide.

AMA/CPT (per code, the "rule of eights"): each timed code on its own gets
(minutes + 7) // 15 units, nothing under 8 minutes.

Untimed codes (97010 and any configured) bill one unit whatever the minutes and
are left out of the timed total.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Policy = Literal["cms", "ama"]
POLICIES: tuple[Policy, ...] = ("cms", "ama")


@dataclass(frozen=True)
class CodeUnits:
    code: str
    minutes: int
    units: int
    timed: bool
    base: int  # units earned by whole 15-minute blocks (CMS) or per-code rule (AMA)
    leftover: int  # minutes % 15 (timed codes)
    extra: int  # 1 when CMS gave this code one of the left-over units


def total_units_for(minutes: int) -> int:
    """Units for a number of timed minutes under the 8-minute rule."""
    return (minutes + 7) // 15 if minutes >= 8 else 0


def merge(entries: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Add the minutes of a code given twice; keep the order of first appearance."""
    order: list[str] = []
    total: dict[str, int] = {}
    for code, minutes in entries:
        if code not in total:
            order.append(code)
            total[code] = 0
        total[code] += minutes
    return [(c, total[c]) for c in order]


def compute(
    policy: Policy, entries: list[tuple[str, int]], untimed: frozenset[str] | set[str]
) -> list[CodeUnits]:
    """Units per code, in the order the codes were first performed."""
    merged = merge(entries)
    timed = [(i, c, m) for i, (c, m) in enumerate(merged) if c not in untimed]
    result: dict[str, CodeUnits] = {
        c: CodeUnits(c, m, 1, False, 1, 0, 0) for c, m in merged if c in untimed
    }
    if policy == "ama":
        for _, c, m in timed:
            u = total_units_for(m)
            result[c] = CodeUnits(c, m, u, True, u, m % 15, 0)
    else:
        total = total_units_for(sum(m for _, _, m in timed))
        base = {c: m // 15 for _, c, m in timed}
        remaining = total - sum(base.values())
        ranked = sorted(timed, key=lambda t: (-(t[2] % 15), -t[2], t[0]))
        extra = {c: 0 for _, c, _ in timed}
        for _, c, _ in ranked[: max(remaining, 0)]:
            extra[c] = 1
        for _, c, m in timed:
            result[c] = CodeUnits(c, m, base[c] + extra[c], True, base[c], m % 15, extra[c])
    return [result[c] for c, _ in merged]
