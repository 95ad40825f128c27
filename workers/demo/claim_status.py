"""The demo's claim-status round: a payer sits on a claim, and the engine asks.

One claim of a health plan is never answered (its 837 file is, for the other
claims in it).  The demo asks where it stands as a biller would (``claims claim
status PCN``: a command the claims stage turns into a 276 in ``<outbox>/276/``,
which the mailbox worker uploads), plays the payer's answer (a 277 asking for
medical records, :func:`workers.payer_sim.claim_status.answer_276`) and leaves it
in the partner's download directory, from where it reaches the inbox;
the claims stage records the payer's status and puts the claim on the
``claims.status-attention`` work queue for a person to send the records.  The
files are kept in ``demo-out/276/`` and ``demo-out/277-status/``.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from schemas.claims import TradingPartner
from schemas.submission import claim_command
from workers.demo.mailboxes import DemoMailboxes
from workers.runtime.atomic_files import write_atomically
from workers.runtime.settings import Settings

#: what the payer answers about the claim it sits on (payer_sim.claim_status answers)
ANSWER = "documentation"


class ClaimStatusRound:
    def __init__(
        self,
        settings: Settings,
        out_dir: Path,
        producer: Any,
        partners: list[dict[str, Any]],
        mailboxes: DemoMailboxes,
    ) -> None:
        self.settings = settings
        self.out_dir = out_dir
        self.producer = producer
        self.mailboxes = mailboxes
        self.partners = [TradingPartner.parse_json(json.dumps(p)) for p in partners]
        self.answered: set[str] = set()
        self.counts = {"inquiries": 0, "responses": 0}

    def ask(self, pcn: str, receiver_id: str, now: datetime) -> None:
        """What ``claims claim status PCN`` sends: a command to the claims stage."""
        command = claim_command(
            action="status",
            patient_control_number=pcn,
            receiver_id=receiver_id,
            requested_by="demo",
            requested_at=now,
            reason="no answer yet",
        )
        self.producer.send(
            self.settings.topic("claims.commands"),
            key=receiver_id.encode(),
            value=command.model_dump_json().encode(),
        )
        self.producer.flush()

    def inquiries_written(self, released: list[dict[str, Any]]) -> int:
        """Inquiries in the 276 files uploaded so far (``released``: their
        ``edi.outbound`` records)."""
        return sum(p.read_bytes().count(b"ST*276*") for _, p in self.mailboxes.arrived(released))

    def answer_new(self, released: list[dict[str, Any]], pcn: str, now: datetime) -> None:
        """Answer every uploaded 276 file not answered yet: records requested for ``pcn``."""
        from workers.inbound.acknowledgements import messages
        from workers.payer_sim.claim_status import answer_276

        for receiver, path in self.mailboxes.arrived(released):
            if path.name in self.answered:
                continue
            self.answered.add(path.name)
            data = path.read_bytes()
            self.mailboxes.keep(path, self.out_dir / "276")
            self.counts["inquiries"] += data.count(b"ST*276*")
            answer = answer_276(data, now=now, answers={pcn: ANSWER},
                                control_number=len(self.answered))  # fmt: skip
            target = write_atomically(
                self.out_dir / "277-status", f"{path.stem}.277", answer.text.encode()
            )
            _, records = messages(target, self.partners)  # what the inbox will publish
            self.counts["responses"] += sum(1 for _ in records)
            self.mailboxes.leave(receiver, target.name, answer.text.encode())
