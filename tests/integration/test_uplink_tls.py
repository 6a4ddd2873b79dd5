"""The uplink over TLS with username/password, against a real mosquitto with a private CA."""

from __future__ import annotations

import shutil
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.outbox import Outbox, PendingMessage
from edge.uplink_mqtt import MqttUplink
from mqtt_client import BrokerAddress
from prognos.broker import BrokerTls, MosquittoBroker, find_mosquitto
from prognos.site_ca import make_site_ca
from tests.support.engines import engine_missing
from tests.support.threads import eventually

pytestmark = pytest.mark.integration

USERS = {"edge-7": "s3cret-edge", "cloud": "s3cret-cloud"}


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throw-away CA and a broker certificate for 127.0.0.1, made the way a site makes them
    (``prognos cloud broker-ca``)."""
    if shutil.which("openssl") is None:
        engine_missing("openssl", "Debian: apt-get install openssl")
    d = tmp_path_factory.mktemp("pki")
    d.chmod(0o755)  # mosquitto may drop to its own user before reading the key
    made = make_site_ca(d, ["127.0.0.1", "localhost"], days=2, name="prognos test CA")
    assert made.server_key.stat().st_mode & 0o777 == 0o600
    for f in d.iterdir():
        f.chmod(0o644)  # ...which here runs as another user than the test
    return d


@pytest.fixture
def tls_broker(certs: Path) -> Iterator[MosquittoBroker]:
    if find_mosquitto() is None:
        engine_missing("mosquitto", "Debian: apt-get install mosquitto")
    broker = MosquittoBroker(users=USERS, tls=BrokerTls(certs / "server.pem", certs / "server.key"))
    with broker:
        yield broker


def _subscriber(broker: MosquittoBroker, ca: Path, got: list[bytes]) -> mqtt.Client:
    ready = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="cloud-tls", protocol=mqtt.MQTTv5)
    client.username_pw_set("cloud", USERS["cloud"])
    client.tls_set(ca_certs=str(ca))
    client.on_connect = lambda c, u, f, rc, p: c.subscribe("prognos/v1/+/edge/+/alert", qos=1)
    client.on_subscribe = lambda c, u, mid, rcs, p: ready.set()
    client.on_message = lambda c, u, m: got.append(m.payload)
    client.connect(broker.host, broker.port)
    client.loop_start()
    assert ready.wait(10), "the TLS subscriber could not subscribe"
    return client


def _tls_uplink(
    outbox: Outbox, broker: MosquittoBroker, password: str, ca: Path | None, client_id: str | None = None
) -> MqttUplink:
    """The uplink as edge-7 over TLS; ``ca=None`` trusts only the system store."""
    return MqttUplink(
        outbox,
        BrokerAddress(broker.host, broker.port).login("edge-7", password),
        tenant="acme",
        agent_id="edge-7",
        tls=True,
        ca_file=ca,
        client_id=client_id,
    )


def _alert_row(n: int) -> PendingMessage:
    return PendingMessage(f"id-{n}", "alert", "prognos/v1/acme/edge/edge-7/alert", b'{"n": %d}' % n, 0.0)


def test_uplink_delivers_over_tls_with_a_password(
    tmp_path: Path, tls_broker: MosquittoBroker, certs: Path
) -> None:
    got: list[bytes] = []
    sub = _subscriber(tls_broker, certs / "ca.pem", got)
    outbox = Outbox(tmp_path / "outbox.sqlite")
    outbox.add([_alert_row(i) for i in range(5)])
    uplink = _tls_uplink(outbox, tls_broker, USERS["edge-7"], certs / "ca.pem", client_id="site-7-gateway")
    try:
        uplink.start()
        assert eventually(lambda: len(got) == 5 and outbox.awaiting() == 5, timeout=15)
        assert got == [b'{"n": %d}' % i for i in range(5)]  # in outbox order
        assert outbox.pending() == []  # published; the rows wait for the cloud's confirmation
        assert " as site-7-gateway " in tls_broker.log_path.read_text()  # the configured client id
    finally:
        uplink.stop()
        sub.disconnect()
        sub.loop_stop()
        outbox.close()


@pytest.mark.parametrize(
    ("password", "ca"),
    [
        pytest.param("wrong", "ca.pem", id="bad-password"),
        pytest.param(
            USERS["edge-7"],
            None,
            id="untrusted-server-certificate",
            # paho-mqtt 2.1 leaves the socket of a failed TLS handshake to the garbage
            # collector (client.py, _ssl_wrap_socket); that is paho's leak, not ours.
            marks=pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
        ),
    ],
)
def test_refused_uplink_keeps_every_row(
    tmp_path: Path, tls_broker: MosquittoBroker, certs: Path, password: str, ca: str | None
) -> None:
    """A refused login or a certificate the agent cannot verify sends nothing and loses nothing."""
    outbox = Outbox(tmp_path / "outbox.sqlite")
    outbox.add([_alert_row(i) for i in range(3)])
    uplink = _tls_uplink(outbox, tls_broker, password, certs / ca if ca else None)
    try:
        uplink.start()
        assert not uplink.connected.wait(3)
        assert outbox.size() == 3
    finally:
        uplink.stop(drain_timeout=0)
        outbox.close()


def test_plain_tcp_client_is_refused_by_the_tls_listener(tls_broker: MosquittoBroker) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="plain", protocol=mqtt.MQTTv5)
    client.username_pw_set("edge-7", USERS["edge-7"])
    with pytest.raises((OSError, ssl.SSLError, ConnectionError)):
        client.connect(tls_broker.host, tls_broker.port, keepalive=5)
        rc = client.loop(timeout=2)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            raise ConnectionError(rc)
        client.loop(timeout=2)
        if not client.is_connected():
            raise ConnectionError("not connected")
