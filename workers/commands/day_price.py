"""``claims price``: what one patient's day would bill, without a broker.

For billing staff checking a day before it is claimed, and for tests: the visits
of the day are given as procedure codes with minutes (and body regions), and
the day is priced exactly as the claims stage prices it when the day closes
(:mod:`workers.pricing.day`): the engine's and the payer's code-pair edits,
modifier rules, caps per day and the CMS or AMA rule, with charges from the
clinic's price list and expected payment from the payer's fee schedule.

``--json`` prints ``{"policy", "date", "lines": [{"code", "modifiers", "minutes",
"units", "charge", "expected"}], "dropped": [{"code", "minutes", "reason"}]}``.
Money is a 2-decimal string, ``"0.00"`` when no clinic (charge) or no fee
(expected) is given.  Reasons a service is dropped: :data:`REASONS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import ValidationError

from schemas.base import Versioned, describe_errors
from schemas.billing import DroppedService
from schemas.derivation import Derivation
from schemas.reference import Clinic, Payer
from workers.pricing.code_lists import default_code_lists
from workers.pricing.day import DayPriced, Service, not_allowed, price_day, rules_for

#: Why a service of the day is not billed (``dropped[].reason``).
REASONS: dict[str, str] = {
    "pair-edit": "a code-pair edit: the two codes may not be billed together, and the "
    "other code had more minutes (or, on a tie, is the column-1 code)",
    "no-units": "its minutes of the day earn no unit under the payer's rule",
    "cap": "the payer's or the prescription's most units per day was reached",
    "not-covered": "the payer does not take this code",
    "bundled": "the payer does not pay this code separately",
    "not-billed": "the technique maps to no code",
    "mue": "more units of the code than the payer pays for one day (MUE-style limit)",
}
_REASON_OF = {
    "code-pair": "pair-edit",
    "zero-units": "no-units",
    "cap": "cap",
    "code-not-allowed": "not-covered",
    "not-billed": "not-billed",
    "untimed-excluded": "no-units",
    "bundled": "bundled",
    "not-covered": "not-covered",
    "mue": "mue",
}
_VISIT = re.compile(
    r"^(?P<code>[0-9A-Z]{5})=(?P<minutes>[0-9]{1,4})(?:@(?P<region>[a-z][a-z0-9_]{0,39}))?$"
)
M = TypeVar("M", bound=Versioned)


class PriceInputError(ValueError):
    """Bad input: the message is one line naming the argument and the rule."""


@dataclass(frozen=True)
class DayQuote:
    payer: Payer
    day: date
    priced: DayPriced
    dropped: tuple[DroppedService, ...]
    minutes: dict[str, int]  # per code, the day's minutes given

    def as_json(self) -> dict[str, Any]:
        return {
            "policy": self.priced.policy,
            "date": self.day.isoformat(),
            "lines": [
                {
                    "code": ln.code,
                    "modifiers": list(ln.modifiers),
                    "minutes": self.minutes.get(ln.code, ln.minutes),
                    "units": ln.units,
                    "charge": _money(ln.charge),
                    "expected": _money(ln.expected_allowed),
                }
                for ln in self.priced.lines
            ],
            "dropped": [
                {"code": d.code, "minutes": d.minutes, "reason": _REASON_OF[d.reason]}
                for d in self.dropped
            ],
        }


def _money(value: Decimal | None) -> str:
    return f"{(value or Decimal(0)).quantize(Decimal('0.01'))}"


def _load(path: Path, model: type[M], wanted: str, what: str) -> M:
    """The record of ``model`` with key ``wanted`` in a JSON-lines reference file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PriceInputError(f"cannot read {what} file {path}: {type(exc).__name__}") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or wanted not in line:
            continue
        try:
            record = model.parse_json(line)
        except ValidationError as exc:
            problems = "; ".join(describe_errors(exc, limit=3))
            raise PriceInputError(f"{path}:{number}: {problems}") from None
        if getattr(record, "key", None) == wanted:
            return record
    raise PriceInputError(f"{what} {wanted!r} is not in {path}")


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PriceInputError(f"--date {text!r}: expected YYYY-MM-DD") from None


def parse_visits(visits: list[str]) -> list[Service]:
    """``--visit CODE=MIN[@REGION][,CODE=MIN[@REGION]...]``, one per visit, in order."""
    services: list[Service] = []
    for number, text in enumerate(visits):
        by_code: dict[str, list[tuple[int, str | None]]] = {}
        for item in text.split(","):
            found = _VISIT.match(item.strip())
            if found is None:
                raise PriceInputError(
                    f"--visit {text!r}: {item.strip()!r} is not CODE=MINUTES[@REGION] "
                    "(a 5-character code, whole minutes, a lower-case region like lower_back)"
                )
            minutes = int(found["minutes"])
            if minutes <= 0:
                raise PriceInputError(f"--visit {text!r}: minutes must be positive")
            by_code.setdefault(found["code"], []).append((minutes, found["region"]))
        services += [Service(number, code, tuple(p)) for code, p in by_code.items()]
    if not services:
        raise PriceInputError("at least one --visit is needed")
    return services


def quote(
    *,
    payers: Path,
    payer_id: str,
    day_text: str,
    visits: list[str],
    clinics: Path | None = None,
    clinic_id: str | None = None,
) -> DayQuote:
    """Price the day (raises :class:`PriceInputError` on bad input)."""
    if (clinics is None) != (clinic_id is None):
        raise PriceInputError("--clinics and --clinic go together")
    day = parse_date(day_text)
    services = parse_visits(visits)
    payer = _load(payers, Payer, payer_id, "payer")
    clinic = _load(clinics, Clinic, clinic_id, "clinic") if clinics and clinic_id else None
    lists = default_code_lists()
    dropped: list[DroppedService] = []
    kept: list[Service] = []
    for service in services:
        refused = not_allowed(payer, service.code)
        reason: Literal["code-not-allowed", "bundled", "not-covered"] = "code-not-allowed"
        if refused is None and service.code in payer.bundled_codes:
            reason = "bundled"
            refused = Derivation(step="bundled", detail=f"{service.code}: not paid separately")
        elif refused is None and service.code in payer.non_covered_codes:
            reason = "not-covered"
            refused = Derivation(step="not-covered", detail=f"{service.code}: not covered")
        if refused is None:
            kept.append(service)
            continue
        dropped.append(
            DroppedService(
                code=service.code,
                techniques=[],
                minutes=service.minutes,
                reason=reason,
                derivation=[refused],
            )
        )
    rules = rules_for(payer, clinic, lists, day)
    priced = price_day(kept, rules, day, pointers=[1])
    if priced.problems:
        raise PriceInputError("; ".join(p.message for p in priced.problems))
    minutes: dict[str, int] = {}
    for service in kept:
        minutes[service.code] = minutes.get(service.code, 0) + service.minutes
    return DayQuote(payer, day, priced, (*dropped, *priced.dropped), minutes)


def table(q: DayQuote) -> str:
    """The text shown without ``--json``."""
    data = q.as_json()
    rows = [
        f"{ln['code']:<7}{' '.join(ln['modifiers']):<12}{ln['minutes']:>8}{ln['units']:>7}"
        f"{ln['charge']:>12}{ln['expected']:>12}"
        for ln in data["lines"]
    ]
    head = f"{'code':<7}{'modifiers':<12}{'minutes':>8}{'units':>7}{'charge':>12}{'expected':>12}"
    out = [
        f"payer {q.payer.payer_id} ({data['policy'].upper()} units), {data['date']}",
        head,
        *rows,
    ]
    for d in data["dropped"]:
        out.append(f"not billed: {d['code']} {d['minutes']} min ({d['reason']})")
    return "\n".join(out)
