"""Replacements and voids of submitted claims (pure).

A change (void, correction, or a visit added to or withdrawn from a day whose
claim was already sent) needs the payer's claim number (REF*F8, from the 835's
CLP07): until it is known the change waits on the claim record, in order; once
known, every waiting change becomes the claim's next version.  A day rebuilt
from its visits is priced again as a whole (:mod:`workers.pricing.day`); a day
left with no billable unit is voided.
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.billing import BillableSession
from schemas.claims import Claim, ServiceLine
from schemas.state import ClaimRecord, PendingChange
from workers.claims.assemble import UnbillableDay, assemble_claim, new_version


class ChangeRefused(ValueError):
    """The change cannot apply to this claim (the message says why)."""


def apply_change(
    current: Claim,
    change: PendingChange,
    payer_claim_number: str,
    sources: Sequence[BillableSession],
) -> Claim:
    """The next version of ``current`` for one change."""
    if change.action == "void":
        return new_version(current, "8", payer_claim_number)
    if change.reassemble:
        if not sources:
            return new_version(current, "8", payer_claim_number)
        try:
            return assemble_claim(
                sources,
                version=current.version + 1,
                frequency="7",
                replaces=current.claim_id,
                payer_claim_number=payer_claim_number,
            )
        except UnbillableDay:  # what is left of the day earns nothing: void the claim
            return new_version(current, "8", payer_claim_number)
    lines = edited_lines(current, change.line_units)
    try:
        return new_version(current, "7", payer_claim_number, lines, change.diagnosis_codes)
    except ValueError as exc:
        raise ChangeRefused(f"the corrected claim is not valid: {exc}") from None


def edited_lines(current: Claim, line_units: dict[int, int] | None) -> list[ServiceLine]:
    """``current``'s lines with new units (0 removes a line; charges scale per unit)."""
    lines: list[ServiceLine] = []
    edits = line_units or {}
    unknown = set(edits) - {ln.line_number for ln in current.lines}
    if unknown:
        raise ChangeRefused(f"claim {current.claim_id} has no line {sorted(unknown)}")
    for ln in current.lines:
        units = edits.get(ln.line_number, ln.units)
        if units == 0:
            continue
        if units < 0:
            raise ChangeRefused("units must not be negative")
        unit_price = ln.charge / ln.units
        unit_expected = ln.expected_allowed / ln.units if ln.expected_allowed is not None else None
        lines.append(
            ln.model_copy(
                update={
                    "units": units,
                    "charge": (unit_price * units).quantize(ln.charge),
                    "expected_allowed": (unit_expected * units).quantize(ln.charge)
                    if unit_expected is not None
                    else None,
                }
            )
        )
    if not lines:
        raise ChangeRefused("a correction that removes every line is a void")
    return lines


def resend_version(
    current: Claim,
    line_units: dict[int, int] | None = None,
    diagnosis_codes: list[str] | None = None,
) -> Claim:
    """The claim again, after the front door rejected it: a new original (frequency
    1, same CLM01, next version, no REF*F8), with the operator's corrections."""
    lines = edited_lines(current, line_units)
    try:
        return new_version(current, "1", None, lines, diagnosis_codes)
    except ValueError as exc:
        raise ChangeRefused(f"the corrected claim is not valid: {exc}") from None


def ready_changes(record: ClaimRecord) -> list[PendingChange]:
    """The waiting changes that can be sent now, in order.

    Every change needs the payer's claim number (an 835's CLP07, or the payer's own
    277CA).  A day rebuilt from its visits (a late or withdrawn visit) also waits
    for the payer's adjudication (an 835), so the replacement does not cross the
    original in the payer's system; a change behind it waits with it."""
    if not record.payer_claim_number:
        return []
    ready: list[PendingChange] = []
    for change in record.waiting:
        if change.reassemble and record.remitted_at is None:
            break
        ready.append(change)
    return ready
