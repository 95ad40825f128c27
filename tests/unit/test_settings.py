"""Typed settings from CLAIMS_* variables; secrets never printed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from pydantic import ValidationError

from workers.runtime.settings import Settings


def test_defaults_point_at_the_local_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAIMS_BROKER_PORT", "19999")
    s = Settings()
    assert s.kafka_bootstrap_servers == "127.0.0.1:19999"
    assert s.topic_partitions == 6


def test_environment_prefix_and_topic_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAIMS_KAFKA_BOOTSTRAP_SERVERS", "k1:9092, k2:9092")
    monkeypatch.setenv("CLAIMS_TOPIC_PREFIX", "acme.")
    s = Settings()
    assert s.bootstrap_list == ["k1:9092", "k2:9092"]
    assert s.topic("sessions.completed") == "acme.sessions.completed"
    assert s.group_id("enrich") == "acme.claims-enrich"


def test_sasl_needs_credentials_and_hides_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAIMS_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.setenv("CLAIMS_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("CLAIMS_KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("CLAIMS_KAFKA_SASL_PASSWORD", "hunter2-very-secret")
    s = Settings()
    assert "hunter2" not in repr(s) and "hunter2" not in str(s)
    assert "hunter2" not in json.dumps(s.redacted())
    assert s.kafka_python_config()["sasl_plain_password"] == "hunter2-very-secret"


def test_claims_settings_command_masks_secrets() -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "CLAIMS_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "CLAIMS_KAFKA_SASL_MECHANISM": "PLAIN",
        "CLAIMS_KAFKA_SASL_USERNAME": "svc",
        "CLAIMS_KAFKA_SASL_PASSWORD": "hunter2-very-secret",
        "HOME": "/tmp",
    }
    out = subprocess.run(
        [sys.executable, "-m", "workers.cli", "settings"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "hunter2" not in out
    assert json.loads(out)["kafka_sasl_password"] == "**********"


def test_bad_settings_are_one_clear_line() -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "CLAIMS_TOPIC_PARTITIONS": "zero"}
    proc = subprocess.run(
        [sys.executable, "-m", "workers.cli", "topics", "list"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "CLAIMS_TOPIC_PARTITIONS" in proc.stderr and "Traceback" not in proc.stderr


def test_every_setting_is_documented_and_the_reference_page_is_current() -> None:
    """docs/configuration.md carries the table generated from the settings' field
    descriptions (``claims settings --reference``); a new or changed setting must
    be described and the page regenerated."""
    from pathlib import Path

    from workers.runtime.settings_doc import reference, section_of

    undescribed = [n for n, f in Settings.model_fields.items() if not (f.description or "").strip()]
    assert not undescribed, f"settings without a description: {undescribed}"
    page = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
    assert section_of(page.read_text()) == reference(), (
        "docs/configuration.md is stale: replace its table with `claims settings --reference`"
    )
    for name in Settings.model_fields:
        assert f"`CLAIMS_{name.upper()}`" in reference()
