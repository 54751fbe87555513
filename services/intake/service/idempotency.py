"""One answer per Idempotency-Key: a retry gets the stored answer, another body under the key a conflict.

The HTTP API, the CSV import and Open311 all come through here, so one Idempotency-Key rule holds for
every way a call or a case enters SAMAD.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from prometheus_client import Counter

from services.common.bounded import together
from services.common.clock import Clock
from services.intake.adapters.store import IntakeStore, KeyRecord

IDEMPOTENT_REPLAYS = Counter("samad_intake_idempotent_replays_total", "Retries answered from the key record")


@dataclass(frozen=True)
class Answer:
    """What a use case answered: the HTTP status and body it stands for, and whether it is a replay."""

    status_code: int
    body: dict[str, Any]
    replayed: bool = False


class KeyConflict(Exception):
    """The Idempotency-Key was used for a different request, or that request is still running."""

    def __init__(self, in_progress: bool) -> None:
        super().__init__("in progress" if in_progress else "reused")
        self.in_progress = in_progress


class Idempotency:
    def __init__(self, store: IntakeStore, clock: Clock, pending_timeout: timedelta) -> None:
        self.store = store
        self.clock = clock
        self.pending_timeout = pending_timeout

    async def once(
        self,
        scope: str,
        key: str,
        fingerprint: str,
        produce: Callable[[], Awaitable[Answer]],
        beside: Callable[[], Awaitable[object]] | None = None,
    ) -> Answer:
        """Run ``produce`` once per key: a retry gets the stored answer; another body under the key, a 409.

        ``beside``: what must be done before answering once ``produce`` succeeded, but not before the
        answer is stored (a write another reader will want at once): it runs while the answer is
        stored. If it fails, the error is raised with the answer stored, so a retry gets the answer."""
        record = KeyRecord(scope=scope, key=key, fingerprint=fingerprint, created_at=self.clock.now())
        existing = await self.store.reserve_key(record)
        if existing is not None:
            if existing.fingerprint != fingerprint:
                raise KeyConflict(in_progress=False)
            if existing.completed and existing.status_code is not None and existing.body is not None:
                IDEMPOTENT_REPLAYS.inc()
                return Answer(existing.status_code, existing.body, replayed=True)
            abandoned = existing.created_at < record.created_at - self.pending_timeout
            if not abandoned or not await self.store.take_over_key(existing, record):
                raise KeyConflict(in_progress=True)
        try:
            answer = await produce()
        except BaseException:
            await self.store.release_key(record)
            raise
        if beside is None:
            await self.store.complete_key(record, answer.status_code, answer.body)
            return answer
        await together(self.store.complete_key(record, answer.status_code, answer.body), beside())
        return answer

    async def forget(self, older_than: timedelta) -> int:
        """Forget finished key records this old; a later retry still gets the same ids (they come
        from the key), so it publishes the same events, which consumers see once."""
        return await self.store.purge_keys(self.clock.now() - older_than)
