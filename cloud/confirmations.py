"""What the cloud tells each agent after a commit: which of its message ids are now stored,
and which are refused for good with the reason (the agent keeps an outbox row until then).
Shared by the MQTT and the stream ingest workers."""

from __future__ import annotations

import time
from collections.abc import Sequence

from firmware_bridge.contract import ContractError, StoredConfirmation, parse_edge_topic

from .services.ingest import IngestResult

__all__ = ["confirmations"]


def confirmations(
    topics: Sequence[str], results: Sequence[IngestResult]
) -> dict[tuple[str, str], StoredConfirmation]:
    """One :class:`StoredConfirmation` per (tenant, agent) that sent something in the batch."""
    by_agent: dict[tuple[str, str], tuple[list[str], dict[str, str]]] = {}
    for topic, result in zip(topics, results, strict=True):
        if result.message_id is None:
            continue
        try:
            tenant, agent, _ = parse_edge_topic(topic)
        except ContractError:
            continue
        stored, refused = by_agent.setdefault((tenant, agent), ([], {}))
        if result.outcome == "dead_letter":
            refused[result.message_id] = (result.reason or "refused")[:500]
        else:
            stored.append(result.message_id)
    now = time.time()
    return {
        key: StoredConfirmation(stored=stored, refused=refused, at=now)
        for key, (stored, refused) in by_agent.items()
    }
