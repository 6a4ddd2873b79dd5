"""Customers, sites, devices and engineers: ``XCreate`` in, ``XPublic`` out."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from firmware_bridge.contract import AgentKey

from .common import Latitude, Longitude, Public, RowId, Strict, WholeNumber

__all__ = [
    "CustomerCreate",
    "CustomerPublic",
    "DeviceAssign",
    "DeviceCreate",
    "DevicePublic",
    "EngineerCreate",
    "EngineerPublic",
    "SiteCreate",
    "SitePublic",
]

Key = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")


class CustomerCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    tier: Literal["gold", "silver", "standard"] = "standard"


class CustomerPublic(Public):
    id: int
    name: str
    tier: str


class SiteCreate(Strict):
    key: str = Key
    name: str = Field(min_length=1, max_length=200)
    address: str = Field(default="", max_length=400)
    latitude: Latitude
    longitude: Longitude
    customer_id: RowId | None = None


class SitePublic(Public):
    id: int
    key: str
    name: str
    address: str
    latitude: float
    longitude: float
    customer_id: RowId | None


class DeviceCreate(Strict):
    key: str = Key
    model: str = Field(min_length=1, max_length=64)
    serial: str = Field(default="", max_length=64)
    site_id: RowId
    install_date: date | None = None
    warranty_end: date | None = None
    # the edge agent it reports through; when adopting a device that reported unregistered,
    # None keeps the agent it was seen from
    agent_key: AgentKey | None = None


class DeviceAssign(Strict):
    """Which edge agent a device reports through (ingest refuses it from any other)."""

    agent_key: AgentKey


class DevicePublic(Public):
    id: int
    key: str
    model: str | None
    serial: str | None
    site_id: RowId | None
    install_date: date | None
    warranty_end: date | None
    registered: bool
    agent_key: str | None
    messages_lost: int  # numbered by the device, never received by its agent
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    health: float | None
    predicted_failure_at: datetime | None


class EngineerCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(default="", max_length=200)
    home_latitude: Latitude
    home_longitude: Longitude
    capacity: WholeNumber = Field(default=5, ge=0, le=100)
    work_start_hour: WholeNumber = Field(default=8, ge=0, le=23)
    work_end_hour: WholeNumber = Field(default=17, ge=0, le=24)
    skill_models: list[str] = Field(default_factory=list, max_length=100)
    skill_categories: list[str] = Field(default_factory=list, max_length=100)


class EngineerPublic(Public):
    id: int
    name: str
    email: str
    home_latitude: float
    home_longitude: float
    capacity: int
    work_start_hour: int
    work_end_hour: int
    skill_models: list[str]
    skill_categories: list[str]
    active: bool
