"""run_all: bounded concurrency, results in order, and no work left running after a failure."""

from __future__ import annotations

import asyncio

import pytest

from services.common.bounded import cancel_all, run_all, together


async def test_results_come_in_the_items_order_and_the_limit_holds() -> None:
    running = peak = 0

    async def work(i: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001 * (10 - i))
        running -= 1
        return i * i

    assert await run_all(work, range(10), limit=3) == [i * i for i in range(10)]
    assert peak == 3


async def test_after_a_failure_nothing_new_starts_and_nothing_outlives_the_call() -> None:
    started: list[int] = []
    finished: list[int] = []

    async def work(i: int) -> None:
        started.append(i)
        if i == 1:
            await asyncio.sleep(0.01)  # the first four have all started by now
            raise ConnectionError("the database went away")
        await asyncio.sleep(0.05)  # still running when item 1 fails
        finished.append(i)

    with pytest.raises(ConnectionError):
        await run_all(work, range(20), limit=4)
    # The items running beside the failed one were awaited; none queued behind them was started.
    assert sorted(started) == [0, 1, 2, 3]
    assert sorted(finished) == [0, 2, 3]
    await asyncio.sleep(0.2)
    assert sorted(started) == [0, 1, 2, 3], "work started after run_all had returned"


async def test_without_a_limit_every_item_runs_at_once_and_the_first_error_is_raised() -> None:
    async def work(i: int) -> int:
        await asyncio.sleep(0.01)
        if i % 2:
            raise ValueError(f"item {i}")
        return i

    with pytest.raises(ValueError, match="item 1"):
        await run_all(work, range(4))
    assert await run_all(work, [0, 2, 4]) == [0, 2, 4]


async def test_steps_together_all_finish_before_the_first_failure_is_raised() -> None:
    finished: list[str] = []

    async def step(name: str, delay: float, fails: bool = False) -> None:
        await asyncio.sleep(delay)
        finished.append(name)
        if fails:
            raise ValueError(name)

    with pytest.raises(ValueError, match="late"):
        await together(step("slow", 0.05), step("late", 0.02, fails=True), step("early", 0.01, fails=True))
    assert finished == ["early", "late", "slow"]  # nothing left running; the first in the order given
    await together(step("a", 0), step("b", 0))
    assert finished[-2:] == ["a", "b"]


async def test_cancel_all_stops_every_task_and_waits_for_each() -> None:
    stopped: list[str] = []

    async def sleeper(name: str) -> None:
        try:
            await asyncio.sleep(60)
        finally:
            stopped.append(name)

    tasks = {asyncio.create_task(sleeper(n)) for n in ("a", "b", "c")}
    await asyncio.sleep(0)
    await cancel_all(tasks)
    assert sorted(stopped) == ["a", "b", "c"] and all(t.cancelled() for t in tasks)
