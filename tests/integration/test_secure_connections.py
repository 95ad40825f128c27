"""TLS and SASL/SCRAM against a broker started with its own TLS configuration.

The module starts its own broker (certificate authority and broker certificate
generated with keytool, one SCRAM-SHA-512 user added when the storage is
formatted); the shared test broker is not touched.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer

from tests.broker_support import REPO, Cluster, unique_prefix
from tests.fault.pipeline import (
    assert_every_session_once,
    dataset,
    send_late_prescriptions,
    send_sessions,
    wait_settled,
    worker_env,
)
from tests.secure_broker import SCRAM_USER, SecureBroker, start_secure_broker
from workers.runtime.admin import ensure_topics
from workers.runtime.connection import BrokerUnavailable, check_connection


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    broker = start_secure_broker(tmp_path_factory.mktemp("secure"))
    try:
        yield broker
    finally:
        broker.broker.stop()


def _claims(args: list[str], env: dict[str, str], state: Path) -> subprocess.CompletedProcess[str]:
    import os

    clean = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMS_")}
    clean.update(env, CLAIMS_STATE_DIR=str(state), CLAIMS_LOG_FORMAT="json")
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", *args],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_tls_and_sasl_listeners_accept_the_configured_clients(secure: SecureBroker) -> None:
    """kafka-python (CLI, admin) and aiokafka (faust) both connect over SSL and SASL_SSL."""
    for protocol in ("SSL", "SASL_SSL"):
        settings = secure.settings(protocol, topic_prefix=unique_prefix("sec"))
        check_connection(settings, timeout_s=30)  # aiokafka, as faust connects
        reports = ensure_topics(settings)  # kafka-python admin client
        assert reports and all(r.status == "created" for r in reports), protocol
        consumer = KafkaConsumer(**settings.kafka_python_config())
        try:
            assert settings.topic("sessions.completed") in consumer.topics()
        finally:
            consumer.close()


def test_a_pipeline_runs_end_to_end_over_sasl_ssl(secure: SecureBroker, tmp_path: Path) -> None:
    """Reference data and sessions produced over SASL_SSL, processed by a worker that
    connects over SASL_SSL; the usual accounting holds."""
    c = Cluster(secure.plain_bootstrap, unique_prefix("sec"), tmp_path)
    try:
        _pipeline_over_sasl(secure, c)
    finally:
        c.close()


def _pipeline_over_sasl(secure: SecureBroker, c: Cluster) -> None:
    sasl = secure.settings("SASL_SSL", topic_prefix=c.prefix, state_dir=c.state_dir)
    ensure_topics(sasl)
    c._producer = KafkaProducer(acks="all", linger_ms=2, **sasl.kafka_python_config())
    data = dataset(c, sessions=30, seed=11)
    worker = c.start_worker("all", **worker_env(c), **secure.env("SASL_SSL"))
    send_sessions(c, data)
    send_late_prescriptions(c, data)
    acc = wait_settled(c, data.expected["completed_events"], workers=[worker])
    assert_every_session_once(acc, data.expected["completed_events"])
    assert acc.sessions["billed"] > 0
    started = worker.wait_log(lambda e: e.get("event") == "worker starting")
    assert started["bootstrap"] == secure.sasl_bootstrap
    assert secure.password not in worker.log_path.read_text()


def test_wrong_password_is_refused_with_a_clear_reason(
    secure: SecureBroker, tmp_path: Path
) -> None:
    wrong = secure.settings("SASL_SSL", kafka_sasl_password="not-the-password")
    with pytest.raises(BrokerUnavailable) as refused:
        check_connection(wrong, timeout_s=30)
    assert refused.value.cause == "authentication"
    assert SCRAM_USER in refused.value.message
    assert "CLAIMS_KAFKA_SASL_PASSWORD" in refused.value.message
    assert "not-the-password" not in refused.value.message

    env = secure.env("SASL_SSL", password="not-the-password")
    worker = _claims(["worker", "enrich"], env, tmp_path)
    assert worker.returncode == 3, worker.stdout[-2000:] + worker.stderr[-2000:]
    assert "cannot use the Kafka broker" in worker.stdout + worker.stderr
    assert "not-the-password" not in worker.stdout + worker.stderr
    assert "Traceback" not in worker.stdout + worker.stderr

    cli = _claims(["dlq", "list"], env, tmp_path)
    assert cli.returncode == 3
    assert "refused the credentials" in cli.stderr
    assert "Traceback" not in cli.stderr


def test_an_untrusted_certificate_is_refused(secure: SecureBroker) -> None:
    """Without the test CA the broker's certificate does not verify (no silent trust)."""
    untrusted = secure.settings("SSL", kafka_ssl_cafile=None)
    with pytest.raises(BrokerUnavailable) as refused:
        check_connection(untrusted, timeout_s=20)
    assert refused.value.cause == "tls-untrusted"
    assert "CLAIMS_KAFKA_SSL_CAFILE" in refused.value.message


def test_sasl_listener_refuses_a_client_without_credentials(secure: SecureBroker) -> None:
    """An SSL-only client on the SASL_SSL port is not served."""
    no_sasl = secure.settings("SSL", kafka_bootstrap_servers=secure.sasl_bootstrap)
    with pytest.raises(BrokerUnavailable) as refused:
        check_connection(no_sasl, timeout_s=6)
    assert refused.value.cause in ("no-answer", "authentication")
    assert "SASL_SSL" in refused.value.message
