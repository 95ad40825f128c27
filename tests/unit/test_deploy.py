"""The deployment files: checked with `docker compose config` where the plugin
exists, and parsed here on every machine (there is no Docker engine in CI)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from workers.engine import PROCESSORS
from workers.ops.dead_letter_review import STATUS_TOPIC
from workers.runtime.settings import Settings
from workers.runtime.topics import DLQ_SUFFIX, Catalogue

REPO = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_every_service_has_an_image_or_build_and_a_command_where_needed() -> None:
    services = compose()["services"]
    assert {"kafka", "topics", "kafka-ui"} <= set(services)
    for name, svc in services.items():
        assert "image" in svc or "build" in svc, name
        assert svc.get("environment"), f"{name} has no environment"
    assert services["topics"]["command"] == ["topics", "create"]
    assert services["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_one_scalable_service_per_processor() -> None:
    services = compose()["services"]
    for name in PROCESSORS:
        svc = services[name]
        assert svc["command"] == ["worker", name]
        assert "container_name" not in svc, "a fixed name prevents --scale"
        assert not svc.get("ports"), "host ports prevent --scale"
        env = svc["environment"]
        assert env["CLAIMS_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert svc["depends_on"]["topics"]["condition"] == "service_completed_successfully"
        assert svc["build"]["dockerfile"] == "deploy/docker/Dockerfile"
    assert (REPO / "deploy/docker/Dockerfile").read_text().count("ENTRYPOINT") == 1


#: The variables compose must be given (``${NAME:?...}``) for the passwords.
REQUIRED_PASSWORDS = ("KAFKA_UI_PASSWORD",)
#: The one password with a placeholder default, kept as tests/unit/test_deploy_monitoring.py
#: requires: Grafana shows metrics only (no patient data) and listens on 127.0.0.1.
PLACEHOLDER_PASSWORDS = {("grafana", "GF_SECURITY_ADMIN_PASSWORD"): "change-me"}


def published_ports(svc: dict[str, Any]) -> list[tuple[str | None, str]]:
    """(host address or None, the whole entry) of each published port, short or long syntax."""
    out: list[tuple[str | None, str]] = []
    for entry in svc.get("ports") or []:
        if isinstance(entry, dict):
            out.append((entry.get("host_ip"), str(entry)))
            continue
        text = str(entry)
        # HOST_IP:HOST_PORT:CONTAINER_PORT (an IPv6 address in brackets); fewer
        # parts mean every interface.
        match = re.fullmatch(r"(\[[^\]]+\]|[^:]+):[^:]*:[^:]+", text)
        out.append((match.group(1) if match else None, text))
    return out


def test_every_published_port_is_bound_to_localhost() -> None:
    """The broker is plaintext without authentication and the topics hold PHI: nothing
    listens on the host's other interfaces."""
    published = 0
    for name, svc in compose()["services"].items():
        for host_ip, entry in published_ports(svc):
            published += 1
            assert host_ip == "127.0.0.1", f"{name} publishes {entry} beyond 127.0.0.1"
    assert published >= 2  # at least the broker and the UI
    assert compose()["services"]["kafka"]["ports"] == ["127.0.0.1:9092:19092"]
    assert compose()["services"]["kafka-ui"]["ports"] == ["127.0.0.1:8080:8080"]


def test_the_kafka_ui_is_read_only_behind_a_login() -> None:
    env = compose()["services"]["kafka-ui"]["environment"]
    assert env["KAFKA_CLUSTERS_0_READONLY"] == "true"
    assert env["DYNAMIC_CONFIG_ENABLED"] == "false"  # no cluster added or changed from the UI
    assert env["AUTH_TYPE"] == "LOGIN_FORM"
    assert env["SPRING_SECURITY_USER_NAME"]
    assert re.fullmatch(r"\$\{KAFKA_UI_PASSWORD:\?[^}]+\}", env["SPRING_SECURITY_USER_PASSWORD"])


def test_no_password_is_written_in_the_compose_file() -> None:
    """Every password comes from a required substitution: no literal, no default (but
    Grafana's placeholder)."""
    found = 0
    for name, svc in compose()["services"].items():
        env = svc.get("environment") or {}
        assert isinstance(env, dict), f"{name}: environment as a mapping, please"
        for key, value in env.items():
            if not re.search(r"PASSWORD|SECRET|TOKEN", key):
                continue
            found += 1
            if (name, key) in PLACEHOLDER_PASSWORDS:
                default = PLACEHOLDER_PASSWORDS[name, key]
                assert re.fullmatch(rf"\$\{{[A-Z_]+:-{default}\}}", str(value)), (name, key)
                continue
            assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", str(value)), (
                f"{name}.{key} = {value!r}: use ${{VAR:?message}}, never a literal or a default"
            )
    assert found == len(REQUIRED_PASSWORDS) + len(PLACEHOLDER_PASSWORDS)
    text = (REPO / "docker-compose.yml").read_text()
    for name in REQUIRED_PASSWORDS:
        assert f"${{{name}:?" in text, name
    # nor a default anywhere else, e.g. in a command line
    defaults = re.findall(r"\$\{(\w*(?:PASSWORD|SECRET|TOKEN)\w*):?-", text)
    assert defaults == ["GRAFANA_ADMIN_PASSWORD"], defaults


def test_broker_is_kraft_and_advertises_an_inside_listener() -> None:
    env = compose()["services"]["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "INTERNAL://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]


# --- the operations role's Kafka ACLs (deploy/kafka/acls-ops.sh) -------------------------

ACLS_OPS = REPO / "deploy" / "kafka" / "acls-ops.sh"
#: A fake kafka-acls.sh: one block of arguments per call.
FAKE_KAFKA_ACLS = """#!/bin/sh
printf '%s\\n' "$@" >> "$ACLS_LOG"
echo '--' >> "$ACLS_LOG"
"""


def expected_ops_acls(prefix: str) -> set[tuple[str, str]]:
    """(operation, physical topic) of every ACL the dead-letter commands need, from the
    catalogue: read every dead letter and the status, write the status, the audit trail
    and the source topic of every dead-letter topic (where replay republishes)."""
    settings = Settings(_env_file=None, topic_prefix=prefix)
    dead_letters = [s.name for s in Catalogue(settings) if s.name.endswith(DLQ_SUFFIX)]
    reads = [*dead_letters, STATUS_TOPIC]
    writes = [*(d.removesuffix(DLQ_SUFFIX) for d in dead_letters), STATUS_TOPIC, "ops.audit"]
    return {("Read", settings.topic(t)) for t in reads} | {
        ("Write", settings.topic(t)) for t in writes
    }


def run_acls_ops(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    fake = tmp_path / "kafka-acls.sh"
    fake.write_text(FAKE_KAFKA_ACLS)
    fake.chmod(0o755)
    base = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMS_")}
    return subprocess.run(
        ["sh", str(ACLS_OPS)],
        env={**base, "KAFKA_ACLS": str(fake), "ACLS_LOG": str(tmp_path / "calls"), **env},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def no_claims_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("CLAIMS_"):
            monkeypatch.delenv(key)


@pytest.mark.skipif(shutil.which("sh") is None, reason="no POSIX shell")
@pytest.mark.usefixtures("no_claims_environment")
def test_the_ops_acls_are_exactly_what_the_dead_letter_commands_need(tmp_path: Path) -> None:
    """Every dead-letter topic of the catalogue is readable and its source writable, so a
    new consumed topic cannot be forgotten; and nothing beyond that is granted."""
    assert os.access(ACLS_OPS, os.X_OK)
    prefix = "prod."
    done = run_acls_ops(
        tmp_path,
        OPS_PRINCIPAL="User:ops-alice",
        BOOTSTRAP="kafka:9093",
        COMMAND_CONFIG="admin.properties",
        CLAIMS_TOPIC_PREFIX=prefix,
    )
    assert done.returncode == 0, done.stderr
    granted: list[tuple[str, str]] = []
    for block in (tmp_path / "calls").read_text().split("--\n"):
        if not block:
            continue
        args = block.splitlines()
        operation, topic = args[args.index("--operation") + 1], args[args.index("--topic") + 1]
        # one allow ACL of one operation on one literal topic name per call, nothing else
        assert args == [
            "--bootstrap-server", "kafka:9093",
            "--command-config", "admin.properties",
            "--add", "--allow-principal", "User:ops-alice",
            "--operation", operation,
            "--resource-pattern-type", "literal",
            "--topic", topic,
        ]  # fmt: skip
        granted.append((operation, topic))
    assert len(granted) == len(set(granted)), "an ACL is added twice"
    expected = expected_ops_acls(prefix)
    missing = sorted(expected - set(granted))
    extra = sorted(set(granted) - expected)
    assert not missing, "add to deploy/kafka/acls-ops.sh:\n" + "\n".join(
        f"add {op} {topic.removeprefix(prefix)}" for op, topic in missing
    )
    assert not extra, f"acls-ops.sh grants more than the dead-letter commands need: {extra}"


@pytest.mark.skipif(shutil.which("sh") is None, reason="no POSIX shell")
def test_the_ops_acls_need_a_principal_and_the_brokers(tmp_path: Path) -> None:
    done = run_acls_ops(tmp_path, BOOTSTRAP="kafka:9093")
    assert done.returncode != 0
    assert "OPS_PRINCIPAL" in done.stderr
    assert not (tmp_path / "calls").exists(), "no ACL is added before the check"


@pytest.mark.skipif(
    shutil.which("docker") is None
    or subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode
    != 0,
    reason="docker compose plugin not installed",
)
def test_docker_compose_config_is_valid() -> None:
    # The passwords are required substitutions: compose refuses the file without them.
    env = {**os.environ, **dict.fromkeys(REQUIRED_PASSWORDS, "test-only")}
    subprocess.run(["docker", "compose", "config", "-q"], cwd=REPO, check=True, env=env)
