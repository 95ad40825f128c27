"""Typed settings: the only place the process environment is read.

Every value comes from an environment variable prefixed ``CLAIMS_`` (or a
``.env`` file beside the working directory).  Secrets are ``SecretStr`` so that
printing, logging or ``repr`` of the settings never shows them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
LogFormat = Literal["auto", "json", "console"]


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "claims-engine"


class Settings(BaseSettings):
    """Runtime configuration of the claims engine (env prefix ``CLAIMS_``)."""

    model_config = SettingsConfigDict(
        env_prefix="CLAIMS_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # --- Kafka connection -------------------------------------------------
    kafka_bootstrap_servers: str = Field(
        default="",
        description="Comma-separated host:port list; defaults to the local broker.",
    )
    kafka_security_protocol: SecurityProtocol = Field(
        default="PLAINTEXT", description="How clients talk to the brokers (TLS, SASL)."
    )
    kafka_sasl_mechanism: SaslMechanism | None = Field(
        default=None, description="SASL mechanism (with SASL_PLAINTEXT or SASL_SSL)."
    )
    kafka_sasl_username: str | None = Field(default=None, description="SASL user name.")
    kafka_sasl_password: SecretStr | None = Field(
        default=None, description="SASL password (a secret: never printed or logged)."
    )
    kafka_ssl_cafile: Path | None = Field(
        default=None,
        description="PEM file of the CA(s) that signed the brokers' certificates (must exist); "
        "unset: the system's trust store.",
    )
    kafka_request_timeout_s: float = Field(
        default=30.0, gt=0, description="Time-out of one client request."
    )
    kafka_connect_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="How long a starting worker waits for the brokers before it exits (status 3).",
    )

    # --- Input limits ---------------------------------------------------------
    max_event_bytes: int = Field(
        default=1_000_000,
        ge=1024,
        description="Largest message a processor or `claims ingest` accepts; larger ones are "
        "dead-lettered (`too-large`) or reported by line.",
    )
    max_edi_file_bytes: int = Field(
        default=100_000_000,
        ge=1024,
        description="Largest EDI file the inbox, `claims ingest 835`, `claims edi` and "
        "`claims simulate-payer` read.",
    )

    # --- Topics -------------------------------------------------------------
    topic_prefix: str = Field(
        default="", description="Prepended to every topic and consumer group name."
    )
    topic_partitions: int = Field(
        default=6, ge=1, le=1000, description="Partitions of topics the engine creates."
    )
    topic_replication: int = Field(
        default=1, ge=1, le=10, description="Replication factor of topics the engine creates."
    )

    # --- Local development broker ----------------------------------------
    broker_home: Path = Field(
        default_factory=lambda: _default_cache_dir() / "broker",
        description="Where the local broker keeps its data, logs and pid file.",
    )
    broker_jar_cache: Path = Field(
        default_factory=lambda: _default_cache_dir() / "kafka-jars",
        description="Where the broker's jars are downloaded once (outside the git tree).",
    )
    broker_port: int = Field(
        default=9092, ge=1, le=65535, description="Client port of the local broker."
    )
    broker_controller_port: int = Field(
        default=9093, ge=1, le=65535, description="KRaft controller port of the local broker."
    )
    broker_heap: str = Field(default="512m", description="JVM heap of the local broker.")
    broker_start_timeout_s: float = Field(
        default=90.0, gt=0, description="How long `claims broker start` waits for the broker."
    )

    # --- Workers ----------------------------------------------------------
    web_host: str = Field(
        default="127.0.0.1", description="Interface of a worker's web view (metrics, health)."
    )
    web_port: int = Field(default=6066, ge=1, le=65535, description="Port of the web view.")
    web_enabled: bool = Field(default=True, description="Serve the web view.")
    state_dir: Path = Field(
        default_factory=lambda: Path("var") / "state", description="faust's data directory."
    )
    codeset_dir: Path | None = Field(
        default=None,
        description="Where `claims codes load-icd10cm` keeps ICD-10-CM releases newer than the "
        "shipped ones (read by enrichment); default `<state_dir>/code-sets`.",
    )
    table_store: str = Field(
        default="memory://",
        description="faust table store (`rocksdb://` with the rocksdict extra); tables are "
        "recovered from their changelog topics either way.",
    )
    table_standby_replicas: int = Field(
        default=0, ge=0, description="Standby copies of table partitions on other workers."
    )
    commit_interval_s: float = Field(
        default=2.8, gt=0, description="How often consumer offsets are committed."
    )
    producer_linger_ms: float = Field(
        default=5.0,
        ge=0,
        le=1000,
        description="How long the producer gathers messages into one request (0: send at once).",
    )
    producer_max_batch_bytes: int = Field(
        default=262_144,
        ge=16_384,
        le=1_000_000,
        description="Largest batch of messages for one partition in one produce request.",
    )
    consumer_fetch_max_wait_ms: int = Field(
        default=100,
        ge=0,
        le=10_000,
        description=(
            "How long the broker may hold a fetch that finds no new data. One fetch per "
            "broker is in flight at a time, so a busy partition whose next batch missed "
            "the request waits this long (faust fixes it at 1,500 ms)."
        ),
    )
    consumer_fetch_min_bytes: int = Field(
        default=65_536,
        ge=1,
        le=1_048_576,
        description=(
            "How much new data the broker waits for (at most the fetch wait) before it "
            "answers a fetch; 1 answers at once. When the stages keep up, each fetch then "
            "brings several messages instead of one or two (about a third less worker CPU "
            "a session at a steady 100 sessions/s), for at most the fetch wait of latency "
            "a hop; under load fetches fill at once."
        ),
    )
    consumer_max_fetch_bytes: int = Field(
        default=4_194_304,
        ge=65_536,
        le=67_108_864,
        description="Most data one fetch takes from one partition.",
    )
    consumer_session_timeout_s: float = Field(
        default=30.0, ge=6, description="A worker that stops heart-beating loses its partitions."
    )
    consumer_rebalance_timeout_s: float = Field(
        default=60.0, ge=5, description="How long a rebalance waits for members to rejoin."
    )
    retry_attempts: int = Field(
        default=4,
        ge=1,
        le=50,
        description="Attempts at a message whose failure is transient before it is dead-lettered.",
    )
    retry_backoff_s: float = Field(
        default=0.2, ge=0, description="First back-off between attempts (doubles each time)."
    )
    retry_backoff_max_s: float = Field(default=5.0, ge=0, description="Longest back-off.")
    stacktrace_limit: int = Field(
        default=4000, ge=200, description="Characters of stack trace kept in a dead letter."
    )
    recovery_stall_s: float = Field(
        default=10.0,
        gt=0,
        description=(
            "A changelog partition being recovered that has records left but has not "
            "moved for this long is re-read (sought to its next offset)."
        ),
    )
    recovery_nudges: int = Field(
        default=3,
        ge=0,
        description=(
            "Re-reads of a stalled changelog partition before the worker stops itself "
            "(for its supervisor to start it again) rather than hang."
        ),
    )
    gc_first_generation_threshold: int = Field(
        default=50_000,
        ge=0,
        description=(
            "Net allocations between passes of the garbage collector's young generation "
            "(Python's default is 700); objects alive at start-up are frozen. 0: Python's "
            "defaults."
        ),
    )

    # --- Enrichment ---------------------------------------------------------
    enrich_hold_limit_s: float = Field(
        default=30 * 24 * 3600,
        gt=0,
        description="Held sessions older than this are rejected `hold-expired`.",
    )
    enrich_sweep_interval_s: float = Field(
        default=60.0, gt=0, description="How often held sessions are re-checked and expired."
    )
    reference_ready_timeout_s: float = Field(
        default=60.0, gt=0, description="How long to wait for the reference mirror at start."
    )

    # --- Units ----------------------------------------------------------------
    units_self_pay_policy: Literal["cms", "ama"] = Field(
        default="ama", description="Unit policy for sessions not billed to a payer."
    )

    # --- Claims ---------------------------------------------------------------
    claims_day_grace_h: float = Field(
        default=72,
        ge=0,
        description="Hours a day of service stays open after the clinic's midnight, so "
        "visits reported late join its claim; then the day's claim is released.",
    )
    claims_replace_after_days: int = Field(
        default=30,
        ge=1,
        description="A visit that arrives after its day's claim was sent waits for the "
        "payer's claim number (from the 835) to replace the claim; after this many days "
        "without one it becomes a work item on claims.changes-waiting.",
    )
    claims_tick_interval_s: float = Field(
        default=1.0, gt=0, description="How often batches are checked for their age."
    )
    claims_validate: bool = Field(
        default=True, description="Validate every 837P file with pyx12 before release."
    )
    claims_validation_workers: int = Field(
        default=1, ge=1, le=16, description="Processes of the validation gate."
    )

    # --- Eligibility (270s sent on the engine's own) ------------------------------
    eligibility_auto: bool = Field(
        default=True,
        description="Send a 270 when a health-plan coverage is first seen or changes, and "
        "for the first session of each month on it (docs/eligibility.md).",
    )
    eligibility_flush_interval_s: float = Field(
        default=10.0,
        gt=0,
        description="How often the questions waiting are written as one 270 per payer.",
    )

    # --- Deposits (ERA/EFT reassociation) ----------------------------------------
    deposits_unfunded_days: int = Field(
        default=5,
        ge=0,
        description="Business days after an 835's payment date (BPR16) with no deposit "
        "matched before it becomes a work item on deposits.unfunded.",
    )
    deposits_unremitted_days: int = Field(
        default=5,
        ge=0,
        description="Business days after a payer's deposit with no 835 matched before it "
        "becomes a work item on deposits.unremitted.",
    )
    deposits_sweep_interval_s: float = Field(
        default=600.0,
        gt=0,
        description="How often waiting deposits and 835s are checked for their age.",
    )

    # --- Operations -----------------------------------------------------------
    operator: str | None = Field(
        default=None, description="Who runs ops commands (audit trail); default: the OS user."
    )
    reveal_operators: str = Field(
        default="", description="Comma-separated operators allowed to see unmasked patient data."
    )
    dashboard_token: SecretStr | None = Field(
        default=None, description="Bearer token of the dashboard; unset: the dashboard is off."
    )

    # --- Retention of new topics, by class (days) -------------------------------
    retention_days_events: float = Field(
        default=30, gt=0, description="Retention of new event and outcome topics (days)."
    )
    retention_days_records: float = Field(
        default=400,
        gt=0,
        description="Retention of new record topics: submitted claims, files, remittances, "
        "postings (days).",
    )
    retention_days_dead_letters: float = Field(
        default=90, gt=0, description="Dead-letter topics."
    )
    retention_days_audit: float = Field(
        default=7 * 365, gt=0, description="Retention of `ops.audit` (days)."
    )

    # --- Files ------------------------------------------------------------
    inbox_dir: Path = Field(
        default_factory=lambda: Path("var") / "inbox",
        description="Where payers' and receivers' EDI files arrive (835, 999, 277CA).",
    )
    outbox_dir: Path = Field(
        default_factory=lambda: Path("var") / "outbox",
        description="Where 837 files, superbills, statements and 999s are written.",
    )
    inbox_poll_interval_s: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often `claims worker inbox` looks at the inbox (a file is taken "
        "once its size held for one look).",
    )
    inbox_acknowledge_835: bool = Field(
        default=False,
        description="Write a 999 for every 835 taken from the inbox (to `<outbox>/999/`), "
        "for payers that ask for one.",
    )
    claims_follow_up_days: int = Field(
        default=30,
        ge=1,
        description="An accepted claim with no 835 after this many days needs follow-up; "
        "the claims stage then sends a 276 claim status inquiry for it.",
    )
    claims_status_inquiry_every_days: int = Field(
        default=14,
        ge=1,
        description="While a claim past the follow-up period still has no 835, another "
        "276 goes after this many days (none while a person has it on "
        "claims.status-attention).",
    )

    # --- Partners' SFTP mailboxes (`claims worker mailbox`) ------------------
    mailbox_secrets_dir: Path = Field(
        default_factory=lambda: Path("var") / "secrets",
        description="Where the key and password files partner records name are read "
        "(a relative `file` is taken under it; a path outside it is refused).",
    )
    mailbox_connect_timeout_s: float = Field(
        default=30.0, gt=0, description="How long a mailbox connection may take to open."
    )
    mailbox_retry_attempts: int = Field(
        default=6,
        ge=1,
        le=100,
        description="Failed uploads of one file before it becomes a work item on "
        "partners.delivery-failed (it is still retried at the longest back-off).",
    )
    mailbox_retry_backoff_s: float = Field(
        default=30.0, gt=0, description="First wait after a failed upload (doubles each time)."
    )
    mailbox_retry_backoff_max_s: float = Field(
        default=1800.0, gt=0, description="Longest wait between upload attempts."
    )
    mailbox_upload_max_age_h: float = Field(
        default=72.0,
        gt=0,
        description="An 837 file released longer ago than this when the mailbox worker first "
        "sees it is not uploaded by itself (a work item instead).",
    )

    # --- Logging ------------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Our loggers' level; client libraries never go below INFO."
    )
    log_format: LogFormat = Field(
        default="auto", description="`json` when not a terminal, `console` otherwise (`auto`)."
    )

    @field_validator("kafka_ssl_cafile", mode="before")
    @classmethod
    def _no_empty_cafile(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("kafka_ssl_cafile")
    @classmethod
    def _cafile_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"must be a PEM file of CA certificates; {value} is not a file")
        return value

    @model_validator(mode="after")
    def _default_bootstrap(self) -> Settings:
        if not self.kafka_bootstrap_servers:
            self.kafka_bootstrap_servers = f"127.0.0.1:{self.broker_port}"
        if self.kafka_security_protocol.startswith("SASL"):
            if not (self.kafka_sasl_mechanism and self.kafka_sasl_username):
                raise ValueError(
                    "kafka_security_protocol SASL_* needs kafka_sasl_mechanism and "
                    "kafka_sasl_username (CLAIMS_KAFKA_SASL_MECHANISM, CLAIMS_KAFKA_SASL_USERNAME)"
                )
            if self.kafka_sasl_password is None:
                raise ValueError(
                    "kafka_security_protocol SASL_* needs kafka_sasl_password "
                    "(CLAIMS_KAFKA_SASL_PASSWORD)"
                )
        return self

    @property
    def bootstrap_list(self) -> list[str]:
        return [s.strip() for s in self.kafka_bootstrap_servers.split(",") if s.strip()]

    @property
    def code_sets(self) -> Path:
        """Where operator-loaded code-set releases are kept."""
        return self.codeset_dir or self.state_dir / "code-sets"

    def topic(self, name: str) -> str:
        """Physical topic name of a catalogue topic."""
        return f"{self.topic_prefix}{name}"

    def group_id(self, name: str) -> str:
        """Consumer group / faust app id of a worker."""
        return f"{self.topic_prefix}claims-{name}"

    def kafka_python_config(self) -> dict[str, Any]:
        """Connection options for kafka-python clients (admin, producer, consumer)."""
        cfg: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_list,
            "security_protocol": self.kafka_security_protocol,
            "request_timeout_ms": int(self.kafka_request_timeout_s * 1000),
        }
        if self.kafka_ssl_cafile is not None:
            cfg["ssl_cafile"] = str(self.kafka_ssl_cafile)
        if self.kafka_security_protocol.startswith("SASL"):
            cfg["sasl_mechanism"] = self.kafka_sasl_mechanism
            cfg["sasl_plain_username"] = self.kafka_sasl_username
            assert self.kafka_sasl_password is not None
            cfg["sasl_plain_password"] = self.kafka_sasl_password.get_secret_value()
        return cfg

    def redacted(self) -> dict[str, Any]:
        """Settings as plain JSON-able data with every secret masked."""
        data = self.model_dump(mode="json")
        for name, value in self:
            if isinstance(value, SecretStr):
                data[name] = "**********"
        return data


class SecretUnavailable(ValueError):
    """A partner's mailbox secret could not be read (the message names where, never what)."""


def read_secret(settings: Settings, env: str | None, file: str | None) -> SecretStr:
    """A mailbox secret a partner record refers to: the environment variable ``env``
    (only ``CLAIMS_SFTP_*``, checked by the contract and again here) or the file
    ``file`` under ``mailbox_secrets_dir``, which must be owner-only."""
    import os
    import stat

    if env is not None:
        if not env.startswith("CLAIMS_SFTP_"):
            raise SecretUnavailable(f"{env} is not a mailbox secret (CLAIMS_SFTP_* only)")
        value = os.environ.get(env)
        if not value:
            raise SecretUnavailable(f"environment variable {env} is not set")
        return SecretStr(value)
    if file is None:
        raise SecretUnavailable("the secret reference names neither env nor file")
    root = settings.mailbox_secrets_dir.resolve()
    path = (root / file).resolve()
    if not path.is_relative_to(root):
        raise SecretUnavailable(
            f"{file} is outside CLAIMS_MAILBOX_SECRETS_DIR ({root}): refused"
        )
    try:
        info = path.stat()
    except OSError as exc:
        raise SecretUnavailable(f"cannot read {path}: {exc.strerror}") from None
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise SecretUnavailable(
            f"{path} is readable by others (mode {stat.S_IMODE(info.st_mode):o}): "
            "make it owner-only (chmod 600)"
        )
    text = path.read_text(encoding="utf-8")
    # a key file is taken whole; a password file loses the line break editors add
    return SecretStr(text if text.lstrip().startswith("-----") else text.rstrip("\r\n"))


def load_settings(**overrides: Any) -> Settings:
    """Build the settings from the environment, with explicit overrides winning."""
    return Settings(**overrides)
