"""Who the lookup limits count (the client behind trusted proxies) and the windows they count in."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest

from services.tracking.domain.lookup_limits import client_address, client_key, window_at
from services.tracking.settings import TrackingSettings

INGRESS = [ipaddress.ip_network("10.244.0.0/16"), ipaddress.ip_network("fd00::/8")]


@pytest.mark.parametrize(
    ("peer", "headers", "expected"),
    [
        # Straight from a client: the header is the client's own text and counts for nothing.
        ("203.0.113.9", ["198.51.100.1"], "203.0.113.9"),
        # Through the ingress: the hop it appended.
        ("10.244.3.7", ["198.51.100.1"], "198.51.100.1"),
        # A client naming an address of its choice first: the ingress's hop is still the right-most.
        ("10.244.3.7", ["1.2.3.4, 5.6.7.8, 198.51.100.1"], "198.51.100.1"),
        # Headers on several lines are one list, in order.
        ("10.244.3.7", ["1.2.3.4", "198.51.100.1"], "198.51.100.1"),
        # Two trusted proxies in a row: skipped from the right.
        ("10.244.3.7", ["1.2.3.4, 198.51.100.1, 10.244.9.9"], "198.51.100.1"),
        # A hop that is no address stops the walk at the last proxy that wrote one.
        ("10.244.3.7", ["198.51.100.1, nonsense, 10.244.9.9"], "10.244.9.9"),
        # Every hop trusted: the left-most.
        ("10.244.3.7", ["10.244.1.1, 10.244.2.2"], "10.244.1.1"),
        # No header behind the proxy: the proxy.
        ("10.244.3.7", [], "10.244.3.7"),
        # Ports and brackets as some proxies write them; IPv4 seen through IPv6.
        ("10.244.3.7", ["198.51.100.1:4431"], "198.51.100.1"),
        ("fd00::5", ["[2001:db8::1]:443"], "2001:db8::1"),
        ("::ffff:10.244.3.7", ["198.51.100.1"], "198.51.100.1"),
        # No peer known at all.
        (None, ["198.51.100.1"], "unknown"),
    ],
)
def test_the_client_is_the_right_most_hop_no_trusted_proxy_wrote(
    peer: str | None, headers: list[str], expected: str
) -> None:
    assert client_address(peer, headers, INGRESS) == expected


def test_without_trusted_proxies_the_header_is_never_read() -> None:
    assert client_address("127.0.0.1", ["198.51.100.1"], []) == "127.0.0.1"


def test_an_ipv6_client_is_counted_by_its_64() -> None:
    assert client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert client_key("198.51.100.1") == "198.51.100.1" and client_key("unknown") == "unknown"


def test_windows_are_the_same_instants_everywhere() -> None:
    at = datetime(2026, 11, 25, 7, 0, 59, 500000, tzinfo=UTC)
    minute = window_at(at, 60)
    assert minute.start == datetime(2026, 11, 25, 7, 0, tzinfo=UTC) and minute.seconds_left(at) == 1
    assert window_at(at + timedelta(seconds=1), 60).index == minute.index + 1
    hour = window_at(at, 3600)
    assert hour.end == datetime(2026, 11, 25, 8, 0, tzinfo=UTC) and hour.seconds_left(at) == 3541
    with pytest.raises(ValueError):
        window_at(at, 0)


def test_trusted_proxies_are_read_as_a_json_list_of_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAMAD_TRUSTED_PROXIES", '["10.244.0.0/16", "127.0.0.1"]')
    assert [str(n) for n in TrackingSettings().trusted_proxies] == ["10.244.0.0/16", "127.0.0.1/32"]
    monkeypatch.setenv("SAMAD_TRUSTED_PROXIES", '["not a network"]')
    with pytest.raises(ValueError, match="trusted_proxies"):
        TrackingSettings()
    monkeypatch.delenv("SAMAD_TRUSTED_PROXIES")
    assert TrackingSettings().trusted_proxies == []
