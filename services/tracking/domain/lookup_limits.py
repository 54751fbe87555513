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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

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


def _address(text: str) -> IPAddress | None:
    text = text.strip().strip('"')
    if text.startswith("[") and "]" in text:  # [2001:db8::1]:443
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # 203.0.113.7:51234
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IPAddress, proxies: Sequence[IPNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in proxies)


def client_address(peer: str | None, forwarded_for: Iterable[str], proxies: Sequence[IPNetwork]) -> str:
    """The address the limits count for a request that came from ``peer`` with these X-Forwarded-For
    headers (in the order they came).

    The header is read only when the peer is a trusted proxy, and from the right: each trusted proxy
    appends the address it saw, so the right-most hop that is not a trusted proxy is the client; what
    lies to its left was written by the client and could say anything. A hop that is not an address
    ends the walk at the last proxy that wrote one. Every hop trusted: the left-most one.
    """
    address = _address(peer) if peer else None
    if address is None:
        return peer or "unknown"
    if not _trusted(address, proxies):
        return str(address)
    hops = [h for line in forwarded_for for h in line.split(",") if h.strip()]
    for hop in reversed(hops):
        seen = _address(hop)
        if seen is None:
            break
        address = seen
        if not _trusted(seen, proxies):
            break
    return str(address)


def client_key(address: str) -> str:
    """What one client's attempts are counted under: the address, an IPv6 one by its /64."""
    parsed = _address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, IPV6_CLIENT_PREFIX), strict=False))
    return str(parsed) if parsed is not None else address
