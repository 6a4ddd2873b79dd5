"""The cloud service on a free loopback port, in a thread of the test process.

Tests that need real HTTP (a browser, the simulated field crew) use it; everything else
uses FastAPI's in-process test client.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from cloud.app import create_app
from cloud.state import CloudState
from prognos.broker import free_port

__all__ = ["serve"]


@contextmanager
def serve(state: CloudState, start_workers: bool = False) -> Iterator[str]:
    """Serve ``state``'s app until the block ends; yields its base URL."""
    port = free_port()
    app = create_app(state.settings, start_workers=start_workers, state=state)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the service did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
