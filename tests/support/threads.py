"""Run a blocking reader in a thread and collect what it yields."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any


class Collector:
    def __init__(self, source: Iterable[Any]) -> None:
        self.items: list[Any] = []
        self._thread = threading.Thread(target=self._run, args=(source,), daemon=True)
        self._thread.start()

    def _run(self, source: Iterable[Any]) -> None:
        for item in source:
            self.items.append(item)

    def wait_for(self, n: int, timeout: float = 10.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while len(self.items) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.items)

    def join(self, timeout: float = 5.0) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "reader thread did not stop"


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()
