"""Limiting the citizen status lookup per client: the ``RateLimiter`` port, an in-process token bucket
per client, and a scripted fake.

Each replica limits on its own: with N replicas behind a load balancer a client gets up to N times the
rate. That bounds guessing well enough (a tracking code has a check digit and the phone is a second
factor); a shared limit belongs in the ingress (rate-limit annotations) when the line goes nationwide.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from services.common.recent import Recent


class RateLimiter(Protocol):
    def take(self, client: str) -> float:
        """0 when the client's request may go ahead; otherwise the seconds until it may."""
        ...


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class TokenBucket:
    def __init__(
        self,
        rate_per_minute: float,
        burst: int,
        max_clients: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate_per_minute / 60.0
        self.burst = float(burst)
        self.max_clients = max_clients
        self.clock = clock
        self.buckets: Recent[str, _Bucket] = Recent(max_clients)  # the least recently seen go

    def take(self, client: str) -> float:
        """0 when the request may go ahead; otherwise the seconds until it may."""
        now = self.clock()
        bucket = self.buckets.pop(client, None) or _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
        bucket.stamp = now
        wait = 0.0
        if bucket.tokens >= 1:
            bucket.tokens -= 1
        else:
            wait = (1 - bucket.tokens) / self.rate if self.rate > 0 else 3600.0
        self.buckets.put(client, bucket)
        return wait


@dataclass
class InMemoryRateLimiter:
    """The ``RateLimiter`` fake: each client may go ``allowed`` times (always, when None), then waits
    ``wait`` seconds; ``asked`` lists the clients in the order they asked."""

    allowed: int | None = None
    wait: float = 30.0
    asked: list[str] = field(default_factory=list)

    def take(self, client: str) -> float:
        self.asked.append(client)
        if self.allowed is None or self.asked.count(client) <= self.allowed:
            return 0.0
        return self.wait
