"""A local Apache Kafka broker with TLS and SASL/SCRAM listeners, for security tests.

The certificate authority and the broker's certificate are generated here with
the JDK's ``keytool`` (the broker needs a JDK anyway, so no OpenSSL is assumed).
The broker keeps a PLAINTEXT listener for its own inter-broker traffic and for the
start-up probe; the listeners under test are

* ``SSL``: TLS, server authentication only;
* ``SASL_SSL``: TLS plus SCRAM-SHA-512, with one user added when the storage is
  formatted (``kafka-storage format --add-scram``).
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.broker_support import free_port
from workers.runtime.local_broker import DEFAULT_CONFIG_DIR, LocalBroker
from workers.runtime.settings import Settings

SCRAM_USER = "claims-engine"

SECURE_LISTENERS = """\
listeners=PLAINTEXT://127.0.0.1:${port},SSL://127.0.0.1:${ssl_port},\
SASL_SSL://127.0.0.1:${sasl_port},CONTROLLER://127.0.0.1:${controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:${port},SSL://127.0.0.1:${ssl_port},\
SASL_SSL://127.0.0.1:${sasl_port}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
ssl.keystore.type=PKCS12
ssl.keystore.location=${keystore}
ssl.keystore.password=${store_password}
ssl.key.password=${store_password}
ssl.client.auth=none
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=\
org.apache.kafka.common.security.scram.ScramLoginModule required;
"""


@dataclass
class SecureBroker:
    broker: LocalBroker
    ssl_bootstrap: str
    sasl_bootstrap: str
    plain_bootstrap: str
    ca_file: Path
    password: str

    def settings(self, protocol: str, **over: object) -> Settings:
        """Client settings for ``protocol`` (``SSL`` or ``SASL_SSL``)."""
        values: dict[str, object] = {
            "kafka_security_protocol": protocol,
            "kafka_ssl_cafile": self.ca_file,
        }
        if protocol == "SSL":
            values["kafka_bootstrap_servers"] = self.ssl_bootstrap
        else:
            values.update(
                kafka_bootstrap_servers=self.sasl_bootstrap,
                kafka_sasl_mechanism="SCRAM-SHA-512",
                kafka_sasl_username=SCRAM_USER,
                kafka_sasl_password=self.password,
            )
        values.update(over)
        return Settings(**values)

    def env(self, protocol: str = "SASL_SSL", password: str | None = None) -> dict[str, str]:
        """``CLAIMS_KAFKA_*`` variables for a worker or CLI process."""
        env = {
            "CLAIMS_KAFKA_SECURITY_PROTOCOL": protocol,
            "CLAIMS_KAFKA_SSL_CAFILE": str(self.ca_file),
        }
        if protocol == "SSL":
            env["CLAIMS_KAFKA_BOOTSTRAP_SERVERS"] = self.ssl_bootstrap
        else:
            env.update(
                CLAIMS_KAFKA_BOOTSTRAP_SERVERS=self.sasl_bootstrap,
                CLAIMS_KAFKA_SASL_MECHANISM="SCRAM-SHA-512",
                CLAIMS_KAFKA_SASL_USERNAME=SCRAM_USER,
                CLAIMS_KAFKA_SASL_PASSWORD=self.password if password is None else password,
            )
        return env


def _keytool(*args: str, stdin: bytes | None = None) -> bytes:
    done = subprocess.run(["keytool", *args], input=stdin, capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"keytool {args[0]} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout


def make_certificates(directory: Path, password: str) -> tuple[Path, Path]:
    """A throw-away CA and a broker key pair signed by it for 127.0.0.1/localhost.

    Returns (broker PKCS12 keystore, CA certificate as PEM for the clients)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_store = directory / "ca.p12"
    keystore = directory / "broker.p12"
    ca_pem = directory / "ca.pem"
    common = ["-storetype", "PKCS12", "-storepass", password, "-keypass", password]
    _keytool(
        "-genkeypair", "-alias", "ca", "-keyalg", "RSA", "-keysize", "2048",
        "-dname", "CN=claims-engine test CA", "-ext", "bc:c", "-validity", "2",
        "-keystore", str(ca_store), *common,
    )  # fmt: skip
    ca_pem.write_bytes(
        _keytool("-exportcert", "-rfc", "-alias", "ca", "-keystore", str(ca_store), *common[:4])
    )
    _keytool(
        "-genkeypair", "-alias", "broker", "-keyalg", "RSA", "-keysize", "2048",
        "-dname", "CN=localhost", "-validity", "2", "-keystore", str(keystore), *common,
    )  # fmt: skip
    request = _keytool("-certreq", "-alias", "broker", "-keystore", str(keystore), *common[:4])
    signed = _keytool(
        "-gencert", "-rfc", "-alias", "ca", "-keystore", str(ca_store), *common[:4],
        "-ext", "SAN=ip:127.0.0.1,dns:localhost", "-ext", "EKU=serverAuth", "-validity", "2",
        stdin=request,
    )  # fmt: skip
    broker_pem = directory / "broker.pem"
    broker_pem.write_bytes(signed)
    _keytool(
        "-importcert", "-noprompt", "-alias", "ca", "-file", str(ca_pem),
        "-keystore", str(keystore), *common[:4],
    )  # fmt: skip
    _keytool(
        "-importcert", "-noprompt", "-alias", "broker", "-file", str(broker_pem),
        "-keystore", str(keystore), *common[:4],
    )  # fmt: skip
    return keystore, ca_pem


def start_secure_broker(home: Path) -> SecureBroker:
    password = secrets.token_urlsafe(18)
    store_password = secrets.token_urlsafe(12)
    keystore, ca_pem = make_certificates(home / "tls", store_password)
    config_dir = home / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    base = (DEFAULT_CONFIG_DIR / "server.properties.template").read_text()
    lines = [
        line
        for line in base.splitlines()
        if not line.startswith(("listeners=", "advertised.listeners=", "listener.security."))
    ]
    (config_dir / "server.properties.template").write_text(
        "\n".join(lines) + "\n\n# TLS and SASL/SCRAM for the security tests\n" + SECURE_LISTENERS
    )
    shared = Settings()
    ssl_port, sasl_port = free_port(), free_port()
    broker = LocalBroker(
        Settings(
            broker_home=home / "broker",
            broker_jar_cache=shared.broker_jar_cache,
            broker_port=free_port(),
            broker_controller_port=free_port(),
        ),
        config_dir,
        template_values={
            "ssl_port": str(ssl_port),
            "sasl_port": str(sasl_port),
            "keystore": str(keystore),
            "store_password": store_password,
        },
        format_args=["--add-scram", f"SCRAM-SHA-512=[name={SCRAM_USER},password={password}]"],
    )
    broker.start()
    return SecureBroker(
        broker=broker,
        ssl_bootstrap=f"127.0.0.1:{ssl_port}",
        sasl_bootstrap=f"127.0.0.1:{sasl_port}",
        plain_bootstrap=broker.bootstrap,
        ca_file=ca_pem,
        password=password,
    )
