"""Kafka connection security (TLS, SASL) and a plain-language diagnosis of failures.

When the broker cannot be used, the client libraries retry and finally say
``Unable to bootstrap``; the real cause (a refused password, an untrusted
certificate, a plaintext client on a TLS port) is only in their log lines.
:func:`check_connection` finds it: it tries TCP and the TLS handshake itself,
then a metadata request while a :class:`FailureRecorder` listens to the client
libraries' loggers, and raises :class:`BrokerUnavailable` with a message that
names the cause and the settings to look at.  Messages never contain the
password.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Literal

from workers.runtime import kafka_clients
from workers.runtime.settings import Settings

Cause = Literal["unreachable", "tls-untrusted", "tls-handshake", "authentication", "no-answer"]

_LIBRARY_LOGGERS = ("kafka", "aiokafka")


class BrokerUnavailable(Exception):
    """The broker cannot be used with these settings; ``str()`` says why."""

    def __init__(self, cause: Cause, message: str) -> None:
        super().__init__(message)
        self.cause = cause
        self.message = message


@dataclass
class _Seen:
    authentication: str | None = None
    unsupported_mechanism: str | None = None
    tls: str | None = None


class FailureRecorder(logging.Handler):
    """Listens to the Kafka client libraries' warnings for causes they do not raise."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.seen = _Seen()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a library's malformed log call must not break ours
            return
        if "SaslAuthenticationFailed" in text or "AuthenticationFailed" in text:
            self.seen.authentication = text
        elif "UnsupportedSaslMechanism" in text:
            self.seen.unsupported_mechanism = text
        elif "CERTIFICATE_VERIFY_FAILED" in text or "SSLCertVerificationError" in text:
            self.seen.tls = text

    def __enter__(self) -> FailureRecorder:
        for name in _LIBRARY_LOGGERS:
            logging.getLogger(name).addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        for name in _LIBRARY_LOGGERS:
            logging.getLogger(name).removeHandler(self)

    def explain(self, settings: Settings) -> BrokerUnavailable | None:
        """The cause the libraries reported, if one was seen."""
        if self.seen.authentication or self.seen.unsupported_mechanism:
            return _authentication(settings, unsupported=self.seen.unsupported_mechanism)
        if self.seen.tls:
            return BrokerUnavailable(
                "tls-untrusted",
                f"the broker's TLS certificate at {settings.kafka_bootstrap_servers} is not "
                f"trusted ({_trust_source(settings)})",
            )
        return None


def _trust_source(settings: Settings) -> str:
    if settings.kafka_ssl_cafile:
        return f"CLAIMS_KAFKA_SSL_CAFILE={settings.kafka_ssl_cafile}"
    return "system trust store; set CLAIMS_KAFKA_SSL_CAFILE to the broker's CA certificate"


def _authentication(settings: Settings, unsupported: str | None = None) -> BrokerUnavailable:
    mech = settings.kafka_sasl_mechanism or "?"
    if settings.kafka_security_protocol.startswith("SASL") is False:
        return BrokerUnavailable(
            "authentication",
            f"the broker at {settings.kafka_bootstrap_servers} requires authentication; "
            "set CLAIMS_KAFKA_SECURITY_PROTOCOL=SASL_SSL and the CLAIMS_KAFKA_SASL_* settings",
        )
    if unsupported:
        return BrokerUnavailable(
            "authentication",
            f"the broker at {settings.kafka_bootstrap_servers} does not accept SASL mechanism "
            f"{mech} (CLAIMS_KAFKA_SASL_MECHANISM)",
        )
    return BrokerUnavailable(
        "authentication",
        f"the broker at {settings.kafka_bootstrap_servers} refused the credentials of user "
        f"'{settings.kafka_sasl_username}' ({mech}): check CLAIMS_KAFKA_SASL_USERNAME and "
        "CLAIMS_KAFKA_SASL_PASSWORD",
    )


def _split(hostport: str) -> tuple[str, int]:
    host, _, port = hostport.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


def _probe_transport(settings: Settings, timeout_s: float) -> BrokerUnavailable | None:
    """TCP (and TLS) to each bootstrap address; None once one of them works."""
    context = kafka_clients.client_ssl_context(settings)
    problems: list[BrokerUnavailable] = []
    for hostport in settings.bootstrap_list:
        try:
            host, port = _split(hostport)
        except ValueError:
            problems.append(
                BrokerUnavailable(
                    "unreachable",
                    f"'{hostport}' is not host:port (CLAIMS_KAFKA_BOOTSTRAP_SERVERS)",
                )
            )
            continue
        try:
            raw = socket.create_connection((host, port), timeout=timeout_s)
        except OSError as exc:
            problems.append(
                BrokerUnavailable(
                    "unreachable",
                    f"cannot connect to the Kafka broker at {hostport}: "
                    f"{exc.strerror or type(exc).__name__} (CLAIMS_KAFKA_BOOTSTRAP_SERVERS)",
                )
            )
            continue
        try:
            if context is None:
                return None
            raw.settimeout(timeout_s)
            try:
                with context.wrap_socket(raw, server_hostname=host):
                    return None
            except ssl.SSLCertVerificationError as exc:
                problems.append(
                    BrokerUnavailable(
                        "tls-untrusted",
                        f"the broker's TLS certificate at {hostport} is not trusted: "
                        f"{exc.verify_message} ({_trust_source(settings)})",
                    )
                )
            except (ssl.SSLError, OSError) as exc:
                problems.append(
                    BrokerUnavailable(
                        "tls-handshake",
                        f"no TLS handshake with {hostport} ({type(exc).__name__}): is this a "
                        "TLS listener? (CLAIMS_KAFKA_SECURITY_PROTOCOL="
                        f"{settings.kafka_security_protocol}, CLAIMS_KAFKA_BOOTSTRAP_SERVERS)",
                    )
                )
        finally:
            raw.close()
    return problems[0] if problems else None


def diagnose(settings: Settings, recorder: FailureRecorder) -> BrokerUnavailable | None:
    """After a client library gave up: the cause it logged, else what a quick TCP/TLS
    probe finds, else None."""
    found = recorder.explain(settings) or _probe_transport(settings, timeout_s=3.0)
    if found is None:
        # kafka-python does not always see the broker's answer to a refused login
        # before the connection closes; aiokafka reports it reliably
        try:
            _metadata_request(settings, timeout_s=10.0)
        except BrokerUnavailable as exc:
            found = exc
    return found


def check_connection(settings: Settings, timeout_s: float | None = None) -> None:
    """Raise :class:`BrokerUnavailable` unless a metadata request succeeds within
    ``timeout_s`` (default ``kafka_connect_timeout_s``)."""
    timeout = settings.kafka_connect_timeout_s if timeout_s is None else timeout_s
    deadline = time.monotonic() + timeout
    problem = _probe_transport(settings, timeout_s=min(5.0, timeout))
    while problem is not None and problem.cause == "unreachable":
        # the broker may be starting (a container, a rolling restart): keep trying
        if time.monotonic() + 1.0 > deadline:
            raise problem
        time.sleep(1.0)
        problem = _probe_transport(settings, timeout_s=min(5.0, timeout))
    if problem is not None:
        raise problem
    _metadata_request(settings, max(1.0, deadline - time.monotonic()))


def _metadata_request(settings: Settings, timeout_s: float) -> None:
    """One bootstrap (metadata request) with aiokafka, the client faust uses; its
    per-host failure reasons reach the recorder through the ``aiokafka`` logger."""
    import asyncio

    async def bootstrap() -> None:
        client = kafka_clients.async_client(settings, "claims-connection-check", timeout_s)
        try:
            await asyncio.wait_for(client.bootstrap(), timeout_s)
        finally:
            await client.close()

    def in_own_thread() -> None:
        # a private event loop in a private thread: the caller's loop (faust's,
        # created later in this thread) is left untouched
        asyncio.run(bootstrap())

    from concurrent.futures import ThreadPoolExecutor

    with FailureRecorder() as recorder:
        with ThreadPoolExecutor(1, thread_name_prefix="kafka-connection-check") as pool:
            failure = pool.submit(in_own_thread).exception()
        if failure is None:
            return
        # the library's reason is in the recorder; otherwise it was a time-out
        explained = recorder.explain(settings)
    if explained is not None:
        raise explained
    hint = {
        "PLAINTEXT": "; if the listener uses TLS or SASL set CLAIMS_KAFKA_SECURITY_PROTOCOL",
        "SSL": "; if the listener also requires SASL set CLAIMS_KAFKA_SECURITY_PROTOCOL=SASL_SSL",
    }.get(settings.kafka_security_protocol, "")
    raise BrokerUnavailable(
        "no-answer",
        f"the Kafka broker at {settings.kafka_bootstrap_servers} accepted the connection "
        f"but did not answer a metadata request in {timeout_s:.0f} s "
        f"(CLAIMS_KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol}{hint})",
    )
