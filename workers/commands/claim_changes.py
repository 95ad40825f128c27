"""`claims claim void|correct|payer-number`: publish a ClaimCommand for a submitted claim.

The command goes to ``claims.commands`` keyed by the claim's receiver (found on
``claims.submitted`` unless given), where the claims processor that owns the
receiver turns it into a void (frequency 8) or replacement (frequency 7) -- as
soon as the payer's claim number is known.
"""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime
from typing import Any

from schemas.submission import ClaimCommand, claim_command
from workers.runtime import kafka_clients
from workers.runtime.partitioning import partition_for
from workers.runtime.settings import Settings
from workers.runtime.topics import Catalogue


class ClaimNotFound(LookupError):
    pass


def find_submitted(settings: Settings, pcn: str, timeout_s: float = 10.0) -> dict[str, Any]:
    """The latest ``claims.submitted`` event of a claim (read from its partition)."""
    from kafka import TopicPartition

    topic = settings.topic("claims.submitted")
    partitions = Catalogue(settings).partitions("claims.submitted")
    tp = TopicPartition(topic, partition_for(pcn, partitions))
    consumer = kafka_clients.reader(settings, consumer_timeout_ms=int(timeout_s * 1000))
    try:
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        end = consumer.end_offsets([tp])[tp]
        latest: dict[str, Any] | None = None
        while consumer.position(tp) < end:
            batch = consumer.poll(timeout_ms=1000)
            for records in batch.values():
                for r in records:
                    if r.key == pcn.encode() and r.value:
                        latest = json.loads(r.value)
            if not batch:
                break
    finally:
        consumer.close()
    if latest is None:
        raise ClaimNotFound(f"no submitted claim with patient control number {pcn}")
    return latest


def send_command(settings: Settings, command: ClaimCommand) -> None:
    producer = kafka_clients.producer(settings)
    try:
        producer.send(
            settings.topic("claims.commands"),
            key=command.receiver_id.encode(),
            value=command.model_dump_json().encode(),
        ).get(timeout=30)
    finally:
        producer.close()


def build_command(
    settings: Settings,
    action: str,
    pcn: str,
    receiver: str | None,
    **fields: Any,
) -> ClaimCommand:
    if receiver is None:
        receiver = find_submitted(settings, pcn)["receiver_id"]
    return claim_command(
        action=action,
        patient_control_number=pcn,
        receiver_id=receiver,
        requested_by=getpass.getuser(),
        requested_at=datetime.now(UTC),
        **fields,
    )
