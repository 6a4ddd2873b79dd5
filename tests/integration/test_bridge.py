"""The serial gateway end to end: simulator -> pty -> bridge -> mosquitto -> MqttReader."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from firmware_bridge import Sample, decode_one, encode, message_from_frame, message_to_frame
from firmware_bridge.bridge import SerialMqttBridge
from firmware_bridge.mqtt_reader import MqttReader
from firmware_bridge.serial_reader import SerialReader
from mqtt_client import BrokerAddress
from simulators.fleet import plan_fleet
from simulators.pty_link import PtyLink
from simulators.sinks import ListSink, SerialSink
from simulators.stream import run_stream
from tests.support.threads import eventually

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_bridge_republishes_what_the_serial_devices_said(broker_address: BrokerAddress) -> None:
    fleet = plan_fleet(3, 0.25, seed=5, transports=("serial",))
    consumer = MqttReader(broker_address, tenant=fleet.tenant)
    consumer.start()
    assert consumer.wait_subscribed(10)
    with PtyLink() as link:
        reader = SerialReader(link.port, tenant=fleet.tenant)
        bridge = SerialMqttBridge(reader, broker_address, tenant=fleet.tenant)
        thread = threading.Thread(target=bridge.run, daemon=True)
        thread.start()
        assert eventually(lambda: reader.opens == 1)
        expected = ListSink()
        sink = SerialSink(link, noise=0.01, seed=1)

        class Both:
            def send(self, msg):  # type: ignore[no-untyped-def]
                # What survives the wire: float32 values and millisecond timestamps.
                wire = decode_one(encode(message_to_frame(msg)))
                expected.send(message_from_frame(wire))  # type: ignore[arg-type]
                sink.send(msg)

            def close(self) -> None:
                pass

        both = Both()
        result = run_stream(fleet, {d.device_id: both for d in fleet.devices})
        received = []
        while len(received) < result["sent"]:
            msg = consumer.get(timeout=10)
            if msg is None:
                break
            received.append(msg)
        bridge.stop()
        thread.join(5)
    consumer.stop()
    assert received == expected.messages  # same values, same order, nothing lost
    assert sink.noise_bursts > 0
    assert sum(reader.stats()["frame_errors"].values()) == sink.noise_bursts  # type: ignore[attr-defined]
    assert bridge.published == result["sent"]
    assert any(isinstance(m, Sample) for m in received)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_cli_gateway_processes(broker_address: BrokerAddress, tmp_path: Path) -> None:
    """`prognos sim --serial-link` and `prognos bridge` as separate processes, like on a gateway."""
    port = tmp_path / "ttyPROGNOS0"
    consumer = MqttReader(broker_address, tenant="demo")
    consumer.start()
    assert consumer.wait_subscribed(10)
    mqtt = f"{broker_address.host}:{broker_address.port}"
    sim = subprocess.Popen(
        [sys.executable, "-m", "prognos", "sim", "--devices", "2", "--days", "0.5", "--seed", "3",
         "--serial-link", str(port), "--speed", "20000", "--quiet", "--out", str(tmp_path / "run")],
        env=_env(), stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    bridge = None
    try:
        assert eventually(port.exists, timeout=15)
        bridge = subprocess.Popen(
            [sys.executable, "-m", "prognos", "bridge", "--serial", str(port), "--mqtt", mqtt, "--quiet"],
            env=_env(), stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        out, _ = sim.communicate(timeout=120)
        summary = json.loads(out.strip().splitlines()[-1])
        got = list(consumer.messages(idle_timeout=3.0))
    finally:
        sim.kill() if sim.poll() is None else None
        if bridge is not None:
            bridge.send_signal(signal.SIGTERM)
            bridge_out, _ = bridge.communicate(timeout=15)
        got += list(consumer.messages(idle_timeout=2.0))  # what a slow bridge published last
        consumer.stop()
    assert summary["devices"] == 2 and summary["sent"] > 0
    # Frames written before the bridge opened the port are flushed by pyserial, as on a
    # real gateway that boots after its devices; everything after that arrives in order.
    assert 0 < len(got) <= summary["sent"]
    assert {m.device_id for m in got} == {"ac-0001", "ro-0001"}
    for dev in ("ac-0001", "ro-0001"):
        seqs = [m.seq for m in got if m.device_id == dev]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert bridge.returncode == 0
    bridge_stats = json.loads(bridge_out.strip().splitlines()[-1])
    assert bridge_stats["acknowledged"] == bridge_stats["published"] == len(got), json.dumps(consumer.stats())
    assert (tmp_path / "run" / "truth.jsonl").exists()
