"""MQTT control packets, sans-IO: bytes in, packets out, and the server's packets back to bytes.

Covers what a broker receives from clients (CONNECT, PUBLISH, PUBACK, PUBREC, PUBREL,
PUBCOMP, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT) and what it sends, for MQTT 5.0
and 3.1.1 (protocol levels 5 and 4; the differences are the properties and the reason
codes). :class:`PacketReader` buffers a byte stream and yields whole packets; anything
that breaks the specification raises :class:`MalformedPacket` with the reason, and the
caller closes the connection. Properties are kept as ``(identifier, value)`` pairs so a
PUBLISH's can be forwarded as they came.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Connect",
    "Disconnect",
    "MalformedPacket",
    "PacketReader",
    "Publish",
    "Subscribe",
    "Subscription",
    "Unsubscribe",
    "connack",
    "disconnect",
    "pingresp",
    "pub_response",
    "publish",
    "suback",
    "unsuback",
]

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14

MAX_PACKET = 16 * 1024 * 1024  # a broker for a fleet's telemetry: larger is a mistake or an attack

# property identifier -> wire type (MQTT 5.0, section 2.2.2.2)
_BYTE, _U16, _U32, _VARINT, _STR, _BIN, _PAIR = range(7)
_PROPERTY_TYPES = {
    0x01: _BYTE, 0x02: _U32, 0x03: _STR, 0x08: _STR, 0x09: _BIN, 0x0B: _VARINT, 0x11: _U32,
    0x12: _STR, 0x13: _U16, 0x15: _STR, 0x16: _BIN, 0x17: _BYTE, 0x18: _U32, 0x19: _BYTE,
    0x1A: _STR, 0x1C: _STR, 0x1F: _STR, 0x21: _U16, 0x22: _U16, 0x23: _U16, 0x24: _BYTE,
    0x25: _BYTE, 0x26: _PAIR, 0x27: _U32, 0x28: _BYTE, 0x29: _BYTE, 0x2A: _BYTE,
}  # fmt: skip
SESSION_EXPIRY, RECEIVE_MAXIMUM, TOPIC_ALIAS, SUBSCRIPTION_ID = 0x11, 0x21, 0x23, 0x0B
ASSIGNED_CLIENT_ID, MAXIMUM_QOS, RETAIN_AVAILABLE, REASON_STRING = 0x12, 0x24, 0x25, 0x1F
WILDCARDS_AVAILABLE, SUB_IDS_AVAILABLE, SHARED_AVAILABLE = 0x28, 0x29, 0x2A

Properties = list[tuple[int, Any]]


class MalformedPacket(ValueError):
    """The bytes break the specification; ``code`` is the MQTT 5 reason code to send."""

    def __init__(self, reason: str, code: int = 0x81) -> None:
        super().__init__(reason)
        self.code = code


@dataclass(slots=True)
class Connect:
    version: int  # 4 (3.1.1) or 5
    client_id: str
    clean_start: bool
    keepalive: int
    properties: Properties = field(default_factory=list)
    will: Publish | None = None
    username: str | None = None
    password: bytes | None = None

    def prop(self, ident: int, default: Any = None) -> Any:
        return next((v for i, v in self.properties if i == ident), default)


@dataclass(slots=True)
class Publish:
    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    dup: bool = False
    packet_id: int | None = None
    properties: Properties = field(default_factory=list)


@dataclass(slots=True)
class Subscription:
    topic_filter: str
    qos: int
    no_local: bool = False
    retain_as_published: bool = False
    retain_handling: int = 0


@dataclass(slots=True)
class Subscribe:
    packet_id: int
    subscriptions: list[Subscription]
    properties: Properties = field(default_factory=list)


@dataclass(slots=True)
class Unsubscribe:
    packet_id: int
    topic_filters: list[str]


@dataclass(slots=True)
class PubResponse:
    """PUBACK, PUBREC, PUBREL or PUBCOMP."""

    kind: int
    packet_id: int
    reason: int = 0


@dataclass(slots=True)
class Disconnect:
    reason: int = 0


class PingReq:
    pass


Packet = Connect | Publish | Subscribe | Unsubscribe | PubResponse | Disconnect | PingReq


# -- primitives ----------------------------------------------------------------------------
def encode_varint(n: int) -> bytes:
    if not 0 <= n <= 268_435_455:
        raise ValueError(f"{n} does not fit a variable byte integer")
    out = bytearray()
    while True:
        n, byte = divmod(n, 128)
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(s: str) -> bytes:
    raw = s.encode()
    return struct.pack("!H", len(raw)) + raw


def _binary(b: bytes) -> bytes:
    return struct.pack("!H", len(b)) + b


class _Cursor:
    """Reads one packet's body; every read checks the bounds."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def left(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> bytes:
        if n > self.left():
            raise MalformedPacket("packet ends early")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int(struct.unpack("!H", self.take(2))[0])

    def u32(self) -> int:
        return int(struct.unpack("!I", self.take(4))[0])

    def varint(self) -> int:
        value = 0
        for shift in range(0, 28, 7):
            b = self.byte()
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
        raise MalformedPacket("variable byte integer longer than 4 bytes")

    def binary(self) -> bytes:
        return self.take(self.u16())

    def string(self) -> str:
        raw = self.binary()
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            raise MalformedPacket("string is not UTF-8") from None
        if "\x00" in text:
            raise MalformedPacket("string contains U+0000")
        return text

    def properties(self, version: int) -> Properties:
        if version < 5:
            return []
        end = self.varint()
        if end > self.left():
            raise MalformedPacket("properties run past the packet")
        stop = self.pos + end
        props: Properties = []
        while self.pos < stop:
            ident = self.varint()
            kind = _PROPERTY_TYPES.get(ident)
            if kind is None:
                raise MalformedPacket(f"unknown property 0x{ident:02x}")
            readers = (self.byte, self.u16, self.u32, self.varint, self.string, self.binary)
            value = (self.string(), self.string()) if kind == _PAIR else readers[kind]()
            props.append((ident, value))
        if self.pos != stop:
            raise MalformedPacket("properties run past their length")
        return props


def encode_properties(props: Properties) -> bytes:
    out = bytearray()
    for ident, value in props:
        kind = _PROPERTY_TYPES[ident]
        out += encode_varint(ident)
        if kind == _BYTE:
            out.append(value)
        elif kind == _U16:
            out += struct.pack("!H", value)
        elif kind == _U32:
            out += struct.pack("!I", value)
        elif kind == _VARINT:
            out += encode_varint(value)
        elif kind == _STR:
            out += _string(value)
        elif kind == _BIN:
            out += _binary(value)
        else:
            out += _string(value[0]) + _string(value[1])
    return encode_varint(len(out)) + bytes(out)


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + encode_varint(len(body)) + body


# -- reading -----------------------------------------------------------------------------
class PacketReader:
    """Feed it a connection's bytes; it returns the whole packets they complete.

    The protocol version is learnt from CONNECT (which must come first) and decides how
    the rest are read.
    """

    def __init__(self, max_packet: int = MAX_PACKET) -> None:
        self.version = 0  # until CONNECT
        self.max_packet = max_packet
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Packet]:
        self._buf += data
        packets: list[Packet] = []
        while True:
            header = self._header()
            if header is None:
                return packets
            first, start, length = header
            body = bytes(self._buf[start : start + length])
            del self._buf[: start + length]
            packets.append(self._decode(first, body))

    def _header(self) -> tuple[int, int, int] | None:
        if len(self._buf) < 2:
            return None
        length = 0
        for i in range(1, 5):
            if i >= len(self._buf):
                return None
            b = self._buf[i]
            length |= (b & 0x7F) << (7 * (i - 1))
            if not b & 0x80:
                if length > self.max_packet:
                    raise MalformedPacket(f"packet of {length} bytes is over the limit", 0x95)
                if len(self._buf) < i + 1 + length:
                    return None
                return self._buf[0], i + 1, length
        raise MalformedPacket("remaining length longer than 4 bytes")

    def _decode(self, first: int, body: bytes) -> Packet:
        kind, flags = first >> 4, first & 0x0F
        c = _Cursor(body)
        if self.version == 0:
            if kind != CONNECT:
                raise MalformedPacket("the first packet must be CONNECT", 0x82)
            packet: Packet = self._connect(c)
            self.version = packet.version
        elif kind == PUBLISH:
            packet = self._publish(c, flags)
        elif kind in (PUBACK, PUBREC, PUBREL, PUBCOMP):
            if flags != (0b0010 if kind == PUBREL else 0):
                raise MalformedPacket("reserved flags set", 0x81)
            packet = PubResponse(kind, c.u16(), c.byte() if c.left() else 0)
            c.pos = len(body)  # a response's properties are not needed
        elif kind == SUBSCRIBE:
            packet = self._subscribe(c, flags)
        elif kind == UNSUBSCRIBE:
            packet = self._unsubscribe(c, flags)
        elif kind == PINGREQ:
            packet = PingReq()
        elif kind == DISCONNECT:
            packet = Disconnect(c.byte() if c.left() else 0)
            c.pos = len(body)
        elif kind == CONNECT:
            raise MalformedPacket("a second CONNECT", 0x82)
        else:
            raise MalformedPacket(f"a client may not send packet type {kind}", 0x82)
        if c.left():
            raise MalformedPacket(f"{c.left()} bytes left over in packet type {kind}")
        return packet

    @staticmethod
    def _connect(c: _Cursor) -> Connect:
        name = c.string()
        version = c.byte()
        if name != "MQTT" or version not in (4, 5):
            raise MalformedPacket(f"unsupported protocol {name!r} level {version}", 0x84)
        flags = c.byte()
        if flags & 0x01:
            raise MalformedPacket("reserved connect flag set")
        keepalive = c.u16()
        props = c.properties(version)
        client_id = c.string()
        will = None
        if flags & 0x04:
            will_props = c.properties(version)
            will_qos = (flags >> 3) & 0x03
            if will_qos > 2:
                raise MalformedPacket("will QoS 3")
            will = Publish(c.string(), c.binary(), will_qos, bool(flags & 0x20), properties=will_props)
        elif flags & 0x38:
            raise MalformedPacket("will QoS or retain without a will")
        username = c.string() if flags & 0x80 else None
        password = c.binary() if flags & 0x40 else None
        return Connect(version, client_id, bool(flags & 0x02), keepalive, props, will, username, password)

    def _publish(self, c: _Cursor, flags: int) -> Publish:
        qos = (flags >> 1) & 0x03
        if qos == 3:
            raise MalformedPacket("PUBLISH with QoS 3")
        if qos == 0 and flags & 0x08:
            raise MalformedPacket("DUP set on a QoS 0 PUBLISH")
        topic = c.string()
        if not topic or "+" in topic or "#" in topic:
            raise MalformedPacket(f"invalid topic name {topic!r}", 0x90)
        packet_id = c.u16() if qos else None
        if packet_id == 0:
            raise MalformedPacket("packet identifier 0")
        props = c.properties(self.version)
        return Publish(topic, c.take(c.left()), qos, bool(flags & 0x01), bool(flags & 0x08), packet_id, props)

    def _subscribe(self, c: _Cursor, flags: int) -> Subscribe:
        if flags != 0b0010:
            raise MalformedPacket("SUBSCRIBE flags must be 0010")
        packet_id = c.u16()
        props = c.properties(self.version)
        subs = []
        while c.left():
            topic_filter, opts = c.string(), c.byte()
            if opts & 0x03 == 3 or opts & 0xC0 or (opts >> 4) & 0x03 == 3:
                raise MalformedPacket("invalid subscription options")
            if self.version < 5 and opts & 0xFC:
                raise MalformedPacket("reserved subscription option bits set")
            subs.append(
                Subscription(topic_filter, opts & 0x03, bool(opts & 0x04), bool(opts & 0x08), opts >> 4)
            )
        if not subs:
            raise MalformedPacket("SUBSCRIBE without a topic filter", 0x82)
        return Subscribe(packet_id, subs, props)

    def _unsubscribe(self, c: _Cursor, flags: int) -> Unsubscribe:
        if flags != 0b0010:
            raise MalformedPacket("UNSUBSCRIBE flags must be 0010")
        packet_id = c.u16()
        c.properties(self.version)
        filters = []
        while c.left():
            filters.append(c.string())
        if not filters:
            raise MalformedPacket("UNSUBSCRIBE without a topic filter", 0x82)
        return Unsubscribe(packet_id, filters)


# -- writing (what the server sends) ---------------------------------------------------------
def connack(
    version: int, session_present: bool, reason: int = 0, properties: Properties | None = None
) -> bytes:
    if version < 5:
        code = {0: 0, 0x84: 1, 0x85: 2, 0x88: 3, 0x86: 4, 0x87: 5}.get(reason, 3 if reason else 0)
        return _packet(CONNACK << 4, bytes([int(session_present), code]))
    return _packet(CONNACK << 4, bytes([int(session_present), reason]) + encode_properties(properties or []))


def publish(version: int, msg: Publish) -> bytes:
    first = PUBLISH << 4 | (0x08 if msg.dup else 0) | msg.qos << 1 | int(msg.retain)
    body = _string(msg.topic)
    if msg.qos:
        body += struct.pack("!H", msg.packet_id)
    if version >= 5:
        body += encode_properties(msg.properties)
    return _packet(first, body + msg.payload)


def pub_response(version: int, kind: int, packet_id: int, reason: int = 0) -> bytes:
    first = kind << 4 | (0b0010 if kind == PUBREL else 0)
    body = struct.pack("!H", packet_id)
    if version >= 5 and reason:
        body += bytes([reason])
    return _packet(first, body)


def suback(version: int, packet_id: int, reasons: list[int]) -> bytes:
    if version < 5:
        reasons = [r if r < 0x80 else 0x80 for r in reasons]
        return _packet(SUBACK << 4, struct.pack("!H", packet_id) + bytes(reasons))
    return _packet(SUBACK << 4, struct.pack("!H", packet_id) + encode_properties([]) + bytes(reasons))


def unsuback(version: int, packet_id: int, reasons: list[int]) -> bytes:
    if version < 5:
        return _packet(UNSUBACK << 4, struct.pack("!H", packet_id))
    return _packet(UNSUBACK << 4, struct.pack("!H", packet_id) + encode_properties([]) + bytes(reasons))


def pingresp() -> bytes:
    return bytes([PINGRESP << 4, 0])


def disconnect(version: int, reason: int, why: str = "") -> bytes:
    """A server DISCONNECT (MQTT 5 only; 3.1.1 servers just close)."""
    if version < 5:
        return b""
    props: Properties = [(REASON_STRING, why[:200])] if why else []
    return _packet(DISCONNECT << 4, bytes([reason]) + encode_properties(props))
