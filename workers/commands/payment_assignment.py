"""`claims remits assign`: post an unmatched payment to the claim it belongs to."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime

from schemas.reconciliation import RemitCommand
from workers.runtime import kafka_clients
from workers.runtime.settings import Settings


def send_assign(settings: Settings, posting_id: str, filed_under: str, assign_to: str) -> None:
    command = RemitCommand.new(
        action="assign",
        posting_id=posting_id,
        patient_control_number=filed_under,
        assign_to=assign_to,
        requested_by=getpass.getuser(),
        requested_at=datetime.now(UTC),
    )
    producer = kafka_clients.producer(settings)
    try:
        producer.send(
            settings.topic("remits.commands"),
            key=filed_under.encode(),
            value=command.model_dump_json().encode(),
        ).get(timeout=30)
    finally:
        producer.close()
