"""All settings, from ``NOTIFICATION_ACTIONS_*`` environment variables (or a ``.env`` file).

One typed model; the README's settings table lists every field with its default,
and a test keeps the two in agreement.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_BROKER", "Settings", "TokenGrant", "env_name"]

DEFAULT_BROKER = "kafka://127.0.0.1:9092"
# Tokens copied from examples: anyone who has read them knows the token.
WELL_KNOWN_TOKENS = frozenset({
    "change-me", "changeme", "change_me", "secret", "token", "password", "admin", "default", "example",
    "xxx", "test", "12345678", "api-token", "your-token", "your-token-here",
})


class TokenGrant(BaseModel):
    """An organization token of the HTTP API, as configured: its SHA-256, never the token itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    organizations: list[Annotated[int, Field(ge=0, le=2**63 - 1)]] = Field(min_length=1, max_length=10_000)
    write: bool = False


class Settings(BaseSettings):
    """The service's settings. Field ``x`` is read from ``NOTIFICATION_ACTIONS_X``."""

    model_config = SettingsConfigDict(
        env_prefix="NOTIFICATION_ACTIONS_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    # --- Kafka and Faust -------------------------------------------------
    broker: str = Field(DEFAULT_BROKER, description="Kafka bootstrap URL(s), `kafka://host:port[;host:port]`.")
    app_id: str = Field("notification-actions", description="Faust app id: consumer group and changelog prefix.")
    store: str = Field("rocksdb://", description="Table store: `rocksdb://` or `memory://`.")
    data_dir: Path = Field(Path("var"), description="Where the worker keeps its RocksDB tables (`worker --processes N`: process i in `<DATA_DIR>/p<i>`).")
    topic_partitions: int = Field(8, ge=1, description="Partitions of topics the service creates.")
    topic_replication_factor: int = Field(1, ge=1, description="Replication factor of topics the service creates.")
    session_timeout_seconds: float = Field(
        30.0, gt=0, description="A worker that sends no heartbeat this long loses its partitions to the others."
    )
    embedded_broker: bool = Field(
        True,
        description="`worker` starts a local broker when `BROKER` is unset and nothing answers at the default.",
    )
    kafka_version: str = Field("4.1.1", description="Apache Kafka version the local broker runs.")
    kafka_home: Path = Field(
        Path.home() / ".cache" / "notification-actions",
        description="Cache of Kafka jars and the local broker's data.",
    )

    # --- Kafka connection security (kafka/security.py; every client uses it) ------
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How every Kafka connection is made: `PLAINTEXT`, `SSL` (TLS), `SASL_PLAINTEXT` "
        "or `SASL_SSL` (TLS and SASL: Confluent Cloud, MSK).",
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="SASL mechanism, required with `SASL_*`: `PLAIN` (Confluent Cloud), `SCRAM-SHA-512` "
        "(MSK) or `SCRAM-SHA-256`.",
    )
    kafka_sasl_username: str | None = Field(None, description="SASL user (Confluent Cloud: the API key).")
    kafka_sasl_password: SecretStr | None = Field(
        None, description="SASL password (Confluent Cloud: the API secret); never logged or shown."
    )
    kafka_ssl_cafile: Path | None = Field(
        None, description="PEM file of the CA(s) that signed the brokers' certificates (unset: the system's CAs, "
        "which Confluent Cloud and MSK need).",
    )
    kafka_ssl_certfile: Path | None = Field(
        None, description="PEM client certificate for mutual TLS (with its key, or the key in `KAFKA_SSL_KEYFILE`)."
    )
    kafka_ssl_keyfile: Path | None = Field(None, description="PEM private key of `KAFKA_SSL_CERTFILE`.")

    # --- topics ------------------------------------------------------------
    events_topic_prefix: str = Field("events.", description="Event topics are `<prefix><trigger-slug>`.")
    config_topic: str = Field("notification-actions.config", description="Compacted topic of action definitions (key = action id, null = delete).")
    integrations_topic: str = Field("notification-actions.integrations", description="Compacted topic of integration records (credentials).")
    directory_topic: str = Field("notification-actions.directory", description="Compacted topic of organization members and teams.")
    config_rejected_topic: str = Field("notification-actions.config.rejected", description="Refused config records with a reason per field.")
    events_dlq_topic: str = Field("notification-actions.events.dlq", description="Undecodable or invalid events, untouched; reason in headers.")
    deliveries_topic: str = Field(
        "", description="One delivery per (event, action); keyed by target. Unset: `<APP_ID>.deliveries`, so "
        "two deployments on one cluster never fire each other's deliveries (retry tiers follow it)."
    )
    deliveries_dlq_topic: str = Field("notification-actions.deliveries.dlq", description="Deliveries that will not be retried again.")
    outcomes_topic: str = Field("notification-actions.outcomes", description="One record per fire attempt.")
    replay_topic: str = Field(
        "", description="Events a `replay` or a backfill hands to the workers, with their scope (key = organization "
        "id, co-partitioned with the event topics, so the live throttle state applies). Unset: `<APP_ID>.replay`."
    )
    backfills_topic: str = Field(
        "notification-actions.backfills",
        description="Compacted topic of backfill jobs run inside the workers (key = job id): state and progress.",
    )
    dlq_retention_days: float = Field(30.0, gt=0, description="Retention of the DLQs the service creates (days).")
    rejected_retention_days: float = Field(
        30.0, gt=0, description="Retention of the rejected-config topic the service creates (days)."
    )
    outcomes_retention_days: float = Field(7.0, gt=0, description="Retention of the outcomes topic it creates (days).")

    # --- pipeline ----------------------------------------------------------
    max_in_flight: int = Field(32, ge=1, description="Deliveries fired concurrently per worker.")
    max_pending_per_target: int = Field(
        8, ge=1,
        description="Deliveries a slow target may hold in memory at once (a fast one: as many as it fires "
        "in 2 s, or more on a loaded worker, up to half the pending set); later ones wait in the retry tiers, "
        "behind its circuit, in order.",
    )
    producer_linger_ms: float = Field(
        5.0, ge=0, description="How long the producer waits to batch records (ms): fewer, larger produce requests."
    )
    dedup_ttl_seconds: float = Field(86400.0, gt=0, description="How long a delivered dedup key is remembered.")
    max_event_bytes: int = Field(1_000_000, ge=1, description="Larger events go to the events DLQ.")
    http_timeout_seconds: float = Field(15.0, gt=0, description="Timeout of one request to a service.")

    # --- retries, dead letters, circuits ------------------------------------
    quick_retries: int = Field(2, ge=0, description="In-process retries of a retryable failure before the retry topics.")
    quick_retry_base_seconds: float = Field(0.5, ge=0, description="First in-process backoff; doubles, with jitter.")
    quick_retry_cap_seconds: float = Field(
        10.0, ge=0, description="Longest in-process wait; a longer Retry-After goes to the retry topics."
    )
    retry_delays_seconds: list[float] = Field(
        [30.0, 120.0, 600.0, 3600.0], min_length=1, description="Delay of each retry tier (JSON list); one topic per tier."
    )
    max_pacing_hold_seconds: float = Field(
        60.0, gt=0, le=60.0,
        description="Longest a response's empty rate-limit bucket holds its target (≤ 60 s); longer waits are the retry tiers'.",
    )
    max_attempts: int = Field(10, ge=1, description="Attempts before a retryable failure is dead-lettered.")
    max_delivery_age_seconds: float = Field(
        86400.0, gt=0, description="Age (since matching) after which a failing delivery is dead-lettered."
    )

    # --- HTTP API ----------------------------------------------------------
    web_host: str = Field("127.0.0.1", description="Interface the worker's web server binds.")
    web_port: int = Field(
        6066, ge=0, le=65535,
        description="Port of the worker's web server (`worker --processes N`: process i serves `WEB_PORT + i`).",
    )
    api_token: SecretStr | None = Field(
        None, description="The admin bearer token of the HTTP API: every organization, read and write, and what "
        "belongs to none (`/lag`, `/circuits`). Health, readiness and metrics are open.",
    )
    api_tokens: list[TokenGrant] = Field(
        [], description="Organization tokens (JSON list of `{\"name\", \"sha256\", \"organizations\": [ids], "
        "\"write\": bool}`; only the token's SHA-256 is kept). `notification-actions api-token` prints a new one.",
    )
    api_max_body_bytes: int = Field(
        262_144, ge=1024, le=8_388_608, description="Larger request bodies are refused with 413."
    )
    api_write_timeout_seconds: float = Field(
        30.0, gt=0, le=300,
        description="How long a write through the API waits for the workers to apply or refuse it (504 after).",
    )
    api_writes_per_minute: int = Field(
        60, ge=1, description="Writes, test-fires and backfills per organization per minute (429 past it).",
    )
    backfill_max_running: int = Field(
        2, ge=1, description="Backfills of one organization running at once over the API (429 past it).",
    )
    backfill_events_per_second: float = Field(
        2000.0, gt=0, description="Events a backfill job reads per second at most: one tenant's backfill leaves "
        "the worker's time to everyone's live events.",
    )

    # --- logging -----------------------------------------------------------
    log_level: str = Field("info", description="debug, info, warning or error.")
    log_format: str = Field("text", description="`text` or `json` (one object per line).")

    # --- consumer lag (/lag, /metrics) ------------------------------------------
    lag_sample_interval_seconds: float = Field(
        5.0, gt=0, description="How often the worker samples consumer lag for `/lag` and `/metrics`."
    )
    lag_window_samples: int = Field(
        12, ge=1, description="Samples the worker's lag statuses are judged over (the window: samples × interval)."
    )

    # --- external services -------------------------------------------------
    slack_api_url: str = Field("https://slack.com/api", description="Slack Web API base URL.")
    pagerduty_events_url: str = Field("https://events.pagerduty.com/v2/enqueue", description="PagerDuty Events API v2 endpoint.")
    opsgenie_api_url: str = Field("https://api.opsgenie.com", description="Opsgenie API base URL (EU: https://api.eu.opsgenie.com).")
    github_api_url: str = Field("https://api.github.com", description="GitHub REST API base URL.")
    slack_live_check: bool = Field(
        False, description="validate_action() also asks Slack's conversations.info that the channel exists."
    )
    smtp_host: str = Field("127.0.0.1", description="SMTP server for email.")
    smtp_port: int = Field(25, description="SMTP port.")
    smtp_username: str | None = Field(None, description="SMTP user (unset: no AUTH).")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    smtp_from: str = Field("notifications@localhost", description="Sender address of emails.")
    smtp_starttls: bool = Field(False, description="Use STARTTLS.")
    webhook_allow_http: bool = Field(False, description="Allow `http://` webhook URLs (https only otherwise).")
    webhook_allow_private: bool = Field(
        False,
        description="Allow webhook URLs that resolve to private or loopback addresses "
        "(cloud metadata addresses, all of 169.254.0.0/16, stay refused).",
    )

    @model_validator(mode="after")
    def _internal_topics_follow_the_app_id(self) -> "Settings":
        if not self.deliveries_topic:
            self.deliveries_topic = f"{self.app_id}.deliveries"
        if not self.replay_topic:
            self.replay_topic = f"{self.app_id}.replay"
        return self

    @field_validator("kafka_security_protocol", "kafka_sasl_mechanism", mode="before")
    @classmethod
    def _upper_case(cls, value: object) -> object:
        return (value.strip().upper() or None) if isinstance(value, str) else value

    @field_validator("kafka_sasl_username", "kafka_sasl_password", "kafka_ssl_cafile", "kafka_ssl_certfile",
                     "kafka_ssl_keyfile", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile")
    @classmethod
    def _readable_file(cls, path: Path | None) -> Path | None:
        if path is not None and not path.expanduser().is_file():
            raise ValueError(f"{path} is not a file")
        return path.expanduser() if path is not None else None

    @model_validator(mode="after")
    def _kafka_security_is_consistent(self) -> "Settings":
        """A combination that cannot work is refused at start, naming the setting (never its value)."""
        protocol = self.kafka_security_protocol
        sasl = {"kafka_sasl_mechanism": self.kafka_sasl_mechanism, "kafka_sasl_username": self.kafka_sasl_username,
                "kafka_sasl_password": self.kafka_sasl_password}
        tls = {"kafka_ssl_cafile": self.kafka_ssl_cafile, "kafka_ssl_certfile": self.kafka_ssl_certfile,
               "kafka_ssl_keyfile": self.kafka_ssl_keyfile}
        protocol_env = env_name("kafka_security_protocol")
        if protocol.startswith("SASL_"):
            missing = [env_name(k) for k, v in sasl.items()
                       if not (v.get_secret_value() if isinstance(v, SecretStr) else (v or "").strip())]
            if missing:
                raise ValueError(f"{protocol_env}={protocol} needs {', '.join(missing)}")
        elif set_ := [env_name(k) for k, v in sasl.items() if v is not None]:
            raise ValueError(f"{', '.join(set_)} set, but {protocol_env} is {protocol}, which sends no credentials "
                             "(SASL_SSL or SASL_PLAINTEXT would)")
        if "SSL" not in protocol and (set_ := [env_name(k) for k, v in tls.items() if v is not None]):
            raise ValueError(f"{', '.join(set_)} set, but {protocol_env} is {protocol}, which uses no TLS "
                             "(SSL or SASL_SSL would)")
        if self.kafka_ssl_keyfile is not None and self.kafka_ssl_certfile is None:
            raise ValueError(f"{env_name('kafka_ssl_keyfile')} is set without {env_name('kafka_ssl_certfile')}")
        return self

    @field_validator("api_token")
    @classmethod
    def _not_well_known(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and token.get_secret_value().strip().lower() in WELL_KNOWN_TOKENS:
            raise ValueError(
                "is a well-known placeholder; set a random one, e.g. "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return token

    def broker_hosts(self) -> list[str]:
        """``host:port`` items of :attr:`broker` without the ``kafka://`` scheme."""
        out = []
        for part in self.broker.replace(",", ";").split(";"):
            part = part.strip()
            if part.startswith("kafka://"):
                part = part[len("kafka://") :]
            if part:
                out.append(part)
        return out

    def event_topic(self, trigger_slug: str) -> str:
        return f"{self.events_topic_prefix}{trigger_slug}"

    def retry_topics(self) -> list[str]:
        """One topic per retry tier: ``<deliveries_topic>.retry.<tier>``."""
        return [f"{self.deliveries_topic}.retry.{i}" for i in range(len(self.retry_delays_seconds))]


def env_name(field: str) -> str:
    """The environment variable of settings field ``field``."""
    return f"NOTIFICATION_ACTIONS_{field.upper()}"


def settings_table() -> str:
    """The README's settings table (``make docs`` writes it between its markers)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default
        if isinstance(default, Path) and str(default).startswith(str(Path.home())):
            default = "~/" + str(default.relative_to(Path.home()))
        text = "(unset)" if default in (None, "") else str(default).lower() if isinstance(default, bool) else str(default)
        rows.append(f"| `{env_name(name)}` | `{text}` | {field.description or ''} |")
    return "\n".join(rows)


def write_readme_table(readme: Path) -> None:
    text = readme.read_text()
    start, end = "<!-- settings -->\n", "<!-- /settings -->"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}{settings_table()}\n{end}{tail}")


if __name__ == "__main__":
    write_readme_table(Path("README.md"))
