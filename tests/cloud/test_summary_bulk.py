"""Issue 17: telemetry summaries take a bulk path (one multi-row insert per batch, idempotent
through the inbox's primary key), with exactly the outcomes the per-message path gives."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from cloud.db import Device, InboxMessage, TelemetrySummary
from cloud.services import summary_bulk
from cloud.state import CloudState

from .conftest import NOW
from .messages import alert, summary, wire
from .test_ingest import _count
from .world import World


def test_a_batch_of_summaries_is_stored_once_each_with_the_per_message_outcomes(
    state: CloudState, world: World
) -> None:
    early = wire(summary("ac-1", NOW - timedelta(minutes=10), health=0.9))
    assert state.ingestor.handle(*early).outcome == "stored"
    late = wire(summary("ac-1", NOW, health=0.7))
    batch = [
        wire(summary("pump-1", NOW - timedelta(minutes=5), health=0.8)),
        late,
        early,  # stored in an earlier batch
        late,  # redelivered within the batch
        wire(alert("ac-1", "raise", NOW)),
        wire(summary("ac-1", NOW - timedelta(minutes=5), health=0.95)),  # older window: history only
        wire(summary("stranger-9", NOW)),  # unknown device: the per-message path quarantines it
    ]
    results = state.ingestor.handle_batch(batch)
    assert [r.outcome for r in results] == [
        "stored", "stored", "duplicate", "duplicate", "stored", "stored", "stored",
    ]  # fmt: skip
    assert [r.summary is not None for r in results] == [True, True, False, False, False, True, True]
    assert results[6].quarantined and not results[1].quarantined
    assert len(results[4].created_orders) == 1
    assert _count(state, TelemetrySummary) == 5 and _count(state, InboxMessage) == 6
    with state.sessions() as s:
        ac = s.scalar(select(Device).where(Device.key == "ac-1"))
        assert ac is not None and ac.health == 0.7, "the newest by device time: the late window ends last"
        pump = s.scalar(select(Device).where(Device.key == "pump-1"))
        assert pump is not None and pump.health == 0.8 and pump.last_seen_at is not None


def test_two_workers_storing_the_same_summaries_at_once_store_each_once(
    state: CloudState, world: World
) -> None:
    """What a redelivery to the other member of a shared subscription does: both workers write
    the same ids concurrently; the inbox's key, not luck, keeps one of each."""
    messages = [
        wire(summary(d, NOW + timedelta(minutes=5 * i))) for i in range(150) for d in ("ac-1", "pump-1")
    ]
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def worker(order: list[tuple[str, bytes]]) -> None:
        try:
            for start in range(0, len(order), 40):
                outcomes.extend(r.outcome for r in state.ingestor.handle_batch(order[start : start + 40]))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(o,)) for o in (messages, messages[::-1])]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert outcomes.count("stored") == len(messages) and outcomes.count("duplicate") == len(messages)
    assert _count(state, TelemetrySummary) == len(messages) == _count(state, InboxMessage)


def test_a_bulk_write_that_fails_hands_its_summaries_to_the_per_message_path(
    state: CloudState, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self, s):  # type: ignore[no-untyped-def]
        raise RuntimeError("injected")

    monkeypatch.setattr(summary_bulk.SummaryBatch, "_insert", broken)
    results = state.ingestor.handle_batch([wire(summary("ac-1", NOW)), wire(summary("pump-1", NOW))])
    assert [r.outcome for r in results] == ["stored", "stored"]
    assert _count(state, TelemetrySummary) == 2
