"""MQTT control packets, sans-IO: the packet types, the wire primitives, and the server's packets.

MQTT 5.0 and 3.1.1 (protocol levels 5 and 4; the differences are the properties and the
reason codes). Reading a client's byte stream is :mod:`.reader`'s job. Properties are
kept as ``(identifier, value)`` pairs so a PUBLISH's can be forwarded as they came.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Connect",
    "Disconnect",
    "MalformedPacket",
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
WILL_DELAY, MAXIMUM_PACKET_SIZE = 0x18, 0x27

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
    properties: Properties = field(default_factory=list)

    def prop(self, ident: int, default: Any = None) -> Any:
        return next((v for i, v in self.properties if i == ident), default)


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


class Cursor:
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
