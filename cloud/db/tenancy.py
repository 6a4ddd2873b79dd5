"""Who and where: tenants, customers, sites, devices, engineers, edge agents and API tokens."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, JsonDoc, UtcDateTime

__all__ = ["GENESIS_HASH", "Agent", "ApiToken", "Customer", "Device", "Engineer", "Site", "Tenant"]

#: The "previous hash" of a device's first history event.
GENESIS_HASH = "0" * 64


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)  # the contract's `tenant`
    name: Mapped[str] = mapped_column(String(200))


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    tier: Mapped[str] = mapped_column(String(16), default="standard")  # gold | silver | standard


class Site(Base):
    __tablename__ = "sites"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(400), default="")
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)


class Device(Base):
    """A field device. Unknown devices (messages for a key nobody registered) are kept with
    ``registered = False`` so their alerts are not lost and an admin can adopt them."""

    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    key: Mapped[str] = mapped_column(String(64))  # the edge's device_id
    model: Mapped[str | None] = mapped_column(String(64))
    serial: Mapped[str | None] = mapped_column(String(64))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    install_date: Mapped[date | None] = mapped_column(Date)
    warranty_end: Mapped[date | None] = mapped_column(Date)
    registered: Mapped[bool] = mapped_column(Boolean, default=True)
    first_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_agent: Mapped[str | None] = mapped_column(String(64))
    # the edge agent this device reports through: ingest refuses its messages from any other,
    # and the broker's ACL lets that agent's serial bridge publish for it
    agent_key: Mapped[str | None] = mapped_column(String(64))
    # messages the device numbered that its agent never received (sequence gaps)
    messages_lost: Mapped[int] = mapped_column(Integer, default=0)
    health: Mapped[float | None] = mapped_column(Float)
    predicted_failure_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    health_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # device time of that reading
    # tamper-evident service history: the hash and sequence number of the latest event
    history_head: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)
    history_seq: Mapped[int] = mapped_column(Integer, default=0)


class Engineer(Base):
    __tablename__ = "engineers"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(200), default="")
    home_latitude: Mapped[float] = mapped_column(Float)
    home_longitude: Mapped[float] = mapped_column(Float)
    capacity: Mapped[int] = mapped_column(Integer, default=5)  # open work orders at once
    work_start_hour: Mapped[int] = mapped_column(Integer, default=8)  # UTC, inclusive
    work_end_hour: Mapped[int] = mapped_column(Integer, default=17)  # UTC, exclusive
    skill_models: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    skill_categories: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Agent(Base):
    """An edge agent, as last reported on its retained status topic or seen in a message."""

    __tablename__ = "agents"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    key: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="online")
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # what the agent dropped on its side, by source and reason, as its last status said
    dropped: Mapped[dict[str, int]] = mapped_column(JsonDoc, default=dict)


class ApiToken(Base):
    """A bearer token; only an HMAC of it is stored. Engineer and device tokens are bound to
    the one engineer or device they act as."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))  # admin | dispatcher | engineer | device
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    engineer_id: Mapped[int | None] = mapped_column(ForeignKey("engineers.id"))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class MqttCredential(Base):
    """A broker login for one device, edge agent, serial bridge or cloud worker.

    Only a salted PBKDF2-SHA512 hash is kept, in the ``$7$`` format of mosquitto's password
    file, so the project can write that file from this table and the broker checks logins
    itself. Issuing a new one for the same subject revokes the old (a rotation); revoking
    takes the login out of the next password file the cloud writes.
    """

    __tablename__ = "mqtt_credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"), index=True)  # None: cloud
    role: Mapped[str] = mapped_column(String(16))  # device | agent | bridge | cloud
    subject: Mapped[str] = mapped_column(String(64))  # device key, agent key, or a cloud worker's name
    username: Mapped[str] = mapped_column(String(200), index=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
