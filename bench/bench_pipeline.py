"""Pipeline throughput on the broker: sessions/s from sessions.completed to claims.submitted.

    .venv/bin/python bench/bench_pipeline.py             # 4,000 sessions, 3 rounds, stages alone
    .venv/bin/python bench/bench_pipeline.py --quick     # 300 sessions, 1 round, no stage runs
    .venv/bin/python bench/bench_pipeline.py --layout split --rounds 2
    .venv/bin/python bench/bench_pipeline.py --no-stages --only baseline off --ceiling

Needs the Kafka broker, found like ``bench_worker_memory.py`` does (``--bootstrap``,
``CLAIMS_KAFKA_BOOTSTRAP_SERVERS``, else ``claims broker start``: a running project
broker is reused and left running, one this script started is stopped at the end).

What runs, each time under a fresh topic prefix (``benchpipe<random>-<run>.``) whose
topics and consumer groups are deleted right after the run:

* **the pipeline**: the enrich, units and claims processors as ``claims worker
  enrich units claims`` (one process; ``--layout split``: one process each), with
  the validation gate on (``CLAIMS_CLAIMS_VALIDATE=true``, its pyx12 pool process
  included) and off.  Reference data (``workers.demo.synthetic``, loaded with
  ``workers.demo.run.load_reference``) is consumed first by the same workers, which
  are then stopped; the sessions are produced onto ``sessions.completed`` and the
  workers started again (tables recovered from their changelogs), so the timed
  part is the sessions alone;
* **the baseline**: ``bench/_passthrough.py``, a faust app with the same options,
  the same three consumer hops over the same topics and partition counts, whose
  agents forward each message unchanged, one ``send`` per message.

The runs alternate (baseline, gate off, gate on, baseline, ...; ``--rounds``), so
both see the same machine.  A run ends when every input is processed and every
claim released, judged from the broker (each worker's committed offsets reach the
end of its inputs; the claims worker's ``/claims/status`` counters show no claim
pending) with a timeout -- never after a fixed sleep.  Its figures come from the
timestamps the producers put on the messages: *end to end* is from the first
message the pipeline wrote to the last ``claims.submitted``, so worker start-up
is not counted; sessions/s = messages on ``sessions.completed`` / that time.

**Topology ceiling** (``--ceiling``): after each gate-off run, the pass-through
again, shaped like that run (``_passthrough.py --shape``, the shape from
:func:`shape_of`): no work on a message, but the same topics written per input,
as many messages of the same mean size, state through faust tables, as many
agents on each input.  Its ratio to the baseline bounds what the pipeline can
reach while it writes what it writes.

**Stages alone** (not with ``--quick`` or ``--no-stages``): with the input of one
stage preloaded, that stage runs by itself (``claims worker enrich``, then
``units`` on what enrich wrote, then ``claims``, gate off, then gate on under a
new prefix holding a copy of ``charges.billable``), and the baseline's hops the
same way; a stage's rate = its input messages / (its last output - its first
write).

The synthetic sessions include the demo's awkward cases (malformed events,
re-sent sessions, a conflicting duplicate) except its one cancellation: whether
it withdraws a pending claim or voids one already sent depends on timing, and
so would the number of claims to wait for.  The partners' batch age is set to
``--batch-age`` (1 s; the demo uses 2 s, production minutes) with the claims
tick at ``--tick`` (0.25 s), so the last batches do not wait long; batches still
hold up to 500 claims.

``--rate R`` produces the sessions R a second instead of all at once.  Below the
pipeline's capacity the stages keep up with one another, so the figure of interest
is then CPU per session (what a session costs a pipeline that is not saturated);
sessions/s is the rate.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import _common as common  # noqa: E402 -- importable only after REPO is put on sys.path above
from bench._passthrough import HOPS  # noqa: E402 -- importable only after REPO is put on sys.path above
from bench.bench_worker_memory import Broker, descendants, free_port  # noqa: E402 -- importable only after REPO is put on sys.path above
from workers.engine import PROCESSORS  # noqa: E402 -- importable only after REPO is put on sys.path above
from workers.ops.dashboard import group_id_of  # noqa: E402 -- importable only after REPO is put on sys.path above

NAME = "pipeline"
SESSIONS = 4000
QUICK_SESSIONS = 300
ROUNDS = 3
RUN_TIMEOUT_S = 600.0
GOAL_HALF = 0.5
GOAL_STRETCH = 1.0
PASSTHROUGH = REPO / "bench" / "_passthrough.py"

BASELINE = "baseline"
GATE_OFF = "gate off"
GATE_ON = "gate on"
VARIANTS = (BASELINE, GATE_OFF, GATE_ON)
CLI_VARIANTS = {"baseline": BASELINE, "off": GATE_OFF, "on": GATE_ON}

#: the three stages: what each reads, what it writes (its outputs mark its end;
#: ``first`` topics also mark its start: per-message state changelogs)
STAGES: dict[str, dict[str, Any]] = {
    "enrich": {
        "input": "sessions.completed",
        "outputs": (
            "sessions.enriched",
            "sessions.held",
            "sessions.rejected",
            "sessions.duplicates",
            "sessions.cancelled",
            "sessions.completed.dlq",
        ),
        "first": ("state.enrich.patients",),
    },
    "units": {
        "input": "sessions.enriched",
        "outputs": (
            "charges.billable",
            "charges.self-pay",
            "sessions.rejected",
            "sessions.enriched.dlq",
        ),
        "first": (),
    },
    "claims": {
        "input": "charges.billable",
        "outputs": ("claims.submitted", "edi.outbound", "charges.billable.dlq"),
        "first": ("state.claims.sources", "state.claims.pending"),
    },
}
#: the baseline's hop standing in for each stage
HOP_OF = {"enrich": 1, "units": 2, "claims": 3}
#: ``--ceiling``: what each stage writes per input (its outputs and state topics),
#: measured on the gate-off run and replayed by the shaped pass-through
WRITES: dict[str, tuple[str, ...]] = {
    "enrich": (
        "sessions.enriched",
        "sessions.held",
        "sessions.rejected",
        "sessions.duplicates",
        "sessions.cancelled",
        "prescriptions.attention",
        "state.enrich.patients",
    ),
    "units": ("charges.billable", "charges.self-pay"),
    "claims": (
        "claims.submitted",
        "edi.outbound",
        "documents.issued",
        "state.claims.pending",
        "state.claims.records",
        "state.claims.sources",
        "state.claims.references",
        "state.claims.sequences",
        "state.claims.transmissions",
    ),
}
#: agents reading each stage's input (the claims processor reads in two lanes)
LANES = {"enrich": 1, "units": 1, "claims": 2}
CEILING = "ceiling"
#: what the enrich worker reads besides sessions (consumed before the timed part)
REFERENCE_SOURCES = PROCESSORS["enrich"].sources[1:]
LAYOUTS = {
    "one": [("enrich", "units", "claims")],
    "split": [("enrich",), ("units",), ("claims",)],
}


# --- data ----------------------------------------------------------------------------


@dataclass
class Data:
    sessions: list[tuple[bytes, bytes]]
    reference: Any  # workers.demo.synthetic.Dataset
    dropped_cancellations: int


def make_data(sessions: int, clinics: int, seed: int, batch_age_s: float, today: date) -> Data:
    from workers.demo import synthetic

    dataset = synthetic.generate(clinics=clinics, sessions=sessions, seed=seed, today=today)
    kept, dropped = [], 0
    for key, value in dataset.sessions:
        with contextlib.suppress(ValueError):
            body = json.loads(value)
            if isinstance(body, dict) and body.get("event_type") == "session.cancelled":
                dropped += 1
                continue
        kept.append((key.encode(), value))
    for partner in dataset.partners:
        partner["batch_max_age_s"] = batch_age_s
    return Data(kept, dataset, dropped)


# --- the broker, seen from the benchmark -----------------------------------------------


def connection_env() -> dict[str, str]:
    """The caller's environment without CLAIMS_* settings except the broker connection."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CLAIMS_") or k.startswith("CLAIMS_KAFKA_")
    }


class Kafka:
    """The benchmark's clients: admin (groups, topics), a producer, a consumer for offsets."""

    def __init__(self, settings: Any) -> None:
        from kafka import KafkaConsumer, KafkaProducer

        from workers.runtime.admin import admin_client

        self.settings = settings
        cfg = settings.kafka_python_config()
        self.admin = admin_client(settings)
        self.producer = KafkaProducer(client_id="bench-pipeline", acks="all", linger_ms=5, **cfg)
        self.consumer = KafkaConsumer(
            group_id=None, enable_auto_commit=False, max_partition_fetch_bytes=1 << 20, **cfg
        )

    def close(self) -> None:
        for client in (self.producer, self.consumer, self.admin):
            with contextlib.suppress(Exception):
                client.close()

    def ends(self, tps: Sequence[Any]) -> dict[Any, int]:
        return dict(self.consumer.end_offsets(list(tps))) if tps else {}

    def committed(self, group: str) -> dict[Any, int]:
        try:
            offsets = self.admin.list_group_offsets(group).get(group, {})
        except Exception:  # the group does not exist yet
            return {}
        return {tp: om.offset for tp, om in offsets.items() if om.offset >= 0}

    def caught_up(self, wanted: dict[str, Sequence[Any]]) -> bool:
        """Whether each group (key) has committed the end of every partition given.

        Committed offsets are read before the end offsets: a worker flushes its
        outputs before it commits, so once an input is committed to its end, the
        ends read afterwards include everything it produced.
        """
        committed = {group: self.committed(group) for group in wanted}
        ends = self.ends([tp for tps in wanted.values() for tp in tps])
        return all(
            committed[group].get(tp, 0) >= ends[tp] for group, tps in wanted.items() for tp in tps
        )

    def timestamps(
        self, ranges: dict[Any, tuple[int, int]], timeout_s: float = 30.0
    ) -> tuple[dict[Any, int], dict[Any, int]]:
        """Timestamp of the first and of the last record of each partition's range."""
        firsts = self._at({tp: lo for tp, (lo, _hi) in ranges.items()}, timeout_s)
        lasts = self._at({tp: hi - 1 for tp, (_lo, hi) in ranges.items()}, timeout_s)
        return firsts, lasts

    def _at(self, wanted: dict[Any, int], timeout_s: float) -> dict[Any, int]:
        """Timestamp of the record at ``wanted[tp]``, one partition at a time."""
        found: dict[Any, int] = {}
        consumer = self.consumer
        for tp, offset in wanted.items():
            consumer.assign([tp])
            consumer.seek(tp, offset)
            deadline = time.monotonic() + timeout_s
            while tp not in found and time.monotonic() < deadline:
                for record in consumer.poll(timeout_ms=500, max_records=1).get(tp, []):
                    if record.offset >= offset:
                        found[tp] = int(record.timestamp)
        consumer.assign([])
        return found

    def copy(self, source: Sequence[Any], target_topic: str, timeout_s: float = 120.0) -> int:
        """Copy every record of ``source`` partitions to the same partition of ``target_topic``."""
        ends = self.ends(source)
        consumer = self.consumer
        consumer.assign(list(source))
        consumer.seek_to_beginning(*source)
        copied = 0
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in source):
            if time.monotonic() > deadline:
                raise TimeoutError(f"copying {len(source)} partitions to {target_topic} timed out")
            for tp, records in consumer.poll(timeout_ms=500).items():
                for r in records:
                    self.producer.send(
                        target_topic,
                        key=r.key,
                        value=r.value,
                        headers=list(r.headers or []),
                        partition=tp.partition,
                    )
                    copied += 1
        self.producer.flush()
        consumer.assign([])
        return copied

    def sizes(self, prefix: str) -> dict[str, int]:
        """Bytes on the broker's disk per topic whose name starts with ``prefix``."""
        names = [t for t in self.admin.list_topics() if t.startswith(prefix)]
        out: dict[str, int] = {}
        if not names:
            return out
        for broker in self.admin.describe_log_dirs(topic_partitions=names):
            for log_dir in broker.get("log_dirs", []):
                for topic in log_dir.get("topics", []):
                    size = sum(p["partition_size"] for p in topic["partitions"])
                    name = topic["name"][len(prefix) :]
                    out[name] = out.get(name, 0) + size
        return out

    def delete(self, prefix: str) -> int:
        """Delete the topics and consumer groups whose names start with ``prefix``."""
        from workers.runtime.admin import delete_topics_with_prefix

        with contextlib.suppress(Exception):  # groups of workers that never joined do not exist
            groups = [g for g in (group_id_of(x) for x in self.admin.list_groups()) if g]
            mine = [g for g in groups if g.startswith(prefix)]
            if mine:
                self.admin.delete_groups(mine)
        return delete_topics_with_prefix(self.settings, prefix)


# --- worker processes ---------------------------------------------------------------


CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid``, its live descendants and its reaped children."""
    total = 0.0
    for p in [pid, *descendants(pid)]:
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        total += sum(int(x) for x in fields[11:15]) / CLK_TCK
    return total


@dataclass
class Process:
    label: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    web_port: int
    kind: str = "claims"  # or "passthrough"
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0  # epoch seconds

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.started_at = time.time()

    def check(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(
                f"{self.label} exited with {self.proc.returncode}; log tail:\n{self.tail()}"
            )

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid) if self.proc is not None else 0.0

    def children(self) -> int:
        return len(descendants(self.proc.pid)) if self.proc is not None else 0

    def stop(self, timeout_s: float = 30.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def ready(self) -> bool:
        """A claims worker: ``/claims/ready`` answers 200 (partitions assigned, tables
        recovered, reference data mirrored); the pass-through: faust logged ``Worker ready``."""
        if self.kind == "passthrough":
            try:
                return "Worker ready" in self.log_path.read_text(errors="replace")
            except OSError:
                return False
        url = f"http://127.0.0.1:{self.web_port}/claims/ready"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return bool(response.status == 200)
        except OSError:  # not listening yet, or 503 (HTTPError is an OSError)
            return False

    def status(self) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.web_port}/claims/status"
        with urllib.request.urlopen(url, timeout=5) as response:
            return dict(json.loads(response.read()))


def broker_pid(bin_dir: Path, env: dict[str, str], bootstrap: str) -> int | None:
    """The pid of the project's local broker when it is the one at ``bootstrap``."""
    done = subprocess.run(
        [str(bin_dir / "claims"), "broker", "status"],
        capture_output=True,
        text=True,
        env=env or None,
        cwd=REPO,
        check=False,
    )
    if f"{bootstrap} answers" not in done.stdout:
        return None
    for line in done.stdout.splitlines():
        if line.strip().startswith("pid:"):
            with contextlib.suppress(ValueError):
                return int(line.split(":", 1)[1])
    return None


def claims_pending(status: dict[str, Any]) -> int:
    """Pending entries the claims processor holds in batches (accepted, not yet released
    or refused): ``claim-pending`` counts entries, and a day's claim may take several
    (``entries-released``); refusals count claims, one entry each in this data."""
    outcomes = {o["outcome"]: o["count"] for o in status["outcomes"] if o["processor"] == "claims"}
    refused = sum(
        d["count"]
        for d in status["dead_letters"]
        if d["processor"] == "claims" and d["reason"] in ("render-failed", "validation-failed")
    )
    return int(outcomes.get("claim-pending", 0) - outcomes.get("entries-released", 0) - refused)


def wait_for(
    condition: Callable[[], bool],
    processes: Sequence[Process],
    timeout_s: float,
    what: str,
    every: Callable[[], None] | None = None,
) -> None:
    """Poll ``condition`` until it holds; fail when a process exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        if every is not None:
            every()
        if condition():
            return
        for p in processes:
            p.check()
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p.label}\n{p.tail()}" for p in processes)
            raise TimeoutError(f"{what}: not done within {timeout_s:.0f} s\n{tails}")
        time.sleep(0.2)


# --- one run ---------------------------------------------------------------------------


@dataclass
class Run:
    """One measured run: a variant, its processes, what they wrote and when."""

    variant: str
    round: int
    layout: str
    messages: int = 0
    processes: int = 0
    pool_processes: int = 0
    partitions: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, int] = field(default_factory=dict)
    first_ms: dict[str, int] = field(default_factory=dict)
    last_ms: dict[str, int] = field(default_factory=dict)
    started_at: float = 0.0
    cpu_s: float = 0.0
    broker_cpu_s: float | None = None
    bytes_written: dict[str, int] = field(default_factory=dict)
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    end_to_end_s: float = 0.0
    rate: float = 0.0
    startup_s: float = 0.0
    ready_s: float = 0.0
    produce_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "round": self.round,
            "layout": self.layout,
            "messages": self.messages,
            "worker_processes": self.processes,
            "gate_pool_processes": self.pool_processes,
            "partitions_written": self.partitions,
            "outputs": self.outputs,
            "end_to_end_s": self.end_to_end_s,
            "sessions_per_s": self.rate,
            "stages": self.stages,
            "startup_to_first_output_s": self.startup_s,
            "startup_to_ready_s": self.ready_s,
            "produce_input_s": self.produce_s,
            "worker_cpu_s": self.cpu_s,
            "worker_cpu_ms_per_session": 1000 * self.cpu_s / self.messages if self.messages else 0,
            "broker_cpu_s": self.broker_cpu_s,
            "bytes_written": self.bytes_written,
            "kb_written_per_session": sum(self.bytes_written.values()) / 1024 / self.messages
            if self.messages
            else 0,
            "messages_written_per_session": self.messages_written() / self.messages
            if self.messages
            else 0,
        }

    def messages_written(self) -> int:
        """Every message the run's processes wrote: outputs, dead letters, work queues
        and table changelogs (not the input they were given)."""
        return sum(n for name, n in self.outputs.items() if name != "sessions.completed")


class Bench:
    def __init__(self, args: argparse.Namespace, bootstrap: str, tmp: Path, base: str) -> None:
        from kafka import TopicPartition

        from workers.runtime.settings import Settings
        from workers.runtime.topics import Catalogue

        self.args = args
        self.bootstrap = bootstrap
        self.tmp = tmp
        self.base = base  # every prefix of this invocation starts with it
        self.TopicPartition = TopicPartition
        self.settings = Settings(
            kafka_bootstrap_servers=bootstrap,
            topic_prefix=base,
            topic_partitions=args.partitions,
        )
        self.catalogue = Catalogue(self.settings)
        self.kafka = Kafka(self.settings)
        self.counter = 0
        self.logs = 0
        self.broker_pid: int | None = None

    def close(self) -> None:
        self.kafka.close()

    # --- naming -----------------------------------------------------------------
    def new_prefix(self, tag: str) -> str:
        self.counter += 1
        return f"{self.base}-{self.counter}{tag}."

    def tps(self, prefix: str, names: Iterable[str]) -> list[Any]:
        return [
            self.TopicPartition(prefix + name, p)
            for name in names
            for p in range(self.catalogue.partitions(name))
        ]

    def settings_for(self, prefix: str) -> Any:
        return self.settings.model_copy(update={"topic_prefix": prefix})

    def env(self, prefix: str, **extra: str) -> dict[str, str]:
        run_dir = self.tmp / prefix.rstrip(".")
        env = connection_env()
        env.update(
            CLAIMS_KAFKA_BOOTSTRAP_SERVERS=self.bootstrap,
            CLAIMS_TOPIC_PREFIX=prefix,
            CLAIMS_TOPIC_PARTITIONS=str(self.args.partitions),
            CLAIMS_STATE_DIR=str(run_dir / "state"),
            CLAIMS_OUTBOX_DIR=str(run_dir / "outbox"),
            CLAIMS_INBOX_DIR=str(run_dir / "inbox"),
            CLAIMS_LOG_FORMAT="json",
            CLAIMS_CLAIMS_TICK_INTERVAL_S=str(self.args.tick),
            # the synthetic days of service are at least two days old: each day's claim
            # leaves once the clinic's day has ended, as in the demo (by default a day
            # stays open 72 h for late visits, and the run never saw its last claims)
            CLAIMS_CLAIMS_DAY_GRACE_H="0",
        )
        env.update(extra)
        return env

    # --- processes --------------------------------------------------------------
    def worker(
        self, prefix: str, names: Sequence[str], validate: bool, label: str, profile: bool = False
    ) -> Process:
        port = free_port()
        env = self.env(
            prefix,
            CLAIMS_WEB_PORT=str(port),
            CLAIMS_CLAIMS_VALIDATE="true" if validate else "false",
        )
        argv = [sys.executable, "-m", "workers.cli", "worker", *names]
        if profile and self.args.profile:
            out = Path(self.args.profile) / f"{prefix.rstrip('.')}-{'_'.join(names)}.prof"
            argv = [sys.executable, "-m", "cProfile", "-o", str(out), *argv[1:]]
        return Process(label, argv, env, self.log_path(prefix, "_".join(names)), port)

    def passthrough(
        self, prefix: str, hops: Sequence[int], label: str, shape: Path | None = None
    ) -> Process:
        port = free_port()
        env = self.env(prefix, CLAIMS_WEB_PORT=str(port))
        argv = [sys.executable, str(PASSTHROUGH), *map(str, hops)]
        if shape is not None:
            argv[2:2] = ["--shape", str(shape)]
        log = self.log_path(prefix, "passthrough-" + "".join(map(str, hops)))
        return Process(label, argv, env, log, port, kind="passthrough")

    def log_path(self, prefix: str, what: str) -> Path:
        self.logs += 1
        return self.tmp / f"{prefix.rstrip('.')}-{what}-{self.logs}.log"

    def group(self, prefix: str, worker_name: str) -> str:
        return self.settings_for(prefix).group_id(worker_name)

    # --- topics and data --------------------------------------------------------
    def create_topics(self, prefix: str, only: Sequence[str] | None = None) -> None:
        from workers.runtime.admin import ensure_topics

        reports = ensure_topics(self.settings_for(prefix), only=only, admin=self.kafka.admin)
        bad = [r for r in reports if r.status == "mismatch"]
        if bad:
            raise RuntimeError(f"topics do not match the catalogue: {bad}")

    def load_reference(self, prefix: str, data: Data) -> None:
        from workers.demo.run import load_reference

        load_reference(self.settings_for(prefix), data.reference, self.kafka.producer)

    def produce_sessions(self, prefix: str, data: Data) -> None:
        """All the sessions at once, or ``--rate`` a second (each at its due time)."""
        topic = prefix + "sessions.completed"
        rate = getattr(self.args, "rate", None)
        start = time.monotonic()
        for n, (key, value) in enumerate(data.sessions):
            if rate:
                pause = start + n / rate - time.monotonic()
                if pause > 0:
                    time.sleep(pause)  # pacing the input, not waiting on a result
            self.kafka.producer.send(topic, key=key, value=value)
        self.kafka.producer.flush()

    def cleanup(self, prefix: str) -> None:
        try:
            self.kafka.delete(prefix)
        except Exception as exc:  # report, never hide the benchmark's own result
            print(f"could not delete the topics of {prefix}: {exc}")
        shutil.rmtree(self.tmp / prefix.rstrip("."), ignore_errors=True)

    # --- measuring --------------------------------------------------------------
    def watched(self, prefix: str, baseline: bool, existing: Iterable[str] = ()) -> list[Any]:
        """The partitions whose new records a run reads (the baseline has the hop topics
        only; a pipeline run every topic of its prefix, ``existing``, so the messages it
        writes per session count them all: dead letters, work queues, every table)."""
        if baseline:
            return self.tps(prefix, _hop_topics())
        names = {n for s in STAGES.values() for n in (*s["outputs"], *s["first"], s["input"])}
        names |= {n for written in WRITES.values() for n in written}
        found = self.tps(prefix, sorted(names))
        for name in sorted(set(existing) - names):  # as the broker has them
            parts = self.kafka.consumer.partitions_for_topic(prefix + name) or set()
            found += [self.TopicPartition(prefix + name, p) for p in sorted(parts)]
        return found

    def measure(
        self,
        run: Run,
        prefix: str,
        processes: list[Process],
        done: Callable[[], bool],
        first_topics: Sequence[str],
        stage_names: Sequence[str],
        baseline: bool,
        produce: Callable[[], None] | None = None,
    ) -> Run:
        """Start ``processes``, wait for ``done``, stop them and read what they wrote.

        With ``produce``, the input is produced once every process is ready (see
        :meth:`Process.ready`), not before they start.
        """
        sizes_before = self.kafka.sizes(prefix)
        watched = self.watched(prefix, baseline, sizes_before)
        before = self.kafka.ends(watched)
        first_tps = self.tps(prefix, first_topics)
        cpu_at_first: list[float] = []
        broker_at_first: list[float] = []

        def sample_first_output() -> None:
            if cpu_at_first:
                return
            ends = self.kafka.ends(first_tps)
            if any(ends[tp] > before[tp] for tp in first_tps):
                cpu_at_first.append(sum(p.cpu() for p in processes))
                if self.broker_pid:
                    broker_at_first.append(cpu_seconds(self.broker_pid))

        pacer: threading.Thread | None = None
        for p in processes:
            p.start()
        try:
            if produce is not None:
                wait_for(
                    lambda: all(p.ready() for p in processes),
                    processes,
                    self.args.timeout,
                    f"{run.variant}: waiting for the workers to be ready",
                )
                run.ready_s = time.time() - min(p.started_at for p in processes)
                produce_start = time.perf_counter()
                if getattr(self.args, "rate", None):
                    # paced: produced beside the wait, so the first output (and the CPU
                    # then) is sampled as it happens, not once the last session is sent
                    pacer = threading.Thread(target=produce, name="paced-input", daemon=True)
                    pacer.start()
                else:
                    produce()
                    run.produce_s = time.perf_counter() - produce_start
            wait_for(done, processes, self.args.timeout, run.variant, sample_first_output)
            if pacer is not None:
                pacer.join()
                run.produce_s = time.perf_counter() - produce_start
            cpu_end = sum(p.cpu() for p in processes)
            if self.broker_pid and broker_at_first:
                run.broker_cpu_s = cpu_seconds(self.broker_pid) - broker_at_first[0]
            run.pool_processes = sum(p.children() for p in processes)
        finally:
            for p in processes:
                p.stop()
        run.started_at = min(p.started_at for p in processes)
        run.processes = len(processes)
        run.cpu_s = cpu_end - (cpu_at_first[0] if cpu_at_first else 0.0)
        sizes_after = self.kafka.sizes(prefix)
        run.bytes_written = {
            name: size - sizes_before.get(name, 0)
            for name, size in sorted(sizes_after.items(), key=lambda kv: -kv[1])
            if size > sizes_before.get(name, 0)
        }
        after = self.kafka.ends(watched)
        ranges = {tp: (before[tp], after[tp]) for tp in watched if after[tp] > before[tp]}
        firsts, lasts = self.kafka.timestamps(ranges)
        for tp, (lo, hi) in ranges.items():
            name = tp.topic[len(prefix) :]
            run.outputs[name] = run.outputs.get(name, 0) + hi - lo
            run.partitions[name] = run.partitions.get(name, 0) + 1
            if tp in firsts:
                run.first_ms[name] = min(run.first_ms.get(name, firsts[tp]), firsts[tp])
            if tp in lasts:
                run.last_ms[name] = max(run.last_ms.get(name, lasts[tp]), lasts[tp])
        self.figures(run, stage_names, baseline)
        return run

    def figures(self, run: Run, stage_names: Sequence[str], baseline: bool) -> None:
        """Per-stage spans and rates, and end to end, from the first/last timestamps."""
        starts, ends = [], []
        for stage in stage_names:
            spec = STAGES[stage]
            if baseline:
                source, destination = HOPS[HOP_OF[stage]]
                first_names, last_names = (destination,), (destination,)
            else:
                source = spec["input"]
                first_names = (*spec["outputs"], *spec["first"])
                last_names = spec["outputs"]
            if len(stage_names) == 1 or source == "sessions.completed":
                count = run.messages  # the preloaded input
            else:
                count = run.outputs.get(source, 0)  # what the stage before wrote in this run
            first = [run.first_ms[n] for n in first_names if n in run.first_ms]
            last = [run.last_ms[n] for n in last_names if n in run.last_ms]
            if not first or not last:
                continue
            span = max(max(last) - min(first), 1) / 1000
            run.stages[stage] = {
                "input_messages": count,
                "span_s": span,
                "messages_per_s": count / span,
                "first_write_ms": min(first),
                "last_output_ms": max(last),
            }
            starts.append(min(first))
            ends.append(max(last))
        if starts and ends:
            run.end_to_end_s = max(max(ends) - min(starts), 1) / 1000
            run.rate = run.messages / run.end_to_end_s
            run.startup_s = min(starts) / 1000 - run.started_at

    # --- the runs ---------------------------------------------------------------
    def consume_reference(self, prefix: str, names: Sequence[str], validate: bool) -> None:
        """Let the worker that runs enrich consume the reference data, then stop it.

        The timed run then starts with the patients' state recovered from its
        changelog, as after any restart, and processes sessions only.
        """
        warm = self.worker(prefix, names, validate, "reference")
        wanted = {self.group(prefix, _worker_name(names)): self.tps(prefix, REFERENCE_SOURCES)}
        warm.start()
        try:
            wait_for(
                lambda: self.kafka.caught_up(wanted),
                [warm],
                self.args.timeout,
                "consuming the reference data",
            )
        finally:
            warm.stop()

    def pipeline_run(self, data: Data, validate: bool, round_no: int) -> Run:
        variant = GATE_ON if validate else GATE_OFF
        prefix = self.new_prefix("on" if validate else "off")
        layout = LAYOUTS[self.args.layout]
        run = Run(variant, round_no, self.args.layout, messages=len(data.sessions))
        try:
            self.create_topics(prefix)
            self.load_reference(prefix, data)
            enrich_names = next(g for g in layout if "enrich" in g)
            self.consume_reference(prefix, enrich_names, validate)
            processes = [
                self.worker(prefix, names, validate, f"{variant} {'+'.join(names)}", profile=True)
                for names in layout
            ]
            by_stage = {s: p for names, p in zip(layout, processes, strict=True) for s in names}
            wanted = {}
            for stage in STAGES:
                group = self.group(prefix, _worker_name(next(g for g in layout if stage in g)))
                wanted.setdefault(group, []).extend(self.tps(prefix, [STAGES[stage]["input"]]))

            def done() -> bool:
                return (
                    self.kafka.caught_up(wanted)
                    and claims_pending(by_stage["claims"].status()) <= 0
                )

            return self.measure(
                run,
                prefix,
                processes,
                done,
                STAGES["enrich"]["outputs"],
                list(STAGES),
                False,
                produce=lambda: self.produce_sessions(prefix, data),
            )
        finally:
            self.cleanup(prefix)

    def ceiling_run(self, data: Data, real: Run, round_no: int) -> Run:
        """The pass-through shaped like ``real`` (see ``_passthrough.py --shape``)."""
        return self._forwarding_run(data, round_no, real)

    def baseline_run(self, data: Data, round_no: int) -> Run:
        return self._forwarding_run(data, round_no, None)

    def _forwarding_run(self, data: Data, round_no: int, shaped_like: Run | None) -> Run:
        prefix = self.new_prefix("ceil" if shaped_like else "base")
        hops_layout = [[HOP_OF[s] for s in names] for names in LAYOUTS[self.args.layout]]
        variant = CEILING if shaped_like else BASELINE
        run = Run(variant, round_no, self.args.layout, messages=len(data.sessions))
        shape = None
        if shaped_like is not None:
            shape = self.tmp / f"{prefix.rstrip('.')}-shape.json"
            shape.write_text(json.dumps(shape_of(shaped_like)))
        try:
            self.create_topics(prefix, only=None if shape else _hop_topics())
            processes = [
                self.passthrough(prefix, hops, f"{variant} hops {hops}", shape)
                for hops in hops_layout
            ]
            final = self.tps(prefix, ["claims.submitted"])
            wanted = {
                self.group(prefix, _passthrough_group(hops)): self.tps(
                    prefix, [HOPS[h][0] for h in hops]
                )
                for hops in hops_layout
            }

            def done() -> bool:
                if shape is not None:  # as many outputs as the shape owes: read the groups
                    return self.kafka.caught_up(wanted)
                return sum(self.kafka.ends(final).values()) >= run.messages

            return self.measure(
                run,
                prefix,
                processes,
                done,
                ["sessions.enriched"],
                list(STAGES),
                True,
                produce=lambda: self.produce_sessions(prefix, data),
            )
        finally:
            self.cleanup(prefix)

    def stages_real(self, data: Data) -> dict[str, Run]:
        """Each stage alone with its input preloaded: enrich, units, claims (off, then on)."""
        out: dict[str, Run] = {}
        prefix = self.new_prefix("stages")
        copy_prefix = self.new_prefix("stageson")
        try:
            self.create_topics(prefix)
            self.load_reference(prefix, data)
            self.consume_reference(prefix, ["enrich"], False)
            count = len(data.sessions)
            for stage in STAGES:
                label = f"{stage} alone" + (", gate off" if stage == "claims" else "")
                produce = None
                if stage == "enrich":  # produced once the worker is ready (see measure)
                    produce = lambda: self.produce_sessions(prefix, data)  # noqa: E731 -- a thunk only for the enrich stage, None otherwise
                out[label] = self._stage_alone(prefix, stage, False, count, label, produce)
                count = out[label].outputs.get(
                    {"enrich": "sessions.enriched", "units": "charges.billable"}.get(stage, ""), 0
                )
            # the gate on needs fresh claims state: a copy of charges.billable elsewhere
            self.create_topics(copy_prefix)
            self.load_reference(copy_prefix, data)  # ref.partners is what the claims worker reads
            copied = self.kafka.copy(
                self.tps(prefix, ["charges.billable"]), copy_prefix + "charges.billable"
            )
            out["claims alone, gate on"] = self._stage_alone(
                copy_prefix, "claims", True, copied, "claims alone, gate on"
            )
        finally:
            self.cleanup(prefix)
            self.cleanup(copy_prefix)
        return out

    def _stage_alone(
        self,
        prefix: str,
        stage: str,
        validate: bool,
        count: int,
        label: str,
        produce: Callable[[], None] | None = None,
    ) -> Run:
        run = Run(label, 0, "one", messages=count)
        process = self.worker(prefix, [stage], validate, label, profile=True)
        wanted = {self.group(prefix, stage): self.tps(prefix, [STAGES[stage]["input"]])}

        def done() -> bool:
            if not self.kafka.caught_up(wanted):
                return False
            return stage != "claims" or claims_pending(process.status()) <= 0

        return self.measure(
            run, prefix, [process], done, STAGES[stage]["outputs"], [stage], False, produce
        )

    def stages_baseline(self, data: Data) -> dict[str, Run]:
        out: dict[str, Run] = {}
        prefix = self.new_prefix("hops")
        try:
            self.create_topics(prefix, only=_hop_topics())
            for stage, hop in HOP_OF.items():
                label = f"hop {hop} alone"
                destination = self.tps(prefix, [HOPS[hop][1]])
                run = Run(label, 0, "one", messages=len(data.sessions))
                process = self.passthrough(prefix, [hop], label)

                def done(destination: list[Any] = destination, run: Run = run) -> bool:
                    return sum(self.kafka.ends(destination).values()) >= run.messages

                produce = (lambda: self.produce_sessions(prefix, data)) if hop == 1 else None
                out[label] = self.measure(
                    run, prefix, [process], done, [HOPS[hop][1]], [stage], True, produce
                )
        finally:
            self.cleanup(prefix)
        return out


def _worker_name(names: Sequence[str]) -> str:
    """The mode name ``build_app`` gives a worker of these processors."""
    return "_".join(names)


def _passthrough_group(hops: Sequence[int]) -> str:
    from bench._passthrough import group_name

    return group_name(list(hops))


def shape_of(real: Run) -> dict[str, dict[str, Any]]:
    """Per hop: messages written per input message and their mean size, per topic,
    as the real run wrote them (state topics marked as tables)."""
    inputs = {
        "enrich": real.messages,
        "units": real.outputs.get("sessions.enriched", 0),
        "claims": real.outputs.get("charges.billable", 0),
    }
    shape: dict[str, dict[str, Any]] = {}
    for stage, written in WRITES.items():
        outputs, tables = [], []
        for name in written:
            count = real.outputs.get(name, 0)
            if not count or not inputs[stage]:
                continue
            entry = [name, count / inputs[stage], real.bytes_written.get(name, 0) // count]
            (tables if name.startswith("state.") else outputs).append(entry)
        shape[str(HOP_OF[stage])] = {"agents": LANES[stage], "outputs": outputs, "tables": tables}
    return shape


def _hop_topics() -> list[str]:
    return sorted({t for hop in HOPS.values() for t in hop})


# --- report ----------------------------------------------------------------------------


def print_writes(runs: Sequence[Run]) -> None:
    """What one run wrote per session, topic by topic: messages and uncompressed KB
    (the goal: at most 6 messages and 10 KB a session)."""
    for run in runs:
        rows = [
            [
                name,
                round(run.outputs.get(name, 0) / run.messages, 2),
                round(run.bytes_written.get(name, 0) / 1024 / run.messages, 2),
            ]
            for name in sorted(
                set(run.outputs) | set(run.bytes_written),
                key=lambda n: -run.bytes_written.get(n, 0),
            )
            if name != "sessions.completed"
        ]
        summary = run.summary()
        rows.append(
            [
                "total",
                round(summary["messages_written_per_session"], 2),
                round(summary["kb_written_per_session"], 2),
            ]
        )
        label = f"{run.variant}, round {run.round}"
        print(f"\nwritten per session ({label}; goal <= 6 messages, <= 10 KB):")
        print(common.table(["topic", "msgs/session", "KB/session"], rows))


def _median(values: Sequence[float]) -> float:
    return common.median(values) if values else 0.0


def report(
    pipeline: list[Run], stages: dict[str, Run], args: argparse.Namespace, data: Data
) -> dict[str, Any]:
    by_variant = {v: [r for r in pipeline if r.variant == v] for v in VARIANTS}
    rounds = sorted({r.round for r in pipeline})
    ratios: dict[str, list[float]] = {GATE_OFF: [], GATE_ON: []}
    for n in rounds:
        base = next((r for r in by_variant[BASELINE] if r.round == n), None)
        for v in (GATE_OFF, GATE_ON):
            run = next((r for r in by_variant[v] if r.round == n), None)
            if base is not None and run is not None and base.rate:
                ratios[v].append(run.rate / base.rate)
    med = {v: _median([r.rate for r in runs]) for v, runs in by_variant.items()}
    ratio = {v: _median(ratios[v]) for v in (GATE_OFF, GATE_ON)}
    layout = LAYOUTS[args.layout]
    print(
        f"\npipeline throughput, {len(data.sessions):,} messages on sessions.completed "
        f"({args.sessions:,} sessions, {args.clinics} clinics, seed {args.seed}); "
        f"{common.machine()['cpus']}-core machine, not pinned; layout {args.layout}: "
        f"{len(layout)} worker process(es) "
        + " + ".join("claims worker " + " ".join(g) for g in layout)
        + f"; {args.partitions} partitions per topic"
    )
    rows = []
    for v in VARIANTS:
        runs = by_variant[v]
        if not runs:
            continue
        stage_rates = {
            s: _median([r.stages[s]["messages_per_s"] for r in runs if s in r.stages])
            for s in STAGES
        }
        rows.append(
            [
                v,
                len(runs),
                med[v],
                "1" if v == BASELINE else f"{ratio[v]:.2f}",
                _median([r.end_to_end_s for r in runs]),
                *[stage_rates[s] for s in STAGES],
                _median([r.summary()["worker_cpu_ms_per_session"] for r in runs]),
                _median([r.startup_s for r in runs]),
                runs[0].processes + runs[0].pool_processes,
            ]
        )
    print(
        common.table(
            [
                "run (median)",
                "n",
                "sessions/s",
                "x baseline",
                "end-to-end s",
                "enrich/s",
                "units/s",
                "claims/s",
                "CPU ms/session",
                "start s",
                "procs",
            ],
            rows,
        )
    )
    print(
        "sessions/s = messages on sessions.completed / (first message written -> last "
        "claims.submitted); stage columns: that stage's input / its first write -> last output "
        "while all run together (baseline: hop 1, 2, 3); x baseline = median of per-round "
        "ratios; CPU = worker processes (with the gate's pool), first output -> done; "
        "start s = process start -> first output (not counted)"
    )
    per_round = [
        [
            r.round,
            r.variant,
            r.rate,
            r.end_to_end_s,
            r.outputs.get("claims.submitted", 0),
            r.outputs.get("edi.outbound", 0),
            r.partitions.get("charges.billable", 0),
            r.cpu_s,
            "-" if r.broker_cpu_s is None else r.broker_cpu_s,
            r.summary()["messages_written_per_session"],
            r.summary()["kb_written_per_session"],
        ]
        for r in pipeline
    ]
    print(
        common.table(
            [
                "round",
                "run",
                "sessions/s",
                "end-to-end s",
                "claims.submitted",
                "837 files",
                "charges partitions",
                "CPU s",
                "broker CPU s",
                "msgs/session",
                "KB/session",
            ],
            per_round,
        )
    )
    print_writes([r for r in pipeline if r.variant == GATE_OFF][-1:])
    if stages:
        rows = []
        for label, r in stages.items():
            stage = next(iter(r.stages), None)
            if stage is None:
                continue
            s = r.stages[stage]
            rows.append(
                [
                    label,
                    s["input_messages"],
                    s["span_s"],
                    s["messages_per_s"],
                    r.summary()["worker_cpu_ms_per_session"],
                    r.processes + r.pool_processes,
                ]
            )
        print("\neach stage alone, its input preloaded (one process each):")
        print(
            common.table(["stage", "input msgs", "seconds", "msgs/s", "CPU ms/msg", "procs"], rows)
        )
        for stage, hop in HOP_OF.items():
            real_labels = [k for k in stages if k.startswith(stage + " alone")]
            base = stages.get(f"hop {hop} alone")
            if base is None or not base.stages:
                continue
            for label in real_labels:
                real = stages[label]
                if real.stages:
                    r_rate = next(iter(real.stages.values()))["messages_per_s"]
                    b_rate = next(iter(base.stages.values()))["messages_per_s"]
                    print(f"  {label}: {r_rate / b_rate:.2f} x hop {hop} alone")
    off_ok = ratio[GATE_OFF] >= GOAL_HALF
    on_half = ratio[GATE_ON] >= GOAL_HALF
    print(
        f"\ngoal gate off >= {GOAL_HALF} x baseline: {ratio[GATE_OFF]:.2f} "
        f"{common.verdict(off_ok)}; gate on (as close as possible): {ratio[GATE_ON]:.2f} "
        f"(>= {GOAL_HALF}: {common.verdict(on_half)}); stretch >= {GOAL_STRETCH}: gate off "
        f"{common.verdict(ratio[GATE_OFF] >= GOAL_STRETCH)}, gate on "
        f"{common.verdict(ratio[GATE_ON] >= GOAL_STRETCH)}"
    )
    return {
        "sessions_per_s": {v: round(med[v], 1) for v in VARIANTS},
        "ratio_to_baseline": {v: round(ratio[v], 3) for v in (GATE_OFF, GATE_ON)},
        "per_round_ratios": {v: [round(x, 3) for x in ratios[v]] for v in ratios},
        "goals": {
            "gate_off_min_ratio": GOAL_HALF,
            "gate_off_met": off_ok,
            "gate_on_half_met": on_half,
            "stretch_ratio": GOAL_STRETCH,
            "stretch_gate_off_met": ratio[GATE_OFF] >= GOAL_STRETCH,
            "stretch_gate_on_met": ratio[GATE_ON] >= GOAL_STRETCH,
        },
    }


# --- main --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 sessions, 1 round, no stages")
    parser.add_argument("--sessions", type=int, help=f"sessions to generate ({SESSIONS:,})")
    parser.add_argument("--clinics", type=int, default=3, help="clinics (3)")
    parser.add_argument("--seed", type=int, default=7, help="data seed (7)")
    parser.add_argument("--rounds", type=int, help=f"baseline/gate off/gate on rounds ({ROUNDS})")
    parser.add_argument("--layout", choices=sorted(LAYOUTS), default="one", help="processes")
    parser.add_argument("--partitions", type=int, default=6, help="partitions per topic (6)")
    parser.add_argument("--batch-age", type=float, default=1.0, help="partners' batch age s (1)")
    parser.add_argument("--tick", type=float, default=0.25, help="claims batch tick s (0.25)")
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="produce the sessions at this many a second instead of all at once: the "
        "workers keep up, so sessions/s is the rate and CPU per session what a session "
        "costs when the pipeline is not saturated",
    )
    parser.add_argument("--no-stages", action="store_true", help="skip the stage-alone runs")
    parser.add_argument(
        "--only", choices=sorted(CLI_VARIANTS), nargs="+", help="run only these variants"
    )
    parser.add_argument("--timeout", type=float, default=RUN_TIMEOUT_S, help="per wait, s")
    parser.add_argument("--profile", metavar="DIR", help="run the timed workers under cProfile")
    parser.add_argument("--bootstrap", help="use this broker (default: claims broker start)")
    parser.add_argument("--private-broker", action="store_true", help="always a private broker")
    parser.add_argument("--bin", type=Path, default=common.VENV_BIN, help="the venv's bin/")
    parser.add_argument("--keep-logs", action="store_true", help="keep the workers' logs")
    parser.add_argument(
        "--ceiling",
        action="store_true",
        help="after each gate-off run, run the pass-through shaped like it (topology ceiling)",
    )
    args = parser.parse_args(argv)
    args.sessions = args.sessions or (QUICK_SESSIONS if args.quick else SESSIONS)
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else ROUNDS)
    with_stages = not (args.quick or args.no_stages)
    variants = [CLI_VARIANTS[v] for v in args.only] if args.only else list(VARIANTS)
    bootstrap = args.bootstrap or os.environ.get("CLAIMS_KAFKA_BOOTSTRAP_SERVERS")
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    today = datetime.now(UTC).date()
    data = make_data(args.sessions, args.clinics, args.seed, args.batch_age, today)
    tmp = Path(tempfile.mkdtemp(prefix="benchpipe"))
    broker = Broker(args.bin, tmp)
    base = f"benchpipe{uuid.uuid4().hex[:8]}"
    pipeline: list[Run] = []
    ceilings: list[Run] = []
    stages: dict[str, Run] = {}
    bench: Bench | None = None
    try:
        broker.open(bootstrap, args.private_broker)
        print(f"broker {broker.bootstrap}: {broker.how}; topic prefixes {base}-*")
        bench = Bench(args, broker.bootstrap, tmp, base)
        bench.broker_pid = broker_pid(args.bin, broker.env, broker.bootstrap)
        for n in range(1, rounds + 1):
            for v in variants:
                if v == BASELINE:
                    run = bench.baseline_run(data, n)
                else:
                    run = bench.pipeline_run(data, v == GATE_ON, n)
                pipeline.append(run)
                print(
                    f"round {n} {v:<8} {run.rate:8,.0f} sessions/s  "
                    f"({run.end_to_end_s:.2f} s end to end, {run.cpu_s:.1f} CPU s)",
                    flush=True,
                )
                if v == GATE_OFF and args.ceiling:
                    ceiling = bench.ceiling_run(data, run, n)
                    ceilings.append(ceiling)
                    print(
                        f"round {n} {CEILING:<8} {ceiling.rate:8,.0f} sessions/s  "
                        f"({ceiling.end_to_end_s:.2f} s end to end, {ceiling.cpu_s:.1f} CPU s)",
                        flush=True,
                    )
        if with_stages:
            stages.update(bench.stages_baseline(data))
            stages.update(bench.stages_real(data))
            for label, run in stages.items():
                rate = next(iter(run.stages.values()), {}).get("messages_per_s", 0)
                print(f"{label:<24} {rate:8,.0f} messages/s", flush=True)
    finally:
        if bench is not None:
            with contextlib.suppress(Exception):
                bench.kafka.delete(base)  # anything a failed run left behind
            bench.close()
        broker.close()
        if args.keep_logs:
            print(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    verdicts = report(pipeline, stages, args, data)
    if ceilings:
        verdicts["ceiling"] = report_ceiling(pipeline, ceilings)
    if args.profile:
        print_profiles(Path(args.profile))
    figures = {
        "machine": common.machine(),
        "broker": broker.how,
        "quick": args.quick,
        "baseline": "faust pass-through, same topics/partitions/options, 3 hops, per message",
        "layout": args.layout,
        "worker_processes": len(LAYOUTS[args.layout]),
        "partitions_per_topic": args.partitions,
        "messages": len(data.sessions),
        "sessions": args.sessions,
        "batch_age_s": args.batch_age,
        "tick_s": args.tick,
        **verdicts,
        "runs": common.rounded([r.summary() for r in pipeline], 4),
        "stages_alone": common.rounded({k: r.summary() for k, r in stages.items()}, 4),
        "seconds": round(time.perf_counter() - start, 1),
    }
    common.emit(NAME, figures)
    return figures


def report_ceiling(pipeline: Sequence[Run], ceilings: Sequence[Run]) -> dict[str, Any]:
    """The topology ceiling against the baseline and the real pipeline of its round."""
    rows = []
    for c in ceilings:
        base = [r for r in pipeline if r.variant == BASELINE and r.round == c.round]
        real = [r for r in pipeline if r.variant == GATE_OFF and r.round == c.round]
        rows.append(
            {
                "round": c.round,
                "sessions_per_s": round(c.rate, 1),
                "x_baseline": round(c.rate / base[0].rate, 3) if base and base[0].rate else None,
                "gate_off_x_ceiling": round(real[0].rate / c.rate, 3) if real and c.rate else None,
                "cpu_ms_per_session": round(1000 * c.cpu_s / c.messages, 3) if c.messages else 0,
                "kb_written_per_session": round(
                    sum(c.bytes_written.values()) / 1024 / c.messages, 2
                )
                if c.messages
                else 0,
            }
        )
    x_base = [r["x_baseline"] for r in rows if r["x_baseline"] is not None]
    x_real = [r["gate_off_x_ceiling"] for r in rows if r["gate_off_x_ceiling"] is not None]
    print(
        "\ntopology ceiling: the pass-through writing what the gate-off run wrote per input "
        "(same topics, counts, sizes, tables, lanes), doing nothing else"
    )
    for r in rows:
        print(
            f"round {r['round']}: {r['sessions_per_s']:,.0f} sessions/s = "
            f"{r['x_baseline']} x baseline; gate off = {r['gate_off_x_ceiling']} x ceiling; "
            f"CPU {r['cpu_ms_per_session']} ms/session; {r['kb_written_per_session']} KB/session"
        )
    summary = {
        "runs": rows,
        "x_baseline_median": round(_median(x_base), 3) if x_base else None,
        "gate_off_x_ceiling_median": round(_median(x_real), 3) if x_real else None,
    }
    print(
        f"median: ceiling {summary['x_baseline_median']} x baseline; "
        f"gate off {summary['gate_off_x_ceiling_median']} x ceiling"
    )
    return summary


def print_profiles(directory: Path, top: int = 25) -> None:
    import pstats

    for path in sorted(directory.glob("*.prof")):
        print(f"\n--- profile {path.name} (top {top} by own time)")
        pstats.Stats(str(path)).sort_stats("tottime").print_stats(top)


if __name__ == "__main__":
    with common.stop_cleanly_on_sigterm():
        main()
