"""Work recorded now and written later, in batches, by a background task: the read audit's records.

``add`` returns at once; the writer runs when a batch fills or every interval; a failed write keeps
the batch and tries again at the next turn; ``stop`` writes whatever is still queued (a clean shutdown
loses nothing; a crash loses at most one interval's worth).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger("samad.batches")


class BackgroundBatches(Generic[T]):
    def __init__(
        self,
        write: Callable[[list[T]], Awaitable[None]],
        *,
        what: str,
        batch_size: int = 500,
        interval_seconds: float = 1.0,
    ) -> None:
        self.write = write
        self.what = what
        self.batch_size = batch_size
        self.interval_seconds = interval_seconds
        self.pending: list[T] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def add(self, items: Iterable[T]) -> None:
        self.pending.extend(items)
        if len(self.pending) >= self.batch_size:
            self._wake.set()

    async def flush(self) -> int:
        """Write everything queued; on a failure what was not written stays queued (and it raises)."""
        async with self._lock:
            written = 0
            while self.pending:
                batch = self.pending[: self.batch_size]
                await self.write(batch)
                del self.pending[: len(batch)]
                written += len(batch)
            return written

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_seconds)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("writing %d %s failed; trying again", len(self.pending), self.what)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"batches: {self.what}")

    async def stop(self, attempts: int = 5, pause_seconds: float = 1.0) -> None:
        """Stop the background writer and write what is still queued (a few tries)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for attempt in range(attempts):
            try:
                await self.flush()
                return
            except Exception:
                if attempt == attempts - 1:
                    log.exception("%d %s could not be written at shutdown", len(self.pending), self.what)
                    raise
                await asyncio.sleep(pause_seconds)
