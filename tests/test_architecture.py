"""The dependency arrows of docs/architecture.md, checked on the import statements."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("firmware_bridge", "mqtt_client", "simulators", "edge", "cloud", "models")
# Which project packages each package may import (besides itself).
ALLOWED = {
    "firmware_bridge": {"mqtt_client"},
    "mqtt_client": set(),
    "simulators": {"firmware_bridge", "mqtt_client"},
    "edge": {"firmware_bridge", "models", "mqtt_client"},
    "cloud": {"models", "firmware_bridge", "mqtt_client"},  # firmware_bridge: the contract only (below)
    "models": set(),
}
# The cloud speaks the wire contract, never the device transport (framing, the message gate).
CLOUD_MAY_USE_FROM_FIRMWARE_BRIDGE = {"firmware_bridge.contract"}
CODEC = ("cobs", "crc", "frames", "layout", "encoder", "decoder")
IO_MODULES = {"serial", "paho", "asyncio", "sqlite3", "socket", "os", "threading"}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", PACKAGES)
def test_dependency_arrows(package: str) -> None:
    for path in (ROOT / package).rglob("*.py"):
        used = imports(path) & set(PACKAGES) - {package}
        assert used <= ALLOWED[package], f"{path.relative_to(ROOT)} imports {sorted(used - ALLOWED[package])}"


def test_the_cloud_uses_only_the_contract_of_firmware_bridge() -> None:
    for path in (ROOT / "cloud").rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        used = {
            n.module
            for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom)
            and n.level == 0
            and n.module
            and n.module.startswith("firmware_bridge")
        } | {
            a.name
            for n in ast.walk(tree)
            if isinstance(n, ast.Import)
            for a in n.names
            if a.name.startswith("firmware_bridge")
        }
        extra = used - CLOUD_MAY_USE_FROM_FIRMWARE_BRIDGE
        assert not extra, (
            f"{path.relative_to(ROOT)} imports {sorted(extra)}: the cloud speaks the contract only"
        )


@pytest.mark.parametrize("module", CODEC)
def test_codec_does_no_io(module: str) -> None:
    used = imports(ROOT / "firmware_bridge" / f"{module}.py")
    assert not used & IO_MODULES, f"firmware_bridge/{module}.py imports {sorted(used & IO_MODULES)}"


def test_modules_stay_small() -> None:
    for package in (*PACKAGES, "prognos"):
        for path in (ROOT / package).rglob("*.py"):
            if "migrations/versions" in path.as_posix():
                continue  # written by Alembic's autogenerate, reviewed, never edited by hand
            lines = len(path.read_text().splitlines())
            assert lines <= 400, f"{path.relative_to(ROOT)} has {lines} lines; split it by responsibility"


def test_public_api_is_pinned() -> None:
    """Changing what firmware_bridge exports is a deliberate act: update this list with it."""
    import firmware_bridge

    assert sorted(firmware_bridge.__all__) == [
        "BridgeError",
        "ConsumableFrame",
        "ConsumableUsage",
        "DEFAULT_MAX_FRAME_SIZE",
        "Decoder",
        "DeviceEvent",
        "DeviceMessage",
        "ErrorKind",
        "EventFrame",
        "Frame",
        "FrameError",
        "FrameType",
        "Heartbeat",
        "HeartbeatFrame",
        "JsonError",
        "LocalProtocolError",
        "MessageGate",
        "NEED_DATA",
        "PROTOCOL_VERSION",
        "Sample",
        "SeqVerdict",
        "SequenceTracker",
        "SerialPortError",
        "TelemetryFrame",
        "TransportError",
        "decode_one",
        "device_topic",
        "encode",
        "encode_body",
        "message_from_frame",
        "message_from_json",
        "message_to_frame",
        "message_to_json",
        "parse_device_topic",
        "telemetry_filter",
    ]
    for name in firmware_bridge.__all__:
        assert hasattr(firmware_bridge, name), name


def _edge_closure(module: str) -> set[str]:
    """The edge modules ``module`` imports, directly or through other edge modules."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen or not (ROOT / "edge" / f"{name}.py").exists():
            continue
        seen.add(name)
        tree = ast.parse((ROOT / "edge" / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                todo.append(node.module.split(".")[0])
            elif isinstance(node, ast.ImportFrom) and node.level == 1:
                todo += [a.name for a in node.names]
    return seen


def test_the_agent_core_is_sans_io() -> None:
    """The agent and its pipeline take messages and return messages: no files, sockets,
    brokers or threads anywhere below them (those are the runner's)."""
    for module in sorted(_edge_closure("agent")):
        used = imports(ROOT / "edge" / f"{module}.py") & IO_MODULES
        assert not used, f"edge/{module}.py (imported by the agent core) imports {sorted(used)}"
