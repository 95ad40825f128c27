"""Steady-state memory (RSS) of each worker process against a bare ``import faust`` process.

    .venv/bin/python bench/bench_worker_memory.py            # enrich, units, claims, reconcile, all
    .venv/bin/python bench/bench_worker_memory.py --quick    # units only, shorter sampling
    .venv/bin/python bench/bench_worker_memory.py --workers enrich all

Needs the Kafka broker.  Which one:

* ``--bootstrap HOST:PORT`` or ``CLAIMS_KAFKA_BOOTSTRAP_SERVERS``: that broker, nothing
  is started;
* otherwise ``claims broker start`` (idempotent: a running project broker is reused
  and left running; one this script started is stopped at the end).  When the
  broker's port is taken by a process the project did not start (say another
  checkout's CI broker) -- or with ``--private-broker`` -- a private broker is
  started the same way with its own home and free ports, and stopped and deleted
  at the end.

Topics are created under a unique prefix (``benchmem<random>.``) with ``claims
topics create`` and deleted at the end (``delete_topics_with_prefix``), with the
benchmark's consumer groups.  Then, one at a time, each worker runs as ``claims
worker NAME`` with JSON logs, its own web port and state/outbox/inbox directories
in a temporary directory; once it has logged ``Worker ready`` its RSS
(``VmRSS`` of ``/proc/<pid>/status``) is sampled every second for ~5 seconds
and the median reported, then it is stopped with SIGTERM.  Children of the
worker (the claims worker's validation gate starts its pyx12 process only when
a file is validated) are added up in ``tree MB``.

Baselines, measured in the same run the same way: ``python -c "import faust, time;
time.sleep(30)"`` (it prints a line once imported, so sampling starts then) --
which loads little, since ``faust`` resolves its attributes lazily -- and the
same touching ``faust.App`` (faust, mode, aiokafka loaded).  Ratios are worker
RSS / baseline RSS.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, TextIO

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import _common as common  # noqa: E402 -- importable only after REPO is put on sys.path above

NAME = "worker_memory"
WORKERS = ("enrich", "units", "claims", "reconcile", "all")
QUICK_WORKERS = ("units",)
BASELINE = "import faust, time; print('imported', flush=True); time.sleep(30)"
#: ``import faust`` alone loads little (faust resolves its attributes lazily):
#: this second baseline touches ``faust.App`` so faust, mode and aiokafka are loaded.
BASELINE_LOADED = "import faust, time; faust.App; print('imported', flush=True); time.sleep(30)"
BASE = "baseline: import faust"
BASE_LOADED = "baseline: faust.App loaded"
READY_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CLAIMS_")}


def _claims(bin_dir: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir / "claims"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=False,
    )


# --- the broker -------------------------------------------------------------------


class Broker:
    """The broker the benchmark uses, and whether it has to stop it."""

    def __init__(self, bin_dir: Path, tmp: Path) -> None:
        self.bin_dir = bin_dir
        self.tmp = tmp
        self.bootstrap = ""
        self.how = ""
        self.env: dict[str, str] = {}
        self.started = False

    def open(self, bootstrap: str | None, private: bool) -> None:
        if bootstrap:
            self.bootstrap, self.how = bootstrap, "given (not started, not stopped)"
            return
        if not private:
            env = {**os.environ}
            done = _claims(self.bin_dir, "broker", "start", env=env)
            if done.returncode == 0:
                self._started(done.stdout, env)
                return
            if "did not start" not in done.stderr:
                raise RuntimeError(f"claims broker start failed:\n{done.stderr[-3000:]}")
            print(
                "the broker port is taken by a process this project did not start: "
                "starting a private broker on free ports"
            )
        home = self.tmp / "broker"
        env = {
            **_clean_env(),
            "CLAIMS_BROKER_HOME": str(home),
            "CLAIMS_BROKER_PORT": str(free_port()),
            "CLAIMS_BROKER_CONTROLLER_PORT": str(free_port()),
        }
        if "CLAIMS_BROKER_JAR_CACHE" in os.environ:
            env["CLAIMS_BROKER_JAR_CACHE"] = os.environ["CLAIMS_BROKER_JAR_CACHE"]
        done = _claims(self.bin_dir, "broker", "start", env=env)
        if done.returncode != 0:
            raise RuntimeError(f"claims broker start (private) failed:\n{done.stderr[-3000:]}")
        self._started(done.stdout, env)
        self.how = "private, " + self.how

    def _started(self, stdout: str, env: dict[str, str]) -> None:
        line = next(ln for ln in stdout.splitlines() if ln.startswith("broker "))
        self.started = line.startswith("broker started")
        self.bootstrap = line.split("bootstrap ", 1)[1].split(",", 1)[0].strip()
        self.env = env
        self.how = (
            "started by this run (stopped at the end)"
            if self.started
            else "already running (reused, left running)"
        )

    def close(self) -> None:
        if self.started:
            done = _claims(self.bin_dir, "broker", "stop", env=self.env)
            print(done.stdout.strip() or done.stderr.strip())
            self.started = False


# --- processes and their memory ---------------------------------------------------


def rss_mb(pid: int) -> float:
    """VmRSS of ``pid`` in MiB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.append(child)
                    todo.append(child)
    return found


def sample(pid: int, seconds: float, interval: float = 1.0) -> dict[str, Any]:
    """RSS of ``pid`` (and of it with its descendants) every ``interval`` for ``seconds``."""
    own, tree = [], []
    end = time.monotonic() + seconds
    while True:
        value = rss_mb(pid)
        own.append(value)
        tree.append(value + sum(rss_mb(child) for child in descendants(pid)))
        if time.monotonic() + interval > end:
            break
        time.sleep(interval)
    return {
        "rss_mb": common.median(own),
        "tree_rss_mb": common.median(tree),
        "samples_mb": own,
        "min_mb": min(own),
        "max_mb": max(own),
    }


def _wait_for(log_path: Path, proc: subprocess.Popen[bytes], needle: str, timeout: float) -> float:
    """Seconds until a JSON log line whose event holds ``needle`` (or a plain line does)."""
    start = time.monotonic()
    seen = 0
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(
                f"the process exited with {proc.returncode} before '{needle}':\n"
                + log_path.read_text(errors="replace")[-3000:]
            )
        text = log_path.read_text(errors="replace")
        for line in text[seen:].splitlines():
            if needle in _event(line):
                return time.monotonic() - start
        seen = text.rfind("\n") + 1
        time.sleep(0.2)
    raise TimeoutError(f"no '{needle}' within {timeout:.0f}s:\n" + log_path.read_text()[-3000:])


def _event(line: str) -> str:
    try:
        record = json.loads(line)
    except ValueError:
        return line
    return str(record.get("event", "")) if isinstance(record, dict) else line


def _stop(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> tuple[int | None, float]:
    start = time.monotonic()
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode, time.monotonic() - start


def run_process(
    argv: list[str], env: dict[str, str], log_path: Path, needle: str, seconds: float
) -> dict[str, Any]:
    """Start ``argv``, wait for ``needle`` in its log, sample its RSS, stop it with SIGTERM."""
    log: TextIO
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            argv, env=env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        ready_s = _wait_for(log_path, proc, needle, READY_TIMEOUT_S)
        measured = sample(proc.pid, seconds)
    finally:
        code, stop_s = _stop(proc)
    measured.update(ready_s=ready_s, exit_code=code, stop_s=stop_s, pid=proc.pid)
    return measured


# --- the benchmark ----------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="units only, 2 s of sampling")
    parser.add_argument("--workers", nargs="+", choices=WORKERS, help="which workers")
    parser.add_argument("--seconds", type=float, help="sampling time per process (default 5)")
    parser.add_argument("--bootstrap", help="use this broker (default: claims broker start)")
    parser.add_argument("--private-broker", action="store_true", help="always a private broker")
    parser.add_argument("--bin", type=Path, default=common.VENV_BIN, help="the venv's bin/")
    parser.add_argument("--keep-logs", action="store_true", help="print where the logs are kept")
    args = parser.parse_args(argv)
    workers = list(args.workers or (QUICK_WORKERS if args.quick else WORKERS))
    seconds = args.seconds or (2.0 if args.quick else 5.0)
    bootstrap = args.bootstrap or os.environ.get("CLAIMS_KAFKA_BOOTSTRAP_SERVERS")
    start = time.perf_counter()

    tmp = Path(tempfile.mkdtemp(prefix="benchmem"))
    broker = Broker(args.bin, tmp)
    prefix = f"benchmem{uuid.uuid4().hex[:8]}."
    results: dict[str, dict[str, Any]] = {}
    topics_deleted = None
    try:
        broker.open(bootstrap, args.private_broker)
        print(f"broker {broker.bootstrap}: {broker.how}; topic prefix {prefix}")
        env = {
            **_clean_env(),
            "CLAIMS_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
            "CLAIMS_TOPIC_PREFIX": prefix,
            "CLAIMS_STATE_DIR": str(tmp / "state"),
            "CLAIMS_OUTBOX_DIR": str(tmp / "outbox"),
            "CLAIMS_INBOX_DIR": str(tmp / "inbox"),
            "CLAIMS_LOG_FORMAT": "json",
        }
        created = _claims(args.bin, "topics", "create", env=env)
        if created.returncode != 0:
            raise RuntimeError(f"claims topics create failed:\n{created.stderr[-3000:]}")
        for label, code in ((BASE, BASELINE), (BASE_LOADED, BASELINE_LOADED)):
            results[label] = run_process(
                [sys.executable, "-c", code], env, tmp / "baseline.log", "imported", seconds
            )
        for name in workers:
            worker_env = {**env, "CLAIMS_WEB_PORT": str(free_port())}
            results[name] = run_process(
                [str(args.bin / "claims"), "worker", name],
                worker_env,
                tmp / f"worker-{name}.log",
                "Worker ready",
                seconds,
            )
    finally:
        if broker.bootstrap:
            topics_deleted = _delete(broker.bootstrap, prefix, workers)
        broker.close()
        if args.keep_logs:
            print(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    base = results[BASE]["rss_mb"]
    loaded = results[BASE_LOADED]["rss_mb"]
    print(
        f"steady-state RSS, median of {seconds:.0f} s of samples; "
        f"{common.machine()['cpus']}-core machine, not pinned"
    )
    rows = [
        [
            name,
            r["rss_mb"],
            r["tree_rss_mb"],
            f"{r['rss_mb'] / base:.2f}",
            f"{r['rss_mb'] / loaded:.2f}",
            f"{r['rss_mb'] - loaded:.1f}",
            r["ready_s"],
            r["stop_s"],
            r["exit_code"],
        ]
        for name, r in results.items()
    ]
    print(
        common.table(
            [
                "process",
                "RSS MB",
                "tree MB",
                "x import faust",
                "x faust.App",
                "+MB over faust.App",
                "ready s",
                "stop s",
                "exit",
            ],
            rows,
        )
    )
    print(
        "baselines (same run): python -c 'import faust, time; time.sleep(30)' (faust is lazy: "
        "this loads little) and the same touching faust.App; 'x ...' = worker RSS / baseline RSS"
    )
    figures = {
        "machine": common.machine(),
        "broker": broker.how,
        "baseline": "python -c 'import faust, time; time.sleep(30)', same run",
        "baseline_rss_mb": round(base, 2),
        "baseline_faust_app_rss_mb": round(loaded, 2),
        "processes": common.rounded(results, 3),
        "ratio_to_baseline": {
            name: round(r["rss_mb"] / base, 3) for name, r in results.items() if name in WORKERS
        },
        "ratio_to_faust_app": {
            name: round(r["rss_mb"] / loaded, 3) for name, r in results.items() if name in WORKERS
        },
        "topics_deleted": topics_deleted,
        "seconds": round(time.perf_counter() - start, 1),
    }
    common.emit(NAME, figures)
    return figures


def _delete(bootstrap: str, prefix: str, workers: list[str]) -> int | None:
    """Delete the benchmark's topics and consumer groups (best effort for the groups)."""
    from workers.runtime.admin import admin_client, delete_topics_with_prefix
    from workers.runtime.settings import Settings

    settings = Settings(kafka_bootstrap_servers=bootstrap, topic_prefix=prefix)
    try:
        deleted = delete_topics_with_prefix(settings, prefix)
    except Exception as exc:  # report, never hide the benchmark's own result
        print(f"could not delete the topics {prefix}*: {exc}")
        return None
    with contextlib.suppress(Exception):  # groups of workers that never joined do not exist
        client = admin_client(settings)
        try:
            client.delete_groups([settings.group_id(name) for name in workers])
        finally:
            client.close()
    return deleted


if __name__ == "__main__":
    with common.stop_cleanly_on_sigterm():
        main()
