"""The cloud service's one settings object, read from ``PROGNOS_*`` environment variables.

Nothing here is a module-level singleton: ``create_app(Settings(...))`` and the CLI build
their own, so tests run many services side by side with different databases.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_SECRET", "Settings", "split_mqtt_url", "stream_servers"]

#: Placeholder accepted only when ``environment == "local"``; anywhere else it is refused,
#: because API tokens are stored as HMACs keyed by this secret.
DEFAULT_SECRET = "local-development-only"


def stream_servers(value: str) -> list[str]:
    """The NATS server URLs of a comma-separated PROGNOS_STREAM_URL, each checked."""
    servers = [u.strip() for u in value.split(",") if u.strip()]
    if not servers:
        raise ValueError("PROGNOS_STREAM_URL names no server")
    for url in servers:
        scheme, _, rest = url.partition("://")
        host, _, port = rest.rpartition(":")
        if scheme not in ("nats", "tls") or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"PROGNOS_STREAM_URL: {url!r} is not nats://HOST:PORT")
    return servers


def split_mqtt_url(url: str) -> tuple[str, int, bool]:
    """``mqtt://host:port`` / ``mqtts://host:port`` / ``host:port`` -> (host, port, tls)."""
    parts = urlsplit(url if "://" in url else "mqtt://" + url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname or port == -1:
        raise ValueError(f"MQTT URL {url!r} is not mqtt://HOST:PORT or mqtts://HOST:PORT")
    tls = parts.scheme == "mqtts"
    return parts.hostname, port or (8883 if tls else 1883), tls


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PROGNOS_", extra="ignore")

    environment: Literal["local", "staging", "production"] = "local"
    data_dir: Path = Path("data")
    database_url: str | None = None  # default: SQLite (WAL) in data_dir
    secret_key: str = Field(default=DEFAULT_SECRET, repr=False)  # never in a repr or a log

    # MQTT ingest: a URL such as mqtt://127.0.0.1:1883 (mqtts:// for TLS); None = no worker
    mqtt_url: str | None = None
    # the clustered tier (docs/scale.md): NATS servers to ingest the edge stream from,
    # "nats://h1:4222,nats://h2:4222"; the stream keeps stream_replicas copies
    stream_url: str | None = None
    stream_replicas: int = Field(default=3, ge=1, le=5)
    # partitions of the stream, by agent: each is read by one worker at a time, so at most
    # this many workers share the load; fixed when the stream is created
    stream_partitions: int = Field(default=8, ge=1, le=1024)
    mqtt_username: str | None = None
    mqtt_password: str | None = Field(default=None, repr=False)
    mqtt_ca_file: Path | None = None
    mqtt_share_group: str = "prognos-cloud"
    mqtt_topic: str = "prognos/v1/+/edge/+/+"
    # None: unique per process (prognos-cloud-{host}-{pid}), so two workers never take each
    # other's session; a fixed id keeps the broker's backlog for this worker over a restart
    mqtt_client_id: str | None = None
    # how long the broker keeps an absent worker's session (and its share of the stream);
    # short by default: the edge resends whatever the cloud has not confirmed anyway
    mqtt_session_expiry_s: int = Field(default=300, ge=0, le=7 * 86400)
    # broker identity: where the cloud writes mosquitto's password file and ACL from its
    # registry (None: it writes none), and mosquitto's pid file, to make it reload them
    broker_auth_dir: Path | None = None
    broker_pid_file: Path | None = None
    # the broker sends at most this many unacked messages; the worker commits what has
    # queued, up to ingest_batch_max messages, in one transaction and then acks them
    mqtt_receive_maximum: int = Field(default=200, ge=1, le=65535)
    ingest_batch_max: int = Field(default=100, ge=1)
    # summaries of a batch written in one multi-row insert (services/summary_bulk.py);
    # false: one savepoint each, like every other message (kept to measure the difference)
    ingest_bulk_summaries: bool = True

    # telemetry history beyond what the device-health page needs
    influx_url: str | None = None
    influx_token: str = Field(default="", repr=False)
    influx_org: str = "prognos"
    influx_bucket: str = "telemetry"
    influx_batch_size: int = Field(default=500, ge=1)
    influx_flush_interval_ms: int = Field(default=1000, ge=10)
    # where the device page and /devices/{id}/health read telemetry windows: the database,
    # or back from VictoriaMetrics at influx_url (cloud/telemetry_history.py)
    history_source: Literal["database", "victoriametrics"] = "database"
    summary_retention_days: float = Field(default=14.0, gt=0)

    # automation
    scheduler_interval_s: float = Field(default=30.0, gt=0)
    auto_dispatch: bool = True
    verification_window_h: float = Field(default=72.0, ge=0)
    reminder_lead_days: float = Field(default=14.0, ge=0)
    replacement_lead_days: float = Field(default=3.0, ge=0)
    offline_after_s: float = Field(default=900.0, gt=0)

    # HTTP
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    max_model_bytes: int = Field(default=64_000_000, ge=1024)  # model uploads to the registry
    downlink_interval_s: float = Field(default=2.0, gt=0)  # how often due rollout commands go out
    log_json: bool = True
    log_level: str = "INFO"

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_url_parses(cls, value: str | None) -> str | None:
        if value is not None:
            split_mqtt_url(value)
        return value

    @field_validator("stream_url")
    @classmethod
    def _stream_url_parses(cls, value: str | None) -> str | None:
        if value is not None:
            stream_servers(value)
        return value

    def stream_servers(self) -> list[str]:
        assert self.stream_url, "no PROGNOS_STREAM_URL"
        return stream_servers(self.stream_url)

    def mqtt_client_name(self) -> str:
        """The MQTT client id of this process's ingest worker (its downlink adds a suffix)."""
        return self.mqtt_client_id or f"prognos-cloud-{socket.gethostname()}-{os.getpid()}"

    def mqtt_broker(self) -> tuple[str, int, bool]:
        """(host, port, tls) of ``mqtt_url``."""
        assert self.mqtt_url, "no PROGNOS_MQTT_URL"
        return split_mqtt_url(self.mqtt_url)

    @model_validator(mode="after")
    def _history_has_its_engine(self) -> Settings:
        if self.history_source == "victoriametrics" and not self.influx_url:
            raise ValueError(
                "PROGNOS_HISTORY_SOURCE=victoriametrics needs PROGNOS_INFLUX_URL (the engine to read from)"
            )
        return self

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.environment != "local" and self.secret_key == DEFAULT_SECRET:
            raise ValueError(
                "PROGNOS_SECRET_KEY must be set to a real secret outside environment=local "
                "(API tokens are keyed by it)"
            )
        return self

    @property
    def db_url(self) -> str:
        """The SQLAlchemy URL in use: the configured one, or SQLite in ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'prognos.db').resolve()}"
