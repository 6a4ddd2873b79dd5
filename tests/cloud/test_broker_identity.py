"""Broker identity end to end: logins issued by the cloud, mosquitto run on the password file
and ACL the cloud writes, and real clients trying what an attacker or a broken device would.

Found by issue 15: with the project's launcher anyone could connect without a username and
publish an alert as any agent, which opened and dispatched a work order within 3 s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from cloud.broker_files import write_broker_files
from cloud.db import Tenant
from cloud.services import broker_identity
from cloud.state import CloudState
from mqtt_client import BrokerAddress
from prognos.broker import MosquittoBroker, find_mosquitto
from tests.support.engines import engine_missing

from .conftest import NOW
from .world import World

pytestmark = pytest.mark.integration

NOT_AUTHORIZED, BAD_LOGIN = 135, 134
NO_SUBSCRIBERS = 16  # accepted, and nobody was listening


def test_the_hash_is_the_one_mosquitto_reads() -> None:
    stored = broker_identity.hash_password("s3cret", salt=b"0123456789ab", iterations=101)
    assert stored.startswith("$7$101$MDEyMzQ1Njc4OWFi$")
    assert broker_identity.verify_password("s3cret", stored)
    assert not broker_identity.verify_password("s3cret!", stored)
    assert not broker_identity.verify_password("s3cret", "$6$abc$def")


@dataclass
class Logins:
    passwords: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def logins(state: CloudState, world: World) -> Logins:
    out = Logins()
    with state.sessions.begin() as s:
        acme = s.get(Tenant, world.tenant_id)
        for role, tenant, subject in [
            ("device", acme, "ac-1"),
            ("device", acme, "pump-1"),
            ("agent", acme, "edge-1"),
            ("bridge", acme, "edge-1"),
            ("cloud", None, "ingest"),
        ]:
            row, password = broker_identity.issue(s, role, tenant, subject, NOW)
            out.passwords[row.username] = password
    return out


@pytest.fixture
def broker(state: CloudState, logins: Logins, tmp_path: Path) -> Iterator[MosquittoBroker]:
    if find_mosquitto() is None:
        engine_missing("mosquitto", "Debian: apt-get install mosquitto")
    auth = tmp_path / "auth"
    with state.sessions() as s:
        write_broker_files(s, auth)
    auth.chmod(0o755)
    with MosquittoBroker(auth_dir=auth) as b:
        yield b


class Client:
    """A paho client that records what the broker answered."""

    def __init__(
        self, broker: MosquittoBroker | BrokerAddress, username: str | None, password: str | None
    ) -> None:
        self.connack: ReasonCode | None = None
        self.acks: dict[int, int] = {}
        self.suback: list[int] = []
        self.got: list[str] = []
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self.c = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"t-{username}-{time.monotonic_ns()}", protocol=mqtt.MQTTv5
        )
        if username is not None:
            self.c.username_pw_set(username, password)
        self.c.on_connect = self._on_connect
        self.c.on_publish = lambda c, u, mid, rc, p: self.acks.__setitem__(mid, rc.value)
        self.c.on_subscribe = self._on_subscribe
        self.c.on_message = lambda c, u, m: self.got.append(m.topic)
        self.c.connect(broker.host, broker.port)
        self.c.loop_start()
        assert self._connected.wait(10), "no CONNACK"

    def _on_connect(self, c, u, flags, rc, props) -> None:  # type: ignore[no-untyped-def]
        self.connack = rc
        self._connected.set()

    def _on_subscribe(self, c, u, mid, rcs, props) -> None:  # type: ignore[no-untyped-def]
        self.suback = [r.value for r in rcs]
        self._subscribed.set()

    @property
    def accepted(self) -> bool:
        return self.connack is not None and not self.connack.is_failure

    def subscribe(self, topic: str) -> list[int]:
        self._subscribed.clear()
        self.c.subscribe(topic, qos=1)
        assert self._subscribed.wait(10)
        return self.suback

    def publish(self, topic: str) -> int:
        """The PUBACK's reason code (0: delivered to the broker's subscribers, 135: refused)."""
        info = self.c.publish(topic, b"{}", qos=1)
        deadline = time.monotonic() + 10
        while info.mid not in self.acks and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.acks[info.mid]

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


@pytest.fixture
def connect(broker: MosquittoBroker, logins: Logins) -> Iterator[object]:
    opened: list[Client] = []

    def open_as(username: str | None, password: str | None = None) -> Client:
        if password is None and username is not None:
            password = logins.passwords[username]
        client = Client(broker, username, password)
        opened.append(client)
        return client

    yield open_as
    for c in opened:
        c.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_anonymous_and_wrong_passwords_are_refused(connect) -> None:  # type: ignore[no-untyped-def]
    assert not connect(None).accepted
    wrong = connect("agent.acme.edge-1", "not-the-password")
    assert not wrong.accepted and wrong.connack is not None
    assert wrong.connack.value in (BAD_LOGIN, NOT_AUTHORIZED)
    assert not connect("agent.acme.edge-9", "guess").accepted  # nobody by that name
    assert connect("agent.acme.edge-1").accepted


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_device_publishes_only_its_own_topics_and_reads_nothing(connect) -> None:  # type: ignore[no-untyped-def]
    cloud = connect("cloud.ingest")
    agent = connect("agent.acme.edge-1")
    assert cloud.subscribe("$share/prognos-cloud/prognos/v1/+/edge/+/+") == [1]
    assert agent.subscribe("prognos/v1/acme/+/telemetry") == [1]
    device = connect("device.acme.ac-1")
    assert device.publish("prognos/v1/acme/ac-1/telemetry") == 0
    assert device.publish("prognos/v1/acme/pump-1/telemetry") == NOT_AUTHORIZED  # as another device
    assert device.publish("prognos/v1/acme/edge/edge-1/alert") == NOT_AUTHORIZED  # as the agent
    assert device.publish("prognos/v1/globex/ac-1/telemetry") == NOT_AUTHORIZED  # in another tenant
    # mosquitto 2.0 grants the SUBACK and checks each delivery against the ACL: it reads nothing
    device.subscribe("prognos/v1/acme/+/telemetry")
    device.subscribe("prognos/v1/+/edge/+/+")
    assert connect("device.acme.pump-1").publish("prognos/v1/acme/pump-1/telemetry") == 0
    assert connect("agent.acme.edge-1").publish("prognos/v1/acme/edge/edge-1/summary") == 0
    time.sleep(0.3)
    assert agent.got == ["prognos/v1/acme/ac-1/telemetry", "prognos/v1/acme/pump-1/telemetry"]
    assert cloud.got == ["prognos/v1/acme/edge/edge-1/summary"] and device.got == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_an_agent_publishes_only_as_itself_and_hears_only_its_commands(connect) -> None:  # type: ignore[no-untyped-def]
    cloud = connect("cloud.ingest")
    assert cloud.subscribe("prognos/v1/+/edge/+/+") == [1]
    agent = connect("agent.acme.edge-1")
    assert agent.publish("prognos/v1/acme/edge/edge-1/alert") == 0
    assert agent.publish("prognos/v1/acme/edge/edge-2/alert") == NOT_AUTHORIZED
    assert agent.publish("prognos/v1/acme/ac-1/telemetry") == NOT_AUTHORIZED  # the device's (or bridge's)
    assert agent.subscribe("prognos/v1/acme/edge/edge-1/cmd/model") == [1]
    agent.subscribe("prognos/v1/acme/edge/edge-2/cmd/model")  # granted, but nothing is delivered
    assert cloud.publish("prognos/v1/acme/edge/edge-1/cmd/model") == 0
    assert cloud.publish("prognos/v1/acme/edge/edge-2/cmd/model") == 0
    bridge = connect("bridge.acme.edge-1")
    assert bridge.publish("prognos/v1/acme/pump-1/telemetry") == NO_SUBSCRIBERS  # a device of edge-1
    assert bridge.publish("prognos/v1/acme/edge/edge-1/alert") == NOT_AUTHORIZED
    time.sleep(0.3)
    assert cloud.got == ["prognos/v1/acme/edge/edge-1/alert"]
    assert agent.got == ["prognos/v1/acme/edge/edge-1/cmd/model"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_revoked_login_stops_working_and_a_rotated_one_starts(  # type: ignore[no-untyped-def]
    connect, client: TestClient, world: World, state: CloudState, broker: MosquittoBroker, tmp_path: Path
) -> None:
    """Through the API, as an admin would: the cloud rewrites the files and signals mosquitto."""
    state.settings.broker_auth_dir = broker.auth_dir
    state.settings.broker_pid_file = broker.pid_path
    assert connect("device.acme.ac-1").accepted
    r = client.post("/api/v1/broker/credentials/device.acme.ac-1/revoke", headers=world.auth("admin"))
    assert r.status_code == 200 and r.json()["revoked_at"]
    time.sleep(0.5)  # mosquitto applies SIGHUP in its next loop
    assert not connect("device.acme.ac-1").accepted
    r = client.post(
        "/api/v1/broker/credentials", json={"role": "device", "subject": "ac-1"}, headers=world.auth("admin")
    )
    assert r.status_code == 201
    issued = r.json()
    assert issued["username"] == "device.acme.ac-1" and len(issued["password"]) >= 32
    time.sleep(0.5)
    assert connect("device.acme.ac-1", issued["password"]).accepted
    listed = client.get("/api/v1/broker/credentials", headers=world.auth("admin")).json()["items"]
    assert all("password" not in row and "password_hash" not in row for row in listed)
    assert issued["password"] not in (broker.auth_dir / "passwd").read_text()  # type: ignore[operator]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_only_the_platform_role_issues_cloud_logins(client: TestClient, world: World) -> None:
    r = client.post(
        "/api/v1/broker/credentials", json={"role": "cloud", "subject": "ingest"}, headers=world.auth("admin")
    )
    assert r.status_code == 403
    body = {"role": "device", "subject": "nope-1"}
    r = client.post("/api/v1/broker/credentials", json=body, headers=world.auth("admin"))
    assert r.status_code == 404 and "no registered device 'nope-1'" in r.json()["detail"]
    r = client.post(
        "/api/v1/broker/credentials", json={"role": "agent", "subject": "a/b"}, headers=world.auth("admin")
    )
    assert r.status_code == 422


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_secrets_never_reach_logs_or_reprs(  # type: ignore[no-untyped-def]
    connect, client: TestClient, world: World, state: CloudState, broker: MosquittoBroker, caplog, capfd
) -> None:
    """Issue a login through the API, connect with it through the project's own client and
    uplink settings, and grep everything that was logged or printed for it."""
    import logging

    from cloud.settings import Settings
    from edge.config import SourceConfig, UplinkConfig
    from mqtt_client import ConnectedClient

    caplog.set_level(logging.DEBUG)
    state.settings.broker_auth_dir = broker.auth_dir
    state.settings.broker_pid_file = broker.pid_path
    body = {"role": "agent", "subject": "edge-1"}
    password = client.post("/api/v1/broker/credentials", json=body, headers=world.auth("admin")).json()[
        "password"
    ]
    time.sleep(0.5)
    address = BrokerAddress(broker.host, broker.port).login("agent.acme.edge-1", password)
    link = ConnectedClient(address, "secret-check")
    link.connect()
    try:
        assert link.wait_connected(10)
    finally:
        link.close()
    shown = [
        repr(address),
        repr(SourceConfig(kind="mqtt", broker="h:1", username="u", password=password)),
        repr(UplinkConfig(username="u", password=password)),
        repr(Settings(mqtt_password=password, secret_key=password)),
    ]
    out, err = capfd.readouterr()
    for text in [caplog.text, out, err, *shown, broker.log_path.read_text()]:
        assert password not in text


def test_the_embedded_broker_refuses_to_listen_beyond_loopback() -> None:
    from prognos.embedded_broker import EmbeddedBroker

    with pytest.raises(ValueError, match="no logins and listens on loopback only, not '0.0.0.0'"):
        EmbeddedBroker(host="0.0.0.0")
    EmbeddedBroker(host="localhost")  # loopback by another name is fine


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_generated_mosquitto_conf_runs_and_refuses_anonymous(
    state: CloudState, logins: Logins, tmp_path: Path
) -> None:
    """What `prognos cloud broker-files` writes for an installation, run by real mosquitto."""
    import os
    import socket
    import subprocess

    from cloud.broker_files import mosquitto_conf
    from prognos.broker import free_port

    binary = find_mosquitto()
    if binary is None:
        engine_missing("mosquitto", "Debian: apt-get install mosquitto")
    auth = tmp_path / "auth"
    with state.sessions() as s:
        files = write_broker_files(s, auth)
    assert files.conf.is_file() and "allow_anonymous false" in files.conf.read_text()
    port = free_port()
    conf = tmp_path / "run.conf"
    root = "user root\n" if os.geteuid() == 0 else ""  # as root mosquitto would drop to its own user
    conf.write_text(
        root + mosquitto_conf(auth.resolve(), port).replace(f"listener {port}", f"listener {port} 127.0.0.1")
    )
    proc = subprocess.Popen([binary, "-c", str(conf)], cwd=tmp_path, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                time.sleep(0.05)
        there = BrokerAddress("127.0.0.1", port)
        anonymous = Client(there, None, None)
        agent = Client(there, "agent.acme.edge-1", logins.passwords["agent.acme.edge-1"])
        try:
            assert not anonymous.accepted and agent.accepted
        finally:
            anonymous.close()
            agent.close()
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stderr:
            proc.stderr.close()
