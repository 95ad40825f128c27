"""Enriched session -> billable service lines, every number with its derivation.

Steps, in this order (each recorded on the line or on the dropped service):

1. **Code map**: each technique -> procedure code, the payer's own row for the
   date of service first, else the default map; techniques mapping to the same
   code add their minutes into one line.  A technique mapped to no code is not
   billed; a code outside the payer's allowed list is dropped.
2. **Units** under the payer's policy (:mod:`workers.units.timed_units`).
3. **Code pairs**: engine-wide edits plus the payer's, in rule-id order.
   Indicator 0 drops the column-2 code; indicator 1 adds the payer's
   distinct-service modifier (XS or 59) to the column-2 code when the two codes
   were done on different body regions (every technique of both with a region,
   no region shared), otherwise drops it.  Then the payer's modifier rules
   (e.g. GP); more than four modifiers on a line fails the scrub.
4. **Caps**: the smaller of the payer's and the prescription's units per visit.
   Documented rule: untimed lines go first (last performed first); then one
   unit at a time from the line with the most units, the later-performed line
   losing on a tie.  Fees never decide.
5. **Charges and expected payment**: units x the clinic's price and units x the
   payer's fee, both effective on the date of service, both ``Decimal``.
6. **Scrub**: 1-12 diagnoses, at most four pointers per line, positive units and
   charge, valid NPIs for billing, rendering and referring providers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Literal, TypeVar

from schemas.billing import (
    BillableLine,
    BillableSession,
    Derivation,
    DroppedService,
    ScrubProblem,
    TechniqueMinutes,
    money,
)
from schemas.common import EffectiveDated
from schemas.identifiers import icd10cm_normalised, npi_valid
from schemas.outcomes import SessionEnriched
from schemas.reference import CodeMapEntry, CodePairRule, FeeEntry, PriceEntry
from workers.units import timed_units
from workers.units.code_lists import CodeLists

MAX_MODIFIERS = 4
MAX_POINTERS = 4
MAX_DIAGNOSES = 12
#: The largest amount a line or a session can carry (``Money``: 9 digits, 2 decimals).
MAX_AMOUNT = Decimal("999999999.99")


@dataclass
class _Work:
    """A code while it is being priced."""

    code: str
    order: int
    techniques: list[TechniqueMinutes]
    units: int = 0
    timed: bool = True
    modifiers: list[str] = field(default_factory=list)
    derivation: list[Derivation] = field(default_factory=list)

    @property
    def minutes(self) -> int:
        return sum(t.minutes for t in self.techniques)

    @property
    def regions(self) -> set[str | None]:
        return {t.body_region for t in self.techniques}


@dataclass(frozen=True)
class Priced:
    """The outcome of pricing one session: billable, or refused with a reason."""

    billable: BillableSession | None
    reason: Literal["no-billable-units", "scrub-failed"] | None = None
    message: str = ""
    problems: tuple[ScrubProblem, ...] = ()
    dropped: tuple[DroppedService, ...] = ()


def _version(data_version: str, row: EffectiveDated) -> str:
    return f"{data_version}@{row.effective_from.isoformat()}"


R = TypeVar("R", PriceEntry, FeeEntry)


def _latest(rows: Sequence[R], code: str, day: date) -> R | None:
    found = [r for r in rows if r.code == code and r.covers(day)]
    return max(found, key=lambda r: r.effective_from) if found else None


def price_session(
    enriched: SessionEnriched,
    lists: CodeLists,
    now: datetime,
    self_pay_policy: timed_units.Policy = "ama",
) -> Priced:
    session = enriched.session
    day = session.date_of_service
    payer = enriched.payer
    policy: timed_units.Policy = payer.unit_policy if payer else self_pay_policy
    dropped: list[DroppedService] = []

    # 1. technique -> code -------------------------------------------------------------
    work: dict[str, _Work] = {}
    for performed in session.techniques:
        tm = TechniqueMinutes(
            technique=performed.technique,
            minutes=performed.minutes,
            body_region=performed.body_region,
        )
        payer_rows = [
            r
            for r in (payer.code_map if payer else [])
            if r.technique == performed.technique and r.covers(day)
        ]
        row: CodeMapEntry | None
        version: str | None
        if payer is not None and payer_rows:
            row = max(payer_rows, key=lambda r: r.effective_from)
            rule_id = f"payer:{payer.payer_id}:code_map:{performed.technique}"
            version = f"payer@{row.effective_from.isoformat()}"
        else:
            defaults = [
                r
                for r in lists.technique_map
                if r.technique == performed.technique and r.covers(day)
            ]
            row = max(defaults, key=lambda r: r.effective_from) if defaults else None
            rule_id = f"default:technique_codes:{performed.technique}"
            version = _version(lists.technique_map_version, row) if row else None
        code = row.code if row else None
        step = Derivation(
            step="code-map",
            rule_id=rule_id,
            rule_version=version,
            detail=f"{performed.technique} {performed.minutes} min -> {code or 'not billed'}",
        )
        if code is None:
            dropped.append(
                DroppedService(
                    code=None,
                    techniques=[tm],
                    reason="not-billed",
                    derivation=[step.model_copy(update={"step": "not-billed"})],
                )
            )
            continue
        if (
            payer is not None
            and payer.allowed_codes is not None
            and code not in payer.allowed_codes
        ):
            dropped.append(
                DroppedService(
                    code=code,
                    techniques=[tm],
                    reason="code-not-allowed",
                    derivation=[
                        step,
                        Derivation(
                            step="code-not-allowed",
                            rule_id=f"payer:{payer.payer_id}:allowed_codes",
                            detail=f"{code} is not among the codes payer {payer.payer_id} accepts",
                        ),
                    ],
                )
            )
            continue
        if code not in work:
            work[code] = _Work(code=code, order=len(work), techniques=[])
        work[code].techniques.append(tm)
        work[code].derivation.append(step)

    # 2. units ---------------------------------------------------------------------------
    untimed = (
        frozenset(payer.untimed_codes)
        if payer and payer.untimed_codes is not None
        else lists.untimed
    )
    units_rule = f"payer:{payer.payer_id}:unit_policy" if payer else "self-pay:unit_policy"
    computed = timed_units.compute(policy, [(w.code, w.minutes) for w in work.values()], untimed)
    total_timed_minutes = sum(cu.minutes for cu in computed if cu.timed)
    for cu in computed:
        w = work[cu.code]
        w.units, w.timed = cu.units, cu.timed
        if cu.timed and policy == "cms":
            detail = (
                f"CMS total time: {cu.minutes} min -> {cu.base} whole unit(s)"
                + (f" + 1 for the largest leftover ({cu.leftover} min)" if cu.extra else "")
                + f" = {cu.units}"
            )
        elif cu.timed:
            detail = f"AMA per code: {cu.minutes} min -> {cu.units} unit(s)"
        else:
            detail = f"untimed code: 1 unit ({cu.minutes} min not counted in timed totals)"
        w.derivation.append(
            Derivation(
                step="units",
                rule_id=units_rule,
                rule_version=policy,
                detail=detail,
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
        dropped.append(
            DroppedService(
                code=code, techniques=w.techniques, reason="zero-units", derivation=w.derivation
            )
        )

    # 3. code pairs and modifiers --------------------------------------------------------
    rules: list[tuple[CodePairRule, str]] = [
        (r, _version(lists.pairs_version, r)) for r in lists.pairs if r.covers(day)
    ]
    if payer is not None:
        rules += [
            (r, f"payer@{r.effective_from.isoformat()}")
            for r in payer.code_pair_rules
            if r.covers(day)
        ]
    distinct = payer.distinct_service_modifier if payer else "XS"
    for rule, version in sorted(rules, key=lambda rv: rv[0].rule_id):
        first, second = work.get(rule.column1), work.get(rule.column2)
        if first is None or second is None:
            continue
        separate = None not in first.regions | second.regions and not (
            first.regions & second.regions
        )
        if rule.modifier_indicator == 1 and separate:
            before = {"modifiers": list(second.modifiers)}
            if distinct not in second.modifiers:
                second.modifiers.append(distinct)
            second.derivation.append(
                Derivation(
                    step="code-pair",
                    rule_id=rule.rule_id,
                    rule_version=version,
                    detail=f"{rule.column2} with {rule.column1} on a different body region: "
                    f"distinct-service modifier {distinct}",
                    before=before,
                    after={"modifiers": list(second.modifiers)},
                )
            )
            continue
        why = (
            "never billed together"
            if rule.modifier_indicator == 0
            else "billable together only on different body regions, and these are not"
        )
        step = Derivation(
            step="code-pair",
            rule_id=rule.rule_id,
            rule_version=version,
            detail=f"{rule.column2} dropped: {why} with {rule.column1}",
            before={"units": second.units},
            after={"units": 0},
        )
        del work[rule.column2]
        dropped.append(
            DroppedService(
                code=second.code,
                techniques=second.techniques,
                reason="code-pair",
                units_lost=second.units,
                derivation=[*second.derivation, step],
            )
        )
    if payer is not None:
        for mrule in sorted(payer.modifier_rules, key=lambda r: r.rule_id):
            if not mrule.covers(day):
                continue
            for w in work.values():
                if (
                    mrule.codes is None or w.code in mrule.codes
                ) and mrule.modifier not in w.modifiers:
                    previous = list(w.modifiers)
                    w.modifiers.append(mrule.modifier)
                    w.derivation.append(
                        Derivation(
                            step="modifier",
                            rule_id=mrule.rule_id,
                            rule_version=f"payer@{mrule.effective_from.isoformat()}",
                            detail=f"payer {payer.payer_id} requires {mrule.modifier} on {w.code}",
                            before={"modifiers": previous},
                            after={"modifiers": list(w.modifiers)},
                        )
                    )

    # 4. caps ----------------------------------------------------------------------------
    caps = []
    if payer is not None and payer.max_units_per_visit is not None:
        caps.append((payer.max_units_per_visit, f"payer:{payer.payer_id}:max_units_per_visit"))
    rx = enriched.prescription
    if rx is not None and rx.max_units_per_visit is not None:
        caps.append(
            (rx.max_units_per_visit, f"prescription:{rx.prescription_id}:max_units_per_visit")
        )
    if caps:
        cap, cap_rule = min(caps)
        _apply_cap(work, dropped, cap, cap_rule)

    # 5. charges and expected allowed ----------------------------------------------------
    problems: list[ScrubProblem] = []
    lines: list[BillableLine] = []
    diagnoses = _diagnoses(enriched)
    pointers = list(range(1, min(len(diagnoses), MAX_POINTERS) + 1))
    for number, w in enumerate(sorted(work.values(), key=lambda w: w.order), start=1):
        price = _latest(enriched.clinic.price_list, w.code, day)
        if price is None:
            problems.append(
                ScrubProblem(
                    check="price",
                    line_number=number,
                    message=f"clinic {enriched.clinic.clinic_id} has no price for {w.code} "
                    f"on {day}",
                )
            )
            continue
        if len(w.modifiers) > MAX_MODIFIERS:
            problems.append(
                ScrubProblem(
                    check="modifiers",
                    line_number=number,
                    message=f"line {number}: more than {MAX_MODIFIERS} modifiers",
                )
            )
            continue
        charge = money(price.amount * w.units)
        fee = _latest(payer.fee_schedule, w.code, day) if payer else None
        expected = money(fee.amount * w.units) if fee else None
        if charge > MAX_AMOUNT or (expected is not None and expected > MAX_AMOUNT):
            what = "charge" if charge > MAX_AMOUNT else "expected allowed amount"
            problems.append(
                ScrubProblem(
                    check="amount",
                    line_number=number,
                    message=f"line {number}: the {what} ({w.units} units) exceeds {MAX_AMOUNT}",
                )
            )
            continue
        w.derivation.append(
            Derivation(
                step="charge",
                rule_id=f"clinic:{enriched.clinic.clinic_id}:price_list",
                rule_version=f"clinic@{price.effective_from.isoformat()}",
                detail=f"{w.units} x {price.amount} = {charge}",
            )
        )
        if fee is not None:
            w.derivation.append(
                Derivation(
                    step="expected-allowed",
                    rule_id=f"payer:{payer.payer_id}:fee_schedule",  # type: ignore[union-attr]  # fee is set only when payer is
                    rule_version=f"payer@{fee.effective_from.isoformat()}",
                    detail=f"{w.units} x {fee.amount} = {expected}",
                )
            )
        w.derivation.append(
            Derivation(
                step="diagnosis-pointers",
                rule_id="default:pointers",
                detail=f"points to diagnoses {pointers or 'none'} (the first {MAX_POINTERS} of the "
                "prescription, in the prescriber's order)",
            )
        )
        lines.append(
            BillableLine(
                line_number=number,
                code=w.code,
                modifiers=w.modifiers,
                units=w.units,
                timed=w.timed,
                minutes=w.minutes if w.timed else 0,
                techniques=w.techniques,
                diagnosis_pointers=pointers,
                unit_price=price.amount,
                charge=charge,
                expected_unit_allowed=fee.amount if fee else None,
                expected_allowed=expected,
                derivation=w.derivation,
            )
        )

    # 6. scrub ---------------------------------------------------------------------------
    if not lines and not problems:
        detail = "; ".join(f"{d.code or d.techniques[0].technique}: {d.reason}" for d in dropped)
        return Priced(
            None,
            "no-billable-units",
            f"no line of the session has billable units ({detail})",
            dropped=tuple(dropped),
        )
    problems += _scrub(enriched, lines, diagnoses)
    if problems:
        return Priced(
            None,
            "scrub-failed",
            "; ".join(p.message for p in problems),
            tuple(problems),
            tuple(dropped),
        )
    expected_values = [ln.expected_allowed for ln in lines if ln.expected_allowed is not None]
    expected_total = (
        money(sum(expected_values, Decimal(0))) if len(expected_values) == len(lines) else None
    )
    billable = BillableSession.new(
        session_key=session.session_key,
        clinic_id=session.clinic_id,
        patient_id=session.patient_id,
        session_id=session.session_id,
        date_of_service=day,
        billed_to_payer=enriched.billed_to_payer,
        payer_id=payer.payer_id if payer else None,
        receiver_id=payer.receiver_id if payer else None,
        policy=policy,
        total_timed_minutes=total_timed_minutes,
        total_units=sum(ln.units for ln in lines),
        diagnosis_codes=diagnoses,
        lines=lines,
        dropped=dropped,
        charge_total=money(sum((ln.charge for ln in lines), Decimal(0))),
        expected_total=expected_total,
        rules_version=lists.version,
        computed_at=now,
        enriched=enriched,
    )
    return Priced(billable, dropped=tuple(dropped))


def _apply_cap(work: dict[str, _Work], dropped: list[DroppedService], cap: int, rule: str) -> None:
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
        candidates = [w for w in ordered if w.units > 0 and w.timed]
        w = max(candidates, key=lambda w: (w.units, w.order))
        w.units -= 1
        excess -= 1
    for w in ordered:
        if w.units == before[w.code]:
            continue
        step = Derivation(
            step="cap",
            rule_id=rule,
            detail=f"at most {cap} units per visit: {w.code} {before[w.code]} -> {w.units} "
            "(untimed first, then the line with most units, later-performed on a tie)",
            before={"units": before[w.code]},
            after={"units": w.units},
        )
        if w.units == 0:
            del work[w.code]
            dropped.append(
                DroppedService(
                    code=w.code,
                    techniques=w.techniques,
                    reason="cap",
                    units_lost=before[w.code],
                    derivation=[*w.derivation, step],
                )
            )
        else:
            w.derivation.append(step)


def _diagnoses(enriched: SessionEnriched) -> list[str]:
    rx = enriched.prescription
    if rx is None:
        return []
    seen: list[str] = []
    for code in rx.diagnosis_codes:
        norm = icd10cm_normalised(code)
        if norm not in seen:
            seen.append(norm)
    return seen


def _scrub(
    enriched: SessionEnriched, lines: list[BillableLine], diagnoses: list[str]
) -> list[ScrubProblem]:
    problems: list[ScrubProblem] = []
    for ln in lines:
        if ln.units <= 0:
            problems.append(
                ScrubProblem(
                    check="units",
                    line_number=ln.line_number,
                    message=f"line {ln.line_number}: units must be positive",
                )
            )
        if ln.charge <= 0:
            problems.append(
                ScrubProblem(
                    check="charge",
                    line_number=ln.line_number,
                    message=f"line {ln.line_number}: charge must be positive",
                )
            )
        if len(ln.diagnosis_pointers) > MAX_POINTERS:
            problems.append(
                ScrubProblem(
                    check="pointers",
                    line_number=ln.line_number,
                    message=f"line {ln.line_number}: more than {MAX_POINTERS} diagnosis pointers",
                )
            )
    for what, amounts in (
        ("charge", [ln.charge for ln in lines]),
        ("expected allowed amount", [ln.expected_allowed for ln in lines]),
    ):
        if sum((a for a in amounts if a is not None), Decimal(0)) > MAX_AMOUNT:
            problems.append(
                ScrubProblem(
                    check="amount", message=f"the session's total {what} exceeds {MAX_AMOUNT}"
                )
            )
    if not enriched.billed_to_payer:
        return problems
    if not diagnoses:
        problems.append(ScrubProblem(check="diagnoses", message="no diagnosis code to bill"))
    elif len(diagnoses) > MAX_DIAGNOSES:
        problems.append(
            ScrubProblem(check="diagnoses", message=f"more than {MAX_DIAGNOSES} diagnosis codes")
        )
    for role, npi in (
        ("billing provider", enriched.clinic.npi),
        ("rendering provider", enriched.therapist.npi),
    ):
        if not npi_valid(npi):
            problems.append(ScrubProblem(check="npi", message=f"{role} NPI fails its check digit"))
    rx = enriched.prescription
    if rx is None:
        problems.append(
            ScrubProblem(check="referring-provider", message="no referring (prescribing) provider")
        )
    elif not npi_valid(rx.prescriber.npi):
        problems.append(
            ScrubProblem(check="npi", message="referring provider NPI fails its check digit")
        )
    return problems
