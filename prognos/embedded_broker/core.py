"""The broker's state machine, sans-IO: connections feed it bytes, it says what to write and close.

What the system needs from a broker, and nothing it does not:

* MQTT 5.0 and 3.1.1 clients; QoS 0 and 1 both ways. It advertises Maximum QoS 1, so an
  MQTT 5 client's QoS 2 publish (or will) is refused with "QoS not supported" (0x9B); a
  3.1.1 client, which cannot be told, may publish at QoS 2 (answered with PUBREC/PUBCOMP,
  delivered once, as QoS 1);
* packet sizes both ways: it advertises its Maximum Packet Size, and never sends a client
  a packet larger than the one the client advertised (that client skips the message, as
  the specification asks);
* sessions that outlive a connection (clean start off plus a session expiry, or a 3.1.1
  persistent session): subscriptions kept, QoS 1 messages queued while the client is away,
  unacknowledged ones sent again with DUP when it returns; a client id connecting again
  takes the session over;
* flow control: no more unacknowledged QoS 1 messages in flight to a client than its
  Receive Maximum, the rest queued (at most ``max_queued`` per session, then dropped and
  counted, as mosquitto's ``max_queued_messages``);
* wildcards (``+``, ``#``; never matching ``$`` topics at the first level), shared
  subscriptions (``$share/group/filter``: each message to one member, online ones first,
  the least loaded), retained messages and last wills (sent when a connection ends
  without a normal DISCONNECT, or misses its keep-alive).

Not supported: authentication (the broker listens on loopback only, for the demo and
tests; docs/security.md), topic aliases (the maximum advertised is 0), subscription
identifiers, will delays (a will goes out at once, without its Will Delay Interval, which
is not a PUBLISH property) and message expiry (forwarded untouched). A session expiry sent
on DISCONNECT replaces the one from CONNECT.
"""

from __future__ import annotations

import itertools
import math
import uuid
from collections import deque
from dataclasses import dataclass, field

from . import packets as p
from .reader import PacketReader

__all__ = ["BrokerCore", "Conn", "topic_matches", "valid_filter"]

_NOT_FORWARDED = {p.TOPIC_ALIAS, p.SUBSCRIPTION_ID, p.WILL_DELAY}
_SERVER_PROPS: p.Properties = [
    (p.MAXIMUM_QOS, 1),
    (p.MAXIMUM_PACKET_SIZE, p.MAX_PACKET),
    (p.RETAIN_AVAILABLE, 1),
    (p.WILDCARDS_AVAILABLE, 1),
    (p.SUB_IDS_AVAILABLE, 0),
    (p.SHARED_AVAILABLE, 1),
]


def valid_filter(topic_filter: str) -> bool:
    if not topic_filter:
        return False
    levels = topic_filter.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            return False
        if "+" in level and level != "+":
            return False
    return True


def topic_matches(topic_filter: str, topic: str) -> bool:
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    want, have = topic_filter.split("/"), topic.split("/")
    for i, level in enumerate(want):
        if level == "#":
            return True
        if i >= len(have) or (level != "+" and level != have[i]):
            return False
    return len(want) == len(have)


def split_share(key: str) -> tuple[str | None, str]:
    """``$share/group/filter`` -> (group, filter); a plain filter -> (None, filter)."""
    if key.startswith("$share/"):
        _, group, rest = (key.split("/", 2) + [""])[:3]
        return group, rest
    return None, key


@dataclass(eq=False)
class Conn:
    """One network connection, as the adapter sees it: bytes to write, whether to close."""

    id: int
    reader: PacketReader = field(default_factory=PacketReader)
    out: bytearray = field(default_factory=bytearray)
    closing: bool = False
    session: Session | None = None
    keepalive: int = 0
    last_in: float = 0.0
    will: p.Publish | None = None
    max_packet: int = p.MAX_PACKET  # the largest packet the client accepts (its CONNECT says)

    @property
    def version(self) -> int:
        return self.reader.version or 5


@dataclass(eq=False)
class Session:
    client_id: str
    expiry: float = 0.0  # seconds it outlives its connection
    receive_maximum: int = 65535
    subscriptions: dict[str, p.Subscription] = field(default_factory=dict)
    inflight: dict[int, p.Publish] = field(default_factory=dict)  # sent, awaiting PUBACK
    queue: deque[p.Publish] = field(default_factory=deque)
    awaiting_release: set[int] = field(default_factory=set)  # inbound QoS 2, awaiting PUBREL
    conn: Conn | None = None
    gone_at: float = 0.0
    next_id: int = 1

    def packet_id(self) -> int:
        while True:
            pid, self.next_id = self.next_id, self.next_id % 65535 + 1
            if pid not in self.inflight:
                return pid


@dataclass
class BrokerStats:
    connections: int = 0
    received: int = 0
    delivered: int = 0
    dropped: int = 0  # queue full
    too_large: int = 0  # larger than the receiving client accepts
    malformed: int = 0


class BrokerCore:
    def __init__(self, max_queued: int = 100_000) -> None:
        self.max_queued = max_queued
        self.sessions: dict[str, Session] = {}
        self.retained: dict[str, p.Publish] = {}
        self.stats = BrokerStats()
        self._conns: set[Conn] = set()
        self._dirty: set[Conn] = set()
        self._ids = itertools.count(1)
        self._turn = itertools.count()

    # -- events from the adapter ---------------------------------------------------------------
    def open(self, now: float) -> Conn:
        conn = Conn(next(self._ids), last_in=now)
        self._conns.add(conn)
        return conn

    def received(self, conn: Conn, data: bytes, now: float) -> None:
        if conn.closing:
            return
        conn.last_in = now
        try:
            for packet in conn.reader.feed(data):
                self._handle(conn, packet, now)
                if conn.closing:
                    return
        except p.MalformedPacket as exc:
            self.stats.malformed += 1
            self._drop(conn, now, exc.code, str(exc))

    def lost(self, conn: Conn, now: float) -> None:
        """The connection closed under us (peer gone, reset): the will goes out."""
        self._detach(conn, now, send_will=True)
        self._conns.discard(conn)

    def tick(self, now: float) -> None:
        """Keep-alive (1.5 x the client's interval) and session expiry."""
        for conn in list(self._conns):
            if conn.keepalive and not conn.closing and now - conn.last_in > 1.5 * conn.keepalive:
                self._drop(conn, now, 0x8D, "keep alive timeout")
        for cid, s in list(self.sessions.items()):
            if s.conn is None and now - s.gone_at >= s.expiry:
                del self.sessions[cid]

    def take(self) -> list[tuple[Conn, bytes, bool]]:
        """What to write to which connection, and whether to close it afterwards."""
        out = [(c, bytes(c.out), c.closing) for c in self._dirty]
        for c in self._dirty:
            c.out.clear()
            if c.closing:
                self._conns.discard(c)
        self._dirty.clear()
        return out

    # -- packets ---------------------------------------------------------------------------
    def _send(self, conn: Conn, data: bytes) -> None:
        conn.out += data
        self._dirty.add(conn)

    def _drop(self, conn: Conn, now: float, reason: int, why: str) -> None:
        if conn.session is None and not conn.reader.version:  # refused before it connected
            self._send(conn, p.connack(5, False, reason, [(p.REASON_STRING, why[:200])]))
        else:
            self._send(conn, p.disconnect(conn.version, reason, why))
        conn.closing = True
        self._detach(conn, now, send_will=True)

    def _handle(self, conn: Conn, packet: p.Packet, now: float) -> None:
        if isinstance(packet, p.Connect):
            self._connect(conn, packet, now)
            return
        session = conn.session
        assert session is not None  # the reader refuses anything before CONNECT
        if isinstance(packet, p.Publish):
            self._publish(conn, session, packet, now)
        elif isinstance(packet, p.PubResponse):
            self._response(conn, session, packet, now)
        elif isinstance(packet, p.Subscribe):
            self._subscribe(conn, session, packet)
        elif isinstance(packet, p.Unsubscribe):
            reasons = [0 if session.subscriptions.pop(f, None) else 0x11 for f in packet.topic_filters]
            self._send(conn, p.unsuback(conn.version, packet.packet_id, reasons))
        elif isinstance(packet, p.PingReq):
            self._send(conn, p.pingresp())
        elif isinstance(packet, p.Disconnect):
            expiry = packet.prop(p.SESSION_EXPIRY)
            if expiry is not None:
                if session.expiry == 0 and expiry:  # MQTT 5, 3.14.2.2.2: not from zero
                    self._drop(conn, now, 0x82, "session expiry set on DISCONNECT after 0 on CONNECT")
                    return
                session.expiry = math.inf if expiry == 0xFFFFFFFF else float(expiry)
            conn.closing = True
            self._dirty.add(conn)
            self._detach(conn, now, send_will=packet.reason == 0x04)

    def _connect(self, conn: Conn, c: p.Connect, now: float) -> None:
        client_id, assigned = c.client_id, None
        if not client_id:
            if c.version < 5 and not c.clean_start:
                self._send(conn, p.connack(c.version, False, 0x85))
                conn.closing = True
                return
            client_id = assigned = f"auto-{uuid.uuid4().hex}"
        if c.version >= 5 and c.will is not None and c.will.qos == 2:
            self._send(conn, p.connack(c.version, False, 0x9B, [(p.REASON_STRING, "maximum QoS is 1")]))
            conn.closing = True
            return
        self.stats.connections += 1
        old = self.sessions.get(client_id)
        if old is not None and old.conn is not None:  # the same client again: take the session over
            self._drop(old.conn, now, 0x8E, "session taken over")
        expiry = (
            float(c.prop(p.SESSION_EXPIRY, 0)) if c.version >= 5 else (0.0 if c.clean_start else math.inf)
        )
        if expiry == 0xFFFFFFFF:
            expiry = math.inf
        present = old is not None and not c.clean_start and client_id in self.sessions
        session = old if present and old is not None else Session(client_id)
        self.sessions[client_id] = session
        session.expiry = expiry
        session.receive_maximum = int(c.prop(p.RECEIVE_MAXIMUM, 65535)) or 65535
        session.conn, conn.session = conn, session
        conn.keepalive, conn.will = c.keepalive, c.will
        conn.max_packet = int(c.prop(p.MAXIMUM_PACKET_SIZE, p.MAX_PACKET)) or p.MAX_PACKET
        props = _SERVER_PROPS + ([(p.ASSIGNED_CLIENT_ID, assigned)] if assigned else [])
        self._send(conn, p.connack(c.version, present, 0, props))
        for msg in session.inflight.values():  # unacknowledged before: again, marked DUP
            msg.dup = True
            self._send_publish(conn, msg)
        self._pump(session)

    def _publish(self, conn: Conn, session: Session, msg: p.Publish, now: float) -> None:
        if any(ident == p.TOPIC_ALIAS for ident, _ in msg.properties):
            self._drop(conn, now, 0x94, "topic aliases are not supported (maximum 0)")
            return
        if msg.qos == 2 and conn.version >= 5:
            self._drop(conn, now, 0x9B, "QoS 2 is not supported (maximum QoS 1)")
            return
        self.stats.received += 1
        if msg.qos == 2:
            fresh = msg.packet_id not in session.awaiting_release
            session.awaiting_release.add(msg.packet_id)  # type: ignore[arg-type]
            if fresh:
                self._route(msg, session)
            self._send(conn, p.pub_response(conn.version, p.PUBREC, msg.packet_id))  # type: ignore[arg-type]
            return
        self._route(msg, session)
        if msg.qos == 1:
            self._send(conn, p.pub_response(conn.version, p.PUBACK, msg.packet_id))  # type: ignore[arg-type]

    def _response(self, conn: Conn, session: Session, r: p.PubResponse, now: float) -> None:
        if r.kind == p.PUBACK:
            if session.inflight.pop(r.packet_id, None) is not None:
                self._pump(session)
        elif r.kind == p.PUBREL:
            session.awaiting_release.discard(r.packet_id)
            self._send(conn, p.pub_response(conn.version, p.PUBCOMP, r.packet_id))
        else:  # PUBREC / PUBCOMP: we never send QoS 2
            self._drop(conn, now, 0x82, "no QoS 2 message was sent")

    def _subscribe(self, conn: Conn, session: Session, sub: p.Subscribe) -> None:
        reasons, fresh = [], []
        for s in sub.subscriptions:
            group, flt = split_share(s.topic_filter)
            if not valid_filter(flt) or group == "" or (group and ("+" in group or "#" in group)):
                reasons.append(0x8F)
                continue
            if group is not None and s.no_local:
                reasons.append(0x8F)  # no-local on a shared subscription is a protocol error
                continue
            s.qos = min(s.qos, 1)
            new = s.topic_filter not in session.subscriptions
            session.subscriptions[s.topic_filter] = s
            reasons.append(s.qos)
            if group is None and (s.retain_handling == 0 or (s.retain_handling == 1 and new)):
                fresh.append(s)
        self._send(conn, p.suback(conn.version, sub.packet_id, reasons))
        for s in fresh:
            for topic, msg in self.retained.items():
                if topic_matches(s.topic_filter, topic):
                    self._deliver(session, msg, s, retain=True)

    # -- routing ---------------------------------------------------------------------------
    def _route(self, msg: p.Publish, origin: Session | None) -> None:
        if msg.retain:
            if msg.payload:
                self.retained[msg.topic] = p.Publish(
                    msg.topic, msg.payload, min(msg.qos, 1), True, properties=msg.properties
                )
            else:
                self.retained.pop(msg.topic, None)
        best: dict[Session, p.Subscription] = {}
        groups: dict[tuple[str, str], list[tuple[Session, p.Subscription]]] = {}
        for session in self.sessions.values():
            for key, sub in session.subscriptions.items():
                group, flt = split_share(key)
                if not topic_matches(flt, msg.topic):
                    continue
                if group is not None:
                    groups.setdefault((group, flt), []).append((session, sub))
                elif not (sub.no_local and session is origin) and (
                    session not in best or sub.qos > best[session].qos
                ):
                    best[session] = sub
        for session, sub in best.items():
            self._deliver(session, msg, sub, retain=msg.retain and sub.retain_as_published)
        for members in groups.values():
            session, sub = self._pick(members)
            self._deliver(session, msg, sub, retain=False)

    def _pick(self, members: list[tuple[Session, p.Subscription]]) -> tuple[Session, p.Subscription]:
        """A shared subscription's member for one message: online first, then the least loaded."""
        turn = next(self._turn)
        n = len(members)
        return min(
            (members[(turn + i) % n] for i in range(n)),
            key=lambda m: (m[0].conn is None, len(m[0].inflight) + len(m[0].queue)),
        )

    def _deliver(self, session: Session, msg: p.Publish, sub: p.Subscription, retain: bool) -> None:
        qos = min(msg.qos, sub.qos, 1)
        props = [(i, v) for i, v in msg.properties if i not in _NOT_FORWARDED]
        out = p.Publish(msg.topic, msg.payload, qos, retain, properties=props)
        if qos == 0:
            if session.conn is not None:  # QoS 0 is not kept for a client that is away
                self._send_publish(session.conn, out)
            return
        if len(session.queue) >= self.max_queued:
            self.stats.dropped += 1
            return
        session.queue.append(out)
        self._pump(session)

    def _pump(self, session: Session) -> None:
        """Send queued QoS 1 messages while the client's receive window has room."""
        conn = session.conn
        if conn is None or conn.closing:
            return
        while session.queue and len(session.inflight) < session.receive_maximum:
            msg = session.queue.popleft()
            msg.packet_id = session.packet_id()
            if self._send_publish(conn, msg):
                session.inflight[msg.packet_id] = msg

    def _send_publish(self, conn: Conn, msg: p.Publish) -> bool:
        """Send unless it is larger than the client accepts (then it skips it, MQTT 5, 3.1.2.11.4)."""
        data = p.publish(conn.version, msg)
        if len(data) > conn.max_packet:
            self.stats.too_large += 1
            return False
        self._send(conn, data)
        self.stats.delivered += 1
        return True

    def _detach(self, conn: Conn, now: float, send_will: bool) -> None:
        session = conn.session
        if session is None or session.conn is not conn:
            return
        session.conn, conn.session = None, None
        session.gone_at = now
        will, conn.will = conn.will, None
        if session.expiry == 0:
            del self.sessions[session.client_id]
        if send_will and will is not None:
            self._route(will, None)
