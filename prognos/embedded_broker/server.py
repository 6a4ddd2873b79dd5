"""The embedded broker's I/O: an asyncio server in a thread of its own, around :class:`BrokerCore`.

``EmbeddedBroker`` has the same shape as :class:`prognos.broker.MosquittoBroker`
(``host``, ``port``, ``start()``, ``stop()``, a context manager), so the demo and the
tests can take either. Every event goes to the core; after each, what the core wants
written is written and what it wants closed is closed.
"""

from __future__ import annotations

import asyncio
import threading
import time

from .core import BrokerCore, BrokerStats, Conn

__all__ = ["EmbeddedBroker"]


class _Connection(asyncio.Protocol):
    def __init__(self, broker: EmbeddedBroker) -> None:
        self.broker = broker
        self.conn: Conn | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.conn = self.broker.core.open(time.monotonic())
        self.broker.transports[self.conn.id] = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        assert self.conn is not None
        self.broker.core.received(self.conn, data, time.monotonic())
        self.broker.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        assert self.conn is not None
        self.broker.transports.pop(self.conn.id, None)
        self.broker.core.lost(self.conn, time.monotonic())
        self.broker.flush()


LOOPBACK = ("127.0.0.1", "::1", "localhost")


class EmbeddedBroker:
    """An MQTT broker on 127.0.0.1 in this process; ``port=None`` takes a free one.

    It has no logins and no ACL, so it refuses to listen anywhere but loopback: it is the
    zero-set-up broker for one machine (the demo, tests). Anything that other machines
    reach runs mosquitto on the password file and ACL the cloud writes (docs/security.md).
    """

    def __init__(
        self, port: int | None = None, *, host: str = "127.0.0.1", max_queued: int = 100_000
    ) -> None:
        if host not in LOOPBACK:
            raise ValueError(
                f"the embedded broker has no logins and listens on loopback only, not {host!r}: "
                "run mosquitto with the cloud's password file and ACL for a network (docs/security.md)"
            )
        self.host = "127.0.0.1" if host == "localhost" else host
        self.port = port or 0
        self.core = BrokerCore(max_queued=max_queued)
        self.transports: dict[int, asyncio.WriteTransport] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def stats(self) -> BrokerStats:
        return self.core.stats

    def start(self, timeout: float = 10.0) -> EmbeddedBroker:
        self._thread = threading.Thread(target=self._run, name="embedded-broker", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the embedded broker did not start")
        if self._error is not None:
            raise RuntimeError(
                f"the embedded broker could not listen on {self.host}:{self.port}"
            ) from self._error
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def flush(self) -> None:
        for conn, data, close in self.core.take():
            transport = self.transports.get(conn.id)
            if transport is None or transport.is_closing():
                continue
            if data:
                transport.write(data)
            if close:
                transport.close()

    def _tick(self) -> None:
        self.core.tick(time.monotonic())
        self.flush()
        assert self._loop is not None
        self._loop.call_later(1.0, self._tick)

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        try:
            server = loop.run_until_complete(
                loop.create_server(lambda: _Connection(self), self.host, self.port, reuse_address=True)
            )
        except OSError as exc:
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self.port = server.sockets[0].getsockname()[1]
        loop.call_later(1.0, self._tick)
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            server.close()
            for transport in list(self.transports.values()):
                transport.abort()
            loop.run_until_complete(server.wait_closed())
            loop.close()
