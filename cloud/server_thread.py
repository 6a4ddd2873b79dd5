"""The cloud's app served by uvicorn in a thread of the calling process.

``prognos cloud serve`` runs uvicorn in the foreground; the demo and the tests that need
real HTTP (a browser, the simulated field crew) run the same app beside other work in
one process. Port 0 lets the OS choose a free port, read back once uvicorn listens.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn

__all__ = ["ServerThread"]


class ServerThread:
    def __init__(self, app: Any, port: int = 0, host: str = "127.0.0.1") -> None:
        self.app = app
        self.host = host
        self._server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, name="cloud-http", daemon=True)
        self.port = port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerThread:
        """Serve, and return once the socket listens (RuntimeError if it does not in time)."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not self._server.started:
            self.stop()
            raise RuntimeError(f"the cloud service did not start on {self.host}:{self.port}")
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Stop serving; the app's lifespan stops its workers."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
