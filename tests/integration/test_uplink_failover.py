"""The edge uplink given the nodes of a broker tier: when its node dies it moves to the next,
and what the dead node never acknowledged is sent again there, so the rows arrive at the
surviving node with none lost. Two real mosquittos stand in for two nodes (the clustered
form, NATS, runs in bench/load.py and tests/cloud/test_stream_ingest.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.config import UplinkConfig
from edge.outbox import Outbox
from edge.pending import to_pending
from edge.uplink_mqtt import MqttUplink
from mqtt_client import BrokerAddress, parse_brokers
from prognos.broker import MosquittoBroker
from tests.cloud.conftest import NOW
from tests.cloud.messages import summary
from tests.support.threads import eventually

pytestmark = pytest.mark.integration


def _listen(broker: MosquittoBroker, got: set[str]) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_message = lambda c, u, m: got.add(m.payload.decode())
    client.connect(broker.host, broker.port)
    client.subscribe("prognos/v1/acme/edge/#", qos=1)
    client.loop_start()
    return client


def test_a_dead_node_moves_the_uplink_to_the_next_and_nothing_is_lost(tmp_path: Path) -> None:
    rows = [to_pending(summary("ac-1", NOW + timedelta(minutes=5 * i)), "acme", "edge-1") for i in range(200)]
    first, second = MosquittoBroker().start(), MosquittoBroker().start()
    outbox = Outbox(tmp_path / "outbox.sqlite")
    got: set[str] = set()
    listener = _listen(second, got)
    nodes = parse_brokers(f"{first.host}:{first.port},{second.host}:{second.port}")
    uplink = MqttUplink(
        outbox, nodes[0], tenant="acme", agent_id="edge-1", confirm_by_cloud=False, failover=nodes[1:]
    )
    try:
        uplink.start()
        outbox.add(rows[:50])
        uplink.notify()
        assert eventually(lambda: outbox.size() == 0, 10), "the first node takes the first rows"
        first.kill()
        outbox.add(rows[50:])
        uplink.notify()
        assert eventually(lambda: outbox.size() == 0, 30), f"{outbox.size()} rows never left"
        assert uplink.broker == BrokerAddress(second.host, second.port) and uplink.failovers >= 1
        summaries = {r.payload.decode() for r in rows[50:]}
        assert eventually(lambda: summaries <= got, 10), (
            f"{len(summaries - got)} missing"
        )
    finally:
        uplink.stop(drain_timeout=0)
        listener.disconnect()
        listener.loop_stop()
        outbox.close()
        first.stop()
        second.stop()


def test_a_node_list_is_checked_entry_by_entry() -> None:
    assert [n.port for n in parse_brokers("a:1,b:2, c:3")] == [1, 2, 3]
    with pytest.raises(ValueError, match="empty entry"):
        UplinkConfig(broker="a:1,,b:2")
    with pytest.raises(ValueError, match="'b:x' is not HOST:PORT"):
        UplinkConfig(broker="a:1,b:x")
