"""Tables (SQLAlchemy 2, typed) and engines. Alembic migrations in ``cloud/migrations`` are
the only way the schema changes; ``Base.metadata`` is what they are checked against."""

from __future__ import annotations

from .base import AnySelect, Base, JsonDoc, UtcDateTime, make_engine, make_session_factory, utc
from .fleet import Consumable, DeadLetter, InboxMessage, Reminder, TelemetrySummary
from .rollout import AgentRollout, ModelArtifact, Rollout
from .tenancy import GENESIS_HASH, Agent, ApiToken, Customer, Device, Engineer, MqttCredential, Site, Tenant
from .work import Alert, Notification, Task, WorkOrder, WorkOrderEvent, WorkOrderPart

__all__ = [
    "GENESIS_HASH",
    "AnySelect",
    "Agent",
    "AgentRollout",
    "Alert",
    "ApiToken",
    "Base",
    "Consumable",
    "Customer",
    "DeadLetter",
    "Device",
    "Engineer",
    "InboxMessage",
    "JsonDoc",
    "ModelArtifact",
    "MqttCredential",
    "Notification",
    "Reminder",
    "Rollout",
    "Site",
    "Task",
    "TelemetrySummary",
    "Tenant",
    "UtcDateTime",
    "WorkOrder",
    "WorkOrderEvent",
    "WorkOrderPart",
    "make_engine",
    "make_session_factory",
    "utc",
]
