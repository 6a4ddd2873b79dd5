"""The stream worker's turn at the database: one batch at a time, a batch that may open a
work order before waiting summary batches, arrival order among equals, and a waiter that is
cancelled (a worker stopping) neither runs nor blocks the others."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from cloud.db_turn import DbTurn


async def _run(urgency: list[bool], cancel: set[int] = frozenset()) -> list[int]:  # type: ignore[assignment]
    turn, order, inside = DbTurn(), [], 0
    holder_in, release = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with turn.turn(False):
            holder_in.set()
            await release.wait()

    async def batch(i: int) -> None:
        nonlocal inside
        async with turn.turn(urgency[i]):
            inside += 1
            assert inside == 1, "two batches at the database at once"
            order.append(i)
            await asyncio.sleep(0)
            inside -= 1

    first = asyncio.create_task(holder())
    await holder_in.wait()
    tasks = []
    for i in range(len(urgency)):
        tasks.append(asyncio.create_task(batch(i)))
        await asyncio.sleep(0)  # queued in this order
    for i in cancel:
        tasks[i].cancel()
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(first, *tasks, return_exceptions=True)
    assert turn.waiting == 0
    return order


def test_an_alert_batch_goes_before_the_summary_batches_waiting_ahead_of_it() -> None:
    assert asyncio.run(_run([False, False, True, False, True])) == [2, 4, 0, 1, 3]


def test_a_cancelled_waiter_neither_runs_nor_blocks_the_rest() -> None:
    assert asyncio.run(_run([False, True, False], cancel={1})) == [0, 2]


@given(st.lists(st.booleans(), max_size=12), st.data())
def test_every_live_waiter_runs_once_urgent_first_then_in_arrival_order(
    urgency: list[bool], data: st.DataObject
) -> None:
    cancel = data.draw(st.sets(st.integers(0, max(0, len(urgency) - 1)))) if urgency else set()
    order = asyncio.run(_run(urgency, cancel))
    live = [i for i in range(len(urgency)) if i not in cancel]
    assert order == sorted(live, key=lambda i: (not urgency[i], i))
