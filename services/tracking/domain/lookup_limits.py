"""The citizen lookup's limits: who the client is behind trusted proxies, and the fixed windows in which
each client's attempts and each tracking code's failures are counted.

Two limits apply to every lookup. Each client (an address; an IPv6 client by its /64, the block one
subscriber gets) has a number of attempts per window, so one address cannot ask at speed. Each
tracking code has a number of failures per window, whatever the address: guessing the four phone
digits of one code from many addresses stops after a few wrong answers, and the code then answers
429 to everybody until its window ends. The counts are shared by every replica (they live in the
database), so neither limit grows with the number of replicas.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# Who the client is behind trusted proxies is shared with every service that records where a request
# came from (the read audit): services.common.addresses.
from services.common.addresses import IPAddress, IPNetwork, client_address
from services.common.addresses import parse_address as _address

__all__ = ["IPAddress", "IPNetwork", "LookupLimits", "client_address", "client_key", "window_at"]


# An IPv6 subscriber gets at least a /64: counting its single addresses would let it change address
# at every attempt.
IPV6_CLIENT_PREFIX = 64


@dataclass(frozen=True)
class Window:
    """A fixed window of ``seconds``, the ``index``-th since the Unix epoch (the same instants in every
    replica, whatever its start time)."""

    seconds: int
    index: int

    @property
    def start(self) -> datetime:
        return datetime.fromtimestamp(self.index * self.seconds, UTC)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.seconds)

    def seconds_left(self, now: datetime) -> int:
        """Whole seconds from ``now`` to the end of the window, at least 1 (a Retry-After)."""
        return max(1, math.ceil((self.end - now).total_seconds()))


def window_at(now: datetime, seconds: int) -> Window:
    if seconds <= 0:
        raise ValueError("a window lasts at least one second")
    return Window(seconds, math.floor(now.timestamp()) // seconds)


@dataclass(frozen=True)
class LookupLimits:
    """``client_attempts`` lookups per client per ``client_window_seconds``; ``code_failures`` wrong
    answers per tracking code per ``code_window_seconds``."""

    client_attempts: int = 10
    client_window_seconds: int = 60
    code_failures: int = 5
    code_window_seconds: int = 3600


def client_key(address: str) -> str:
    """What one client's attempts are counted under: the address, an IPv6 one by its /64."""
    parsed = _address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, IPV6_CLIENT_PREFIX), strict=False))
    return str(parsed) if parsed is not None else address
