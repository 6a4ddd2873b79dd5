"""Reading a client's byte stream into packets, sans-IO.

Covers what a broker receives (CONNECT, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP,
SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT). :class:`PacketReader` buffers the stream
and returns whole packets; anything that breaks the specification raises
:class:`~.packets.MalformedPacket` with the reason, and the caller closes the connection.
"""

from __future__ import annotations

from .packets import (
    CONNECT,
    DISCONNECT,
    MAX_PACKET,
    PINGREQ,
    PUBACK,
    PUBCOMP,
    PUBLISH,
    PUBREC,
    PUBREL,
    SUBSCRIBE,
    UNSUBSCRIBE,
    Connect,
    Cursor,
    Disconnect,
    MalformedPacket,
    Packet,
    PingReq,
    Publish,
    PubResponse,
    Subscribe,
    Subscription,
    Unsubscribe,
)

__all__ = ["PacketReader"]


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
        c = Cursor(body)
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
            reason = c.byte() if c.left() else 0
            props = c.properties(self.version) if c.left() and self.version >= 5 else []
            packet = Disconnect(reason, props)
        elif kind == CONNECT:
            raise MalformedPacket("a second CONNECT", 0x82)
        else:
            raise MalformedPacket(f"a client may not send packet type {kind}", 0x82)
        if c.left():
            raise MalformedPacket(f"{c.left()} bytes left over in packet type {kind}")
        return packet

    @staticmethod
    def _connect(c: Cursor) -> Connect:
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

    def _publish(self, c: Cursor, flags: int) -> Publish:
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

    def _subscribe(self, c: Cursor, flags: int) -> Subscribe:
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

    def _unsubscribe(self, c: Cursor, flags: int) -> Unsubscribe:
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
