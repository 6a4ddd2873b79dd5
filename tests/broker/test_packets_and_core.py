"""The embedded broker without sockets: the packet codec and the session/routing core."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prognos.embedded_broker import packets as p
from prognos.embedded_broker.core import BrokerCore, Conn, topic_matches, valid_filter
from prognos.embedded_broker.reader import PacketReader


def connect_bytes(
    client_id: str,
    *,
    version: int = 5,
    clean: bool = True,
    expiry: int = 0,
    receive_max: int | None = None,
    will: tuple[str, bytes] | None = None,
) -> bytes:
    flags = (0x02 if clean else 0) | (0x04 | 0x08 if will else 0)
    body = p._string("MQTT") + bytes([version, flags]) + struct.pack("!H", 60)
    if version == 5:
        props: p.Properties = [(p.SESSION_EXPIRY, expiry)] if expiry else []
        if receive_max:
            props.append((p.RECEIVE_MAXIMUM, receive_max))
        body += p.encode_properties(props)
    body += p._string(client_id)
    if will:
        body += (p.encode_properties([]) if version == 5 else b"") + p._string(will[0]) + p._binary(will[1])
    return p._packet(p.CONNECT << 4, body)


def subscribe_bytes(packet_id: int, *filters: str, qos: int = 1, version: int = 5) -> bytes:
    body = struct.pack("!H", packet_id) + (p.encode_properties([]) if version == 5 else b"")
    for f in filters:
        body += p._string(f) + bytes([qos])
    return p._packet(p.SUBSCRIBE << 4 | 0b0010, body)


def publish_bytes(
    topic: str, payload: bytes, qos: int = 1, packet_id: int = 1, retain: bool = False
) -> bytes:
    return p.publish(5, p.Publish(topic, payload, qos, retain, packet_id=packet_id if qos else None))


def frames(data: bytes) -> list[tuple[int, bytes]]:
    """Split what the server wrote into (first byte, body) pairs."""
    out, buf = [], memoryview(data)
    while buf:
        length, shift, i = 0, 0, 1
        while True:
            b = buf[i]
            length |= (b & 0x7F) << shift
            shift += 7
            i += 1
            if not b & 0x80:
                break
        out.append((buf[0], bytes(buf[i : i + length])))
        buf = buf[i + length :]
    return out


def server_packets(data: bytes) -> list[tuple[int, bytes]]:
    """(packet type, body) of each packet the server wrote."""
    return [(first >> 4, body) for first, body in frames(data)]


class Harness:
    """A core with connections, and what each connection was sent, as packet types."""

    def __init__(self) -> None:
        self.core = BrokerCore(max_queued=10)
        self.sent: dict[int, bytearray] = {}
        self.closed: set[int] = set()
        self.now = 0.0

    def open(self) -> Conn:
        conn = self.core.open(self.now)
        self.sent[conn.id] = bytearray()
        return conn

    def feed(self, conn: Conn, data: bytes) -> list[tuple[int, bytes]]:
        before = len(self.sent[conn.id])
        self.core.received(conn, data, self.now)
        self._collect()
        return server_packets(bytes(self.sent[conn.id][before:]))

    def _collect(self) -> None:
        for c, data, close in self.core.take():
            self.sent[c.id] += data
            if close:
                self.closed.add(c.id)

    def lose(self, conn: Conn) -> None:
        self.core.lost(conn, self.now)
        self._collect()

    def publishes(self, conn: Conn) -> list[p.Publish]:
        reader = PacketReader()
        reader.version = 5
        return [x for first, b in frames(bytes(self.sent[conn.id])) if first >> 4 == p.PUBLISH
                for x in reader.feed(p._packet(first, b))]  # fmt: skip


@given(st.integers(0, 268_435_455))
def test_varint_round_trip(n: int) -> None:
    c = p.Cursor(p.encode_varint(n))
    assert c.varint() == n and c.left() == 0


@settings(max_examples=200)
@given(
    topic=st.text(st.characters(codec="utf-8", exclude_characters="+#\x00"), min_size=1, max_size=40),
    payload=st.binary(max_size=300),
    qos=st.integers(0, 1),
    retain=st.booleans(),
    cuts=st.lists(st.integers(1, 50), max_size=10),
)
def test_publish_survives_any_split_of_the_stream(
    topic: str, payload: bytes, qos: int, retain: bool, cuts: list[int]
) -> None:
    reader = PacketReader()
    wire = connect_bytes("c") + p.publish(
        5, p.Publish(topic, payload, qos, retain, packet_id=7 if qos else None)
    )
    got: list[p.Packet] = []
    pos = 0
    for cut in cuts:
        got += reader.feed(wire[pos : pos + cut])
        pos += cut
    got += reader.feed(wire[pos:])
    assert isinstance(got[0], p.Connect) and len(got) == 2
    assert got[1] == p.Publish(topic, payload, qos, retain, False, 7 if qos else None, [])


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_garbage_after_connect_is_a_clear_error_never_a_crash(junk: bytes) -> None:
    reader = PacketReader()
    reader.feed(connect_bytes("c"))
    try:
        reader.feed(junk)
    except p.MalformedPacket as exc:
        assert str(exc) and 0x80 <= exc.code <= 0xA2


@pytest.mark.parametrize(
    ("flt", "topic", "match"),
    [
        ("prognos/v1/+/+/telemetry", "prognos/v1/acme/pump-1/telemetry", True),
        ("prognos/v1/+/+/telemetry", "prognos/v1/acme/pump-1/status", False),
        ("prognos/#", "prognos", True),
        ("prognos/#", "prognos/v1/a", True),
        ("+/x", "/x", True),
        ("#", "$SYS/broker", False),
        ("$SYS/#", "$SYS/broker", True),
        ("a/+", "a/b/c", False),
        ("a/b", "a/b", True),
    ],
)
def test_topic_matching(flt: str, topic: str, match: bool) -> None:
    assert topic_matches(flt, topic) is match


def test_filter_validation() -> None:
    assert valid_filter("a/+/#") and valid_filter("#") and valid_filter("+")
    assert (
        not valid_filter("a/#/b")
        and not valid_filter("a/b#")
        and not valid_filter("a+/b")
        and not valid_filter("")
    )


def test_flow_control_keeps_receive_maximum_and_queues_the_rest() -> None:
    h = Harness()
    sub, pub = h.open(), h.open()
    h.feed(sub, connect_bytes("sub", receive_max=2) + subscribe_bytes(1, "t/#"))
    h.feed(pub, connect_bytes("pub"))
    for i in range(5):
        assert [t for t, _ in h.feed(pub, publish_bytes("t/x", b"%d" % i, packet_id=i + 1))] == [p.PUBACK]
    assert [m.payload for m in h.publishes(sub)] == [b"0", b"1"]  # two in flight, three queued
    first = h.publishes(sub)[0].packet_id
    h.feed(sub, p.pub_response(5, p.PUBACK, first))  # type: ignore[arg-type]
    assert [m.payload for m in h.publishes(sub)] == [b"0", b"1", b"2"]


def test_queue_limit_drops_new_messages_and_counts_them() -> None:
    h = Harness()
    sub, pub = h.open(), h.open()
    h.feed(sub, connect_bytes("sub", clean=False, expiry=3600) + subscribe_bytes(1, "t"))
    h.lose(sub)
    h.feed(pub, connect_bytes("pub"))
    for i in range(15):
        h.feed(pub, publish_bytes("t", b"%d" % i, packet_id=i + 1))
    assert h.core.stats.dropped == 5 and len(h.core.sessions["sub"].queue) == 10


def test_session_resumes_with_unacknowledged_messages_sent_again_as_dup() -> None:
    h = Harness()
    sub, pub = h.open(), h.open()
    h.feed(sub, connect_bytes("sub", clean=False, expiry=3600) + subscribe_bytes(1, "t"))
    h.feed(pub, connect_bytes("pub") + publish_bytes("t", b"one", packet_id=1))
    assert [m.payload for m in h.publishes(sub)] == [b"one"]
    h.lose(sub)  # never acknowledged
    h.feed(pub, publish_bytes("t", b"two", packet_id=2) + publish_bytes("t", b"zero-qos", qos=0))
    again = h.open()
    connack = h.feed(again, connect_bytes("sub", clean=False, expiry=3600))[0]
    assert connack[0] == p.CONNACK and connack[1][0] == 1  # session present
    got = h.publishes(again)
    assert [(m.payload, m.dup) for m in got] == [(b"one", True), (b"two", False)]  # QoS 0 was not kept


def test_clean_start_or_expiry_zero_forgets_the_session() -> None:
    h = Harness()
    a = h.open()
    h.feed(a, connect_bytes("x", clean=False, expiry=0) + subscribe_bytes(1, "t"))
    h.lose(a)
    assert "x" not in h.core.sessions
    b = h.open()
    h.feed(b, connect_bytes("y", clean=False, expiry=10) + subscribe_bytes(1, "t"))
    h.lose(b)
    h.now = 11.0
    h.core.tick(h.now)
    assert "y" not in h.core.sessions


def test_malformed_packet_disconnects_with_a_reason_and_sends_the_will() -> None:
    h = Harness()
    watcher, bad = h.open(), h.open()
    h.feed(watcher, connect_bytes("w") + subscribe_bytes(1, "status/#"))
    h.feed(bad, connect_bytes("bad", will=("status/bad", b"offline")))
    out = h.feed(bad, bytes([p.SUBSCRIBE << 4, 2, 0, 1]))  # wrong flags
    assert out[0][0] == p.DISCONNECT and out[0][1][0] == 0x81 and bad.id in h.closed
    assert [m.payload for m in h.publishes(watcher)] == [b"offline"]


def test_keepalive_timeout_closes_the_connection() -> None:
    h = Harness()
    c = h.open()
    h.feed(c, connect_bytes("k"))  # keep alive 60 s
    h.now = 89.0
    h.core.tick(h.now)
    assert c.id not in h.closed
    h.now = 91.0
    h.core.tick(h.now)
    h._collect()
    assert c.id in h.closed


def test_mqtt_311_client_gets_311_answers() -> None:
    h = Harness()
    c = h.open()
    out = h.feed(c, connect_bytes("old", version=4) + subscribe_bytes(5, "a/+", version=4))
    assert out[0] == (p.CONNACK, b"\x00\x00") and out[1] == (p.SUBACK, b"\x00\x05\x01")


def test_qos2_publish_from_a_311_client_is_delivered_once_even_if_resent() -> None:
    """A 3.1.1 client cannot be told the maximum QoS, so its QoS 2 is honoured."""
    h = Harness()
    sub, pub = h.open(), h.open()
    h.feed(sub, connect_bytes("sub") + subscribe_bytes(1, "t"))
    h.feed(pub, connect_bytes("pub", version=4))
    q2 = p.publish(4, p.Publish("t", b"x", 2, packet_id=9))
    assert h.feed(pub, q2)[0][0] == p.PUBREC
    assert h.feed(pub, q2)[0][0] == p.PUBREC  # resent before PUBREL: not delivered again
    assert h.feed(pub, p.pub_response(4, p.PUBREL, 9))[0][0] == p.PUBCOMP
    assert [(m.payload, m.qos) for m in h.publishes(sub)] == [(b"x", 1)]


# -- the five defects the Paho MQTT 5 interoperability suite found (issue 15) ----------------


def _connack_props(out: list[tuple[int, bytes]]) -> dict[int, object]:
    kind, body = out[0]
    assert kind == p.CONNACK
    c = p.Cursor(body[2:])
    return dict(c.properties(5))


def test_an_mqtt5_client_publishing_qos2_is_told_the_maximum_is_1() -> None:
    h = Harness()
    sub, pub = h.open(), h.open()
    h.feed(sub, connect_bytes("sub") + subscribe_bytes(1, "t"))
    assert _connack_props(h.feed(pub, connect_bytes("pub")))[p.MAXIMUM_QOS] == 1
    out = h.feed(pub, p.publish(5, p.Publish("t", b"x", 2, packet_id=9)))
    assert out[0][0] == p.DISCONNECT and out[0][1][0] == 0x9B and pub.id in h.closed
    assert h.publishes(sub) == []


def test_a_will_at_qos2_is_refused_at_connect() -> None:
    h = Harness()
    c = h.open()
    body = (
        p._string("MQTT") + bytes([5, 0x02 | 0x04 | 0x10]) + struct.pack("!H", 60) + p.encode_properties([])
    )
    body += p._string("w") + p.encode_properties([]) + p._string("will/t") + p._binary(b"bye")
    out = h.feed(c, p._packet(p.CONNECT << 4, body))
    assert out[0][0] == p.CONNACK and out[0][1][1] == 0x9B and c.id in h.closed


def test_the_server_advertises_its_maximum_packet_size() -> None:
    h = Harness()
    assert _connack_props(h.feed(h.open(), connect_bytes("c")))[p.MAXIMUM_PACKET_SIZE] == p.MAX_PACKET


def test_a_message_larger_than_the_client_accepts_is_skipped_for_that_client() -> None:
    h = Harness()
    small, big, pub = h.open(), h.open(), h.open()
    body = p._string("MQTT") + bytes([5, 0x02]) + struct.pack("!H", 60)
    body += p.encode_properties([(p.MAXIMUM_PACKET_SIZE, 64)]) + p._string("small")
    h.feed(small, p._packet(p.CONNECT << 4, body) + subscribe_bytes(1, "t"))
    h.feed(big, connect_bytes("big") + subscribe_bytes(1, "t"))
    h.feed(pub, connect_bytes("pub"))
    h.feed(pub, publish_bytes("t", b"x" * 100, packet_id=1) + publish_bytes("t", b"ok", packet_id=2))
    assert [m.payload for m in h.publishes(small)] == [b"ok"]
    assert [m.payload for m in h.publishes(big)] == [b"x" * 100, b"ok"]
    assert h.core.stats.too_large == 1


def test_the_will_goes_out_without_its_will_delay_interval() -> None:
    """The Will Delay Interval is a will property, not a PUBLISH one: copied into the PUBLISH,
    paho and mosquitto_sub dropped the connection and no client received the will."""
    h = Harness()
    sub, dying = h.open(), h.open()
    h.feed(sub, connect_bytes("sub") + subscribe_bytes(1, "will/t"))
    body = (
        p._string("MQTT") + bytes([5, 0x02 | 0x04 | 0x08]) + struct.pack("!H", 60) + p.encode_properties([])
    )
    body += (
        p._string("d") + p.encode_properties([(p.WILL_DELAY, 30)]) + p._string("will/t") + p._binary(b"bye")
    )
    h.feed(dying, p._packet(p.CONNECT << 4, body))
    h.lose(dying)
    (will,) = h.publishes(sub)
    assert will.payload == b"bye" and all(ident != p.WILL_DELAY for ident, _ in will.properties)


def test_the_session_expiry_sent_on_disconnect_is_honoured() -> None:
    h = Harness()
    c = h.open()
    h.feed(c, connect_bytes("keep", clean=False, expiry=10) + subscribe_bytes(1, "t"))
    bye = p._packet(p.DISCONNECT << 4, bytes([0]) + p.encode_properties([(p.SESSION_EXPIRY, 3600)]))
    h.feed(c, bye)
    h.now = 100.0
    h.core.tick(h.now)
    assert "keep" in h.core.sessions  # 3600 s from the DISCONNECT, not 10 from the CONNECT
    h.now = 4000.0
    h.core.tick(h.now)
    assert "keep" not in h.core.sessions
