"""Which claims a 276 asks about, and what it says of each (pure).

The claims stage asks a payer where a claim stands when the claim was taken in
at the front door and no 835 came within the follow-up period
(:func:`workers.claims.lifecycle.status_inquiry_due`), or when an operator asks
(``claims claim status PCN``).  :func:`plan_inquiries` turns the records into the
inquiries :func:`edi.x276.render_276` writes; a claim the 276 cannot carry (no
member id, an organisation as subscriber, ...) is left out with the writer's
reason, which names the element and never a value.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime

from edi.x276 import StatusInquiry, X276RenderError, inquiry_of, render_276
from schemas.claims import Claim, ControlNumbers, TradingPartner
from schemas.state import ClaimRecord
from schemas.submission import FileReleased

__all__ = ["InquiryPlan", "payer_of", "plan_inquiries", "released", "trace_number"]

#: a trading partner only for checking an inquiry alone (ids are not written anywhere)
_CHECK_PARTNER = TradingPartner.new(
    receiver_id="check",
    name="check",
    receiver_code="check",
    isa_sender_id="check",
    isa_receiver_id="check",
    gs_sender_code="check",
    gs_receiver_code="check",
    submitter={"name": "check", "id": "check", "contact_name": "check"},
)


@dataclass
class InquiryPlan:
    inquiries: list[StatusInquiry] = field(default_factory=list)
    #: (patient control number, the writer's reason) of the claims left out
    refused: list[tuple[str, str]] = field(default_factory=list)


def trace_number(record: ClaimRecord) -> str:
    """TRN02 of the next 276 about ``record`` (the 277 echoes it): CLM01 and a count."""
    return f"{record.patient_control_number}-S{record.status_inquiries + 1}"


def payer_of(record: ClaimRecord) -> str:
    """Our payer id of the claim (read without building the whole claim)."""
    payer_id = json.loads(record.current_json).get("payer_id")
    return payer_id if isinstance(payer_id, str) else ""


def plan_inquiries(records: list[ClaimRecord], now: datetime) -> InquiryPlan:
    """The inquiries about ``records`` (the latest version each sent), each checked
    alone, so one claim the 276 cannot carry does not hold up the others."""
    plan = InquiryPlan()
    for record in records:
        claim = Claim.parse_json(record.current_json)
        inquiry = inquiry_of(
            claim, trace_number=trace_number(record), payer_claim_number=record.payer_claim_number
        )
        try:
            render_276([inquiry], _CHECK_PARTNER, control_number=1, created_at=now)
        except X276RenderError as exc:
            plan.refused.append((record.patient_control_number, exc.reason))
            continue
        plan.inquiries.append(inquiry)
    return plan


def released(
    partner: TradingPartner,
    numbers: ControlNumbers,
    path: str,
    data: bytes,
    inquiries: list[StatusInquiry],
    now: datetime,
) -> FileReleased:
    """What ``edi.outbound`` says of a 276 written to the outbox: the partner's mailbox
    worker uploads it like an 837 (it is numbered from the same sequence)."""
    return FileReleased.new(
        transaction="276",
        file_name=path.rsplit("/", 1)[-1],
        path=path,
        receiver_id=partner.receiver_id,
        billing_provider_npi=inquiries[0].provider_npi,
        usage=partner.usage,
        control_numbers=numbers,
        claim_count=len(inquiries),
        claim_ids=[i.patient_control_number for i in inquiries],
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        validated=False,  # no 276 map to gate with; the tests check its guide
        released_at=now,
    )
