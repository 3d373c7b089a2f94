"""Is this laptop on the school network? Its own addresses, matched against the config's `[school] networks`.

No packets are sent: a UDP socket's connect() only asks the kernel which local address it would route from.
"""
from __future__ import annotations

import ipaddress
import socket
import time

try:  # optional: every interface's addresses, including ones no default route uses
    import psutil
except ImportError:  # pragma: no cover - depends on the environment
    psutil = None

CACHE_SECONDS = 60.0
# Documentation addresses (RFC 5737, RFC 3849): never routed, so connect() to them reveals the route and sends nothing.
PROBE_TARGETS = ((socket.AF_INET, ("192.0.2.1", 9)), (socket.AF_INET6, ("2001:db8::1", 9)))

_cache: tuple[float, tuple] | None = None


def _usable(text: str):
    """An address of this laptop, or None for loopback, unspecified and unparsable ones."""
    try:
        addr = ipaddress.ip_address(text.split("%", 1)[0])  # fe80::1%en0: drop the zone
    except ValueError:
        return None
    return None if addr.is_loopback or addr.is_unspecified else addr


def _from_hostname() -> list[str]:
    try:
        return [info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None)]
    except (OSError, UnicodeError):
        return []


def _from_routes() -> list[str]:
    found = []
    for family, target in PROBE_TARGETS:
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.connect(target)
                found.append(s.getsockname()[0])
        except OSError:  # no route for this family (no IPv6, offline)
            pass
    return found


def _from_interfaces() -> list[str]:
    if psutil is None:
        return []
    try:
        return [a.address for addrs in psutil.net_if_addrs().values() for a in addrs
                if a.family in (socket.AF_INET, socket.AF_INET6)]
    except OSError:
        return []


PROBES = (_from_hostname, _from_routes, _from_interfaces)


def local_addresses(now: float | None = None) -> list:
    """This laptop's addresses (no loopback), found by every probe, cached for CACHE_SECONDS."""
    global _cache
    now = time.monotonic() if now is None else now
    if _cache is not None and now - _cache[0] < CACHE_SECONDS:
        return list(_cache[1])
    found = []
    for probe in PROBES:
        for text in probe():
            addr = _usable(text)
            if addr is not None and addr not in found:
                found.append(addr)
    _cache = (now, tuple(found))
    return found


def clear_cache() -> None:
    global _cache
    _cache = None


def _matches(config, addresses) -> list[tuple]:
    return [(a, net) for a in addresses for net in config.school.networks
            if a.version == net.version and a in net]


def on_school_network(config, override=None) -> bool | None:
    """True or False; None when it cannot be told (no networks configured, no address found). An override wins."""
    if override is not None:
        return bool(override)
    if not config.school.networks:
        return None
    addresses = local_addresses()
    if not addresses:
        return None
    return bool(_matches(config, addresses))


def status_lines(config) -> list[str]:
    """What `postguard status` prints: the addresses found, the networks configured, the verdict."""
    addresses = local_addresses()
    nets = config.school.networks
    lines = [f"This laptop's addresses: {', '.join(map(str, addresses)) or 'none found'}",
             f"School networks configured: {', '.join(map(str, nets)) or 'none (set [school] networks)'}"]
    matches = _matches(config, addresses)
    if matches:
        lines.append(f"On the school network: yes ({matches[0][0]} is in {matches[0][1]})")
    elif not nets or not addresses:
        lines.append("On the school network: unknown")
    else:
        lines.append("On the school network: no")
    return lines
