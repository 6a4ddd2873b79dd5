"""One database transaction at a time per stream worker, urgent batches first.

A worker reads several partitions at once, and their batches take turns at the database
(one connection's worth of commits, so two cores are not split between rival
transactions). In a plain FIFO an alert waits behind every summary batch queued before it:
when a fleet's aligned windows close together, that is seconds. Here a waiting batch that
holds an alert or a fault (what opens a work order) goes before waiting summary batches,
so it waits at most for the transaction in progress; among equals the order is arrival.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["DbTurn"]


class DbTurn:
    def __init__(self) -> None:
        self._busy = False
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()

    @asynccontextmanager
    async def turn(self, urgent: bool) -> AsyncIterator[None]:
        """Hold the database for one batch; ``urgent`` goes before waiting non-urgent ones."""
        if self._busy or self._waiting:
            ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiting, (0 if urgent else 1, next(self._arrivals), ready))
            try:
                await ready
            except asyncio.CancelledError:
                if ready.done() and not ready.cancelled():
                    self._next()  # handed the turn as it was cancelled: pass it on
                raise
        else:
            self._busy = True
        try:
            yield
        finally:
            self._next()

    def _next(self) -> None:
        """Hand the turn to the most urgent live waiter, or free it."""
        while self._waiting:
            _, _, ready = heapq.heappop(self._waiting)
            if not ready.done():  # a cancelled waiter is skipped
                ready.set_result(None)
                return
        self._busy = False

    @property
    def waiting(self) -> int:
        return sum(1 for _, _, f in self._waiting if not f.done())
