"""Provider-level adjustments for operators: link or dismiss what the engine could not
link, and the report of interest, recoupments and forward balances.

``claims remits link PLB_ID --to PCN --reason TEXT`` sends the item from the
``remits.provider-adjustments`` work queue to the reconciliation, which links it
to that claim (a recoupment then counts against the claim's balance) and closes
the queue item.  ``claims remits dismiss PLB_ID --reason TEXT`` closes an item
that belongs to no claim (e.g. interest the payer summed over many claims: it is
counted as the payer's interest income either way).  Both are audited.
"""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.provider_adjustments import LinkProviderAdjustmentCommand, ProviderAdjustmentUnlinked
from schemas.reconciliation import RemittanceTransaction
from workers.ops.audit import audit, operator_name
from workers.ops.queues import current_items
from workers.remits import provider_adjustments as plb
from workers.remits.reports import Table, load_ledgers
from workers.runtime import kafka_clients
from workers.runtime.settings import Settings

QUEUE = "remits.provider-adjustments"


class NotOnQueue(LookupError):
    """The id names no current item of the work queue."""


def find(settings: Settings, item_id: str) -> ProviderAdjustmentUnlinked:
    """The current queue item with this PLB id (or queue message id)."""
    for entry in current_items(settings, QUEUE):
        body = ProviderAdjustmentUnlinked.model_validate(entry.body, strict=False)
        if item_id in (body.item.plb_id, entry.id):
            return body
    raise NotOnQueue(f"{item_id}: not an open item of {QUEUE} (see `claims queue list {QUEUE}`)")


def _reason(text: str) -> str:
    if len(text.strip()) < 3:
        raise ValueError("--reason: say why (at least 3 characters)")
    return text.strip()


def link(settings: Settings, item_id: str, pcn: str, reason: str) -> str:
    why = _reason(reason)
    unlinked = find(settings, item_id)
    command = LinkProviderAdjustmentCommand.new(
        action="link-plb",
        patient_control_number=pcn,
        item=unlinked.item,
        reason=why,
        requested_by=operator_name(settings),
        requested_at=datetime.now(UTC),
    )
    producer = kafka_clients.producer(settings)
    try:
        producer.send(
            settings.topic("remits.commands"),
            key=pcn.encode(),
            value=command.model_dump_json().encode(),
        ).get(timeout=30)
        audit(settings, "plb-link", 1, [unlinked.item.plb_id, pcn], note=why, producer=producer)
    finally:
        producer.close()
    return unlinked.item.plb_id


def dismiss(settings: Settings, item_id: str, reason: str) -> str:
    why = _reason(reason)
    unlinked = find(settings, item_id)
    producer = kafka_clients.producer(settings)
    try:
        producer.send(settings.topic(QUEUE), key=unlinked.item.plb_id.encode(), value=None).get(
            timeout=30
        )
        audit(settings, "plb-dismiss", 1, [unlinked.item.plb_id], note=why, producer=producer)
    finally:
        producer.close()
    return unlinked.item.plb_id


def load_transactions(settings: Settings, timeout_s: float = 10.0) -> list[RemittanceTransaction]:
    from workers.runtime.topic_scan import read_latest

    latest = read_latest(settings, "state.reconcile.remittances", timeout_s)
    return [RemittanceTransaction.parse_json(v) for v in latest.values()]


def report(settings: Settings) -> Table:
    return plb.report(load_transactions(settings), load_ledgers(settings))
