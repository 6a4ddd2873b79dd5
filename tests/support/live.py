"""The cloud service on a free loopback port, in a thread of the test process.

Tests that need real HTTP (a browser, the simulated field crew) use it; everything else
uses FastAPI's in-process test client.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from cloud.app import create_app
from cloud.server_thread import ServerThread
from cloud.state import CloudState

__all__ = ["serve"]


@contextmanager
def serve(state: CloudState, start_workers: bool = False) -> Iterator[str]:
    """Serve ``state``'s app until the block ends; yields its base URL."""
    server = ServerThread(create_app(state.settings, start_workers=start_workers, state=state)).start()
    try:
        yield server.url
    finally:
        server.stop()
