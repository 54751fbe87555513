"""Run one coroutine per item, a bounded number at once, and leave nothing running behind.

``asyncio.gather`` raises at the first failure and lets the other coroutines run on unobserved. For a
write that is dangerous: a consumer retries its batch after the failure, and a write of the failed
attempt still queued (for instance waiting for the database to come back) can land after the retry
and after later batches, putting back an older version of a document. ``run_all`` stops starting new
work at the first failure, waits for the work already started, and only then raises.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class _NotStarted(Exception):
    """Work skipped because another item had failed."""


async def run_all(fn: Callable[[T], Awaitable[R]], items: Iterable[T], limit: int | None = None) -> list[R]:
    """``[await fn(item) for item in items]``, at most ``limit`` at once (no limit: all at once), in
    the items' order. On a failure, no further item is started, the running ones are awaited, and
    the first failure is raised."""
    gate = asyncio.Semaphore(limit) if limit else None
    failed = False

    async def run(item: T) -> R:
        nonlocal failed
        if failed:
            raise _NotStarted
        try:
            return await fn(item)
        except BaseException:
            failed = True
            raise

    async def one(item: T) -> R:
        if gate is None:
            return await run(item)
        async with gate:
            return await run(item)

    results = await asyncio.gather(*(one(i) for i in items), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException) and not isinstance(r, _NotStarted)]
    if errors:
        raise errors[0]
    return results  # type: ignore[return-value]  # no exception is left in it


async def together(*steps: Awaitable[object]) -> None:
    """Await ``steps`` at once; when one fails, the others still finish (nothing is left running
    unobserved) and then the first failure, in the order given, is raised."""
    outcomes = await asyncio.gather(*steps, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


async def cancel_all(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel every task and wait until each has stopped (a task that ends with an error as it stops
    raises it here)."""
    running = list(tasks)
    for task in running:
        task.cancel()
    for task in running:
        with contextlib.suppress(asyncio.CancelledError):
            await task
