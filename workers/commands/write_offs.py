"""``claims claim write-off PCN [--line N] [--amount X] --reason TEXT``.

A write-off gives up on what a payer leaves open on a claim (a denial nobody will
appeal, a claim past timely filing): the command goes to the reconciliation
(``remits.commands``, keyed by the claim), which checks the amount against what is
open and records it with the operator's name; the operator's act is also written
to the audit trail (``ops.audit``).  A write-off never counts for more than is
still open, so if the payer pays later the write-off undoes itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from schemas.reconciliation import WriteOffCommand
from workers.ops.audit import audit, operator_name
from workers.runtime import kafka_clients
from workers.runtime.settings import Settings


class WriteOffInputError(ValueError):
    """Bad input, named in one line."""


def parse_amount(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise WriteOffInputError(f"--amount {text!r}: expected an amount like 25.00") from None
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise WriteOffInputError(f"--amount {text!r}: a positive amount with at most 2 decimals")
    return amount


def build(
    settings: Settings, pcn: str, reason: str, line: int | None, amount: str | None
) -> WriteOffCommand:
    if len(reason.strip()) < 3:
        raise WriteOffInputError("--reason: say why (at least 3 characters)")
    return WriteOffCommand.new(
        action="write-off",
        patient_control_number=pcn,
        line_number=line,
        amount=parse_amount(amount),
        reason=reason.strip(),
        operator=operator_name(settings),
        requested_by=operator_name(settings),
        requested_at=datetime.now(UTC),
    )


def send(settings: Settings, command: WriteOffCommand) -> None:
    """Send the command, then record the operator's act in the audit trail."""
    producer = kafka_clients.producer(settings)
    try:
        producer.send(
            settings.topic("remits.commands"),
            key=command.patient_control_number.encode(),
            value=command.model_dump_json().encode(),
        ).get(timeout=30)
        line = f" line {command.line_number}" if command.line_number else ""
        amount = f"{command.amount:.2f}" if command.amount is not None else "all that is open"
        audit(
            settings,
            "claim-write-off",
            1,
            targets=[command.patient_control_number],
            note=f"write-off{line}: {amount}; {command.reason}"[:300],
            producer=producer,
        )
    finally:
        producer.close()
