"""The deployment files: checked with `docker compose config` where the plugin
exists, and parsed here on every machine (there is no Docker engine in CI)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from workers.engine import PROCESSORS

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


def test_broker_is_kraft_and_advertises_an_inside_listener() -> None:
    env = compose()["services"]["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "INTERNAL://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]


@pytest.mark.skipif(
    shutil.which("docker") is None
    or subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode
    != 0,
    reason="docker compose plugin not installed",
)
def test_docker_compose_config_is_valid() -> None:
    subprocess.run(["docker", "compose", "config", "-q"], cwd=REPO, check=True)
