"""The edge agent as a process: simulator -> pty -> `prognos edge run` -> real mosquitto."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.agent import Agent, AgentSettings
from firmware_bridge import decode_one, encode, message_from_frame, message_to_frame
from firmware_bridge.contract import (
    AlertMessage,
    StoredConfirmation,
    TelemetrySummaryMessage,
    parse_edge_message,
    parse_edge_topic,
    stored_topic,
)
from models.registry import DEFAULT_DETECTOR
from prognos.broker import MosquittoBroker
from simulators.fleet import plan_fleet
from simulators.pty_link import PtyLink
from simulators.sinks import SerialSink
from simulators.stream import fleet_messages
from tests.support.threads import eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
FLEET = dict(devices=2, days=4, seed=5, fault_rate=1.0, archetypes=("industrial_pump", "air_conditioner"))


class CloudSide:
    """A persistent-session subscriber standing in for the cloud's ingest: like the cloud,
    it confirms each message id it received, so the edge can empty its outbox."""

    def __init__(self, broker: MosquittoBroker) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="cloud-test", protocol=mqtt.MQTTv5)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe("prognos/v1/+/edge/+/+", qos=1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.2, 1)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        self.client.connect(broker.host, broker.port, clean_start=False, properties=props)
        self.client.loop_start()
        assert self.subscribed.wait(10)

    def _on_message(self, client: mqtt.Client, userdata: object, m: mqtt.MQTTMessage) -> None:
        self.messages.append((m.topic, m.payload))
        mid = json.loads(m.payload).get("message_id")
        if mid is not None:
            tenant, agent, _ = parse_edge_topic(m.topic)
            note = StoredConfirmation(stored=[mid], at=time.time())
            client.publish(stored_topic(tenant, agent), note.model_dump_json(), qos=1)

    def edge_messages(self) -> list:  # type: ignore[type-arg]
        return [parse_edge_message(p) for t, p in self.messages if not t.endswith("/status")]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def start_edge(
    tmp_path: Path, port: Path, broker: MosquittoBroker, quiet: bool = True
) -> subprocess.Popen[str]:
    conf = tmp_path / "edge.toml"
    conf.write_text(
        f'data_dir = "{tmp_path / "data"}"\ntenant = "demo"\nagent_id = "edge-test"\n'
        "checkpoint_every_s = 1\n"
        "batch_max = 1\n\n"  # one by one: the alerts then equal a replay's (expected_alert_ids) exactly
        f'[[sources]]\nkind = "serial"\nport = "{port}"\n\n[uplink]\nbroker = "{broker.host}:{broker.port}"\n'
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "prognos", "edge", "run", "--config", str(conf), *(["--quiet"] * quiet)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        if "sources ready" in line:
            return proc
    raise AssertionError(f"edge agent exited with {proc.wait()} before it was ready")


def stop_edge(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out[-3000:]
    return out


def expected_alert_ids() -> set[str]:
    agent = Agent(AgentSettings(agent_id="edge-test"))
    ids = set()
    for m in fleet_messages(plan_fleet(**FLEET)):
        wire = message_from_frame(decode_one(encode(message_to_frame(m))))  # type: ignore[arg-type]
        ids |= {p.message_id for p in agent.handle(wire) if p.kind == "alert"}
    return ids


def test_injected_fault_arrives_as_an_alert_with_evidence(
    tmp_path: Path, persistent_broker: MosquittoBroker
) -> None:
    fleet = plan_fleet(**FLEET)
    cloud = CloudSide(persistent_broker)
    port = tmp_path / "ttyEDGE"
    with PtyLink(port, block_timeout=10) as link:
        edge = start_edge(tmp_path, port, persistent_broker, quiet=False)
        sink = SerialSink(link)
        for msg in fleet_messages(fleet):
            sink.send(msg)
        assert eventually(lambda: len(cloud.edge_messages()) > 0, 30)
        time.sleep(2.0)
        log = stop_edge(edge)
    time.sleep(0.5)
    cloud.close()
    msgs = cloud.edge_messages()
    alerts = [m for m in msgs if isinstance(m, AlertMessage) and m.transition == "raise"]
    # What the detector catches is measured in bench/detection.py; here, that an alert on an
    # injected fault crosses serial -> edge -> broker whole. (The 3-day refrigerant leak in
    # this 4-day fleet shows in one channel only and is not caught; it once was, through a
    # float32 artefact that made the stopped compressor's vibration look 22 scales off.)
    hits = [
        a
        for device in fleet.devices
        for a in alerts
        if a.device_id == device.device_id and device.faults[0].onset <= a.at < device.faults[0].failure
    ]
    assert hits, "no alert between an injected fault's onset and its failure"
    for hit in hits:
        assert len(hit.evidence) == 30 and hit.evidence[-1].t == hit.at
        assert hit.fault_key and hit.detector == DEFAULT_DETECTOR
    kinds = Counter(m.kind for m in msgs)
    assert kinds["summary"] > 0 and kinds["consumable"] > 0 and kinds["fault"] > 0
    assert {m.message_id for m in msgs if m.kind == "alert"} == expected_alert_ids()
    raised = sum(1 for m in alerts)  # and each raise was logged as it happened (issue 16)
    assert log.count("alert raised on ") == raised and "alert cleared on " in log


def test_broker_outage_loses_no_alert(tmp_path: Path, persistent_broker: MosquittoBroker) -> None:
    fleet = plan_fleet(**FLEET)
    cloud = CloudSide(persistent_broker)
    port = tmp_path / "ttyEDGE"
    with PtyLink(port, block_timeout=10) as link:
        edge = start_edge(tmp_path, port, persistent_broker)
        sink = SerialSink(link)
        messages = list(fleet_messages(fleet))
        third = len(messages) // 3
        for msg in messages[:third]:
            sink.send(msg)
        persistent_broker.halt()  # the broker goes away mid-stream
        for msg in messages[third:]:
            sink.send(msg)
        time.sleep(2.0)
        persistent_broker.start()  # and comes back on the same port, sessions restored
        assert eventually(lambda: cloud.subscribed.is_set(), 20)
        outbox = tmp_path / "data" / "outbox.sqlite"
        assert eventually(lambda: _outbox_size(outbox) == 0, 60), "the outbox did not drain after the outage"
        stop_edge(edge)
    time.sleep(0.5)
    cloud.close()
    alert_ids = [m.message_id for m in cloud.edge_messages() if m.kind == "alert"]
    assert set(alert_ids) == expected_alert_ids()  # every alert arrived (duplicates are the cloud's to drop)


def _outbox_size(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])


def _latest_summary(cloud: CloudSide) -> float:
    """Window start of the newest summary the cloud side has (only the tail is parsed)."""
    tail = [parse_edge_message(p) for t, p in cloud.messages[-20:] if t.endswith("/summary")]
    starts = [m.window_start for m in tail if isinstance(m, TelemetrySummaryMessage)]
    return max(starts, default=float("-inf"))


def test_sigkill_and_restart_lose_nothing_and_raise_nothing_twice(
    tmp_path: Path, persistent_broker: MosquittoBroker
) -> None:
    fleet = plan_fleet(**FLEET)
    messages = list(fleet_messages(fleet))
    cloud = CloudSide(persistent_broker)
    port = tmp_path / "ttyEDGE"
    with PtyLink(port, block_timeout=10) as link:
        sink = SerialSink(link)
        edge = start_edge(tmp_path, port, persistent_broker)
        half = len(messages) // 2
        for msg in messages[:half]:
            sink.send(msg)
        # Kill once the agent has read (nearly) all of the first half: bytes still in the
        # pty when it dies are flushed when the port is next opened, which would test
        # pyserial rather than the outbox, and on a busy machine that was most of them.
        last = messages[half - 1].timestamp
        assert eventually(lambda: _latest_summary(cloud) >= last - 180, timeout=60)
        edge.send_signal(signal.SIGKILL)  # no clean shutdown, no final checkpoint
        edge.communicate(timeout=10)
        with sqlite3.connect(tmp_path / "data" / "outbox.sqlite") as db:
            stored = {r[0] for r in db.execute("SELECT message_id FROM outbox")}
        edge = start_edge(tmp_path, port, persistent_broker)
        for msg in messages[half:]:
            sink.send(msg)
        time.sleep(2.0)
        stop_edge(edge)
    time.sleep(0.5)
    cloud.close()
    msgs = cloud.edge_messages()
    received = {m.message_id for m in msgs}
    assert stored <= received, "messages stored before the kill were not delivered after the restart"
    raises = Counter(m.alert_id for m in msgs if isinstance(m, AlertMessage) and m.transition == "raise")
    assert raises and max(raises.values()) == 1
    open_alerts: dict[tuple[str, str], str] = {}  # one open incident per device and cause
    for m in sorted((m for m in msgs if isinstance(m, AlertMessage)), key=lambda m: m.at):
        key = (m.device_id, m.cause)
        if m.transition == "raise":
            assert key not in open_alerts, f"{key} raised again while {open_alerts[key]} was open"
            open_alerts[key] = m.alert_id
        elif m.transition == "clear":
            open_alerts.pop(key, None)
    json.dumps([m.model_dump() for m in msgs[:3]])


@pytest.mark.soak
def test_twenty_sigkills_at_random_points_lose_nothing_stored_and_raise_nothing_twice(
    tmp_path: Path, persistent_broker: MosquittoBroker
) -> None:
    """The edge agent SIGKILLed 20 times at random moments while the fleet streams to it:
    whatever was in its outbox at each kill is delivered after the restart, and no incident
    is raised twice (the checkpoint goes in the same transaction as the messages)."""
    import random

    rng = random.Random(20)
    messages = list(fleet_messages(plan_fleet(**FLEET)))
    cloud = CloudSide(persistent_broker)
    port = tmp_path / "ttyEDGE"
    stored: set[str] = set()
    step = len(messages) // 21
    with PtyLink(port, block_timeout=10) as link:
        sink = SerialSink(link)
        edge = start_edge(tmp_path, port, persistent_broker)
        for k in range(20):
            for msg in messages[k * step : (k + 1) * step]:
                sink.send(msg)
            time.sleep(rng.uniform(0.0, 1.5))  # anywhere: mid-batch, mid-checkpoint, mid-send
            edge.send_signal(signal.SIGKILL)
            edge.communicate(timeout=10)
            with sqlite3.connect(tmp_path / "data" / "outbox.sqlite") as db:
                stored |= {r[0] for r in db.execute("SELECT message_id FROM outbox")}
            edge = start_edge(tmp_path, port, persistent_broker)
        for msg in messages[20 * step :]:
            sink.send(msg)
        time.sleep(2.0)
        stop_edge(edge)
    time.sleep(0.5)
    cloud.close()
    msgs = cloud.edge_messages()
    assert stored <= {m.message_id for m in msgs}, "rows stored before a kill were not delivered"
    raises = Counter(m.alert_id for m in msgs if isinstance(m, AlertMessage) and m.transition == "raise")
    assert raises and max(raises.values()) == 1
