"""The cases a billing company meets every week, made to happen in the demo (pure).

The payer simulator decides by rules; the demo chooses, among the claims the
payers would pay, one for each case and writes the rules that make it happen:

* **reversed**: the payer pays, reverses and pays again corrected (a new payer
  claim number); a visit reported afterwards for that day is sent as a
  replacement claim, which must name the *current* payer claim number;
* **deductible**: paid 0.00, all of it the patient's deductible (not a denial);
* **line denial**: one 97124 line denied CO-50 on an otherwise paid claim;
* **interest**: prompt-pay interest named by the payer's own claim number.

The auto insurer pays by paper check (its answers become paper EOBs, posted with
``claims post eob``), and the front desk records payments, one of them more than
the patient owes (a credit balance).
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from schemas.paper_eob import PaperEob
from schemas.patient_ledger import PatientPayment
from schemas.remittance import ClaimPayment, Remittance
from workers.remits.patient_ledger import PatientAccount

#: the payer that pays by paper check (our id, and the id its 837s carry)
PAPER_PAYER = ("autopip", "AUTOPIP01")
#: payers whose claims the cases may use (the auto insurer pays on paper)
CASE_PAYERS = ("acme", "bluecms", "wcstate")
#: the health plans among them (they answer 276 claim status inquiries)
HEALTH_PLANS = ("acme", "bluecms")


@dataclass(frozen=True)
class Picks:
    reversed: str | None = None
    deductible: str | None = None
    line_denial: str | None = None
    interest: str | None = None
    #: a claim the payer sits on: no answer to the 837, a 276 asks, the 277 asks for records
    sat_on: str | None = None


def latest_claims(submitted: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The latest version of each claim, from ``claims.submitted`` values."""
    latest: dict[str, dict[str, Any]] = {}
    for value in submitted:
        pcn = value["patient_control_number"]
        if pcn not in latest or value["version"] >= latest[pcn]["version"]:
            latest[pcn] = value
    return latest


def pick_claims(
    claims: dict[str, dict[str, Any]],
    paid: Iterable[ClaimPayment],
    renewable_patients: set[tuple[str, str]],
) -> Picks:
    """One claim per case among the originals the payers paid in full under the base
    rules (single coverage, a payer of :data:`CASE_PAYERS`); the reversed one belongs
    to a patient whose prescription has visits left (its late visit must be billable)."""
    full = {
        p.patient_control_number
        for p in paid
        if p.status_code == "1" and p.paid > 0 and all(s.paid > 0 for s in p.services)
    }
    candidates = [
        claims[pcn]
        for pcn in sorted(full)
        if pcn in claims
        and claims[pcn]["frequency"] == "1"
        and claims[pcn]["payer_id"] in CASE_PAYERS
        and not claims[pcn]["claim"].get("other_payers")
        and not claims[pcn]["claim"].get("primary_claim")
    ]
    taken: list[str] = []

    def first(test: Any) -> str | None:
        found = next((c for c in candidates if c["patient_control_number"] not in taken
                      and test(c)), None)  # fmt: skip
        if found is None:
            return None
        taken.append(found["patient_control_number"])
        return str(found["patient_control_number"])

    def codes(c: dict[str, Any]) -> list[str]:
        return [ln["procedure"] for ln in c["claim"]["lines"]]

    per_file = Counter(c["file_name"] for c in claims.values())
    return Picks(
        reversed=first(lambda c: (c["clinic_id"], c["claim"]["patient_id"]) in renewable_patients),
        line_denial=first(lambda c: "97124" in codes(c) and len(codes(c)) > 1),
        deductible=first(lambda c: True),
        interest=first(lambda c: True),
        # a health plan's claim in a file with others (the file is still answered)
        sat_on=first(lambda c: c["payer_id"] in HEALTH_PLANS and per_file[c["file_name"]] > 1),
    )


def rules_document(base: dict[str, Any], picks: Picks, *, replacements: bool) -> dict[str, Any]:
    """The shipped rules with the cases' choices (``replacements``: the round that
    answers replacement and secondary claims: nothing is reversed again)."""
    rules = json.loads(json.dumps(base))
    default = rules["default"]
    # (an empty selector would select every claim: no choice, no rule)
    default["reversals"] = (
        {
            "select": {"claims": [picks.reversed]},
            "corrected_allowed_percent": "90",
            "include_original": True,
        }
        if picks.reversed and not replacements
        else None
    )
    if picks.deductible:
        share = dict(default.get("patient_share") or {})
        share["deductible"] = {"amount": "5000.00", "select": {"claims": [picks.deductible]}}
        default["patient_share"] = share
    if picks.line_denial:
        default["denials"] = [
            {
                "id": "line-not-medically-necessary",
                "kind": "not-medically-necessary",
                "select": {"claims": [picks.line_denial], "procedures": ["97124"]},
            },
            *default.get("denials", []),
        ]
    interest = dict(default.get("interest") or {"annual_percent": "12", "days_late": 45})
    select = dict(interest.get("select") or {"percent": "10"})
    select["claims"] = [picks.interest] if picks.interest else []
    interest.update(select=select, reference="payer-claim-number")
    default["interest"] = interest
    # the auto insurer pays on paper, where there is no PLB
    rules.setdefault("payers", {})[PAPER_PAYER[1]] = {"interest": None}
    return dict(rules)


def paper_eobs(remittances: Sequence[Remittance]) -> list[PaperEob]:
    """What a payer's 835 would have said, as the paper EOBs of its check."""
    out = []
    for remittance in remittances:
        for claim in remittance.claims:
            body = {
                "schema_version": PaperEob.SCHEMA_VERSION,
                "patient_control_number": claim.patient_control_number,
                "payer_id": PAPER_PAYER[0],
                "payer_name": remittance.payer.name,
                "check_number": f"CHK{remittance.payment.trace_number}"[:30],
                "check_date": (remittance.payment.date or date.today()).isoformat(),
                "payer_claim_number": claim.payer_claim_control_number,
                "charge": str(claim.charge),
                "paid": str(claim.paid),
                "adjustments": [_adjustment(a) for a in claim.adjustments],
                "lines": [
                    {
                        "procedure": s.procedure or "",
                        "modifiers": list(s.modifiers),
                        "units": int(s.units or 1),
                        "charge": str(s.charge),
                        "paid": str(s.paid),
                        "adjustments": [_adjustment(a) for a in s.adjustments],
                    }
                    for s in claim.services
                ],
            }
            out.append(PaperEob.parse_json(json.dumps(body)))
    return out


def _adjustment(a: Any) -> dict[str, str]:
    return {"group": a.group, "reason": a.reason, "amount": str(a.amount)}


def late_visit(claim: dict[str, Any], day_seen: date) -> tuple[str, bytes]:
    """A visit on the reversed claim's day, reported after that day's claim was paid."""
    clinic, patient = claim["clinic_id"], claim["claim"]["patient_id"]
    dos = date.fromisoformat(claim["claim"]["lines"][0]["service_date"])
    event = {
        "schema_version": 1,
        "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"late|{clinic}|{patient}|{dos}")),
        "event_type": "session.completed",
        "occurred_at": datetime.combine(dos, datetime.min.time(), UTC).replace(hour=19).isoformat(),
        "clinic_id": clinic,
        "session_id": f"s-late-{day_seen:%m%d}",
        "patient_id": patient,
        "therapist_id": "t2",
        "date_of_service": dos.isoformat(),
        "techniques": [{"technique": "swedish_massage", "minutes": 30, "body_region": "neck"}],
    }
    return f"{clinic}:{patient}", json.dumps(event).encode()


def front_desk_payments(accounts: Iterable[PatientAccount], paid_on: date) -> list[PatientPayment]:
    """Patients pay what they owe at the front desk: the first few in full, one of them
    25.00 more than owed (a credit balance carried to their next visit)."""
    owing = sorted((a for a in accounts if a.outstanding > 0),
                   key=lambda a: (a.clinic_id, a.patient_id))[:4]  # fmt: skip
    out = []
    for n, account in enumerate(owing, start=1):
        extra = Decimal("25.00") if n == 1 else Decimal(0)
        out.append(
            PatientPayment.new(
                clinic_id=account.clinic_id,
                patient_id=account.patient_id,
                amount=account.outstanding + extra,
                paid_on=paid_on,
                method="card" if n % 2 else "cash",
                reference=f"FD-{account.patient_id}-{n}",
            )
        )
    return out


def renewable_patients(prescriptions: Iterable[dict[str, Any]]) -> set[tuple[str, str]]:
    """Patients whose prescription has visits to spare and no end date (a late visit
    of theirs is billable)."""
    return {
        (r["clinic_id"], r["patient_id"])
        for r in prescriptions
        if r["visits_authorized"] > 4 and not r.get("expires_on")
    }


def second_round_ready(
    claims: dict[str, dict[str, Any]], picks: Picks, secondary_requested: set[str]
) -> bool:
    """The replacement of the reversed claim and every secondary claim asked for are sent."""
    replaced = picks.reversed is None or claims.get(picks.reversed, {}).get("frequency") == "7"
    secondaries = {v["claim"]["primary_claim"] for v in claims.values()
                   if v["claim"].get("primary_claim")}  # fmt: skip
    return replaced and secondary_requested <= secondaries
