"""``claims attachment sent CONTROL_NUMBER --via CHANNEL``: record that the document a
claim announced in its PWK went to the payer (closes its ``claims.attachments`` work
item; audited)."""

from __future__ import annotations

from workers.ops.audit import audit
from workers.ops.queues import current_items
from workers.runtime import kafka_clients
from workers.runtime.settings import Settings

QUEUE = "claims.attachments"
CHANNELS = ("fax", "mail", "file-transfer", "e-mail", "portal")


class NotDue(LookupError):
    """No open attachment work item has this control number."""


def mark_sent(settings: Settings, control_number: str, via: str, note: str | None) -> str:
    """Close the work item of ``control_number``; returns the claim it belongs to."""
    found = [
        i for i in current_items(settings, QUEUE) if i.body.get("control_number") == control_number
    ]
    if not found:
        raise NotDue(f"{control_number}: no open item of {QUEUE} (see `claims queue list {QUEUE}`)")
    producer = kafka_clients.producer(settings)
    try:
        producer.send(settings.topic(QUEUE), key=control_number.encode(), value=None).get(
            timeout=30
        )
        pcn = str(found[0].body.get("patient_control_number"))
        text = f"sent by {via}" + (f"; {note}" if note else "")
        audit(
            settings,
            "attachment-sent",
            1,
            [control_number, pcn],
            note=text[:300],
            producer=producer,
        )
    finally:
        producer.close()
    return pcn
