"""The reconciliation processor (faust edge around :mod:`workers.remits.reconcile`).

Everything about one claim's money -- its submitted versions, postings, waiting
payments, linked provider-level adjustments -- is one ledger in the table
``reconcile.claims`` keyed by the patient control number, the key of both
``claims.submitted`` and the claim payments on ``remits.835.inbound``, so the
claim and its payments meet in one partition.  Transaction summaries (keyed by
remittance id) are recorded once in ``reconcile.remittances``; their
provider-level adjustments travel on ``remits.plb`` to the claim they name
(:mod:`workers.remits.provider_adjustments`), through the table ``reconcile.plb``
of payers' claim numbers, and those that name nothing we know are raised on
the ``remits.provider-adjustments`` work queue.
"""

from __future__ import annotations

import json
from typing import Any

import structlog

from schemas.patient_ledger import CreditRefund
from schemas.provider_adjustments import (
    LinkedBy,
    LinkProviderAdjustmentCommand,
    PayerClaimNumberSeen,
    ProviderAdjustmentItem,
    ProviderAdjustmentUnlinked,
    parse_plb_message,
)
from schemas.reconciliation import (
    ClaimAdjudicated,
    ClaimCobReview,
    ClaimDenied,
    ClaimLedger,
    ClaimWrittenOff,
    RefundCommand,
    RemittanceClaim,
    RemittanceTransaction,
    RemittanceUnmatched,
    WriteOffCommand,
    parse_remit_command,
)
from schemas.submission import ClaimSubmitted, claim_command
from workers.remits import provider_adjustments as plb
from workers.remits import reconcile
from workers.runtime.app import Wiring
from workers.runtime.codec import decode, encode
from workers.runtime.failures import InvalidInput
from workers.runtime.partitioning import partition_for
from workers.runtime.processing import Scope
from workers.runtime.records import Incoming, Outgoing

log = structlog.stdlib.get_logger("claims.remits")

PROCESSOR = "reconcile"
OUTPUT_TOPICS: dict[type, str] = {
    ClaimAdjudicated: "claims.adjudicated",
    ClaimDenied: "claims.denied",
    ClaimWrittenOff: "claims.write-offs",
    ClaimCobReview: "claims.cob-review",
    RemittanceUnmatched: "remits.unmatched",
}


def parse_inbound(raw: bytes) -> RemittanceClaim | RemittanceTransaction:
    kind = json.loads(raw).get("event_type") if raw.lstrip().startswith(b"{") else None
    if kind == "remit.transaction":
        return RemittanceTransaction.parse_json(raw)
    return RemittanceClaim.parse_json(raw)


class Ledgers:
    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, pcn: str) -> ClaimLedger:
        raw = self.table.get(pcn.encode())
        if raw is None:
            return ClaimLedger.new(patient_control_number=pcn)
        return ClaimLedger.parse_json(raw)

    def put(self, ledger: ClaimLedger) -> None:
        self.table[ledger.patient_control_number.encode()] = encode(ledger)


def register(w: Wiring) -> None:
    partitions = w.catalogue.partitions("claims.submitted")
    for name in ("remits.835.inbound", "remits.plb", "remits.commands"):
        if w.catalogue.partitions(name) != partitions:
            raise RuntimeError(f"{name} must have as many partitions as claims.submitted")
    ledgers = Ledgers(w.table("reconcile.claims", "state.reconcile.claims"))
    remittances = w.table("reconcile.remittances", "state.reconcile.remittances")
    plb_state = w.table("reconcile.plb", "state.reconcile.plb")

    now = w.now

    def key_of(msg: Incoming) -> str:
        key = msg.key_text
        if not key:
            raise InvalidInput("missing-key", "message has no key")
        if partition_for(key, partitions) != msg.partition:
            raise InvalidInput(
                "misrouted",
                "the key belongs to another partition; producers must use the default partitioner",
            )
        return key

    def route(step: reconcile.Step, scope: Scope) -> list[Outgoing]:
        ledgers.put(step.ledger)
        out: list[Outgoing] = []
        pcn = step.ledger.patient_control_number.encode()
        for o in step.outputs:
            if isinstance(o, CreditRefund):
                out.append(Outgoing("ledger.refunds", o.key.encode(), encode(o)))
                w.metrics.outcome(PROCESSOR, "payer-refund")
                log.info("payer refund recorded", pcn=o.patient_control_number)
                continue
            if isinstance(o, reconcile.SecondaryClaimDue):
                cmd = claim_command(
                    action="secondary",
                    patient_control_number=o.patient_control_number,
                    receiver_id=o.receiver_id,
                    remittance=o.payment,
                    paid_on=o.paid_on,
                    requested_by="reconcile",
                    requested_at=now(),
                )
                out.append(Outgoing("claims.commands", o.receiver_id.encode(), encode(cmd)))
                w.metrics.outcome(PROCESSOR, "secondary-claim-requested")
                log.info("secondary claim requested", pcn=o.patient_control_number)
                continue
            if isinstance(o, reconcile.PayerClaimNumberLearned):
                cmd = claim_command(
                    action="payer-claim-number",
                    patient_control_number=o.patient_control_number,
                    receiver_id=o.receiver_id,
                    payer_claim_number=o.payer_claim_number,
                    requested_by="reconcile",
                    requested_at=now(),
                )
                out.append(Outgoing("claims.commands", o.receiver_id.encode(), encode(cmd)))
                continue
            topic = OUTPUT_TOPICS[type(o)]
            out.append(
                Outgoing(topic, pcn, encode(o), (("claims.event_type", type(o).__name__.encode()),))
            )
            name = getattr(o, "posting", None)
            w.metrics.outcome(PROCESSOR, name.category if name is not None else type(o).__name__)
            if isinstance(o, ClaimAdjudicated) and o.posting.payer_claim_number:
                seen = PayerClaimNumberSeen.new(
                    payer_claim_number=o.posting.payer_claim_number,
                    payer_id=o.payer_id,
                    patient_control_number=o.patient_control_number,
                )
                out.append(
                    Outgoing("remits.plb", o.posting.payer_claim_number.encode(), encode(seen))
                )
            if isinstance(o, ClaimAdjudicated):
                log.info(
                    "claim payment posted",
                    pcn=o.patient_control_number,
                    category=o.posting.category,
                    outstanding=str(o.outstanding),
                )
            elif isinstance(o, RemittanceUnmatched):
                log.warning("claim payment unmatched", reason=o.reason)
        return out

    async def on_submitted(msg: Incoming, scope: Scope) -> list[Outgoing]:
        pcn = key_of(msg)
        event = decode(ClaimSubmitted, msg.value)
        scope.bind(clinic_id=event.clinic_id, claim_id=event.claim_id)
        if event.patient_control_number != pcn:
            raise InvalidInput("key-mismatch", "key is not the patient control number")
        step = reconcile.on_submitted(ledgers.get(pcn), event, now())
        return route(step, scope)

    w.consume("claims.submitted", PROCESSOR, on_submitted)

    async def on_inbound(msg: Incoming, scope: Scope) -> list[Outgoing]:
        key = key_of(msg)
        event = decode(parse_inbound, msg.value)
        if isinstance(event, RemittanceTransaction):
            return on_transaction(key, event, scope)
        target = event.assigned_to or event.claim.patient_control_number
        scope.bind(pcn=target, remittance_id=event.remittance_id)
        if target != key:
            raise InvalidInput("key-mismatch", "key is not the claim payment's CLP01")
        step = reconcile.on_claim_payment(ledgers.get(target), event, now())
        if step.duplicate:
            w.metrics.outcome(PROCESSOR, "duplicate-payment")
            log.info("claim payment already posted", posting_id=event.posting_id)
            return []
        return route(step, scope)

    def on_transaction(key: str, event: RemittanceTransaction, scope: Scope) -> list[Outgoing]:
        scope.bind(remittance_id=event.remittance_id)
        if key != event.remittance_id:
            raise InvalidInput("key-mismatch", "key is not the remittance id")
        if remittances.get(key.encode()) is not None:
            w.metrics.outcome(PROCESSOR, "duplicate-remittance")
            log.warning("remittance already received: posted once", remittance_id=key)
            return []
        remittances[key.encode()] = encode(event)
        w.metrics.outcome(PROCESSOR, "remittance")
        out = []
        for sent in plb.dispatch(event, now()):
            if sent.route is not None:
                target, body = sent.route
                out.append(Outgoing("remits.plb", target.encode(), encode(body)))
            elif sent.queue is not None:
                out.append(raised(sent.queue))
        return out

    w.consume("remits.835.inbound", PROCESSOR, on_inbound)

    def raised(item: ProviderAdjustmentUnlinked) -> Outgoing:
        w.metrics.outcome(PROCESSOR, "provider-adjustment-unlinked")
        log.warning(
            "provider-level adjustment raised",
            plb_id=item.item.plb_id,
            reason=item.item.adjustment.reason,
            why=item.message,
        )
        return Outgoing("remits.provider-adjustments", item.item.plb_id.encode(), encode(item))

    def linked(ledger: ClaimLedger, item: ProviderAdjustmentItem, by: LinkedBy) -> None:
        ledgers.put(plb.link(ledger, item, by))
        w.metrics.outcome(PROCESSOR, "provider-adjustment-linked")
        log.info("provider-level adjustment linked", plb_id=item.plb_id, linked_by=by)

    async def on_plb(msg: Incoming, scope: Scope) -> list[Outgoing]:
        key = key_of(msg)
        event = decode(parse_plb_message, msg.value)
        if isinstance(event, PayerClaimNumberSeen):
            index_key = f"payer-claim-number:{key}".encode()
            known = json.loads(plb_state.get(index_key) or b"{}")
            known[event.payer_id or ""] = event.patient_control_number
            plb_state[index_key] = json.dumps(known, sort_keys=True).encode()
            return []
        item = event.item
        scope.bind(plb_id=item.plb_id, remittance_id=item.remittance_id)
        if item.kind == "forward-balance" and event.target is None:
            fb_key = f"forward-balance:{item.payer_id}|{key}".encode()
            waiting = [ProviderAdjustmentItem.model_validate(i, strict=False)
                       for i in json.loads(plb_state.get(fb_key) or b"[]")]  # fmt: skip
            waiting, decision = plb.pair_forward_balance(item, waiting, now())
            plb_state[fb_key] = json.dumps([i.model_dump(mode="json") for i in waiting]).encode()
        else:
            ledger = ledgers.get(key)
            numbers = json.loads(plb_state.get(f"payer-claim-number:{key}".encode()) or b"{}")
            decision = plb.decide(event, bool(ledger.submitted), numbers, now())
            if decision.link is not None:
                linked(ledger, item, decision.link)
        if decision.forward is not None:
            target, body = decision.forward
            return [Outgoing("remits.plb", target.encode(), encode(body))]
        if decision.queue is not None:
            return [raised(decision.queue)]
        if decision.closes is not None:
            w.metrics.outcome(PROCESSOR, "forward-balance-paired")
            return [Outgoing("remits.provider-adjustments", decision.closes.encode(), None)]
        return []

    w.consume("remits.plb", PROCESSOR, on_plb)

    async def on_command(msg: Incoming, scope: Scope) -> list[Outgoing]:
        key = key_of(msg)
        command = decode(parse_remit_command, msg.value)
        if isinstance(command, LinkProviderAdjustmentCommand):
            if command.patient_control_number != key:
                raise InvalidInput("key-mismatch", "key is not the patient control number")
            ledger = ledgers.get(key)
            if not ledger.submitted:
                raise InvalidInput("unknown-claim", "no submitted claim has this number")
            linked(ledger, command.item, "operator")
            plb_id = command.item.plb_id.encode()
            return [Outgoing("remits.provider-adjustments", plb_id, None)]
        if isinstance(command, WriteOffCommand | RefundCommand):
            if command.patient_control_number != key:
                raise InvalidInput("key-mismatch", "key is not the patient control number")
            try:
                if isinstance(command, RefundCommand):
                    step = reconcile.refund(ledgers.get(key), command)
                else:
                    step = reconcile.write_off(ledgers.get(key), command, now())
            except reconcile.Refused as exc:
                raise InvalidInput(exc.reason, exc.message) from None
            if step.duplicate:
                return []
            log.info("claim command recorded", pcn=key, action=command.action)
            return route(step, scope)
        ledger, payment = reconcile.take_waiting(ledgers.get(key), command.posting_id)
        if payment is None:
            raise InvalidInput(
                "unknown-payment",
                "no unmatched payment with this posting id "
                "is filed under this patient control number",
            )
        ledgers.put(ledger)
        moved = payment.model_copy(update={"assigned_to": command.assign_to})
        log.info("unmatched payment assigned", posting_id=command.posting_id)
        return [
            Outgoing(
                "remits.835.inbound", command.assign_to.encode(), moved.model_dump_json().encode()
            )
        ]

    w.consume("remits.commands", PROCESSOR, on_command)
