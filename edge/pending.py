"""The unit of work between the agent's sans-IO core and its outbox: a message to send.

The core (``edge/agent.py``) returns contract messages; the runner wraps each one here
(topic, serialised payload, stable id) for the SQLite outbox that stores it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from firmware_bridge.contract import edge_topic

__all__ = ["PendingMessage", "to_pending"]


@dataclass(frozen=True, slots=True)
class PendingMessage:
    """What the agent hands the outbox: already serialised, with its stable id."""

    message_id: str
    kind: str
    topic: str
    payload: bytes
    created: float


def to_pending(message: Any, tenant: str, agent_id: str) -> PendingMessage:
    """A contract message as the outbox row that carries it to the cloud."""
    topic = edge_topic(tenant, agent_id, message.kind)
    return PendingMessage(
        message.message_id, message.kind, topic, message.model_dump_json().encode(), message.created_at
    )
