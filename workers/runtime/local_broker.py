"""A real Apache Kafka broker for development and tests, started by the project.

``claims broker start`` resolves the pinned Kafka release (``deploy/kafka/pom.xml``)
from Maven Central once into a cache outside the git tree, formats KRaft storage,
starts a single combined broker/controller bound to 127.0.0.1 and waits until a
client metadata request succeeds.  The pid and bootstrap address are recorded in
``<broker_home>/broker.json``; ``stop`` ends only the process recorded there.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from string import Template

from workers.runtime.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG_DIR = REPO_ROOT / "deploy" / "kafka"
STATE_FILE = "broker.json"
MAIN_CLASS = "kafka.Kafka"


class BrokerError(RuntimeError):
    """The local broker cannot be provided; the message says what is missing."""


@dataclass
class BrokerState:
    pid: int
    bootstrap: str
    port: int
    controller_port: int
    data_dir: str
    log_dir: str
    properties: str
    kafka_version: str
    started_at: float


@dataclass(frozen=True)
class StartResult:
    state: BrokerState
    started: bool  # False: an already-running broker was reused


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding.

    One id in 64 would start with ``-``, which the storage tool's argument parser
    reads as an option (the broker then fails to format, at random); Kafka's own
    ``Uuid.randomUuid`` draws again in that case, and so does this.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class LocalBroker:
    def __init__(
        self,
        settings: Settings,
        config_dir: Path | None = None,
        *,
        template_values: dict[str, str] | None = None,
        format_args: list[str] | None = None,
    ) -> None:
        """``config_dir`` holds ``pom.xml``, ``server.properties.template`` and
        ``log4j2.properties`` (default: ``deploy/kafka``); ``template_values`` fill
        extra placeholders of the template and ``format_args`` are added to the
        storage format (e.g. ``--add-scram`` users for a SASL broker)."""
        self.settings = settings
        self.config_dir = config_dir or DEFAULT_CONFIG_DIR
        self.template_values = template_values or {}
        self.format_args = format_args or []
        self.home = settings.broker_home
        self.state_path = self.home / STATE_FILE
        self.data_dir = self.home / "data"
        self.log_dir = self.home / "logs"
        self.properties_path = self.home / "server.properties"
        self.bootstrap = f"127.0.0.1:{settings.broker_port}"

    # --- jars -----------------------------------------------------------------
    @property
    def pom(self) -> Path:
        return self._config_file("pom.xml")

    def _config_file(self, name: str) -> Path:
        own = self.config_dir / name
        return own if own.exists() else DEFAULT_CONFIG_DIR / name

    @property
    def kafka_version(self) -> str:
        m = re.search(r"<kafka.version>([^<]+)</kafka.version>", self.pom.read_text())
        if not m:
            raise BrokerError(f"{self.pom} does not pin <kafka.version>")
        return m.group(1)

    @property
    def jar_dir(self) -> Path:
        digest = hashlib.sha256(self.pom.read_bytes()).hexdigest()[:12]
        return self.settings.broker_jar_cache / f"kafka-{self.kafka_version}-{digest}"

    def ensure_jars(self) -> Path:
        """Resolve the broker's jars once; later calls reuse the cache."""
        target = self.jar_dir
        marker = target / ".complete"
        if marker.exists():
            return target
        _require("java", "a Java runtime (JDK 17+) is needed to run the Kafka broker")
        _require("mvn", "Apache Maven is needed once to download the Kafka broker jars")
        tmp = target.with_name(target.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        cmd = [
            "mvn",
            "-B",
            "-q",
            "-f",
            str(self.pom),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={tmp}",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-25:]
            raise BrokerError(
                "downloading the Kafka jars with Maven failed:\n  " + "\n  ".join(tail)
            )
        (tmp / ".complete").write_text(self.kafka_version + "\n")
        if target.exists():  # someone else finished first
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.rename(target)
        return target

    # --- state --------------------------------------------------------------
    def read_state(self) -> BrokerState | None:
        try:
            return BrokerState(**json.loads(self.state_path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def _is_ours(self, state: BrokerState) -> bool:
        """True when the recorded pid is alive and is the broker we started."""
        try:
            cmdline = Path(f"/proc/{state.pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        args = [a.decode(errors="replace") for a in cmdline]
        return MAIN_CLASS in args and state.properties in args

    def running(self) -> BrokerState | None:
        state = self.read_state()
        if state is not None and self._is_ours(state):
            return state
        return None

    # --- lifecycle ------------------------------------------------------------
    def start(self) -> StartResult:
        state = self.running()
        if state is not None:
            if probe(state.bootstrap, timeout=self.settings.broker_start_timeout_s):
                return StartResult(state, started=False)
            raise BrokerError(
                f"broker pid {state.pid} is running but does not answer at {state.bootstrap}\n"
                + self.log_tail()
            )
        if _port_open(self.bootstrap):
            raise BrokerError(
                f"port {self.settings.broker_port} on 127.0.0.1 is already in use by a process "
                "this project did not start; stop it, or set CLAIMS_BROKER_PORT (and "
                "CLAIMS_BROKER_CONTROLLER_PORT) to free ports"
            )
        _require("java", "a Java runtime (JDK 17+) is needed to run the Kafka broker")
        jars = self.ensure_jars()
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._render_properties()
        classpath = f"{jars}/*"
        if not (self.data_dir / "meta.properties").exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            cluster_id = new_cluster_id()
            fmt = subprocess.run(
                [
                    "java",
                    "-cp",
                    classpath,
                    "kafka.tools.StorageTool",
                    "format",
                    f"--cluster-id={cluster_id}",
                    "-c",
                    str(self.properties_path),
                    "--ignore-formatted",
                    *self.format_args,
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if fmt.returncode != 0:
                raise BrokerError("formatting KRaft storage failed:\n" + fmt.stdout + fmt.stderr)
        stdout = open(self.log_dir / "stdout.log", "ab")  # noqa: SIM115 -- the broker's stdout; closed in the finally once Popen has it
        try:
            proc = subprocess.Popen(
                [
                    "java",
                    f"-Xmx{self.settings.broker_heap}",
                    f"-Xms{self.settings.broker_heap}",
                    "-XX:+UseG1GC",
                    "-XX:TieredStopAtLevel=1",
                    "-Djava.awt.headless=true",
                    f"-Dkafka.logs.dir={self.log_dir}",
                    f"-Dlog4j2.configurationFile={self._config_file('log4j2.properties')}",
                    "-cp",
                    classpath,
                    MAIN_CLASS,
                    str(self.properties_path),
                ],
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.home,
            )
        finally:
            stdout.close()
        state = BrokerState(
            pid=proc.pid,
            bootstrap=self.bootstrap,
            port=self.settings.broker_port,
            controller_port=self.settings.broker_controller_port,
            data_dir=str(self.data_dir),
            log_dir=str(self.log_dir),
            properties=str(self.properties_path),
            kafka_version=self.kafka_version,
            started_at=time.time(),
        )
        self.state_path.write_text(json.dumps(asdict(state), indent=2))
        deadline = time.monotonic() + self.settings.broker_start_timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.state_path.unlink(missing_ok=True)
                raise BrokerError(
                    f"the broker exited with status {proc.returncode} while starting\n"
                    + self.log_tail()
                )
            if probe(self.bootstrap, timeout=2.0):
                return StartResult(state, started=True)
            time.sleep(0.25)
        self.stop()
        raise BrokerError(
            f"the broker did not answer at {self.bootstrap} within "
            f"{self.settings.broker_start_timeout_s:.0f}s\n" + self.log_tail()
        )

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the broker this project started; returns False when none was running."""
        state = self.read_state()
        if state is None:
            return False
        if not self._is_ours(state):
            self.state_path.unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(state.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _pid_alive(state.pid):
            time.sleep(0.2)
        if _pid_alive(state.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(state.pid, signal.SIGKILL)
            while _pid_alive(state.pid):
                time.sleep(0.1)
        self.state_path.unlink(missing_ok=True)
        return True

    def wipe(self) -> None:
        """Delete the broker's data (it must be stopped)."""
        if self.running() is not None:
            raise BrokerError("stop the broker before wiping its data")
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def status(self) -> dict[str, object]:
        state = self.running()
        info: dict[str, object] = {
            "home": str(self.home),
            "jars": str(self.jar_dir),
            "jars_cached": (self.jar_dir / ".complete").exists(),
            "kafka_version": self.kafka_version,
        }
        if state is None:
            info.update(running=False, answers=probe(self.bootstrap, timeout=1.0))
            info["bootstrap"] = self.bootstrap
            return info
        info.update(asdict(state))
        info.update(running=True, answers=probe(state.bootstrap, timeout=3.0))
        return info

    def log_tail(self, lines: int = 30) -> str:
        out = []
        for name in ("server.log", "stdout.log"):
            path = self.log_dir / name
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- last lines of {path} ---\n" + "\n".join(tail))
        return "\n".join(out) or f"(no broker log under {self.log_dir})"

    def _render_properties(self) -> None:
        template = Template((self.config_dir / "server.properties.template").read_text())
        text = template.substitute(
            port=self.settings.broker_port,
            controller_port=self.settings.broker_controller_port,
            data_dir=self.data_dir,
            **self.template_values,
        )
        self.properties_path.write_text(text)


def probe(bootstrap: str, timeout: float = 5.0) -> bool:
    """True when a client metadata request to ``bootstrap`` succeeds."""
    first = bootstrap.split(",", maxsplit=1)[0].strip()
    if not _port_open(first):
        return False
    try:
        from workers.runtime.kafka_clients import bootstrap_probe

        consumer = bootstrap_probe(first, timeout)
        try:
            consumer.topics()
            return True
        finally:
            consumer.close()
    except Exception:
        return False


def _port_open(hostport: str) -> bool:
    host, _, port = hostport.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=1.0):
            return True
    except (OSError, ValueError):
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still "exists": treat it as dead.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _require(tool: str, why: str) -> None:
    if shutil.which(tool) is None:
        raise BrokerError(f"{tool!r} was not found on PATH: {why}")
