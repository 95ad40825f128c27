"""Diagnosis codes a payer accepts on the date of service (pure).

A prescription's diagnoses go to the claim's ``HI`` as they are; a payer rejects a
code that is not billable in the ICD-10-CM release in force on the date of
service: a category with subcodes (``M54.5`` since October 2021), or a code the
release does not have (:mod:`schemas.code_sets.icd10cm`).  Such a code holds the
session (``dx-invalid``) until the prescription is corrected; the message names the
diagnosis by its position, never the code (with the patient, a diagnosis is PHI).

When no shipped release covers the date with certainty, an unknown code is only a
warning: ``dx-codeset-stale`` after the newest release (the code may be new: load
the newer CMS file with ``claims codes load-icd10cm``), ``dx-codeset-unsettled``
between two releases that disagree, ``dx-codeset-unavailable`` before the oldest.
An injury code whose 7th character is ``A`` (initial encounter) on therapy, where
payers expect ``D`` (subsequent encounter), is a warning too
(``dx-initial-encounter``), or a hold when the payer says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from schemas.code_sets.icd10cm import in_force, releases, seventh_character, status_in

_WARNINGS = {
    "stale-unknown": "dx-codeset-stale",
    "unsettled": "dx-codeset-unsettled",
    "no-release": "dx-codeset-unavailable",
}


@dataclass
class Findings:
    """What the diagnoses of a prescription say on one date of service."""

    hold: tuple[str, str] | None = None  # (reason, message)
    warnings: list[str] = field(default_factory=list)  # "<code>: diagnosis N ..."


def check(
    codes: list[str], dos: date, codeset_dir: Path | None = None, *, hold_initial: bool = False
) -> Findings:
    out = Findings()
    problems: list[str] = []
    initial: list[int] = []
    known = releases(codeset_dir)  # listed once for all the codes
    release = in_force(known, dos)
    label = release.label if release is not None else "no release"
    for position, code in enumerate(codes, start=1):
        found = status_in(known, code, dos)
        if found == "header":
            problems.append(
                f"diagnosis {position}: a category with subcodes, not billable on {dos} "
                "(the prescriber must give the complete code)"
            )
        elif found == "unknown":
            problems.append(f"diagnosis {position}: not in {label}, in force on {dos}")
        elif found in _WARNINGS:
            out.warnings.append(f"{_WARNINGS[found]}: diagnosis {position} is not confirmed")
        if seventh_character(code) == "A":
            initial.append(position)
    if problems:
        out.hold = ("dx-invalid", "; ".join(problems))
        return out
    if initial:
        where = ", ".join(f"diagnosis {p}" for p in initial)
        text = (
            f"{where}: injury code for the initial encounter (7th character A); therapy "
            "after active treatment is usually the subsequent encounter (D)"
        )
        if hold_initial:
            out.hold = ("dx-initial-encounter", text)
        else:
            out.warnings.append(f"dx-initial-encounter: {text}")
    return out
