"""Who the client of a request is: the peer's address or, behind trusted proxies, the right-most
X-Forwarded-For hop that is not one. Tracking's citizen lookup limits count it; the read audit records it."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address(text: str) -> IPAddress | None:
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
    address = parse_address(peer) if peer else None
    if address is None:
        return peer or "unknown"
    if not _trusted(address, proxies):
        return str(address)
    hops = [h for line in forwarded_for for h in line.split(",") if h.strip()]
    for hop in reversed(hops):
        seen = parse_address(hop)
        if seen is None:
            break
        address = seen
        if not _trusted(seen, proxies):
            break
    return str(address)
