"""What the fleet reports: consumables and their reminders, telemetry summaries, and the
ingest bookkeeping (which messages were stored, which were dead-lettered)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, JsonDoc, UtcDateTime
from .work import WorkOrder, written_after_its_order

__all__ = ["Consumable", "DeadLetter", "InboxMessage", "Reminder", "TelemetrySummary"]


class Consumable(Base):
    __tablename__ = "consumables"
    __table_args__ = (UniqueConstraint("device_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(16))
    usage: Mapped[float] = mapped_column(Float)
    remaining_fraction: Mapped[float] = mapped_column(Float)
    predicted_depletion_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # the edge's 90 % interval around it (edge/consumables.py): what a parts forecast's odds use
    depletion_lo: Mapped[datetime | None] = mapped_column(UtcDateTime)
    depletion_hi: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reported_at: Mapped[datetime] = mapped_column(UtcDateTime)  # device time of the status
    replaced_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Reminder(Base):
    __tablename__ = "reminders"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    consumable_id: Mapped[int] = mapped_column(ForeignKey("consumables.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | cancelled | done
    # the consumable's id while the reminder is active, NULL after: one active reminder each
    dedup_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)  # predicted depletion
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id"))
    work_order: Mapped[WorkOrder | None] = written_after_its_order()


class TelemetrySummary(Base):
    __tablename__ = "telemetry_summaries"
    __table_args__ = (Index("ix_telemetry_device_window", "device_id", "window_end"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    window_start: Mapped[datetime] = mapped_column(UtcDateTime)
    window_end: Mapped[datetime] = mapped_column(UtcDateTime)
    channels: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    max_score: Mapped[float] = mapped_column(Float)
    health: Mapped[float | None] = mapped_column(Float)  # the edge's health index at the window's end
    # a RUL model's call at the window's end in cycles: [lower (90 %), point, upper]
    rul_cycles: Mapped[list[float] | None] = mapped_column(JsonDoc)


class InboxMessage(Base):
    """Every edge message stored, by id: the unique key that makes redelivery harmless."""

    __tablename__ = "inbox_messages"

    message_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    device_key: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DeadLetter(Base):
    """A message the cloud could not accept, kept byte for byte with the reason."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    topic: Mapped[str] = mapped_column(String(400))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    reason: Mapped[str] = mapped_column(Text)
