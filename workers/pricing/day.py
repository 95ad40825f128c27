"""One patient's day of service priced as one claim's lines (pure).

Timed units are counted per **day**: per billing provider, patient, coverage and
date of service (the claim's identity), not per visit.  The CMS total-time
method pools every timed minute the patient received that day; the AMA method
counts each code's minutes of the day on their own.  Two 10-minute visits of
97140 are 20 minutes, one unit (not two); two 7-minute visits of 97124 are 14
minutes, one unit (not none).

The steps, in this order, each recorded in the derivation of the line or of the
dropped service:

1. **Services**: what each visit did, as procedure codes with minutes and body
   regions (:func:`services_of` codes an enriched session's techniques; the
   ``claims price`` command gives codes directly).
2. **Code-pair edits, before units.**  For each pair rule (engine-wide and the
   payer's, in rule-id order) whose two codes were both done that day:

   * modifier indicator 1 and the two codes never shared a visit: both are
     billed, the column-2 code with ``XE`` (separate encounter);
   * modifier indicator 1, a shared visit, and in every shared visit the two
     codes were done on known, different body regions: both are billed, the
     column-2 code with the payer's distinct-service modifier (``XS`` or ``59``);
   * otherwise the two may not be billed together: the code with **more minutes
     that day** is kept (on a tie the column-1 code) and the other is dropped
     with all its minutes.  Fees never decide.

   Units are computed only on the minutes of the codes that remain.
3. **Units** under the payer's policy (:mod:`workers.pricing.timed_units`).
4. **Modifiers** the payer requires (e.g. GP).
5. **Caps per day**: the smaller of the payer's and the prescriptions' unit
   limits applies to the whole day (untimed lines go first, then one unit at a
   time from the line with most units, the later-performed line on a tie).
6. **Charges and expected payment**: units x the clinic's price and units x the
   payer's fee, both effective on the date of service.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal, TypeVar

from schemas.billing import (
    BillableLine,
    Derivation,
    DroppedService,
    ScrubProblem,
    TechniqueMinutes,
    money,
)
from schemas.common import EffectiveDated
from schemas.outcomes import SessionEnriched
from schemas.reference import (
    Clinic,
    CodeMapEntry,
    CodePairRule,
    FeeEntry,
    ModifierRule,
    Payer,
    PriceEntry,
)
from workers.pricing import timed_units
from workers.pricing.code_lists import CodeLists

MAX_MODIFIERS = 4
MAX_POINTERS = 4
#: The largest amount a line can carry (``Money``: 9 digits, 2 decimals).
MAX_AMOUNT = Decimal("999999999.99")
#: The modifier of a pair done in two different visits of the same day.
SEPARATE_ENCOUNTER = "XE"


@dataclass(frozen=True)
class Service:
    """One procedure code done in one visit of the day: its minutes per body region
    (``portions``), and the techniques behind them when it was coded from a session."""

    visit: int
    code: str
    portions: tuple[tuple[int, str | None], ...]
    techniques: tuple[TechniqueMinutes, ...] = ()
    derivation: tuple[Derivation, ...] = ()

    @classmethod
    def of_techniques(
        cls,
        visit: int,
        code: str,
        techniques: tuple[TechniqueMinutes, ...],
        derivation: tuple[Derivation, ...] = (),
    ) -> Service:
        portions = tuple((t.minutes, t.body_region) for t in techniques)
        return cls(visit, code, portions, techniques, derivation)

    @property
    def minutes(self) -> int:
        return sum(m for m, _ in self.portions)


@dataclass(frozen=True)
class DayRules:
    """What a day is priced under: the payer's contract (or self-pay) and the
    clinic's prices; built by :func:`rules_for`."""

    policy: timed_units.Policy
    policy_rule: str
    untimed: frozenset[str]
    pairs: tuple[tuple[CodePairRule, str], ...]
    distinct_modifier: str
    modifier_rules: tuple[ModifierRule, ...]
    caps: tuple[tuple[int, str], ...]
    prices: tuple[PriceEntry, ...] | None
    unit_limits: tuple[tuple[str, int], ...]
    price_rule: str
    fees: tuple[FeeEntry, ...]
    fee_rule: str
    payer_id: str | None
    clinic_id: str | None


def rules_for(
    payer: Payer | None,
    clinic: Clinic | None,
    lists: CodeLists,
    day: date,
    *,
    self_pay_policy: timed_units.Policy = "ama",
    prescription_caps: Sequence[tuple[int, str]] = (),
) -> DayRules:
    """The rules for ``day``: engine-wide lists refined by the payer's contract.
    ``clinic`` None: no charges are computed (``claims price`` without a clinic)."""
    pairs = [(r, f"{lists.pairs_version}@{r.effective_from}") for r in lists.pairs if r.covers(day)]
    caps = list(prescription_caps)
    if payer is not None:
        pairs += [(r, f"payer@{r.effective_from}") for r in payer.code_pair_rules if r.covers(day)]
        if payer.max_units_per_visit is not None:
            caps.append((payer.max_units_per_visit, f"payer:{payer.payer_id}:max_units_per_day"))
    untimed = (
        frozenset(payer.untimed_codes)
        if payer is not None and payer.untimed_codes is not None
        else lists.untimed
    )
    return DayRules(
        policy=payer.unit_policy if payer else self_pay_policy,
        policy_rule=f"payer:{payer.payer_id}:unit_policy" if payer else "self-pay:unit_policy",
        untimed=untimed,
        pairs=tuple(sorted(pairs, key=lambda rv: rv[0].rule_id)),
        distinct_modifier=payer.distinct_service_modifier if payer else "XS",
        modifier_rules=tuple(
            sorted((r for r in payer.modifier_rules if r.covers(day)), key=lambda r: r.rule_id)
        )
        if payer
        else (),
        caps=tuple(caps),
        prices=tuple(clinic.price_list) if clinic is not None else None,
        unit_limits=tuple((u.code, u.units) for u in payer.daily_unit_limits) if payer else (),
        price_rule=f"clinic:{clinic.clinic_id}:price_list" if clinic else "no-clinic",
        fees=tuple(payer.fee_schedule) if payer else (),
        fee_rule=f"payer:{payer.payer_id}:fee_schedule" if payer else "self-pay",
        payer_id=payer.payer_id if payer else None,
        clinic_id=clinic.clinic_id if clinic else None,
    )


# --- 1. services ---------------------------------------------------------------------


def services_of(
    enriched: SessionEnriched, visit: int, lists: CodeLists
) -> tuple[list[Service], list[DroppedService]]:
    """An enriched session's techniques as procedure codes: the payer's own row for
    the date of service first, else the default map.  A technique mapped to no code
    is not billed; a code outside the payer's allowed list is dropped."""
    session, payer = enriched.session, enriched.payer
    day = session.date_of_service
    by_code: dict[str, list[tuple[TechniqueMinutes, Derivation]]] = {}
    dropped: list[DroppedService] = []
    for performed in session.techniques:
        tm = TechniqueMinutes(
            technique=performed.technique,
            minutes=performed.minutes,
            body_region=performed.body_region,
        )
        row, rule_id, version = _code_row(performed.technique, payer, lists, day)
        code = row.code if row else None
        step = Derivation(
            step="code-map",
            rule_id=rule_id,
            rule_version=version,
            detail=f"{performed.technique} {performed.minutes} min -> {code or 'not billed'}",
        )
        if code is None:
            not_billed = step.model_copy(update={"step": "not-billed"})
            dropped.append(
                DroppedService(
                    code=None,
                    techniques=[tm],
                    minutes=tm.minutes,
                    reason="not-billed",
                    derivation=[not_billed],
                )
            )
            continue
        refused = not_allowed(payer, code)
        if refused is not None:
            dropped.append(
                DroppedService(
                    code=code,
                    techniques=[tm],
                    minutes=tm.minutes,
                    reason="code-not-allowed",
                    derivation=[step, refused],
                )
            )
            continue
        excluded = payer_excludes(payer, code, enriched, tm, lists)
        if excluded is not None:
            dropped.append(excluded.model_copy(update={"derivation": [step, *excluded.derivation]}))
            continue
        by_code.setdefault(code, []).append((tm, step))
    services = [
        Service.of_techniques(visit, code, tuple(t for t, _ in done), tuple(d for _, d in done))
        for code, done in by_code.items()
    ]
    return services, dropped


def payer_excludes(
    payer: Payer | None,
    code: str,
    enriched: SessionEnriched,
    tm: TechniqueMinutes,
    lists: CodeLists,
) -> DroppedService | None:
    """A code the payer never pays separately (bundled: not sent, not billed) or does
    not cover (not sent; billed to the patient only with their waiver on file)."""
    if payer is None:
        return None
    if code in payer.bundled_codes:
        why = Derivation(
            step="bundled",
            rule_id=f"payer:{payer.payer_id}:bundled_codes",
            detail=f"{code} is not paid separately by payer {payer.payer_id}: not sent",
        )
        return DroppedService(
            code=code, techniques=[tm], minutes=tm.minutes, reason="bundled", derivation=[why]
        )
    if code not in payer.non_covered_codes:
        return None
    session = enriched.session
    charge = None
    if session.waiver_on_file:
        units = 1 if code in lists.untimed else timed_units.total_units_for(tm.minutes)
        price = _latest(enriched.clinic.price_list, code, session.date_of_service)
        charge = (price.amount * units).quantize(Decimal("0.01")) if price and units else None
    outcome = (
        f"the patient's waiver is on file: {charge} billed to the patient"
        if charge is not None
        else "no waiver on file (or no price): written off"
    )
    why = Derivation(
        step="not-covered",
        rule_id=f"payer:{payer.payer_id}:non_covered_codes",
        detail=f"{code} is not covered by payer {payer.payer_id}: not sent; {outcome}",
    )
    return DroppedService(
        code=code,
        techniques=[tm],
        minutes=tm.minutes,
        reason="not-covered",
        derivation=[why],
        patient_charge=charge,
    )


def not_allowed(payer: Payer | None, code: str) -> Derivation | None:
    """Why ``payer`` does not take ``code`` (outside its allowed list), or None."""
    if payer is None or payer.allowed_codes is None or code in payer.allowed_codes:
        return None
    return Derivation(
        step="code-not-allowed",
        rule_id=f"payer:{payer.payer_id}:allowed_codes",
        detail=f"{code} is not among the codes payer {payer.payer_id} accepts",
    )


def _code_row(
    technique: str, payer: Payer | None, lists: CodeLists, day: date
) -> tuple[CodeMapEntry | None, str, str | None]:
    own = payer.code_map if payer else []
    rows = [r for r in own if r.technique == technique and r.covers(day)]
    if payer is not None and rows:
        row = max(rows, key=lambda r: r.effective_from)
        return row, f"payer:{payer.payer_id}:code_map:{technique}", f"payer@{row.effective_from}"
    defaults = [r for r in lists.technique_map if r.technique == technique and r.covers(day)]
    found = max(defaults, key=lambda r: r.effective_from) if defaults else None
    version = f"{lists.technique_map_version}@{found.effective_from}" if found else None
    return found, f"default:technique_codes:{technique}", version


# --- 2-6. the day -----------------------------------------------------------------------


@dataclass
class _Code:
    """One code of the day while it is being priced."""

    code: str
    order: int
    services: list[Service]
    units: int = 0
    timed: bool = True
    modifiers: list[str] = field(default_factory=list)
    derivation: list[Derivation] = field(default_factory=list)

    @property
    def minutes(self) -> int:
        return sum(s.minutes for s in self.services)

    @property
    def visits(self) -> set[int]:
        return {s.visit for s in self.services}

    @property
    def techniques(self) -> list[TechniqueMinutes]:
        return [t for s in self.services for t in s.techniques]

    def regions_in(self, visit: int) -> set[str | None]:
        return {r for s in self.services if s.visit == visit for _, r in s.portions}

    def dropped(
        self,
        reason: Literal["code-pair", "zero-units", "cap"],
        step: Derivation,
        units_lost: int = 0,
    ) -> DroppedService:
        return DroppedService(
            code=self.code,
            techniques=self.techniques,
            minutes=self.minutes,
            reason=reason,
            units_lost=units_lost,
            derivation=[*self.derivation, step],
        )


@dataclass(frozen=True)
class DayPriced:
    """The day's lines in claim order (first performed first), what was dropped,
    and what stops the day from being billed (``problems``)."""

    lines: tuple[BillableLine, ...]
    dropped: tuple[DroppedService, ...]
    problems: tuple[ScrubProblem, ...]
    policy: timed_units.Policy
    total_timed_minutes: int


def price_day(
    services: Sequence[Service],
    rules: DayRules,
    day: date,
    *,
    pointers: Sequence[int] = (),
    pointers_of: dict[str, list[int]] | None = None,
) -> DayPriced:
    """Price the services of one day (see the module's steps).

    ``pointers``: the diagnosis pointers of every line; ``pointers_of``, per code,
    overrides them (a code's own visits' diagnoses).
    """
    work: dict[str, _Code] = {}
    for service in sorted(services, key=lambda s: s.visit):
        if service.code not in work:
            work[service.code] = _Code(service.code, len(work), [])
        entry = work[service.code]
        entry.services.append(service)
        entry.derivation.extend(service.derivation)
    dropped: list[DroppedService] = []
    _pair_edits(work, dropped, rules)
    total_timed = _units(work, dropped, rules)
    _modifiers(work, rules)
    _apply_limits(work, dropped, rules)
    if rules.caps:
        cap, cap_rule = min(rules.caps)
        _apply_cap(work, dropped, cap, cap_rule)
    lines, problems = _lines(work, rules, day, list(pointers), pointers_of or {})
    return DayPriced(tuple(lines), tuple(dropped), tuple(problems), rules.policy, total_timed)


def _separate_regions(first: _Code, second: _Code, visit: int) -> bool:
    mine, theirs = first.regions_in(visit), second.regions_in(visit)
    return None not in mine | theirs and not (mine & theirs)


def _pair_edits(work: dict[str, _Code], dropped: list[DroppedService], rules: DayRules) -> None:
    for rule, version in rules.pairs:
        first, second = work.get(rule.column1), work.get(rule.column2)
        if first is None or second is None:
            continue
        shared = first.visits & second.visits
        modifier = None
        if rule.modifier_indicator == 1 and not shared:
            modifier, why = SEPARATE_ENCOUNTER, "in separate visits of the day (separate encounter)"
        elif rule.modifier_indicator == 1 and all(
            _separate_regions(first, second, v) for v in shared
        ):
            modifier, why = rules.distinct_modifier, "on different body regions"
        if modifier is not None:
            before = {"modifiers": list(second.modifiers)}
            if modifier not in second.modifiers:
                second.modifiers.append(modifier)
            second.derivation.append(
                Derivation(
                    step="code-pair",
                    rule_id=rule.rule_id,
                    rule_version=version,
                    detail=f"{rule.column2} with {rule.column1} {why}: modifier {modifier}",
                    before=before,
                    after={"modifiers": list(second.modifiers)},
                )
            )
            continue
        why = (
            "never billed together"
            if rule.modifier_indicator == 0
            else "billable together only on different body regions or in separate visits, "
            "and these shared a visit and a region"
        )
        keep, drop = (first, second) if first.minutes >= second.minutes else (second, first)
        decided = (
            f"{keep.code} ({keep.minutes} min) kept, {drop.code} ({drop.minutes} min) dropped: "
            f"{rule.column1} and {rule.column2} {why}; the code with more minutes is billed "
            f"(on a tie the column-1 code), and units count only its minutes"
        )
        keep.derivation.append(
            Derivation(step="code-pair", rule_id=rule.rule_id, rule_version=version, detail=decided)
        )
        lost = 1 if drop.code in rules.untimed else timed_units.total_units_for(drop.minutes)
        step = Derivation(
            step="code-pair",
            rule_id=rule.rule_id,
            rule_version=version,
            detail=decided,
            before={"minutes": drop.minutes},
            after={"minutes": 0},
        )
        del work[drop.code]
        dropped.append(drop.dropped("code-pair", step, units_lost=lost))


def _units(work: dict[str, _Code], dropped: list[DroppedService], rules: DayRules) -> int:
    ordered = sorted(work.values(), key=lambda w: w.order)
    minutes = [(w.code, w.minutes) for w in ordered]
    computed = timed_units.compute(rules.policy, minutes, rules.untimed)
    for cu in computed:
        w = work[cu.code]
        w.units, w.timed = cu.units, cu.timed
        w.derivation.append(
            Derivation(
                step="units",
                rule_id=rules.policy_rule,
                rule_version=rules.policy,
                detail=_units_detail(rules.policy, cu, len(w.visits)),
                after={
                    "units": cu.units,
                    "minutes": cu.minutes,
                    "base": cu.base,
                    "leftover": cu.leftover,
                    "extra": cu.extra,
                },
            )
        )
    for code in [c for c, w in work.items() if w.units == 0]:
        w = work.pop(code)
        step = Derivation(
            step="units",
            rule_id=rules.policy_rule,
            rule_version=rules.policy,
            detail=f"{code}: {w.minutes} min of the day earn no unit",
        )
        dropped.append(w.dropped("zero-units", step))
    return sum(cu.minutes for cu in computed if cu.timed)


def _units_detail(policy: str, cu: timed_units.CodeUnits, visits: int) -> str:
    day = f" in {visits} visits of the day" if visits > 1 else ""
    if not cu.timed:
        return f"untimed code: 1 unit for the day ({cu.minutes} min{day} not counted)"
    if policy == "cms":
        extra = f" + 1 for the largest leftover ({cu.leftover} min)" if cu.extra else ""
        return (
            f"CMS total time of the day: {cu.minutes} min{day} -> {cu.base} whole unit(s)"
            f"{extra} = {cu.units}"
        )
    return f"AMA per code per day: {cu.minutes} min{day} -> {cu.units} unit(s)"


def _modifiers(work: dict[str, _Code], rules: DayRules) -> None:
    for rule in rules.modifier_rules:
        for w in work.values():
            if (rule.codes is None or w.code in rule.codes) and rule.modifier not in w.modifiers:
                previous = list(w.modifiers)
                w.modifiers.append(rule.modifier)
                w.derivation.append(
                    Derivation(
                        step="modifier",
                        rule_id=rule.rule_id,
                        rule_version=f"payer@{rule.effective_from}",
                        detail=f"payer {rules.payer_id} requires {rule.modifier} on {w.code}",
                        before={"modifiers": previous},
                        after={"modifiers": list(w.modifiers)},
                    )
                )


def _apply_limits(work: dict[str, _Code], dropped: list[DroppedService], rules: DayRules) -> None:
    """Per-code daily unit limits (MUE-style): units above the limit are not billed."""
    for code, limit in rules.unit_limits:
        w = work.get(code)
        if w is None or w.units <= limit:
            continue
        before = w.units
        w.units = limit
        step = Derivation(
            step="mue",
            rule_id=f"payer:{rules.payer_id}:daily_unit_limits:{code}",
            detail=f"at most {limit} units of {code} per day: {before} -> {limit}",
            before={"units": before},
            after={"units": limit},
        )
        w.derivation.append(step)
        dropped.append(
            DroppedService(
                code=code,
                techniques=[],
                minutes=0,
                reason="mue",
                units_lost=before - limit,
                derivation=[step],
            )
        )


def _apply_cap(work: dict[str, _Code], dropped: list[DroppedService], cap: int, rule: str) -> None:
    total = sum(w.units for w in work.values())
    if total <= cap:
        return
    ordered = sorted(work.values(), key=lambda w: w.order)
    before = {w.code: w.units for w in ordered}
    excess = total - cap
    for w in reversed([w for w in ordered if not w.timed]):
        if excess <= 0:
            break
        take = min(w.units, excess)
        w.units -= take
        excess -= take
    while excess > 0:
        w = max((w for w in ordered if w.units > 0 and w.timed), key=lambda w: (w.units, w.order))
        w.units -= 1
        excess -= 1
    for w in ordered:
        if w.units == before[w.code]:
            continue
        step = Derivation(
            step="cap",
            rule_id=rule,
            detail=f"at most {cap} units per day: {w.code} {before[w.code]} -> {w.units} "
            "(untimed first, then the line with most units, later-performed on a tie)",
            before={"units": before[w.code]},
            after={"units": w.units},
        )
        if w.units == 0:
            del work[w.code]
            dropped.append(w.dropped("cap", step, units_lost=before[w.code]))
        else:
            w.derivation.append(step)


R = TypeVar("R", PriceEntry, FeeEntry)


def _latest(rows: Sequence[R], code: str, day: date) -> R | None:
    found = [r for r in rows if r.code == code and r.covers(day)]
    return max(found, key=lambda r: r.effective_from) if found else None


def _version(row: EffectiveDated, owner: str) -> str:
    return f"{owner}@{row.effective_from.isoformat()}"


def _lines(
    work: dict[str, _Code],
    rules: DayRules,
    day: date,
    pointers: list[int],
    pointers_of: dict[str, list[int]],
) -> tuple[list[BillableLine], list[ScrubProblem]]:
    lines: list[BillableLine] = []
    problems: list[ScrubProblem] = []
    for number, w in enumerate(sorted(work.values(), key=lambda w: w.order), start=1):
        if len(w.modifiers) > MAX_MODIFIERS:
            message = f"line {number}: more than {MAX_MODIFIERS} modifiers"
            problems.append(ScrubProblem(check="modifiers", line_number=number, message=message))
            continue
        price = _latest(rules.prices, w.code, day) if rules.prices is not None else None
        if rules.prices is not None and price is None:
            problems.append(
                ScrubProblem(
                    check="price",
                    line_number=number,
                    message=f"clinic {rules.clinic_id} has no price for {w.code} on {day}",
                )
            )
            continue
        unit_price = price.amount if price is not None else Decimal("0.00")
        charge = money(unit_price * w.units)
        fee = _latest(rules.fees, w.code, day)
        expected = money(fee.amount * w.units) if fee else None
        if charge > MAX_AMOUNT or (expected is not None and expected > MAX_AMOUNT):
            what = "charge" if charge > MAX_AMOUNT else "expected allowed amount"
            message = f"line {number}: the {what} ({w.units} units) exceeds {MAX_AMOUNT}"
            problems.append(ScrubProblem(check="amount", line_number=number, message=message))
            continue
        if price is not None:
            w.derivation.append(
                Derivation(
                    step="charge",
                    rule_id=rules.price_rule,
                    rule_version=_version(price, "clinic"),
                    detail=f"{w.units} x {price.amount} = {charge}",
                )
            )
        if fee is not None:
            w.derivation.append(
                Derivation(
                    step="expected-allowed",
                    rule_id=rules.fee_rule,
                    rule_version=_version(fee, "payer"),
                    detail=f"{w.units} x {fee.amount} = {expected}",
                )
            )
        line_pointers = (pointers_of.get(w.code) or pointers)[:MAX_POINTERS]
        lines.append(
            BillableLine(
                line_number=number,
                code=w.code,
                modifiers=w.modifiers,
                units=w.units,
                timed=w.timed,
                minutes=w.minutes if w.timed else 0,
                techniques=w.techniques,
                diagnosis_pointers=line_pointers,
                unit_price=unit_price,
                charge=charge,
                expected_unit_allowed=fee.amount if fee else None,
                expected_allowed=expected,
                derivation=w.derivation,
            )
        )
    return lines, problems
