"""The payer's claim status desk, simulated: a 277 for each of our 276s (pure).

:func:`answer_276` reads the inquiries of one 276 file (:func:`edi.x276.read_276`)
and answers every claim it asks about with a 277 claim status response
(005010X212, ``BHT06`` ``DG``): finalized and paid (``F1:65``, with the payer's
claim number) unless ``answers`` says otherwise for the claim's patient control
number -- ``pending`` (``P1:20``), ``documentation`` (a request for
documentation, ``R4:21``), ``not-found`` (``A4:35``) or any
``CATEGORY:CODE[:ENTITY]``.  The 277 goes back from the 276's receiver to its
sender, echoes each claim's trace number (``TRN02``) and patient control number
(``REF*EJ``), so the claims stage applies each answer to its claim.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from edi.segments import Source
from edi.x276 import Read276, StatusInquiry, read_276
from edi.x277 import CLAIM_STATUS_GUIDE, PartyName, StatusParties, render_277_status
from schemas.acknowledgements import AckEnvelope, ClaimStatus, ClaimStatusReport, StatusInfo
from workers.payer_sim.acknowledge import payer_claim_number

#: The simulator's answers by name, as ``(category, status code, entity)``.
NAMED_ANSWERS: dict[str, tuple[str, str | None, str | None]] = {
    "paid": ("F1", "65", None),
    "pending": ("P1", "20", None),
    "documentation": ("R4", "21", None),
    "not-found": ("A4", "35", None),
}
DEFAULT_ANSWER = "paid"


@dataclass(frozen=True)
class StatusAnswers:
    text: str
    #: answers given, by state name or code (``paid``, ``pending``, ``R5:21`` ...)
    counts: dict[str, int]


def parse_answer(text: str) -> tuple[str, str | None, str | None]:
    """``paid``, ``pending``, ``documentation``, ``not-found`` or ``CAT:CODE[:ENTITY]``."""
    if text in NAMED_ANSWERS:
        return NAMED_ANSWERS[text]
    parts = text.split(":")
    if not parts[0] or len(parts) > 3 or not all(p.isalnum() for p in parts if p):
        raise ValueError(
            f"an answer is one of {', '.join(NAMED_ANSWERS)} or CATEGORY:CODE[:ENTITY]"
        )
    parts += [""] * (3 - len(parts))
    return parts[0], parts[1] or None, parts[2] or None


def _envelope(read: Read276, control_number: int) -> AckEnvelope:
    env = read.envelope
    return AckEnvelope(
        isa_sender_qualifier=env.isa_receiver_qualifier,
        isa_sender_id=env.isa_receiver_id,
        isa_receiver_qualifier=env.isa_sender_qualifier,
        isa_receiver_id=env.isa_sender_id,
        interchange_control_number=str(control_number),
        gs_sender_code=env.gs_receiver_code,
        gs_receiver_code=env.gs_sender_code,
        group_control_number=str(control_number),
        version=CLAIM_STATUS_GUIDE,
        usage=env.usage,
    )


def answer_276(
    source: Source,
    *,
    now: datetime,
    answers: Mapping[str, str] | None = None,
    control_number: int = 1,
) -> StatusAnswers:
    """The 277 answering every inquiry of the 276 in ``source`` (one interchange, one
    277 transaction set per 276 transaction set)."""
    answers = answers or {}
    reads = read_276(source)
    asked = {i.patient_control_number for r in reads for i in r.inquiries}
    unknown = set(answers) - asked
    if unknown:
        raise ValueError(f"answers name claims the 276 does not ask about: {sorted(unknown)}")
    parts: list[str] = []
    counts: dict[str, int] = {}
    by_payer: list[tuple[Read276, list[StatusInquiry]]] = []
    for read in reads:  # one 277 transaction set per payer the 276 asks
        groups: dict[str, list[StatusInquiry]] = {}
        for inquiry in read.inquiries:
            groups.setdefault(inquiry.payer_id, []).append(inquiry)
        by_payer += [(read, group) for group in groups.values()]
    for n, (read, inquiries) in enumerate(by_payer):
        claims: list[ClaimStatus] = []
        providers: dict[str, PartyName] = {}
        parties: dict[str, StatusParties] = {}
        for inquiry in inquiries:
            pcn = inquiry.patient_control_number
            name = answers.get(pcn, DEFAULT_ANSWER)
            category, code, entity = parse_answer(name)
            counts[name] = counts.get(name, 0) + 1
            status = StatusInfo(
                category=category,
                code=code,
                entity=entity,
                effective_date=now.date(),
                action=None,
                amount=inquiry.total_charge,
            )
            known = inquiry.payer_claim_number
            if known is None and category not in ("A4", "D0") and not category.startswith("E"):
                known = payer_claim_number(pcn)
            claims.append(
                ClaimStatus(
                    patient_control_number=pcn,
                    trace_number=inquiry.trace_number,
                    payer_claim_number=known,
                    billing_provider_npi=inquiry.provider_npi,
                    statuses=[status],
                    service_from=inquiry.service_from,
                    service_to=inquiry.service_to,
                )
            )
            providers[inquiry.provider_npi] = PartyName(inquiry.provider_name)
            dependent = None
            if inquiry.dependent_last is not None:
                dependent = PartyName(inquiry.dependent_last, inquiry.dependent_first)
            parties[pcn] = StatusParties(
                PartyName(inquiry.subscriber_last, inquiry.subscriber_first, inquiry.member_id),
                dependent,
            )
        first = inquiries[0]
        report = ClaimStatusReport(
            kind="277",
            control_number=f"{n + 1:04d}",
            implementation=CLAIM_STATUS_GUIDE,
            reference=read.reference,
            created=now.date(),
            payer_name=first.payer_name,
            payer_id=first.payer_id,
            source_entity="PR",
            receipt_date=None,
            process_date=None,
            batch_reference=None,
            claims=claims,
            envelope=_envelope(read, control_number + n),
        )
        usage: Literal["P", "T"] = "T" if read.envelope.usage == "T" else "P"
        parts.append(
            render_277_status(
                report,
                submitter=PartyName(read.submitter_name or "SUBMITTER", None,
                                    read.submitter_id or "SUBMITTER"),
                providers=providers,
                parties=parties,
                control_number=control_number + n,
                created_at=now,
                usage=usage,
            )
        )
    return StatusAnswers("".join(parts), counts)
