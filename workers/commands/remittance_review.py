"""``claims remits reviewed SHA256 --reason ...``: close the ``remits.review`` work item of
an 835 file posted despite envelope faults (audited)."""

from __future__ import annotations

from workers.ops.audit import audit
from workers.ops.queues import current_items
from workers.runtime import kafka_clients
from workers.runtime.settings import Settings

QUEUE = "remits.review"


class NotOnQueue(LookupError):
    """No open review item has this file hash."""


def mark_reviewed(settings: Settings, file_sha256: str, reason: str) -> str:
    """Close the item of the file whose sha256 starts with ``file_sha256`` (at least 8
    characters); returns the file's name."""
    wanted = file_sha256.strip().lower()
    if len(wanted) < 8:
        raise ValueError("give at least the first 8 characters of the file's sha256")
    found = [
        i
        for i in current_items(settings, QUEUE)
        if str(i.body.get("file_sha256", "")).startswith(wanted)
    ]
    if not found:
        raise NotOnQueue(f"{wanted}: no open item of {QUEUE} (see `claims queue list {QUEUE}`)")
    if len({i.body["file_sha256"] for i in found}) > 1:
        raise ValueError(f"{wanted}: more than one file matches; give more of the sha256")
    sha = str(found[0].body["file_sha256"])
    name = str(found[0].body.get("file_name", ""))
    producer = kafka_clients.producer(settings)
    try:
        producer.send(settings.topic(QUEUE), key=sha.encode(), value=None).get(timeout=30)
        audit(settings, "remittance-reviewed", 1, [sha, name], note=reason[:300], producer=producer)
    finally:
        producer.close()
    return name
