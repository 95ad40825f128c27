"""Every Kafka client the engine makes outside faust, built in one place from settings.

Commands, reports, the inbox and the demo use kafka-python (blocking); the
reference mirrors, the dashboard and the connection check use aiokafka, the
client faust runs on.  Each is built here, so connection security (TLS context,
SASL credentials, time-outs) cannot differ between them: a deployment that sets
``CLAIMS_KAFKA_SECURITY_PROTOCOL`` gets it on every client.

The client libraries ship no type information, so the clients are typed
``Any`` here and nowhere else.
"""

from __future__ import annotations

import ssl
from typing import Any

from workers.runtime.settings import Settings


def client_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context for SSL and SASL_SSL (verifies the broker's certificate
    and host name against ``kafka_ssl_cafile``, else the system's trust store)."""
    if settings.kafka_security_protocol not in ("SSL", "SASL_SSL"):
        return None
    cafile = str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
    return ssl.create_default_context(cafile=cafile)


def aiokafka_options(settings: Settings) -> dict[str, Any]:
    """Connection options for aiokafka clients (the ones faust builds get the same
    TLS context through :func:`client_ssl_context`)."""
    opts: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_list,
        "security_protocol": settings.kafka_security_protocol,
        "request_timeout_ms": int(settings.kafka_request_timeout_s * 1000),
    }
    context = client_ssl_context(settings)
    if context is not None:
        opts["ssl_context"] = context
    if settings.kafka_security_protocol.startswith("SASL"):
        assert settings.kafka_sasl_password is not None
        opts["sasl_mechanism"] = settings.kafka_sasl_mechanism
        opts["sasl_plain_username"] = settings.kafka_sasl_username
        opts["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return opts


# --- kafka-python (blocking) ------------------------------------------------------------


def producer(settings: Settings, **options: Any) -> Any:
    """A producer that waits for every in-sync replica (``acks=all``)."""
    from kafka import KafkaProducer

    return KafkaProducer(**{"acks": "all", **options}, **settings.kafka_python_config())


def reader(settings: Settings, **options: Any) -> Any:
    """A consumer outside any group that commits nothing: for reading topics from the
    beginning (reports, commands, the demo's accounting)."""
    from kafka import KafkaConsumer

    defaults = {"group_id": None, "enable_auto_commit": False}
    return KafkaConsumer(**{**defaults, **options}, **settings.kafka_python_config())


def admin(settings: Settings) -> Any:
    from kafka.admin import KafkaAdminClient

    return KafkaAdminClient(client_id="claims-admin", **settings.kafka_python_config())


def bootstrap_probe(bootstrap: str, timeout_s: float) -> Any:
    """A bare consumer for asking a local development broker whether it answers
    (before any settings apply: plaintext, no credentials)."""
    from kafka import KafkaConsumer

    return KafkaConsumer(
        bootstrap_servers=[bootstrap],
        request_timeout_ms=int(max(timeout_s, 1.0) * 1000) + 500,
        bootstrap_timeout_ms=int(max(timeout_s, 1.0) * 1000),
        client_id="claims-probe",
    )


# --- aiokafka (asyncio) ------------------------------------------------------------------


def async_reader(settings: Settings, client_id: str) -> Any:
    """An aiokafka consumer outside any group, from the earliest offset, committing
    nothing (the reference mirrors and the dashboard)."""
    from aiokafka import AIOKafkaConsumer

    return AIOKafkaConsumer(
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id=client_id,
        **aiokafka_options(settings),
    )


def async_client(settings: Settings, client_id: str, request_timeout_s: float) -> Any:
    """A bare aiokafka client (the connection check's metadata request)."""
    from aiokafka.client import AIOKafkaClient

    opts = aiokafka_options(settings)
    timeout_s = min(request_timeout_s, settings.kafka_request_timeout_s)
    opts["request_timeout_ms"] = int(timeout_s * 1000)
    return AIOKafkaClient(client_id=client_id, **opts)


def async_producer(settings: Settings, client_id: str) -> Any:
    """An aiokafka producer that waits for every in-sync replica (the mailbox worker)."""
    from aiokafka import AIOKafkaProducer

    return AIOKafkaProducer(
        acks="all", enable_idempotence=True, client_id=client_id, **aiokafka_options(settings)
    )


def async_group_consumer(settings: Settings, group: str, client_id: str) -> Any:
    """An aiokafka consumer in ``group`` that commits only when told to, starting at the
    earliest offset when the group has none (the mailbox worker's ``edi.outbound``)."""
    from aiokafka import AIOKafkaConsumer

    return AIOKafkaConsumer(
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id=client_id,
        **aiokafka_options(settings),
    )
