"""An :class:`~edge.runner.EdgeRunner` in a child process, with its stats sent back over a pipe.

A gateway runs its agent as its own process; the demo does the same, and for the same
reason the numbers care about: the agent (MQTT reader, detection, outbox, uplink) then
has an interpreter lock of its own instead of sharing one with the fleet, the bridge and
the cloud. The child ignores SIGINT (a Ctrl-C in the terminal reaches the whole process
group) and stops only when the parent asks, so it still flushes its open windows and
closes its outbox cleanly.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from .config import EdgeConfig

__all__ = ["EdgeProcess"]


def _child(config: dict[str, Any], stop: Any, ready: Any, conn: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from .runner import EdgeRunner  # imported here: the parent need not load the detectors

    runner = EdgeRunner(EdgeConfig.model_validate(config))

    def stop_when_told() -> None:
        stop.wait()
        runner.stop()

    threading.Thread(target=stop_when_told, daemon=True).start()
    try:
        runner.run(progress=conn.send, on_ready=ready.set)
    finally:
        conn.send({**runner.stats(), "final": True})
        conn.close()


class EdgeProcess:
    """Start, watch and stop one edge agent running in a child process."""

    def __init__(self, config: EdgeConfig) -> None:
        ctx = mp.get_context("spawn")  # a fresh interpreter: no threads or sockets inherited
        self._stop = ctx.Event()
        self._ready = ctx.Event()
        self._recv, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(
            target=_child,
            args=(config.model_dump(mode="json"), self._stop, self._ready, send),
            name=f"prognos-edge-{config.agent_id}",
            daemon=True,
        )
        self._send = send
        self._stats: dict[str, Any] = {}
        self._reports = 0

    def start(self, timeout: float = 60.0) -> EdgeProcess:
        """Start the child and wait until its sources are open and subscribed."""
        self._proc.start()
        self._send.close()  # the child holds the sending end now
        if not self._ready.wait(timeout):
            self.stop()
            raise RuntimeError(f"the edge agent did not become ready within {timeout:g} s")
        return self

    def alive(self) -> bool:
        return self._proc.is_alive()

    @property
    def pid(self) -> int | None:
        """The child's process id (for what a benchmark measures of it); None before start."""
        return self._proc.pid

    def stats(self) -> dict[str, Any]:
        """The latest stats the agent reported (about once a second)."""
        try:
            while self._recv.poll():
                self._stats = self._recv.recv()
                self._reports += 1
        except (EOFError, OSError):
            pass  # the child has gone; the last report stands
        return self._stats

    def _fresh_report(self, deadline: float) -> dict[str, Any] | None:
        """The first report sent after this call (about one a second), or None by ``deadline``."""
        seen = self._reports
        while time.monotonic() < deadline and self._proc.is_alive():
            time.sleep(0.1)
            self.stats()
            if self._reports != seen:
                return self._stats
        return None

    def idle(self) -> bool:
        """True when two fresh reports in a row show nothing queued, stored or newly received."""
        self.stats()  # what queued up before this call is stale
        deadline = time.monotonic() + 5.0
        first, second = self._fresh_report(deadline), self._fresh_report(deadline)
        if first is None or second is None:
            return False

        def empty(s: dict[str, Any]) -> bool:
            return s.get("inbox") == 0 and s.get("outbox") == 0

        return empty(first) and empty(second) and first.get("received") == second.get("received")

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._proc.pid is None:
            return
        self._proc.join(timeout)
        if self._proc.is_alive():  # pragma: no cover - a hung child still must not outlive us
            self._proc.kill()
            self._proc.join(5)
        self.stats()
