"""The platforms in scope: which hosts the proxy inspects, as data (rules/platforms.toml) plus the pack's changes."""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).parent / "platforms.toml"


@dataclass(frozen=True)
class Category:
    name: str
    description: str
    hosts: tuple[str, ...]
    keeps_metadata: bool
    inspect_get: bool = False  # sign-in pages: the request's query is what matters, so GETs are checked too


@lru_cache(maxsize=1)
def categories() -> dict[str, Category]:
    doc = tomllib.loads(DATA.read_text(encoding="utf-8"))
    return {name: Category(name, c.get("description", ""), tuple(h.lower() for h in c["hosts"]),
                           bool(c.get("keeps_metadata", True)), bool(c.get("inspect_get", False)))
            for name, c in doc["categories"].items()}


def get_hosts() -> frozenset[str]:
    """Hosts whose GET requests are inspected too (sign-in pages carry login_hint in the URL)."""
    return frozenset(h for c in categories().values() if c.inspect_get for h in c.hosts)


def scope_hosts(include: list[str] = (), exclude: list[str] = ()) -> list[str]:
    """Every in-scope host (a host covers its subdomains), sorted, without duplicates."""
    hosts = {h for c in categories().values() for h in c.hosts} | {h.lower().lstrip(".") for h in include}
    return sorted(hosts - {h.lower().lstrip(".") for h in exclude})


def in_scope(host: str, hosts) -> bool:
    """Whether `host` or one of its parent domains is listed (`hosts`: a list, or better a set)."""
    labels = host.lower().rstrip(".").split(".")
    wanted = hosts if isinstance(hosts, (set, frozenset)) else set(hosts)
    # every parent domain but the top-level one alone; a single-label host (an intranet "wiki") is itself
    return any(".".join(labels[i:]) in wanted for i in range(max(1, len(labels) - 1)))


def host_regexes(hosts: list[str]) -> list[str]:
    """mitmproxy allow_hosts patterns (matched against "host:port") for these hosts and their subdomains."""
    return [rf"^(.+\.)?{re.escape(h)}(:\d+)?$" for h in hosts]


def pac(hosts: list[str], proxy: str) -> str:
    """A PAC file: the in-scope hosts through PostGuard's proxy, everything else DIRECT."""
    listed = ",\n    ".join(f'"{h}"' for h in hosts)
    return f"""// PostGuard: only sites where staff post go through the local proxy; everything else is DIRECT.
var POSTGUARD_HOSTS = [
    {listed}
];
function FindProxyForURL(url, host) {{
    host = host.toLowerCase();
    for (var i = 0; i < POSTGUARD_HOSTS.length; i++) {{
        var h = POSTGUARD_HOSTS[i];
        if (host === h || dnsDomainIs(host, "." + h)) {{
            return "PROXY {proxy}";
        }}
    }}
    return "DIRECT";
}}
"""
