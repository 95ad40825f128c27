"""Coordination of benefits: what a primary payer's answer means for the next payer.

Both the claims stage (which builds the secondary claim) and the reconciliation
(which asks for it, and keeps the patient's share waiting for it) need these
rules, so they live with the contracts they read.  What an adjustment means is
data (:mod:`schemas.adjustments`):

* a secondary claim goes when the primary leaves **patient responsibility** (any
  PR: deductible, coinsurance, copay, non-covered) or **exhausted benefits**
  (CO-119) -- not when it paid with only contractual write-offs (CO-45), nor when
  it denied for provider liability (CO-50, CO-197: the next payer would deny it
  too);
* never when the primary crossed the claim over itself: CLP02 19/20/21, a
  crossover carrier (``NM1*TT``), or remark MA18/N89 (claim forwarded);
* CO-22 / CO-109 mean the coverage order is wrong: a person fixes the order and
  bills the right payer as primary (the ``claims.cob-review`` work queue).
"""

from __future__ import annotations

from decimal import Decimal

from schemas.adjustments import totals
from schemas.remittance import Adjustment, ClaimPayment

#: CLP02 codes meaning the primary forwarded the claim itself (crossover).
CROSSOVER_STATUS = frozenset({"19", "20", "21"})
#: Remark codes meaning the claim information was forwarded to the next payer.
CROSSOVER_REMARKS = frozenset({"MA18", "N89"})
#: CLM01 of a secondary claim = the primary's + this suffix.
SECONDARY_SUFFIX = "S"


def secondary_pcn(primary_pcn: str) -> str:
    """The patient control number of the secondary claim that follows ``primary_pcn``."""
    return primary_pcn + SECONDARY_SUFFIX


def all_adjustments(payment: ClaimPayment) -> list[Adjustment]:
    """Claim-level and line-level adjustments together."""
    return [*payment.adjustments, *(a for s in payment.services for a in s.adjustments)]


def crossed_over(payment: ClaimPayment) -> bool:
    """The primary forwarded the claim to the next payer itself."""
    remarks = {r.code for r in payment.remarks} | {
        r.code for s in payment.services for r in s.remarks
    }
    return (
        payment.status_code in CROSSOVER_STATUS
        or payment.crossover_carrier is not None
        or bool(remarks & CROSSOVER_REMARKS)
    )


def left_for_next_payer(payment: ClaimPayment) -> Decimal:
    """What the primary left that a next payer may pay: patient responsibility and
    exhausted benefits."""
    classes = totals(all_adjustments(payment))
    return classes["patient"] + classes["exhausted"]


def needs_secondary(payment: ClaimPayment) -> bool:
    """Whether to send the secondary claim after this primary answer (see above)."""
    if crossed_over(payment) or payment.status_code in ("22", "25"):
        return False
    return left_for_next_payer(payment) > 0


def coverage_order_wrong(payment: ClaimPayment) -> bool:
    """CO-22 / CO-109: this payer is not the primary for the claim."""
    if payment.status_code in ("22", "25"):
        return False
    return totals(all_adjustments(payment))["coordination"] != 0
