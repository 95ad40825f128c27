"""A small pipeline run on an own broker, and the checks every fault test makes."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from edi.x837p import read_837p
from tests.broker_support import Cluster, unique_prefix
from workers.demo import synthetic
from workers.demo.accounting import Accounting, account
from workers.demo.run import Reader, load_reference
from workers.runtime import kafka_clients
from workers.runtime.admin import ensure_topics
from workers.runtime.local_broker import LocalBroker
from workers.runtime.outbox import claim_files


def cluster(broker: LocalBroker, tmp_path: Path) -> Cluster:
    c = Cluster(broker.bootstrap, unique_prefix("ft"), tmp_path)
    ensure_topics(c.settings())
    return c


def worker_env(c: Cluster) -> dict[str, str]:
    return {
        "CLAIMS_OUTBOX_DIR": str(c.state_dir / "outbox"),
        "CLAIMS_CLAIMS_TICK_INTERVAL_S": "0.5",
        "CLAIMS_REFERENCE_READY_TIMEOUT_S": "120",
    }


def dataset(c: Cluster, sessions: int = 60, seed: int = 3) -> synthetic.Dataset:
    data = synthetic.generate(clinics=2, sessions=sessions, seed=seed)
    load_reference(c.settings(), data, c.producer)
    return data


def send_sessions(
    c: Cluster,
    data: synthetic.Dataset,
    start: int = 0,
    stop: int | None = None,
    twice: bool = False,
) -> None:
    for key, value in data.sessions[start:stop]:
        for _ in range(2 if twice else 1):
            c.producer.send(c.topic("sessions.completed"), key=key.encode(), value=value)
    c.producer.flush()


def send_late_prescriptions(c: Cluster, data: synthetic.Dataset) -> None:
    import json

    for r in data.late_prescriptions:
        c.producer.send(
            c.topic("ref.prescriptions"),
            key=f"{r['clinic_id']}:{r['prescription_id']}".encode(),
            value=json.dumps(r).encode(),
        )
    c.producer.flush()


def wait_settled(
    c: Cluster, received: int, timeout: float = 240.0, workers: list | None = None
) -> Accounting:
    """Until every received session has its one outcome (and its claim, if billed)."""
    reader = Reader(c.settings())
    deadline = time.monotonic() + timeout
    stable = None
    try:
        while True:
            reader.poll()
            acc = account(reader.data)
            done = acc.sessions["received"] >= received and acc.pending == 0
            if done:
                stable = stable or time.monotonic()
                if time.monotonic() - stable > 3:
                    return acc
            else:
                stable = None
            if time.monotonic() > deadline:
                tails = "\n".join(w.tail(15) for w in (workers or []))
                stuck = where_pending(c, reader, acc)
                raise AssertionError(f"not settled in {timeout}s: {acc.sessions}\n{stuck}\n{tails}")
            time.sleep(0.5)
    finally:
        reader.close()


def where_pending(c: Cluster, reader: Reader, acc: Accounting) -> str:
    """For each pending session: how far it got (a diagnosis for a timeout, no PHI: keys only)."""
    import json

    data = reader.data
    enriched = {
        v["session_key"]: v
        for v in data.values("sessions.enriched")
        if v.get("event_type") == "session.enriched"
    }
    billable: dict[str, int] = {}
    stream = kafka_clients.reader(c.settings())
    try:
        from kafka import TopicPartition

        topic = c.topic("charges.billable")
        tps = [TopicPartition(topic, n) for n in sorted(stream.partitions_for_topic(topic) or ())]
        stream.assign(tps)
        stream.seek_to_beginning(*tps)
        end = time.monotonic() + 5
        while time.monotonic() < end:
            batch = stream.poll(timeout_ms=500)
            for records in batch.values():
                for r in records:
                    try:
                        key = json.loads(r.value).get("session_key", "?")
                    except ValueError:
                        key = "?"
                    billable[key] = billable.get(key, 0) + 1
            if not batch and billable:
                break
    finally:
        stream.close()
    rows = []
    for partition, offset, _k, value, _h in data.messages.get("sessions.completed", []):
        ref = f"sessions.completed:{partition}:{offset}"
        if acc.per_message.get(ref) != "pending" or value is None:
            continue
        key = f"{value.get('clinic_id')}:{value.get('session_id')}"
        e = enriched.get(key)
        rows.append(
            f"  pending {ref} {key} date={value.get('date_of_service')} "
            f"enriched={'no' if e is None else ('payer' if e.get('billed_to_payer') else 'self')} "
            f"billable_messages={billable.get(key, 0)}"
        )
    return "\n".join(rows) or "  (no pending session found)"


def assert_every_session_once(acc: Accounting, received: int) -> None:
    s = acc.sessions
    finals = ("billed", "self_pay", "cancelled", "held", "rejected", "dead_lettered")
    assert s["received"] == received, s
    assert s["pending"] == 0, s
    assert s["duplicates"] + sum(s[k] for k in finals) == s["received"], s
    assert not acc.problems, acc.problems


def claim_lines_in_files(outbox: Path) -> Counter[tuple[str, str]]:
    """(CLM01, procedure + line control number) of every original claim line released."""
    lines: Counter[tuple[str, str]] = Counter()
    for path in claim_files(outbox):
        for claim in read_837p(path.read_bytes()):
            if claim.frequency != "1":
                continue
            for line in claim.lines:
                lines[
                    (claim.patient_control_number, f"{line.procedure}/{line.line_control_number}")
                ] += 1
    return lines


def assert_no_line_twice(c: Cluster, acc: Accounting) -> None:
    lines = claim_lines_in_files(c.state_dir / "outbox")
    twice = [k for k, n in lines.items() if n > 1]
    assert not twice, f"claim lines released twice: {twice[:5]}"
    assert len({pcn for pcn, _ in lines}) == acc.claims["count"], (
        "every submitted claim is in exactly one file"
    )
    # and no interchange control number (ISA13) is used twice for a receiver
    used: Counter[tuple[str, str]] = Counter()
    for path in claim_files(c.state_dir / "outbox"):
        isa = path.read_bytes()[:106].decode("ascii")
        used[(path.parent.name, isa.split(isa[3])[13])] += 1
    reused = [k for k, n in used.items() if n > 1]
    assert used and not reused, f"interchange control numbers used twice: {reused[:5]}"
