"""The demo's eligibility rounds: the simulated payers answer the engine's 270s.

The engine asks on its own (:mod:`workers.eligibility`): once for every
health-plan coverage when the patients are loaded, and again for the first
session of each month on a coverage.  The demo plays the payers: each 270 the
mailbox worker uploaded to a partner's mailbox is copied to ``demo-out/270/``,
answered by the payer simulator (``demo-out/271/``) and the 271 left in the
partner's download directory, from where the mailbox worker fetches it and the
inbox publishes its answers on ``eligibility.responses``.  Two patients' member ids make the
simulated payer answer with a visit limit and with a rejection
(:func:`workers.payer_sim.eligibility.scenario_for`); nobody is made inactive, so
the demo's visits are billed as before.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

from schemas.eligibility import NO_ELIGIBILITY_KINDS
from schemas.reference import Clinic, Patient, Payer
from workers.demo import synthetic
from workers.demo.mailboxes import DemoMailboxes
from workers.eligibility.inquiries import inquiries_for
from workers.runtime.atomic_files import write_atomically
from workers.runtime.settings import Settings

#: member-id markers the payer simulator answers differently, given to one patient each
SCENARIOS = ("LIMIT", "REJECT")


def plant_scenarios(data: synthetic.Dataset) -> None:
    """Mark the first health-plan coverages' member ids (one per scenario)."""
    health = {p["payer_id"] for p in data.payers if p.get("kind") not in NO_ELIGIBILITY_KINDS}
    marks = list(SCENARIOS)
    for patient in data.patients:
        for coverage in patient.get("coverages", []):
            if not marks:
                return
            if (
                coverage.get("kind") == "insurance"
                and coverage.get("payer_id") in health
                and coverage.get("relationship", "self") == "self"
                and coverage.get("member_id")
            ):
                coverage["member_id"] = f"{coverage['member_id']}{marks.pop(0)}"[:80]
                break


def expected_inquiries(data: synthetic.Dataset, day: date) -> int:
    """How many coverages the engine asks about when the patients are loaded."""
    clinics = {c["clinic_id"]: Clinic.parse_json(json.dumps(c)) for c in data.clinics}
    payers = {p["payer_id"]: Payer.parse_json(json.dumps(p)) for p in data.payers}
    total = 0
    for record in data.patients:
        patient = Patient.parse_json(json.dumps(record))
        found, _ = inquiries_for(patient, clinics[patient.clinic_id], payers, day)
        total += len(found)
    return total


class EligibilityRounds:
    """Answers each 270 file once; counts what was asked and answered."""

    def __init__(self, settings: Settings, out_dir: Path, mailboxes: DemoMailboxes) -> None:
        self.settings = settings
        self.out_dir = out_dir
        self.mailboxes = mailboxes
        self.answered: set[str] = set()
        self.counts = {"inquiries": 0, "responses": 0, "active": 0, "inactive": 0, "rejected": 0}

    def inquiries_written(self, released: list[dict[str, Any]]) -> int:
        """Inquiries in the 270 files uploaded so far (``released``: their
        ``edi.outbound`` records)."""
        return sum(p.read_bytes().count(b"ST*270*") for _, p in self.mailboxes.arrived(released))

    def answer_new(self, released: list[dict[str, Any]], now: datetime) -> int:
        """Answer every uploaded 270 file not answered yet; the number of answers."""
        from workers.inbound.eligibility import messages
        from workers.payer_sim.eligibility import answer_270

        answers = 0
        for receiver, path in self.mailboxes.arrived(released):
            if path.name in self.answered:
                continue
            self.answered.add(path.name)
            data = path.read_bytes()
            self.mailboxes.keep(path, self.out_dir / "270")
            self.counts["inquiries"] += data.count(b"ST*270*")
            text, _ = answer_270(data, control_number=len(self.answered), now=now)
            target = write_atomically(self.out_dir / "271", f"{path.stem}.271", text.encode())
            report, _ = messages(target)  # what the inbox will publish, counted here
            self.mailboxes.leave(receiver, target.name, text.encode())
            answers += report.published
            self.counts["responses"] += report.published
            for status in ("active", "inactive", "rejected"):
                self.counts[status] += getattr(report, status)
        return answers
