"""Agent configuration: one TOML file (or YAML when PyYAML is installed), validated by pydantic.

::

    data_dir = "/var/lib/prognos-edge"
    tenant = "acme"
    agent_id = "edge-17"
    detector = "surprise"                      # the default; see models/registry.py

    [rated_life]
    air_filter = 2000.0                        # hours; overrides the built-in table

    [condition.air_filter]
    channel = "filter_dp"                      # the channel that shows its wear
    clean = 0.06                               # kPa when new
    worn = 0.28                                # kPa at end of life

    [[sources]]
    kind = "serial"
    port = "/dev/serial/by-id/usb-gateway"     # or a pyserial URL
    baudrate = 115200

    [[sources]]
    kind = "mqtt"
    broker = "127.0.0.1:1883"                  # devices that publish directly
    username = "agent.acme.edge-17"            # the broker login the cloud issued this agent
    password = "..."

    [cloud]                                    # where rolled-out models are downloaded
    url = "https://cloud.example"
    token = "prg_..."                          # a token with the "agent" role

    [uplink]
    broker = "cloud.example:8883"              # or a cluster's nodes: "n1:8883,n2:8883,n3:8883"
    tls = true
    ca_file = "/etc/prognos/ca.pem"            # optional: a private CA
    username = "agent.acme.edge-17"
    password = "..."

Environment variables with the ``PROGNOS_EDGE_`` prefix override top-level keys
(e.g. ``PROGNOS_EDGE_AGENT_ID``).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from models.registry import DEFAULT_DETECTOR, detector_problem
from mqtt_client import parse_broker, parse_brokers

from .consumables import Condition
from .errors import ConfigError

__all__ = ["CloudConfig", "EdgeConfig", "SourceConfig", "UplinkConfig", "load_config"]

ENV_PREFIX = "PROGNOS_EDGE_"


class SourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["serial", "mqtt"]
    port: str | None = None
    baudrate: int = Field(115200, gt=0)
    broker: str | None = None
    tenant: str | None = None  # mqtt: only this tenant's devices (default: the agent's tenant)
    username: str | None = None  # mqtt: the agent's broker login (agent.{tenant}.{agent_id})
    password: str | None = Field(default=None, repr=False)

    @model_validator(mode="after")
    def _has_its_address(self) -> SourceConfig:
        if self.kind == "serial" and not self.port:
            raise ValueError('a serial source needs its port (port = "/dev/ttyUSB0" or a pyserial URL)')
        if self.kind == "mqtt":
            if not self.broker:
                raise ValueError('an mqtt source needs its broker (broker = "host:1883")')
            parse_broker(self.broker)  # "is not HOST:PORT" said here, not at the first connect
        return self


class UplinkConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # one broker, or the nodes of a clustered tier ("n1:1883,n2:1883,n3:1883"): the
    # uplink moves to the next when its node drops or refuses the connection
    broker: str = "127.0.0.1:1883"
    tls: bool = False
    ca_file: Path | None = None  # a private CA to trust instead of the system's
    client_cert: Path | None = None  # mutual TLS
    client_key: Path | None = None
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    client_id: str | None = None  # MQTT client id; default "prognos-edge-<agent_id>"
    max_inflight: int = Field(50, ge=1, le=1000)
    # a row leaves the outbox when the cloud confirms it stored it ("cloud"), or on the
    # broker's PUBACK ("broker": a broker with no Prognos cloud behind it)
    confirm_by: Literal["cloud", "broker"] = "cloud"
    confirm_timeout_s: float = Field(60.0, gt=0)  # unconfirmed this long after the PUBACK: resent
    # MQTT 5 by default; "3.1.1" for brokers that speak only that (NATS's MQTT listener,
    # the clustered tier in docs/scale.md)
    mqtt_version: Literal["5", "3.1.1"] = "5"
    # messages in flight and no PUBACK for this long: reconnect (MQTT resends only then)
    puback_timeout_s: float = Field(30.0, gt=0)

    @field_validator("broker")
    @classmethod
    def _broker_parses(cls, text: str) -> str:
        parse_brokers(text)  # "is not HOST:PORT" at start, not at the first connect
        return text


class CloudConfig(BaseModel):
    """The cloud's HTTP API, for what is too big for MQTT: model files during a rollout."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://")
    token: str = Field(min_length=8, repr=False)  # an "agent" role token
    ca_file: Path | None = None
    timeout_s: float = Field(30.0, gt=0)


class EdgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data_dir: Path
    tenant: str = "demo"
    agent_id: str = "edge-1"
    detector: str = DEFAULT_DETECTOR
    summary_every_s: float = Field(60.0, gt=0)
    checkpoint_every_s: float = Field(30.0, gt=0)
    status_every_s: float = Field(60.0, gt=0)  # the status (with drop and loss counts) to the cloud
    # Most messages handled as one micro-batch when the agent is behind (1: strictly one by one).
    batch_max: int = Field(64, ge=1, le=10_000)
    outbox_max_rows: int = Field(100_000, ge=100)
    rated_life: dict[str, float] = Field(default_factory=dict)
    condition: dict[str, Condition] = Field(default_factory=dict)  # validated by Condition itself
    sources: list[SourceConfig] = Field(min_length=1)
    uplink: UplinkConfig = Field(default_factory=UplinkConfig)  # type: ignore[arg-type]
    cloud: CloudConfig | None = None  # model rollouts need it
    rul_model: Path | None = None  # prognos models train-rul output, for devices with its channels

    @field_validator("detector")
    @classmethod
    def _detector_exists(cls, name: str) -> str:
        problem = detector_problem(name)
        if problem is not None:
            raise ValueError(problem)
        return name


def load_config(path: Path) -> EdgeConfig:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        if str(path).endswith((".yaml", ".yml")):
            import yaml

            doc: Any = yaml.safe_load(text)
        else:
            doc = tomllib.loads(text)
    except ImportError:
        raise ConfigError("YAML configuration needs PyYAML; use TOML or pip install pyyaml") from None
    except Exception as exc:  # tomllib / yaml parse errors
        raise ConfigError(f"{path}: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a table of settings")
    for key, value in os.environ.items():
        if key.startswith(ENV_PREFIX):
            doc[key[len(ENV_PREFIX) :].lower()] = value
    base = Path(path).resolve().parent
    _resolve_paths(doc, ("data_dir", "rul_model"), base)
    if isinstance(doc.get("uplink"), dict):
        _resolve_paths(doc["uplink"], ("ca_file", "client_cert", "client_key"), base)
    if isinstance(doc.get("cloud"), dict):
        _resolve_paths(doc["cloud"], ("ca_file",), base)
    try:
        return EdgeConfig.model_validate(doc)
    except ValidationError as exc:  # every problem at once, one line each
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-")) or "file"
            lines.append(f"{path}: {where}: {err['msg'].removeprefix('Value error, ')}")
        raise ConfigError("\n".join(lines)) from None


def _resolve_paths(table: dict[str, Any], keys: tuple[str, ...], base: Path) -> None:
    """Relative paths in the file are relative to the file, not to the working directory."""
    for key in keys:
        if key in table and not Path(str(table[key])).is_absolute():
            table[key] = str(base / str(table[key]))
