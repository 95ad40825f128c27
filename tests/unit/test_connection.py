"""Connection settings and the diagnosis of a broker that cannot be used (no broker needed)."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.broker_support import free_port
from workers.runtime.connection import (
    BrokerUnavailable,
    FailureRecorder,
    check_connection,
)
from workers.runtime.kafka_clients import aiokafka_options, client_ssl_context
from workers.runtime.settings import Settings

SASL = {
    "kafka_security_protocol": "SASL_SSL",
    "kafka_sasl_mechanism": "SCRAM-SHA-512",
    "kafka_sasl_username": "billing-svc",
    "kafka_sasl_password": "s3cret-value",
}


def test_the_ca_file_must_exist_and_an_empty_value_means_none(tmp_path: Path) -> None:
    assert Settings(kafka_ssl_cafile="").kafka_ssl_cafile is None
    with pytest.raises(ValidationError, match="kafka_ssl_cafile"):
        Settings(kafka_ssl_cafile=tmp_path / "missing.pem")
    with pytest.raises(ValidationError, match="kafka_ssl_cafile"):
        Settings(kafka_ssl_cafile=tmp_path)  # a directory


def test_every_client_gets_the_same_verifying_tls_context() -> None:
    assert client_ssl_context(Settings()) is None
    context = client_ssl_context(Settings(**SASL))
    assert context is not None and context.check_hostname
    opts = aiokafka_options(Settings(**SASL))
    assert opts["ssl_context"].verify_mode == context.verify_mode
    assert opts["sasl_mechanism"] == "SCRAM-SHA-512"
    assert Settings(**SASL).kafka_python_config()["security_protocol"] == "SASL_SSL"


def test_a_refused_login_reported_by_the_client_library_is_named() -> None:
    settings = Settings(**SASL)
    with FailureRecorder() as recorder:
        logging.getLogger("aiokafka").error(
            'Unable connect to "h:9093": [Error 58] SaslAuthenticationFailed: invalid credentials'
        )
    explained = recorder.explain(settings)
    assert explained is not None and explained.cause == "authentication"
    assert "billing-svc" in explained.message and "CLAIMS_KAFKA_SASL_PASSWORD" in explained.message
    assert "s3cret-value" not in explained.message


def test_the_recorder_stops_listening_when_the_block_ends() -> None:
    recorder = FailureRecorder()
    with recorder:
        pass
    logging.getLogger("kafka").error("SaslAuthenticationFailedError: late")
    assert recorder.explain(Settings()) is None


def test_nothing_listening_is_unreachable_within_the_timeout() -> None:
    port = free_port()
    with pytest.raises(BrokerUnavailable) as refused:
        check_connection(Settings(kafka_bootstrap_servers=f"127.0.0.1:{port}"), timeout_s=1.5)
    assert refused.value.cause == "unreachable"
    assert f"127.0.0.1:{port}" in refused.value.message
    assert "CLAIMS_KAFKA_BOOTSTRAP_SERVERS" in refused.value.message


def test_a_malformed_bootstrap_address_is_named() -> None:
    with pytest.raises(BrokerUnavailable, match="not host:port"):
        check_connection(Settings(kafka_bootstrap_servers="broker-without-port"), timeout_s=1)


@pytest.fixture
def plain_tcp_server() -> Iterator[int]:
    """Accepts connections and answers anything with bytes that are not TLS."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(b"HTTP/1.0 400 not kafka\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        server.close()


def test_tls_against_a_plaintext_port_is_a_handshake_problem(plain_tcp_server: int) -> None:
    settings = Settings(
        kafka_bootstrap_servers=f"127.0.0.1:{plain_tcp_server}", kafka_security_protocol="SSL"
    )
    with pytest.raises(BrokerUnavailable) as refused:
        check_connection(settings, timeout_s=3)
    assert refused.value.cause == "tls-handshake"
    assert "CLAIMS_KAFKA_SECURITY_PROTOCOL=SSL" in refused.value.message
