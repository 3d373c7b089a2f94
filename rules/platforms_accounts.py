"""The platforms' account endpoints, as data (rules/platforms_accounts.toml; sources in docs/platforms.md).

For each personal platform: its hosts, the request shapes of sign-up, login, email change and account settings, its
upload and post endpoints, the Mastodon and Bluesky protocol shapes recognised on any host; the identity providers
("Sign in with Google / Microsoft / Apple") and where they send the person back; the school services that are
allowed; the field names that carry an address and the ID-token claims that name one. Loaded once and checked: a bad
pattern or an unknown key names the file and the key.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "platforms_accounts.toml"
ACCOUNT_KINDS = ("sign_up", "login", "email_change", "account_settings")
CONTENT_KINDS = ("upload", "post")


@dataclass(frozen=True)
class Shape:
    kind: str
    pattern: re.Pattern
    fields: frozenset[str] = frozenset()  # protocol shapes: one of these fields must be present
    methods: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Platform:
    key: str
    name: str
    hosts: tuple[str, ...]
    endpoints: tuple[Shape, ...]  # account kinds first, then upload and post: the first match decides
    protocol: tuple[Shape, ...] = ()  # recognised on any host
    google_services: tuple[str, ...] = ()
    keeps_metadata: bool | None = None
    sources: tuple[str, ...] = ()

    def kind(self, text: str) -> str | None:
        return next((s.kind for s in self.endpoints if s.pattern.search(text)), None)


@dataclass(frozen=True)
class Provider:
    key: str
    name: str
    hosts: tuple[str, ...]
    authorize: tuple[re.Pattern, ...]
    sign_up: tuple[re.Pattern, ...]
    sign_in: tuple[re.Pattern, ...]
    hints: tuple[str, ...]
    destinations: tuple[str, ...]
    service_param: str = ""
    tenant_in_path: bool = False


@dataclass
class Registry:
    platforms: dict[str, Platform]
    providers: dict[str, Provider]
    official: frozenset[str]
    generic: tuple[Shape, ...]
    email_words: tuple[str, ...]
    identifier_words: tuple[str, ...]
    operation_words: tuple[str, ...]
    address_claims: tuple[str, ...]
    domain_claims: tuple[str, ...]
    issuers: dict[str, str]
    by_host: dict[str, Platform] = field(init=False)
    provider_by_host: dict[str, Provider] = field(init=False)
    by_service: dict[str, Platform] = field(init=False)
    protocol: list[tuple[Platform, Shape]] = field(init=False)

    def __post_init__(self):
        self.by_host = {h: p for p in self.platforms.values() for h in p.hosts}
        self.provider_by_host = {h: p for p in self.providers.values() for h in p.hosts}
        self.by_service = {s: p for p in self.platforms.values() for s in p.google_services}
        self.protocol = [(p, s) for p in self.platforms.values() for s in p.protocol]

    def generic_kind(self, text: str) -> str | None:
        return next((s.kind for s in self.generic if s.pattern.search(text)), None)


@lru_cache(maxsize=1)
def registry() -> Registry:
    return load_registry(DATA)


def load_registry(path: Path) -> Registry:
    """The registry file, checked: a bad pattern or an unknown key names the file and the key."""
    try:
        doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    return _Loader(path).registry(doc)


class _Loader:
    PLATFORM_KEYS = {"name", "hosts", "google_services", "protocol", "keeps_metadata", "sources",
                     *ACCOUNT_KINDS, *CONTENT_KINDS}

    def __init__(self, path):
        self.path = path

    def fail(self, key: str, why: str):
        raise ValueError(f"{self.path}: {key}: {why}")

    def registry(self, doc: dict) -> Registry:
        fields, token = doc.get("fields", {}), doc.get("id_token", {})
        return Registry(
            platforms={k: self.platform(k, t) for k, t in doc.get("platforms", {}).items()},
            providers={k: self.provider(k, t) for k, t in doc.get("identity_providers", {}).items()},
            official=frozenset(h.lower() for h in doc.get("official", {}).get("hosts", [])),
            generic=self.shapes("generic", doc.get("generic", {}), ACCOUNT_KINDS),
            email_words=tuple(fields.get("email", ())), identifier_words=tuple(fields.get("identifier", ())),
            operation_words=tuple(fields.get("operation", ())),
            address_claims=tuple(token.get("address_claims", ())),
            domain_claims=tuple(token.get("domain_claims", ())), issuers=dict(token.get("issuers", {})))

    def patterns(self, key: str, values) -> tuple[re.Pattern, ...]:
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            self.fail(key, "must be a list of regular expressions")
        try:
            return tuple(re.compile(v, re.I) for v in values)
        except re.error as exc:
            self.fail(key, f"bad regular expression: {exc}")

    def shapes(self, key: str, table: dict, kinds) -> tuple[Shape, ...]:
        return tuple(Shape(kind, p) for kind in kinds for p in self.patterns(f"{key}.{kind}", table.get(kind, [])))

    def platform(self, key: str, t: dict) -> Platform:
        where = f"platforms.{key}"
        for unknown in sorted(set(t) - self.PLATFORM_KEYS)[:1]:
            self.fail(f"{where}.{unknown}", "unknown key")
        if not t.get("name") or not t.get("hosts"):
            self.fail(where, "needs a name and hosts")
        meta = t.get("keeps_metadata", "unknown")
        if meta not in (True, False, "unknown"):
            self.fail(f"{where}.keeps_metadata", f'must be true, false or "unknown", not {meta!r}')
        return Platform(key, t["name"], tuple(h.lower() for h in t["hosts"]),
                        self.shapes(where, t, ACCOUNT_KINDS + CONTENT_KINDS),
                        tuple(self.protocol(f"{where}.protocol[{i}]", s) for i, s in enumerate(t.get("protocol", []))),
                        tuple(t.get("google_services", ())), None if meta == "unknown" else meta,
                        tuple(t.get("sources", ())))

    def protocol(self, key: str, s: dict) -> Shape:
        if s.get("kind") not in ACCOUNT_KINDS or not s.get("fields"):
            self.fail(key, f"needs a kind (one of {', '.join(ACCOUNT_KINDS)}), a path and fields")
        return Shape(s["kind"], self.patterns(f"{key}.path", [s.get("path", "")])[0], frozenset(s["fields"]),
                     frozenset(m.upper() for m in s.get("methods", ())))

    def provider(self, key: str, t: dict) -> Provider:
        where = f"identity_providers.{key}"
        paths = [self.patterns(f"{where}.{k}", t.get(k, [])) for k in ("authorize", "sign_up", "sign_in")]
        return Provider(key, t["name"], tuple(t["hosts"]), *paths, tuple(t.get("hints", ())),
                        tuple(t.get("destinations", ())), t.get("service_param", ""),
                        bool(t.get("tenant_in_path", False)))


def lookup(host: str, table: dict):
    """The entry for `host` or its nearest listed parent domain (a host covers its subdomains)."""
    labels = host.lower().rstrip(".").split(".")
    return next((table[h] for h in (".".join(labels[i:]) for i in range(len(labels) - 1)) if h in table), None)
