"""Helpers for tests on the real broker: workers as processes, topic readers, producers.

Nothing here fakes Kafka.  Waiting is always on a condition with a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def succeeded(result: subprocess.CompletedProcess[str]) -> str:
    """The stdout of a CLI run that must have succeeded (else its stderr in the failure)."""
    assert result.returncode == 0, result.stderr
    return result.stdout


def unique_prefix(tag: str = "t") -> str:
    return f"{tag}{uuid.uuid4().hex[:10]}."


@dataclass
class Msg:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]

    @property
    def json(self) -> Any:
        assert self.value is not None
        return json.loads(self.value)

    def header(self, name: str) -> str | None:
        v = self.headers.get(name)
        return None if v is None else v.decode()


class Cluster:
    """A test's view of the broker: its own topic prefix, producers and readers."""

    def __init__(self, bootstrap: str, prefix: str, state_dir: Path) -> None:
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.state_dir = state_dir
        self._producer: KafkaProducer | None = None
        self.workers: list[WorkerProcess] = []

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMS_")}
        env.update(
            CLAIMS_KAFKA_BOOTSTRAP_SERVERS=self.bootstrap,
            CLAIMS_TOPIC_PREFIX=self.prefix,
            CLAIMS_STATE_DIR=str(self.state_dir),
            # every file a worker writes stays in the test's own directory
            CLAIMS_OUTBOX_DIR=str(self.state_dir / "outbox"),
            CLAIMS_INBOX_DIR=str(self.state_dir / "inbox"),
            CLAIMS_LOG_FORMAT="json",
            CLAIMS_COMMIT_INTERVAL_S="0.5",
            CLAIMS_RETRY_BACKOFF_S="0.05",
            CLAIMS_CONSUMER_SESSION_TIMEOUT_S="6",
            CLAIMS_CONSUMER_REBALANCE_TIMEOUT_S="10",
            # a day's claim leaves when its day ends (test sessions are days old)
            CLAIMS_CLAIMS_DAY_GRACE_H="0",
        )
        env.update(extra)
        return env

    def cli(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """Run ``claims ARGS`` against this cluster (its prefix, broker and state)."""
        return subprocess.run(
            [sys.executable, "-m", "workers.cli", *args],
            cwd=REPO,
            env=self.env(**env),
            capture_output=True,
            text=True,
            check=False,
        )

    def settings(self, **over: Any) -> Any:
        from workers.runtime.settings import Settings

        return Settings(
            kafka_bootstrap_servers=self.bootstrap,
            topic_prefix=self.prefix,
            state_dir=self.state_dir,
            **{"claims_day_grace_h": 0, **over},
        )

    def topic(self, name: str) -> str:
        return self.prefix + name

    @property
    def producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = KafkaProducer(
                bootstrap_servers=self.bootstrap, acks="all", linger_ms=2
            )
        return self._producer

    def produce(
        self,
        name: str,
        key: str | bytes | None,
        value: Any,
        headers: Iterable[tuple[str, bytes]] = (),
        partition: int | None = None,
    ) -> None:
        k = key.encode() if isinstance(key, str) else key
        v = value if value is None or isinstance(value, bytes) else json.dumps(value).encode()
        self.producer.send(
            self.topic(name), key=k, value=v, headers=list(headers), partition=partition
        )
        self.producer.flush()

    def read(self, name: str) -> TopicReader:
        return TopicReader(self.bootstrap, self.topic(name))

    def start_worker(self, *names: str, **env: str) -> WorkerProcess:
        w = WorkerProcess(self, list(names), env)
        w.start()
        self.workers.append(w)
        return w

    def close(self) -> None:
        for w in self.workers:
            w.stop()
        if self._producer is not None:
            self._producer.close()


class TopicReader:
    """Reads a topic from the beginning (all partitions) and waits for messages."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            group_id=None,
            consumer_timeout_ms=200,
        )
        parts = None
        deadline = time.monotonic() + 30
        while not parts and time.monotonic() < deadline:
            parts = self.consumer.partitions_for_topic(topic)
            if not parts:
                time.sleep(0.2)
        assert parts, f"topic {topic} does not exist"
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        self.consumer.assign(tps)
        self.consumer.seek_to_beginning(*tps)
        self.messages: list[Msg] = []

    def poll(self) -> list[Msg]:
        batch = self.consumer.poll(timeout_ms=200)
        new = []
        for records in batch.values():
            for r in records:
                new.append(
                    Msg(
                        r.topic,
                        r.partition,
                        r.offset,
                        r.key,
                        r.value,
                        dict(r.headers or []),
                    )
                )
        self.messages.extend(new)
        return new

    def wait_for(
        self,
        count: int = 1,
        where: Callable[[Msg], bool] = lambda m: True,
        timeout: float = 60.0,
        worker: WorkerProcess | None = None,
    ) -> list[Msg]:
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            found = [m for m in self.messages if where(m)]
            if len(found) >= count:
                return found
            if worker is not None and worker.proc is not None and worker.proc.poll() is not None:
                raise AssertionError(
                    f"worker exited with {worker.proc.returncode}; log tail:\n{worker.tail()}"
                )
            if time.monotonic() > deadline:
                tail = worker.tail() if worker else ""
                raise AssertionError(
                    f"waited {timeout}s for {count} message(s) on {self.topic}, "
                    f"got {len(found)} matching of {len(self.messages)}\n{tail}"
                )

    def settle(self, quiet: float = 2.0, timeout: float = 30.0) -> list[Msg]:
        """Read until nothing new arrived for ``quiet`` seconds (to prove absence)."""
        deadline = time.monotonic() + timeout
        last = time.monotonic()
        while time.monotonic() < deadline:
            if self.poll():
                last = time.monotonic()
            elif time.monotonic() - last >= quiet:
                break
        return self.messages

    def close(self) -> None:
        self.consumer.close()


class WorkerProcess:
    """``claims worker NAME...`` as a real process with its own log file."""

    def __init__(self, cluster: Cluster, names: list[str], env: dict[str, str]) -> None:
        self.cluster = cluster
        self.names = names
        self.extra_env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = cluster.state_dir / f"worker-{'-'.join(names)}-{uuid.uuid4().hex[:6]}.log"

    def start(self) -> None:
        env = self.cluster.env(**{"CLAIMS_WEB_PORT": str(free_port()), **self.extra_env})
        self.log = open(self.log_path, "wb")  # noqa: SIM115 -- the worker's stdout while it runs; stop() and kill() close it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "worker", *self.names],
            cwd=REPO,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            self.log.close()

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()

    def log_events(self) -> list[dict[str, Any]]:
        events = []
        for line in self.log_lines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return events

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_lines()[-n:])
        except OSError:
            return ""

    def wait_log(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 60.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for ev in self.log_events():
                if predicate(ev):
                    return ev
            if self.proc is not None and self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"log condition not met in {timeout}s; tail:\n{self.tail()}")
