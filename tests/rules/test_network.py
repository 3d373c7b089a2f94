"""rules.network: the laptop's own addresses against the configured school networks; an override wins."""
import ipaddress
import socket

import pytest

from rules import network
from rules.config import parse_config


@pytest.fixture(autouse=True)
def fresh_cache():
    network.clear_cache()
    yield
    network.clear_cache()


def config(*nets):
    return parse_config({"school": {"networks": list(nets)}})


def addresses(monkeypatch, *found):
    monkeypatch.setattr(network, "local_addresses", lambda: [ipaddress.ip_address(a) for a in found])


@pytest.mark.parametrize("nets,found,expected", [
    (["10.20.0.0/16"], ["10.20.3.4"], True),
    (["10.20.0.0/16", "203.0.113.0/24"], ["192.168.1.5", "203.0.113.77"], True),
    (["2001:db8:5c00::/40"], ["2001:db8:5c12::9"], True),
    (["10.20.0.0/16"], ["10.21.0.1"], False),
    (["10.20.0.0/16"], ["2001:db8::1"], False),  # an IPv6 address is never in an IPv4 network
    (["10.20.0.0/16"], [], None),  # no address found: cannot tell
    ([], ["10.20.3.4"], None),  # no networks configured: cannot tell
])
def test_verdict_from_the_laptop_addresses(nets, found, expected, monkeypatch):
    addresses(monkeypatch, *found)
    assert network.on_school_network(config(*nets)) is expected


@pytest.mark.parametrize("override", [True, False])
def test_an_override_wins(override, monkeypatch):
    monkeypatch.setattr(network, "local_addresses", lambda: pytest.fail("an override must not probe"))
    assert network.on_school_network(config("10.20.0.0/16"), override=override) is override
    assert network.on_school_network(config(), override=override) is override


def test_status_lines_name_addresses_networks_and_verdict(monkeypatch):
    addresses(monkeypatch, "192.168.1.5", "10.20.3.4")
    lines = network.status_lines(config("10.20.0.0/16"))
    assert lines == ["This laptop's addresses: 192.168.1.5, 10.20.3.4",
                     "School networks configured: 10.20.0.0/16",
                     "On the school network: yes (10.20.3.4 is in 10.20.0.0/16)"]


@pytest.mark.parametrize("nets,found,verdict", [
    (["10.20.0.0/16"], ["192.168.1.5"], "On the school network: no"),
    ([], ["192.168.1.5"], "On the school network: unknown"),
    (["10.20.0.0/16"], [], "On the school network: unknown"),
])
def test_status_lines_when_off_or_unknown(nets, found, verdict, monkeypatch):
    addresses(monkeypatch, *found)
    lines = network.status_lines(config(*nets))
    assert lines[-1] == verdict
    if not nets:
        assert "none" in lines[1]
    if not found:
        assert "none found" in lines[0]


def test_probes_are_merged_without_loopback_duplicates_or_zones(monkeypatch):
    monkeypatch.setattr(network, "PROBES", (
        lambda: ["127.0.1.1", "10.20.3.4", "::1"],
        lambda: ["10.20.3.4", "fe80::1%en0", "0.0.0.0"],
        lambda: ["not an address", "2001:db8::7"],
    ))
    assert network.local_addresses(now=0.0) == [ipaddress.ip_address(a) for a in
                                                 ("10.20.3.4", "fe80::1", "2001:db8::7")]


def test_addresses_are_cached_for_a_minute(monkeypatch):
    calls = []
    monkeypatch.setattr(network, "PROBES", (lambda: calls.append(1) or ["10.20.3.4"],))
    network.local_addresses(now=100.0)
    network.local_addresses(now=159.0)
    assert len(calls) == 1
    network.local_addresses(now=160.5)
    assert len(calls) == 2


def test_route_probe_connects_udp_to_documentation_addresses_only(monkeypatch):
    """connect() on a UDP socket picks a route and sends nothing; the targets are never-routed test addresses."""
    seen = []

    class FakeSocket:
        def __init__(self, family, kind):
            assert kind == socket.SOCK_DGRAM
            self.family = family

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def connect(self, target):
            seen.append(target[0])
            if self.family == socket.AF_INET6:
                raise OSError("no IPv6 route")

        def getsockname(self):
            return ("10.20.3.4", 40000)

    monkeypatch.setattr(network.socket, "socket", FakeSocket)
    assert network._from_routes() == ["10.20.3.4"]
    assert len(seen) == 2 and all(ipaddress.ip_address(t) in ipaddress.ip_network(n) for t, n in
               zip(seen, ("192.0.2.0/24", "2001:db8::/32")))


def test_real_probes_return_this_laptops_non_loopback_addresses():
    found = network.local_addresses()
    assert all(isinstance(a, (ipaddress.IPv4Address, ipaddress.IPv6Address)) for a in found)
    assert not any(a.is_loopback for a in found)
