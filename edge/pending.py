"""The unit of work between the agent's sans-IO core and its outbox: a message to send.

It lives on its own so the core (``edge/agent.py``) can produce messages without importing
the SQLite outbox that stores them."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PendingMessage"]


@dataclass(frozen=True, slots=True)
class PendingMessage:
    """What the agent hands the outbox: already serialised, with its stable id."""

    message_id: str
    kind: str
    topic: str
    payload: bytes
    created: float
