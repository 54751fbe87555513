"""Live changes for the browsers: what the console's consumer reads from Kafka, handed to the pages
that watch that case (server-sent events). A page that reconnects reloads its fragment, so nothing is
missed while it was away."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

QUEUE_SIZE = 100


class Hub:
    def __init__(self) -> None:
        self.watchers: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}

    @contextlib.asynccontextmanager
    async def watch(self, topic: str) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self.watchers.setdefault(topic, set()).add(queue)
        try:
            yield queue
        finally:
            mine = self.watchers.get(topic)
            if mine is not None:
                mine.discard(queue)
                if not mine:
                    del self.watchers[topic]

    def watched(self, topic: str) -> bool:
        """Whether any page here watches ``topic`` now."""
        return topic in self.watchers

    def publish(self, topic: str, message: dict[str, Any]) -> int:
        """Hand ``message`` to every page watching ``topic``; a page too slow to keep up misses it and
        catches up when it next reloads. Returns how many pages got it."""
        given = 0
        for queue in list(self.watchers.get(topic, ())):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(message)
                given += 1
        return given


def case_topic(case_id: str) -> str:
    return f"case:{case_id}"
