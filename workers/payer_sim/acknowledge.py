"""The payer's front door, simulated: a 999 and a 277CA for an 837P (pure).

:func:`acknowledge_837` answers the claims read from one 837P file the way a
clearinghouse's front door does, before any adjudication:

* one 999 accepting every transaction set (``IK5*A``) -- the files we send pass
  the validation gate, so a syntax rejection is not simulated here;
* one 277CA per 837 transaction set: each claim accepted into adjudication
  (``STC*A2:20``, action ``WQ``), or, for the patient control numbers in
  ``reject``, rejected with the given status (default ``A7:562:85``, the billing
  provider's NPI is invalid; action ``U``, every line's status and line
  control number), with the payer's claim number on accepted claims.

The acknowledgements go back from the 837's receiver (ISA08/GS03) to its
sender (ISA06/GS02); the 277CA's 2200B ``TRN02`` repeats the 837's ``BHT03``
(interchange number and transaction number, as the claims stage writes it), so
each status reaches the claim version it is about.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from edi.x277 import PartyName, render_277ca
from edi.x999 import ACK_GUIDE, render_999
from schemas.acknowledgements import (
    AckEnvelope,
    ClaimStatus,
    ClaimStatusReport,
    GroupResponse,
    LineStatus,
    StatusInfo,
    TransactionResponse,
)
from schemas.adjudication import ClaimReceived, Interchange837

ACCEPTED = ("A2", "20", None)
DEFAULT_REJECTION = ("A7", "562", "85")


@dataclass(frozen=True)
class Acknowledgements:
    ack_999: str
    ack_277: str
    accepted: int
    rejected: int


def _envelope(env: Interchange837, control_number: int, version: str) -> AckEnvelope:
    return AckEnvelope(
        isa_sender_qualifier=env.isa_receiver_qualifier,
        isa_sender_id=env.isa_receiver_id,
        isa_receiver_qualifier=env.isa_sender_qualifier,
        isa_receiver_id=env.isa_sender_id,
        interchange_control_number=str(control_number),
        gs_sender_code=env.gs_receiver_code,
        gs_receiver_code=env.gs_sender_code,
        group_control_number=str(control_number),
        version=version,
        usage=env.usage,
    )


def payer_claim_number(pcn: str) -> str:
    return "PCN" + hashlib.sha256(pcn.encode()).hexdigest()[:12].upper()


def _status(
    code: tuple[str, str | None, str | None], when: datetime, action: str, amount: Decimal
) -> StatusInfo:
    return StatusInfo(
        category=code[0],
        code=code[1],
        entity=code[2],
        effective_date=when.date(),
        action=action,
        amount=amount,
    )


def acknowledge_837(
    claims: Sequence[ClaimReceived],
    *,
    now: datetime,
    control_number: int = 1,
    reject: Mapping[str, tuple[str, str | None, str | None]] | None = None,
) -> Acknowledgements:
    """The 999 and 277CA for ``claims`` (all from one 837P file)."""
    if not claims:
        raise ValueError("nothing to acknowledge: the 837P holds no claim")
    reject = reject or {}
    by_transaction: dict[tuple[str, str, str], list[ClaimReceived]] = {}
    for claim in claims:
        env = claim.envelope
        key = (
            env.interchange_control_number,
            env.group_control_number,
            env.transaction_control_number,
        )
        by_transaction.setdefault(key, []).append(claim)
    first = claims[0].envelope
    groups: list[GroupResponse] = []
    for _key, members in by_transaction.items():
        env = members[0].envelope
        groups.append(
            GroupResponse(
                control_number=f"{len(groups) + 1:04d}",
                functional_id="HC",
                group_control_number=env.group_control_number,
                version=env.implementation_guide,
                transactions=[
                    TransactionResponse(
                        transaction_set_id="837",
                        control_number=env.transaction_control_number,
                        implementation=env.implementation_guide,
                        status="A",
                    )
                ],
                status="A",
                included=1,
                received=1,
                accepted=1,
                envelope=_envelope(env, control_number, ACK_GUIDE),
            )
        )
    usage: Literal["P", "T"] = "T" if first.usage == "T" else "P"
    text_999 = render_999(groups, control_number=control_number, created_at=now, usage=usage)

    parts: list[str] = []
    accepted = rejected = 0
    for n, ((interchange, _group, transaction), members) in enumerate(by_transaction.items()):
        env = members[0].envelope
        statuses: list[ClaimStatus] = []
        patients: dict[str, PartyName] = {}
        providers: dict[str, PartyName] = {}
        for claim in members:
            pcn = claim.patient_control_number
            code = reject.get(pcn)
            action = "U" if code else "WQ"
            if code:
                rejected += 1
            else:
                accepted += 1
            name = claim.patient_name
            patients[pcn] = PartyName(
                name.last_or_organisation_name, name.first_name, claim.subscriber.member_id
            )
            npi = claim.billing_provider.npi or ""
            providers[npi] = PartyName(claim.billing_provider.name)
            days = [ln.service_date for ln in claim.lines]
            statuses.append(
                ClaimStatus(
                    patient_control_number=pcn,
                    trace_number=pcn,
                    payer_claim_number=None if code else payer_claim_number(pcn),
                    billing_provider_npi=npi,
                    statuses=[_status(code or ACCEPTED, now, action, claim.total_charge)],
                    service_from=min(days),
                    service_to=max(days),
                    lines=[
                        LineStatus(
                            line_control_number=ln.line_control_number,
                            procedure=ln.procedure,
                            charge=ln.charge,
                            units=ln.units,
                            statuses=[_status(code or ACCEPTED, now, action, ln.charge)],
                            service_date=ln.service_date,
                        )
                        for ln in claim.lines
                        if code  # 2220D reports the lines of a rejected claim only
                    ],
                )
            )
        total = sum((c.total_charge for c in members), start=members[0].total_charge * 0)
        report = ClaimStatusReport(
            kind="277CA",
            control_number=f"{n + 1:04d}",
            implementation="005010X214",
            reference=f"{control_number:09d}{n + 1:04d}",
            created=now.date(),
            payer_name=members[0].payer.name,
            payer_id=members[0].payer.id,
            receipt_date=now.date(),
            process_date=now.date(),
            batch_reference=f"{int(interchange):09d}{int(transaction):04d}"
            if interchange.isdigit() and transaction.isdigit()
            else transaction,
            batch_statuses=[_status(("A1", "19", None), now, "WQ", total)],
            provider_statuses=[_status(("A1", "19", "85"), now, "WQ", total)],
            claims=statuses,
            envelope=_envelope(env, control_number + n, "005010X214"),
        )
        parts.append(
            render_277ca(
                report,
                submitter=PartyName(env.gs_sender_code, identifier=env.gs_sender_code),
                providers=providers,
                patients=patients,
                control_number=control_number + n,
                created_at=now,
                usage=usage,
            )
        )
    return Acknowledgements(text_999, "".join(parts), accepted, rejected)
