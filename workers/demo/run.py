"""``claims demo``: the whole business on a local broker, every message accounted for.

1. start (or reuse) the local broker; delete the topics earlier demo runs left
   (their prefixes carry their start time; runs younger than the time limit are
   left alone, they may still be going); create the topics under a fresh prefix;
2. start an SFTP server on loopback holding every trading partner's mailbox
   (:mod:`workers.demo.mailboxes`); load synthetic reference data, the partners
   pointing at their mailboxes, and produce the sessions
   (:mod:`workers.demo.synthetic`);
3. run every processor (``claims worker all``, one process, short batch ages), the
   mailbox worker (``claims worker mailbox``: uploads the 837, 270 and 276 files,
   fetches the payers' answers into the inbox) and the inbox
   (``claims worker inbox``);
4. answer the 270s the engine asks when the patients are loaded (271s);
5. wait until every session has its outcome and every claim its file, uploaded;
6. let the payers' front doors answer each 837 with a 999 and a 277CA, left in the
   partners' mailboxes, and wait until every claim is accepted;
7. let the payer simulator answer each 837 with an 835 the same way, and wait
   until every claim payment is posted; ask about the claim a payer sits on (276)
   and answer it (277);
8. let the bank report the payers' ACH payments in a BAI2 file (one payment
   missing, one credit with no 835; :mod:`workers.demo.bank`), ingest it and wait
   until every credit is matched or on its work queue;
9. account for everything from the topics (:mod:`workers.demo.accounting`) and
   write ``DIR/837/``, ``DIR/999/``, ``DIR/277/``, ``DIR/835/``, ``DIR/270/``,
   ``DIR/271/``, ``DIR/276/``, ``DIR/277-status/``, ``DIR/deposits/``,
   ``DIR/superbills/`` (the self-pay and HSA sessions' superbills),
   ``DIR/report.html`` and ``DIR/summary.json``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from workers.demo import bank, cases, claim_status, eligibility, synthetic
from workers.demo.accounting import (
    Accounting,
    TopicData,
    account,
    classify_sessions,
    ledgers_of,
    patient_accounts,
    plb_in_flight,
)
from workers.demo.mailboxes import DemoMailboxes
from workers.demo.payers import Payers
from workers.remits import balances
from workers.runtime import kafka_clients
from workers.runtime.settings import Settings

WATCHED = (
    "sessions.completed",
    "sessions.completed.dlq",
    "sessions.duplicates",
    "sessions.enriched",
    "sessions.held",
    "sessions.rejected",
    "sessions.cancelled",
    "charges.billable.dlq",
    "claims.submitted",
    "edi.outbound",
    "edi.deliveries",
    "partners.delivery-failed",
    "claims.adjudicated",
    "claims.denied",
    "remits.unmatched",
    "remits.835.inbound",
    "claims.acknowledged",
    "documents.issued",
    "state.reconcile.claims",
    "payments.patient",
    "ledger.refunds",
    "remits.provider-adjustments",
    "deposits.inbound",
    "deposits.reconciled",
    "deposits.unfunded",
    "deposits.unremitted",
    "eligibility.responses",
    "claims.status-attention",
)


_DEMO_STAMP = "%Y%m%d%H%M%S"

#: how long a wait's condition must hold when it is a count that only grows (two polls)
SETTLED = 0.2
#: pause between a wait's polls of the topics
POLL_PAUSE_S = 0.2
#: how long one fetch of a read of the topics waits for messages
READ_TIMEOUT_MS = 50
#: a read of the topics takes what they hold when it starts, for this long at most
READ_LIMIT_S = 30.0
#: how often the mailbox worker looks into each partner's download directory
MAILBOX_POLL_S = 0.5
#: the processes the demo runs beside itself: log name -> ``claims worker`` mode
PROCESSES = {"worker": "all", "mailbox": "mailbox", "inbox": "inbox"}


def earlier_demo_prefixes(
    topics: Iterable[str], base_prefix: str, now: datetime, keep_younger_than_s: float
) -> list[str]:
    """The topic prefixes of demo runs (``<base>demo<YYYYmmddHHMMSS>.``) started more
    than ``keep_younger_than_s`` before ``now``.  Every run creates ~60 topics and
    leaves them for inspection; without this a broker used for many demos (and the
    end-to-end tests, which run one) collects thousands of partitions and starts
    ever more slowly."""
    pattern = re.compile(re.escape(base_prefix) + r"demo(\d{14})\.")
    found = set()
    for name in topics:
        match = pattern.match(name)
        if match is None:
            continue
        try:
            began = datetime.strptime(match.group(1), _DEMO_STAMP).replace(tzinfo=UTC)
        except ValueError:
            continue
        if (now - began).total_seconds() > keep_younger_than_s:
            found.add(match.group(0))
    return sorted(found)


#: delete_topics error codes that leave a topic gone: none, and unknown topic (already gone)
_GONE = (0, 3)


def forget_earlier_demos(
    base: Settings, now: datetime, keep_younger_than_s: float, client: Any = None
) -> int:
    """Delete the topics of earlier demo runs (see :func:`earlier_demo_prefixes`);
    returns how many runs had every topic deleted (a run the broker refused to
    delete a topic of is not counted, and is tried again next time)."""
    from workers.runtime.admin import admin_client

    own = client is None
    client = admin_client(base) if own else client
    try:
        topics = list(client.list_topics())
        prefixes = earlier_demo_prefixes(topics, base.topic_prefix, now, keep_younger_than_s)
        doomed = [t for t in topics if t.startswith(tuple(prefixes))] if prefixes else []
        refused: list[str] = []
        if doomed:
            answer = client.delete_topics(doomed, raise_errors=False)
            refused = [
                str(t.get("name"))
                for t in (answer or {}).get("topics", [])
                if t.get("error_code") not in _GONE
            ]
        return sum(1 for p in prefixes if not any(name.startswith(p) for name in refused))
    finally:
        if own:
            client.close()


class DemoError(RuntimeError):
    pass


@dataclass
class DemoResult:
    summary: dict[str, Any]
    accounting: Accounting
    out_dir: Path


class Reader:
    """Reads the watched topics incrementally (all partitions, from the beginning)."""

    def __init__(self, settings: Settings) -> None:
        from kafka import TopicPartition

        self.settings = settings
        self.consumer = kafka_clients.reader(settings)
        tps = []
        for name in WATCHED:
            topic = settings.topic(name)
            parts = self.consumer.partitions_for_topic(topic) or set()
            tps += [TopicPartition(topic, p) for p in sorted(parts)]
        self.consumer.assign(tps)
        self.consumer.seek_to_beginning(*tps)
        self.partitions = tps
        self.data = TopicData()

    def poll(self) -> None:
        """Read everything the watched topics hold now: up to the end offsets asked
        when the read starts, so the view is never a partial one (an empty fetch
        on a busy machine does not end the read early)."""
        from workers.demo.accounting import _decode

        ends = self.consumer.end_offsets(self.partitions)
        behind = {tp for tp, end in ends.items() if self.consumer.position(tp) < end}
        deadline = time.monotonic() + READ_LIMIT_S
        while behind and time.monotonic() < deadline:
            batch = self.consumer.poll(timeout_ms=READ_TIMEOUT_MS)
            for tp, records in batch.items():
                name = tp.topic[len(self.settings.topic_prefix) :]
                bucket = self.data.messages.setdefault(name, [])
                for r in records:
                    bucket.append(
                        (r.partition, r.offset, r.key, _decode(r.value), dict(r.headers or []))
                    )
            behind = {tp for tp in behind if self.consumer.position(tp) < ends[tp]}

    def close(self) -> None:
        self.consumer.close()


def _producer(settings: Settings) -> Any:
    return kafka_clients.producer(settings, client_id="claims-demo", linger_ms=5)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _progress(out: TextIO, label: str, data: TopicData, started: float) -> None:
    """One status line (a terminal only): the sessions' outcomes and the claims and
    payments so far, counted from the topics without accounting for the money."""
    if not out.isatty():
        return
    per_message, _ = classify_sessions(data)
    s = Counter(per_message.values())
    claims = len({k for _, _, k, v, _ in data.messages.get("claims.submitted", []) if v})
    payments = len(data.messages.get("claims.adjudicated", []))
    text = (
        f"\r[{time.monotonic() - started:5.1f}s] {label:<22} received {len(per_message):>5} "
        f"billed {s['billed']:>5} held {s['held']:>3} rejected {s['rejected']:>3} "
        f"pending {s['pending']:>5} | claims {claims:>5} | payments {payments:>5}"
    )
    out.write(text)
    out.flush()


def run_demo(
    base: Settings,
    *,
    clinics: int = 3,
    sessions: int = 300,
    seed: int = 7,
    out_dir: Path = Path("demo-out"),
    keep_broker: bool = False,
    progress: TextIO = sys.stderr,
    timeout_s: float = 300.0,
) -> DemoResult:
    from workers.runtime.admin import ensure_topics
    from workers.runtime.local_broker import LocalBroker

    started = time.monotonic()
    stamp = datetime.now(UTC).strftime(_DEMO_STAMP)
    out_dir = out_dir.resolve()
    if out_dir.exists():
        shutil.rmtree(out_dir)
    for sub in (
        "837", "999", "277", "835", "eob", "deposits", "superbills", "outbox", "inbox", "state",
        "270", "271", "276", "277-status",
    ):  # fmt: skip
        (out_dir / sub).mkdir(parents=True, mode=0o700)
    settings = base.model_copy(
        update={
            "topic_prefix": f"{base.topic_prefix}demo{stamp}.",
            "outbox_dir": out_dir / "outbox",
            "inbox_dir": out_dir / "inbox",
            "state_dir": out_dir / "state",
            "mailbox_secrets_dir": out_dir / "state" / "secrets",
            "claims_tick_interval_s": 0.5,
            "commit_interval_s": 1.0,
        }
    )
    broker = LocalBroker(settings)
    started_broker = False
    if settings.kafka_bootstrap_servers == broker.bootstrap:
        result = broker.start()
        started_broker = result.started
    forgotten = forget_earlier_demos(base, datetime.now(UTC), keep_younger_than_s=timeout_s + 60)
    if forgotten:
        progress.write(f"removed the topics of {forgotten} earlier demo run(s)\n")
    ensure_topics(settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMS_")}
    env.update(
        {
            "CLAIMS_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
            "CLAIMS_TOPIC_PREFIX": settings.topic_prefix,
            "CLAIMS_OUTBOX_DIR": str(settings.outbox_dir),
            "CLAIMS_INBOX_DIR": str(settings.inbox_dir),
            "CLAIMS_STATE_DIR": str(settings.state_dir),
            "CLAIMS_MAILBOX_SECRETS_DIR": str(settings.mailbox_secrets_dir),
            "CLAIMS_INBOX_POLL_INTERVAL_S": "0.25",
            "CLAIMS_CLAIMS_TICK_INTERVAL_S": "0.5",
            # the demo's days of service are at least two days old: each day's claim
            # leaves as soon as the clinic's day has ended (no grace for late visits)
            "CLAIMS_CLAIMS_DAY_GRACE_H": "0",
            "CLAIMS_COMMIT_INTERVAL_S": "1.0",
            "CLAIMS_LOG_FORMAT": "json",
            # the demo's 835s and deposits are all of today: raise what is missing at once
            "CLAIMS_DEPOSITS_UNFUNDED_DAYS": "0",
            "CLAIMS_DEPOSITS_UNREMITTED_DAYS": "0",
            "CLAIMS_ELIGIBILITY_FLUSH_INTERVAL_S": "0.5",
        }
    )
    # the engine's processes start first: their start-up (imports, joining their
    # groups) overlaps the data being generated and the reference data loaded,
    # which they then consume as it arrives, as a running engine would
    processes = _start_processes(out_dir, env)
    try:
        mailboxes = DemoMailboxes(out_dir / "sftp", settings.mailbox_secrets_dir)
        mailboxes.start()
        data = synthetic.generate(clinics=clinics, sessions=sessions, seed=seed)
        mailboxes.attach(data.partners, poll_interval_s=MAILBOX_POLL_S)
        eligibility.plant_scenarios(data)
        asked_first = eligibility.expected_inquiries(data, datetime.now(UTC).date())
        producer = _producer(settings)
        load_reference(settings, data, producer)
    except BaseException:
        _stop_processes(processes)
        raise
    reader: Reader | None = None
    payers: Payers | None = None
    bank_file: bank.BankFile | None = None
    rounds = eligibility.EligibilityRounds(settings, out_dir, mailboxes)
    status = claim_status.ClaimStatusRound(settings, out_dir, producer, data.partners, mailboxes)
    receiver_of: dict[str, str] = {}
    #: seconds spent waiting in each phase (the summary's ``phases``)
    phases: dict[str, float] = {"starting": round(time.monotonic() - started, 1)}
    try:
        reader = Reader(settings)
        deadline = time.monotonic() + timeout_s

        def wait(label: str, done: Callable[[], bool], settle_s: float = 1.0) -> None:
            """Until ``done`` holds for ``settle_s``: a count that only grows towards
            its target needs no more than two polls (``SETTLED``); a state that may
            still change (sessions pending, payments in flight) a full second."""
            assert reader is not None
            began = time.monotonic()
            try:
                _wait(reader, processes, deadline, started, progress, label, done, settle_s)
            finally:
                phases[label] = round(phases.get(label, 0.0) + time.monotonic() - began, 1)

        def outbound(transaction: str) -> list[dict[str, Any]]:
            assert reader is not None
            return released(reader.data, transaction)

        def all_uploaded(transaction: str) -> bool:
            files = outbound(transaction)
            return bool(files) and len(mailboxes.arrived(files)) == len(files)

        def take_837s() -> list[Path]:
            """The 837s the engine uploaded and the payers have not read yet."""
            wait("uploading 837s", lambda: all_uploaded("837"), SETTLED)
            taken = []
            for receiver, path in mailboxes.arrived(outbound("837")):
                if path.name in receiver_of:
                    continue
                receiver_of[path.name] = receiver
                taken.append(mailboxes.keep(path, out_dir / "837"))
            return taken

        # the engine asks about every health-plan coverage it sees; the payers answer
        wait(
            "eligibility (270s)",
            lambda: rounds.inquiries_written(outbound("270")) >= asked_first,
            SETTLED,
        )
        rounds.answer_new(outbound("270"), datetime.now(UTC))
        wait(
            "eligibility (271s)",
            lambda: _responses(reader) >= rounds.counts["responses"],
            SETTLED,
        )
        produce_sessions(settings, data, producer)
        wait("processing sessions", lambda: _sessions_settled(reader, len(data.sessions)))
        self_pay = _outcomes(reader)["self_pay"]
        wait("superbills", lambda: _superbills(reader) == self_pay, SETTLED)
        for path in sorted((settings.outbox_dir / "superbills").rglob("*.pdf")):
            shutil.copy2(path, out_dir / "superbills" / path.name)
        files = take_837s()
        front_door = acknowledge_files(data, files, out_dir, mailboxes, receiver_of)
        wait("front door", lambda: _acknowledged(reader) >= front_door["claims"], SETTLED)
        payers = Payers(settings, out_dir, producer, mailboxes, receiver_of)
        claims = cases.latest_claims(reader.data.values("claims.submitted"))
        picks = payers.choose(files, claims, cases.renewable_patients(data.prescriptions))
        payers.sitting_on = {picks.sat_on} if picks.sat_on else set()
        rules = payers.rules(picks, replacements=False)
        (out_dir / "payer-rules.json").write_text(rules.model_dump_json(indent=2))
        payers.answer(files, rules)

        def reconciled(label: str) -> None:
            wait(
                label,
                lambda: (
                    _reconciled(reader, payers.expected_payments)
                    and plb_in_flight(reader.data) == 0
                ),
            )

        reconciled("reconciling")
        # the payer sits on one claim: the biller asks where it stands (276 / 277)
        if picks.sat_on is not None:
            status.ask(picks.sat_on, claims[picks.sat_on]["receiver_id"], datetime.now(UTC))
            wait(
                "claim status (276)",
                lambda: status.inquiries_written(outbound("276")) >= 1,
                SETTLED,
            )
            status.answer_new(outbound("276"), picks.sat_on, datetime.now(UTC))
            wait("claim status (277)", lambda: _status_items(reader) >= 1, SETTLED)
        # a visit reported after its day's claim was paid; the secondary claims
        if picks.reversed is not None:
            key, value = cases.late_visit(claims[picks.reversed], datetime.now(UTC).date())
            producer.send(settings.topic("sessions.completed"), key=key.encode(), value=value)
            producer.flush()
        wait(
            "replacement and secondary claims",
            lambda: cases.second_round_ready(
                cases.latest_claims(reader.data.values("claims.submitted")),
                picks,
                _secondaries_requested(reader),
            ),
        )
        more = take_837s()
        again = acknowledge_files(data, more, out_dir, mailboxes, receiver_of, first=len(files) + 1)
        front_door = {k: front_door[k] + again[k] for k in front_door}
        wait("front door", lambda: _acknowledged(reader) >= front_door["claims"], SETTLED)
        payers.answer(more, payers.rules(picks, replacements=True))
        reconciled("reconciling replacements and secondary claims")
        # the front desk takes payments, one of them more than the patient owes
        paid = record_front_desk_payments(settings, reader, producer)
        wait(
            "front desk", lambda: len(reader.data.values("payments.patient")) >= paid, SETTLED
        )
        # the bank reports the payers' ACH payments: one missing, one with no 835
        bank_file = deposit_file(settings, out_dir, producer)
        wait("deposits", lambda: _deposits_settled(reader.data, bank_file.credits), SETTLED)
        # the first session of a month on a coverage asked again: those answers too
        wait("eligibility (270s)", lambda: all_uploaded("270"), SETTLED)
        rounds.answer_new(outbound("270"), datetime.now(UTC))
        wait(
            "eligibility", lambda: _responses(reader) >= rounds.counts["responses"], SETTLED
        )
        wait("mailboxes", lambda: mailboxes.waiting() == 0, SETTLED)
        # the money, once: every wait above looked at the topics it needed only
        acc = account(reader.data, payers.remit_files)
    finally:
        if progress.isatty():
            progress.write("\n")
        _stop_processes(processes)
        mailboxes.stop()
        producer.close()
        if reader is not None:
            reader.close()
        if started_broker and not keep_broker:
            broker.stop()
    seconds = round(time.monotonic() - started, 1)
    exchange = mailbox_counts(reader.data, mailboxes) if reader is not None else {}
    problems = list(acc.problems)
    if exchange.get("not_uploaded") or exchange.get("not_fetched"):
        problems.append(
            f"mailboxes: {exchange['not_uploaded']} file(s) not uploaded, "
            f"{exchange['not_fetched']} not fetched"
        )
    summary = {
        "seconds": seconds,
        "sessions": acc.sessions,
        "claims": acc.claims,
        "ar": acc.ar,
        "front_door": {**front_door, "accepted": _acknowledged(reader, "accepted")}
        if reader is not None
        else front_door,
        "superbills": _superbills(reader) if reader is not None else 0,
        "remits": {**acc.remits, "paper_eob_files": payers.eob_files if payers else 0},
        "eligibility": rounds.counts,
        "claim_status": {
            **status.counts,
            "work_items": _status_items(reader),
        },
        "deposits": deposit_counts(reader.data, files=1 if bank_file else 0)
        if reader is not None
        else {},
        "mailboxes": exchange,
        "cases": acc.cases,
        "phases": phases,
        "topic_prefix": settings.topic_prefix,
        "consistent": not problems,
        "problems": problems,
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    write_report(out_dir / "report.html", summary)
    for scratch in ("outbox", "inbox", "state", "sftp"):
        shutil.rmtree(out_dir / scratch, ignore_errors=True)
    return DemoResult(summary, acc, out_dir)


def released(data: TopicData, transaction: str) -> list[dict[str, Any]]:
    """The ``edi.outbound`` records of one kind of file (``837``, ``270``, ``276``)."""
    return [v for v in data.values("edi.outbound") if v.get("transaction", "837") == transaction]


def mailbox_counts(data: TopicData, mailboxes: DemoMailboxes) -> dict[str, int]:
    """What went through the partners' mailboxes, from the topics and the server."""
    latest: dict[bytes, str] = {}
    for _, _, key, value, _ in data.messages.get("edi.deliveries", []):
        if key is not None and value is not None:
            latest[key] = value["status"]
    announced = {t: len(released(data, t)) for t in ("837", "270", "276")}
    uploaded = sum(1 for status in latest.values() if status == "uploaded")
    return {
        "uploaded_837": announced["837"],
        "uploaded_270": announced["270"],
        "uploaded_276": announced["276"],
        "uploaded": uploaded,
        "not_uploaded": sum(announced.values()) - uploaded,
        "answers_left_by_payers": mailboxes.left,
        "not_fetched": mailboxes.waiting(),
        "delivery_work_items": len(_latest_open(data, "partners.delivery-failed")),
    }


def _start_processes(out_dir: Path, env: dict[str, str]) -> dict[str, subprocess.Popen[bytes]]:
    """The engine's processes (:data:`PROCESSES`), each logging to ``DIR/<name>.log``
    and serving its health endpoints on a port of its own."""
    processes: dict[str, subprocess.Popen[bytes]] = {}
    for name, mode in PROCESSES.items():
        with (out_dir / f"{name}.log").open("wb") as log:
            processes[name] = subprocess.Popen(  # noqa: S603 -- our own CLI, arguments from PROCESSES
                [sys.executable, "-m", "workers.cli", "worker", mode],
                env={**env, "CLAIMS_WEB_PORT": str(_free_port())},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
    return processes


def _stop_processes(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    for process in processes.values():
        process.send_signal(signal.SIGTERM)
    for process in processes.values():
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def acknowledge_files(
    data: synthetic.Dataset,
    files: list[Path],
    out_dir: Path,
    mailboxes: DemoMailboxes,
    receiver_of: dict[str, str],
    first: int = 1,
) -> dict[str, int]:
    """The payers' front doors answer each 837 with a 999 and a 277CA (all accepted),
    written to ``DIR/999`` and ``DIR/277`` and left in the partner's mailbox."""
    from edi.x837p import read_837p
    from workers.payer_sim.acknowledge import acknowledge_837

    claims = 0
    for n, path in enumerate(files, start=first):
        received = list(read_837p(path.read_bytes()))
        claims += len(received)
        acks = acknowledge_837(received, now=datetime.now(UTC), control_number=n)
        for kind, text in (("999", acks.ack_999), ("277", acks.ack_277)):
            target = out_dir / kind / f"{path.stem}.{kind}"
            write_private(target, text)
            mailboxes.leave(receiver_of[path.name], target.name, text.encode())
    return {"files": len(files), "claims": claims}


def _status_items(reader: Reader | None) -> int:
    """Claims on the status work queue (open: the latest record per claim is not a
    tombstone)."""
    if reader is None:
        return 0
    latest: dict[bytes, bool] = {}
    for _, _, key, value, _ in reader.data.messages.get("claims.status-attention", []):
        if key is not None:
            latest[key] = value is not None
    return sum(latest.values())


def _outcomes(reader: Reader) -> Counter[str]:
    """How many sessions received have each outcome (``pending``: none yet)."""
    per_message, _ = classify_sessions(reader.data)
    return Counter(per_message.values())


def _sessions_settled(reader: Reader | None, produced: int) -> bool:
    """Every session received (all but the conflicting duplicate count) has its
    outcome: what the accounting says, without accounting for the money each poll."""
    if reader is None:
        return False
    outcomes = _outcomes(reader)
    return outcomes.total() >= produced - 1 and not outcomes["pending"]


def _responses(reader: Reader | None) -> int:
    return len(reader.data.messages.get("eligibility.responses", [])) if reader else 0


def _superbills(reader: Reader) -> int:
    """Superbills standing (issued, and not voided since because the visit was cancelled)."""
    documents = reader.data.values("documents.issued")
    voided = {v["session_key"] for v in documents if v.get("event_type") == "superbill.voided"}
    return len(
        {
            v["session_key"]
            for v in documents
            if v.get("event_type") == "superbill.issued" and v["session_key"] not in voided
        }
    )


def _acknowledged(reader: Reader | None, status: str | None = None) -> int:
    """Claim versions whose latest front-door status is final (or is ``status``)."""
    if reader is None:
        return 0
    latest: dict[str, str] = {}
    for value in reader.data.values("claims.acknowledged"):
        if value.get("status") in ("accepted", "rejected"):
            latest[value.get("claim_id") or value["patient_control_number"]] = value["status"]
    if status is None:
        return len(latest)
    return sum(1 for v in latest.values() if v == status)


def write_private(path: Path, text: str) -> None:
    """A demo output file that holds (synthetic) patient data: owner-only, like the
    engine's own files."""
    path.write_text(text)
    path.chmod(0o600)


def _secondaries_requested(reader: Reader) -> set[str]:
    """Original claims whose primary's answer asked for a secondary claim."""
    return {
        ledger.patient_control_number
        for ledger in ledgers_of(reader.data)
        if (ledger.coordination or "").startswith("secondary")
    }


def record_front_desk_payments(settings: Settings, reader: Reader, producer: Any) -> int:
    """What patients pay at the front desk (``payments.patient``); returns how many
    payments the topic then holds."""
    rows = balances.balances(ledgers_of(reader.data), datetime.now(UTC))
    accounts = patient_accounts(reader.data, rows).values()
    payments = cases.front_desk_payments(accounts, datetime.now(UTC).date())
    for payment in payments:
        producer.send(
            settings.topic("payments.patient"),
            key=payment.key.encode(),
            value=payment.model_dump_json().encode(),
        )
    producer.flush()
    return len(reader.data.values("payments.patient")) + len(payments)


def print_summary(result: DemoResult, out: TextIO = sys.stdout) -> None:
    s = result.summary
    out.write(
        f"\nDemo finished in {s['seconds']} s "
        f"({'every message accounted for' if s['consistent'] else 'INCONSISTENT'}).\n\n"
    )
    for title, block in (
        ("sessions", s["sessions"]),
        ("claims", s["claims"]),
        ("accounts receivable", s.get("ar", {})),
        ("front door (999 / 277CA)", s.get("front_door", {})),
        ("remittances", s["remits"]),
        ("eligibility (270 / 271)", s.get("eligibility", {})),
        ("claim status (276 / 277)", s.get("claim_status", {})),
        ("deposits (BAI2)", s.get("deposits", {})),
        ("SFTP mailboxes", s.get("mailboxes", {})),
        ("cases", s.get("cases", {})),
    ):
        out.write(f"  {title}\n")
        for key, value in block.items():
            out.write(f"    {key.replace('_', ' '):<26} {value:>12}\n")
    out.write(f"  superbills (self-pay and HSA) {s.get('superbills', 0):>20}\n")
    phases = ", ".join(f"{k} {v:g}" for k, v in s.get("phases", {}).items())
    out.write(f"  seconds per phase: {phases}\n")
    for problem in s["problems"]:
        out.write(f"  problem: {problem}\n")
    d = result.out_dir
    out.write(
        f"\n  837 files:  {d / '837'}\n  999 / 277:  {d / '999'}, {d / '277'}\n"
        f"  835 files:  {d / '835'}\n  deposits:   {d / 'deposits'}\n"
        f"  270 / 271:  {d / '270'}, {d / '271'}\n"
        f"  276 / 277:  {d / '276'}, {d / '277-status'}\n"
        f"  superbills: {d / 'superbills'}\n"
        f"  report:     {d / 'report.html'}\n  summary:    {d / 'summary.json'}\n"
        f"  logs:       {d / 'worker.log'}, {d / 'mailbox.log'}, {d / 'inbox.log'}\n"
    )


def load_reference(settings: Settings, data: synthetic.Dataset, producer: Any) -> None:
    """Produce the dataset's reference records onto the ``ref.*`` topics."""
    keys: dict[str, Callable[[dict[str, Any]], str]] = {
        "clinics": lambda r: r["clinic_id"],
        "therapists": lambda r: f"{r['clinic_id']}:{r['therapist_id']}",
        "payers": lambda r: r["payer_id"],
        "partners": lambda r: r["receiver_id"],
        "patients": lambda r: f"{r['clinic_id']}:{r['patient_id']}",
        "prescriptions": lambda r: f"{r['clinic_id']}:{r['prescription_id']}",
        "authorizations": lambda r: f"{r['clinic_id']}:{r['authorization_id']}",
    }
    for kind, key_of in keys.items():
        for record in getattr(data, kind):
            producer.send(
                settings.topic(f"ref.{kind}"),
                key=key_of(record).encode(),
                value=json.dumps(record).encode(),
            )
    producer.flush()


def produce_sessions(settings: Settings, data: synthetic.Dataset, producer: Any) -> None:
    """The sessions, then the prescriptions that arrive late."""
    for key, value in data.sessions:
        producer.send(settings.topic("sessions.completed"), key=key.encode(), value=value)
    producer.flush()
    for record in data.late_prescriptions:
        producer.send(
            settings.topic("ref.prescriptions"),
            key=f"{record['clinic_id']}:{record['prescription_id']}".encode(),
            value=json.dumps(record).encode(),
        )
    producer.flush()


def deposit_file(settings: Settings, out_dir: Path, producer: Any) -> bank.BankFile:
    """The bank's BAI2 file for the 835s the payers sent, written and ingested."""
    from edi.x835 import parse_835
    from workers.inbound.deposits import ingest_file

    remittances = [
        r for path in sorted((out_dir / "835").glob("*.835")) for r in parse_835(path.read_bytes())
    ]
    now = datetime.now(UTC)
    made = bank.bai2_file(remittances, now.date(), now.strftime("%H%M"))
    target = out_dir / "deposits" / f"bank-{now.strftime('%Y%m%d')}.bai2"
    write_private(target, made.text)

    def send(topic: str, key: bytes | None, value: bytes | None, headers: Any) -> None:
        producer.send(topic, key=key, value=value, headers=headers)

    ingest_file(target, send, settings.topic)
    producer.flush()
    return made


def _latest_open(data: TopicData, topic: str) -> dict[bytes, dict[str, Any]]:
    """A work queue's open items: the latest message per key, a tombstone closing it."""
    items: dict[bytes, dict[str, Any]] = {}
    for _, _, key, value, _ in data.messages.get(topic, []):
        if key is None:
            continue
        if value is None:
            items.pop(key, None)
        else:
            items[key] = value
    return items


def deposit_counts(data: TopicData, files: int) -> dict[str, Any]:
    """What the engine did with the deposits, from its topics."""
    matched = {v["deposit_id"]: v for v in data.values("deposits.reconciled")
               if v.get("event_type") == "deposit.matched"}  # fmt: skip
    amount = sum((Decimal(v["amount"]) for v in matched.values()), Decimal("0.00"))
    return {
        "files": files,
        "deposits": len({v["deposit_id"] for v in data.values("deposits.inbound")}),
        "matched": len(matched),
        "unfunded": len(_latest_open(data, "deposits.unfunded")),
        "unremitted": len(_latest_open(data, "deposits.unremitted")),
        "amount_matched": f"{amount:.2f}",
    }


def _deposits_settled(data: TopicData, credits: int) -> bool:
    """Every credit decided: matched, not a payer's, or waiting on the work queue."""
    decided = {v["deposit_id"] for v in data.values("deposits.reconciled")}
    waiting = len(_latest_open(data, "deposits.unremitted"))
    return len(decided) + waiting >= credits and len(_latest_open(data, "deposits.unfunded")) >= 1


def _reconciled(reader: Reader, expected: int) -> bool:
    posted = {(v["posting"]["posting_id"]) for v in reader.data.values("claims.adjudicated")}
    unmatched = {v["posting_id"] for v in reader.data.values("remits.unmatched")}
    return len(posted | unmatched) >= expected


def _wait(
    reader: Reader,
    processes: dict[str, subprocess.Popen[bytes]],
    deadline: float,
    started: float,
    progress: TextIO,
    label: str,
    done: Callable[[], bool],
    settle_s: float = 1.0,
) -> None:
    """Poll the topics until ``done`` has held for ``settle_s``; fail when a worker
    process stops or the deadline passes."""
    stable_since = None
    while True:
        reader.poll()
        _progress(progress, label, reader.data, started)
        if done():
            stable_since = stable_since or time.monotonic()
            if time.monotonic() - stable_since >= settle_s:
                return
        else:
            stable_since = None
        for name, process in processes.items():
            if process.poll() is not None:
                raise DemoError(
                    f"the {name} process stopped with status {process.returncode}; see {name}.log"
                )
        if time.monotonic() > deadline:
            pending = _outcomes(reader)["pending"]
            raise DemoError(f"timed out while {label} (sessions pending {pending})")
        time.sleep(POLL_PAUSE_S)


def write_report(path: Path, summary: dict[str, Any]) -> None:
    def table(title: str, data: dict[str, Any]) -> str:
        rows = "".join(
            f"<tr><th>{k.replace('_', ' ')}</th><td>{v}</td></tr>" for k, v in data.items()
        )
        return f"<h2>{title}</h2><table>{rows}</table>"

    html = (
        "<!doctype html><html><head><meta charset='utf-8'><title>claims demo</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "th,td{border:1px solid #ccc;padding:4px 10px;text-align:left}"
        "td{text-align:right}</style></head><body>"
        f"<h1>Claims engine demo</h1><p>{summary['seconds']} seconds; topics prefixed "
        f"<code>{summary['topic_prefix']}</code>; "
        f"{'consistent' if summary['consistent'] else 'INCONSISTENT'}.</p>"
        + table("Sessions", summary["sessions"])
        + table("Claims", summary["claims"])
        + table("Accounts receivable", summary.get("ar", {}))
        + table("Front door (999 / 277CA)", summary.get("front_door", {}))
        + table("Remittances", summary["remits"])
        + table("Eligibility (270 / 271)", summary.get("eligibility", {}))
        + table("Claim status (276 / 277)", summary.get("claim_status", {}))
        + table("Deposits matched to 835s", summary.get("deposits", {}))
        + table("SFTP mailboxes", summary.get("mailboxes", {}))
        + table("The week's cases", summary.get("cases", {}))
        + "</body></html>\n"
    )
    path.write_text(html)
