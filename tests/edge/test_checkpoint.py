"""Agent checkpoints: documents that name classes by kind, load only those, and survive a restart."""

from __future__ import annotations

import json
import pickle
import struct

import pytest

from edge import checkpoint
from edge.agent import Agent, AgentSettings
from firmware_bridge import Sample
from simulators.fleet import plan_fleet
from simulators.stream import fleet_messages


def test_every_kind_names_a_class_that_exists() -> None:
    """The table is the one place a moved class is updated: a stale entry fails here."""
    for kind in checkpoint.KINDS:
        assert isinstance(checkpoint._class(kind), type), kind


@pytest.mark.parametrize("detector", ["surprise", "robust", "hst"])
def test_a_restored_agent_says_exactly_what_the_original_would(detector: str) -> None:
    fleet = plan_fleet(3, 2.5, seed=4)
    messages = list(fleet_messages(fleet))
    cut = int(len(messages) * 0.8)
    settings = AgentSettings(detector=detector)
    original = Agent(settings, clock=lambda: 0.0)
    for m in messages[:cut]:
        original.handle(m)
    blobs = original.checkpoint(only_dirty=False)
    assert all(b.startswith(checkpoint.MAGIC) for b in blobs.values())
    restored = Agent(settings, clock=lambda: 0.0)
    assert restored.restore(blobs) == len(original.devices) and not restored.restore_errors
    for m in messages[cut:]:
        assert restored.handle(m) == original.handle(m)


def test_an_unreadable_checkpoint_starts_that_device_afresh_and_says_why() -> None:
    agent = Agent(AgentSettings())
    for i in range(50):
        for device in ("a", "b"):
            agent.handle(Sample(device, 1_767_225_600.0 + 60 * i, i, {"v": float(i % 7)}))
    blobs = agent.checkpoint(only_dirty=False)
    blobs["device/b"] = pickle.dumps(agent.devices["b"])  # what an older edge wrote
    restored = Agent(AgentSettings())
    restored.restore(blobs)
    assert set(restored.devices) == {"a"}
    assert len(restored.restore_errors) == 1 and restored.restore_errors[0].startswith("device/b: not a")
    out = restored.handle(Sample("b", 1_767_300_000.0, 51, {"v": 1.0}))
    assert "b" in restored.devices and all(m.device_id == "b" for m in out)


def test_a_checkpoint_cannot_name_a_class_outside_the_table() -> None:
    doc = json.dumps({"format": 1, "tree": {"$o": "subprocess", "state": {}}, "arrays": []}).encode()
    blob = checkpoint.MAGIC + struct.pack("<II", 1, len(doc)) + doc
    with pytest.raises(checkpoint.CheckpointError, match="unknown kind 'subprocess'"):
        checkpoint.decode(blob)
    with pytest.raises(checkpoint.CheckpointError, match="not in edge.checkpoint.KINDS"):
        checkpoint.encode(struct.Struct("<I"))
