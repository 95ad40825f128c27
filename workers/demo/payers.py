"""The payers' side of the demo: their answers to our 837 files, as 835 files left in
the partners' SFTP mailboxes (the mailbox worker fetches them, the inbox takes them
in), or -- the auto insurer -- as paper EOBs posted with ``claims post eob``.  Each
round remembers what the payers answered, so a replacement claim is answered with
the reversal of what it replaces."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edi.x835 import parse_835
from edi.x837p import read_837p
from schemas.remittance import ClaimPayment, Remittance
from workers.demo import cases
from workers.demo.mailboxes import DemoMailboxes
from workers.inbound import paper_eobs
from workers.inbound.remittances import messages
from workers.payer_sim.adjudicate import adjudicate, render_answers
from workers.payer_sim.rules import SimulatorRules, default_rules, load_rules
from workers.runtime.settings import Settings


@dataclass
class Payers:
    settings: Settings
    out_dir: Path
    producer: Any
    mailboxes: DemoMailboxes
    #: the partner each 837 file came from (by file name): its answer goes back there
    receiver_of: dict[str, str] = field(default_factory=dict)
    history: list[ClaimPayment] = field(default_factory=list)
    remit_files: int = 0
    eob_files: int = 0
    expected_payments: int = 0
    base: dict[str, Any] = field(default_factory=lambda: default_rules().model_dump(mode="json"))
    #: claims the payers sit on: received, never answered
    sitting_on: set[str] = field(default_factory=set)

    def rules(self, picks: cases.Picks, *, replacements: bool) -> SimulatorRules:
        document = cases.rules_document(self.base, picks, replacements=replacements)
        return load_rules(json.dumps(document), source="demo rules")

    def simulate(self, path: Path, rules: SimulatorRules) -> str:
        with path.open("rb") as fh:
            claims = [c for c in read_837p(fh) if c.patient_control_number not in self.sitting_on]
        now = datetime.now(UTC)
        return str(render_answers(adjudicate(claims, rules, now=now, history=self.history),
                                  now=now))  # fmt: skip

    def choose(
        self, files: list[Path], claims: dict[str, dict[str, Any]], renewable: set[tuple[str, str]]
    ) -> cases.Picks:
        """The cases' claims, among those the payers pay under the base rules."""
        probe = self.rules(cases.Picks(), replacements=False)
        paid = [c for path in files for r in parse_835(self.simulate(path, probe).encode())
                for c in r.claims]  # fmt: skip
        return cases.pick_claims(claims, paid, renewable)

    def answer(self, files: list[Path], rules: SimulatorRules) -> None:
        """Each file's answer, written and posted (835 or paper)."""
        for path in files:
            text = self.simulate(path, rules)
            remittances = list(parse_835(text.encode()))
            self.history += [c for r in remittances for c in r.claims]
            if remittances and all(r.payer.id == cases.PAPER_PAYER[1] for r in remittances):
                self._post_paper(path, remittances)
            else:
                self._ingest(path, text)
        self.producer.flush()

    def _ingest(self, path: Path, text: str) -> None:
        target = self.out_dir / "835" / (path.stem + ".835")
        target.write_text(text)
        target.chmod(0o600)
        report, _ = messages(target)  # what the inbox will post, counted here
        self.expected_payments += report.posted_claims
        self.remit_files += 1
        self.mailboxes.leave(self.receiver_of[path.name], target.name, text.encode())

    def _post_paper(self, path: Path, remittances: list[Remittance]) -> None:
        target = self.out_dir / "eob" / (path.stem + ".jsonl")
        eobs = cases.paper_eobs(remittances)
        target.write_text("".join(e.model_dump_json() + "\n" for e in eobs))
        target.chmod(0o600)
        report = paper_eobs.EobReport()
        for record in paper_eobs.read(target, report):
            self.producer.send(
                self.settings.topic(record.topic),
                key=record.key,
                value=record.value,
                headers=list(record.headers),
            )
        if report.errors:
            raise RuntimeError(f"{target.name}: paper EOBs did not validate: {report.errors}")
        self.expected_payments += report.posted
        self.eob_files += 1
