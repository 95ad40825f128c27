"""Coordination of benefits: what a primary payer's answer means for the next payer.

Both the claims stage (which builds the secondary claim) and the reconciliation
(which asks for it) need these rules, so they live with the contracts they read.
"""

from __future__ import annotations

from schemas.remittance import ClaimPayment

#: CLP02 codes meaning the primary forwarded the claim itself (crossover).
CROSSOVER_STATUS = frozenset({"19", "20", "21"})
#: CLM01 of a secondary claim = the primary's + this suffix.
SECONDARY_SUFFIX = "S"


def secondary_pcn(primary_pcn: str) -> str:
    """The patient control number of the secondary claim that follows ``primary_pcn``."""
    return primary_pcn + SECONDARY_SUFFIX


def needs_secondary(payment: ClaimPayment) -> bool:
    """The primary left part of the charge unpaid, and did not forward the claim itself.

    Paid in full, reversals (CLP02 22), predeterminations (25) and crossovers (19,
    20, 21: the primary sent the claim on to the next payer) need nothing from us.
    """
    if payment.status_code in CROSSOVER_STATUS or payment.status_code in ("22", "25"):
        return False
    return payment.paid < payment.charge
