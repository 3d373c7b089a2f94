"""school_email.personal_account: a school email address used to sign up or sign in to a personal platform.

The platforms, their account endpoints and the school services that are allowed are data
(rules/platforms_accounts.toml, sources in docs/platforms.md); this module reads them and finds the address, also
when a client has encoded it (percent, JSON escape, base64, TikTok's XOR-hex) or when the school account arrives
through "Sign in with Google / Microsoft / Apple".
"""
from __future__ import annotations

import base64
import binascii
import json
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple
from urllib.parse import parse_qsl, unquote, urlsplit

from .. import platforms
from ..model import Submission
from .base import Detector, Hit

DATA = Path(__file__).resolve().parent.parent / "platforms_accounts.toml"
RULE = "school_email.personal_account"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
ACCOUNT_KINDS = ("sign_up", "login", "email_change", "account_settings")
CONTENT_KINDS = ("upload", "post")
MAX_SCAN = 64 << 10  # characters: longer values are searched as they are, not decoded
MAX_NESTED = 256 << 10  # characters: longer values are not parsed as JSON
ADDRESS = re.compile(r"[A-Za-z0-9._%+'-]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.(eyJ[A-Za-z0-9_-]{4,})\.[A-Za-z0-9_-]*")
BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{12,}={0,2}")
HEX = re.compile(r"(?:[0-9A-Fa-f]{2}){4,}")
ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})")
NESTED_PREFIX = re.compile(r"[\w.]{0,24}")  # Instagram's signed_body=SIGNATURE.{...}

MESSAGES = {
    "sign_up": "You are creating a {platform} account with your school email address ({address}); please use a "
               "personal email address for personal accounts.",
    "login": "You are signing in to {platform} with your school email address ({address}); please use a personal "
             "email address for personal accounts.",
    "email_change": "You are changing a {platform} account's email address to your school address ({address}); "
                    "please use a personal email address for personal accounts.",
    "account_settings": "You are adding your school email address ({address}) to your {platform} account settings; "
                        "please keep school addresses off personal accounts.",
    "oauth": "You are signing in to {platform} with your school {provider} account ({address}); please use a "
             "personal account for {platform}.",
    "id_token": "You are signing in to {platform} with your school {provider} account ({address}); please use a "
                "personal account for {platform}.",
}


# -- the registry (rules/platforms_accounts.toml) -------------------------------------------------------------------

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


@lru_cache(maxsize=1)
def _scope() -> dict[str, str]:
    return {h: h for h in platforms.scope_hosts()}


# -- field names and values -----------------------------------------------------------------------------------------

@lru_cache(maxsize=4096)
def normal_name(name: str) -> str:
    """"user[email]" -> "user_email", "emailAddress" -> "email_address", "session[username_or_email]" -> ..."""
    snake = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return "_".join(re.findall(r"[a-z0-9]+", snake.lower()))


def named(name: str, words: Iterable[str]) -> bool:
    norm = f"_{normal_name(name)}_"
    return any(f"_{w}_" in norm for w in words)


class Leaf(NamedTuple):
    name: str
    value: str
    how: str = "plain"  # how a nested JSON text wrote it: "json_escape" when the @ was \u0040


def leaves(fields: Iterable[tuple[str, str]], depth: int = 0) -> Iterator[Leaf]:
    """The fields, with JSON held inside a field (a form's data={...}, GraphQL variables) opened into dotted names
    first, so the most precise name reports an address."""
    for name, value in fields:
        doc = _nested_json(value) if depth < 3 else None
        if doc is not None:
            how = "json_escape" if "\\u0040" in value.lower() else "plain"
            for leaf in leaves(_flatten(doc, name), depth + 1):
                yield leaf._replace(how=how if leaf.how == "plain" else leaf.how)
        yield Leaf(name, value)


def _nested_json(value: str):
    start = min((i for i in (value.find("{"), value.find("[")) if i >= 0), default=-1)
    if start < 0 or len(value) > MAX_NESTED or not NESTED_PREFIX.fullmatch(value[:start].strip()):
        return None
    try:
        doc = json.loads(value[start:])
    except ValueError:
        return None
    return doc if isinstance(doc, (dict, list)) else None


def _flatten(node, prefix: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _flatten(v, f"{prefix}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _flatten(v, f"{prefix}.{i}")
    elif isinstance(node, str):
        yield prefix, node


def _percent(text: str) -> str | None:
    return unquote(text) if "%" in text else None


def _json_escape(text: str) -> str | None:
    return ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text) if "\\u" in text else None


def _base64(text: str) -> str | None:
    """Every base64 run in the text that decodes to readable UTF-8 (the address, or a JSON blob holding it)."""
    found = []
    for run in BASE64_RUN.findall(text):
        raw = run.rstrip("=")
        try:
            data = base64.b64decode(raw + "=" * (-len(raw) % 4), altchars=b"-_" if re.search("[-_]", raw) else None)
            decoded = data.decode("utf-8")
        except (binascii.Error, ValueError):
            continue
        if _readable(decoded):
            found.append(decoded)
    return "\n".join(found) or None


def _xor5_hex(text: str) -> str | None:
    """TikTok's mix_mode=1: each byte XOR 5, as two hex digits."""
    if not HEX.fullmatch(text):
        return None
    decoded = "".join(chr(b ^ 5) for b in bytes.fromhex(text))
    return decoded if _readable(decoded) else None


def _readable(text: str) -> bool:
    return all(c.isprintable() or c in "\t\r\n" for c in text)


DECODERS = (("percent", _percent), ("json_escape", _json_escape), ("base64", _base64), ("xor5_hex", _xor5_hex))


def decodings(text: str, depth: int = 0) -> Iterator[tuple[str, str]]:
    """What the text says once each encoding is undone, up to three encodings deep, with how it was encoded."""
    for label, decode in DECODERS:
        out = decode(text)
        if out and out != text:
            yield out, label
            if depth < 2:
                yield from ((deeper, f"{label}+{how}") for deeper, how in decodings(out, depth + 1))


def mask(address: str) -> str:
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain.lower()}"


def _claims(token: str) -> dict:
    m = JWT.fullmatch(token.strip())
    if not m:
        return {}
    payload = m.group(1)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _host_of(url: str) -> str:
    """A URL's host; Google's popup flows send redirect_uri=storagerelay://https/www.example.com?id=..."""
    parts = urlsplit(url if "//" in url else f"//{url}")
    if parts.scheme == "storagerelay":
        return parts.path.strip("/").split("/")[0].lower()
    return (parts.hostname or "").lower()


class Target(NamedTuple):
    platform: str
    kind: str | None  # an account kind, a content kind, or None: decided by the field that carries the address
    every_field: bool  # an account endpoint: any field counts; otherwise only email-like fields
    text: str  # what the endpoint was matched on: path, query, GraphQL operation name


# -- the detector ---------------------------------------------------------------------------------------------------

class SchoolEmailDetector(Detector):
    id = "school_email"
    rules = {RULE: "a school email address used to sign up, sign in or set up a personal account on a social "
                   "platform (also encoded, or through Sign in with Google / Microsoft / Apple)"}

    def __init__(self, config, tuning: dict | None = None):
        super().__init__(config, tuning)
        self.domains = tuple(d for d in config.school.email_domains if d)
        self.reg = registry()
        self.official = self.reg.official | set(self.domains) | _official_services(config.school.official_services)

    def check(self, submission: Submission, rules: set[str]):
        if RULE not in rules or not self.domains:
            return
        url = urlsplit(submission.url)
        host = (url.hostname or "").lower()
        if not host or platforms.in_scope(host, self.official):
            return
        provider = lookup(host, self.reg.provider_by_host)
        if provider is not None:
            yield from self._sign_in_with(provider, submission, url)
        elif _method(submission) in BODY_METHODS:
            yield from self._account(submission, url, host)

    # -- a personal platform's own endpoints --

    def _account(self, submission: Submission, url, host: str) -> Iterator[Hit]:
        target = self._target(host, url, submission.fields, _method(submission))
        if target is None or target.kind in CONTENT_KINDS:
            return
        fields = list(leaves(submission.fields))
        seen: set[str] = set()
        for address, hit in self._id_tokens(target.platform, fields):
            seen.add(address)
            yield hit
        counted = (leaf for leaf in fields if not JWT.fullmatch(leaf.value.strip()) and
                   (target.every_field or self._email_like(leaf.name)))
        for leaf, (address, how) in self._addresses(counted):
            if address.lower() not in seen:
                seen.add(address.lower())
                yield self._hit(self._kind(target, leaf.name), target.platform, (address, how),
                                f"field:{leaf.name}", endpoint=url.path)

    def _target(self, host: str, url, fields: list[tuple[str, str]], method: str) -> Target | None:
        """Which platform, and which kind of endpoint, from the URL and the fields' names (not yet their values)."""
        names = {name for name, _ in fields}
        for platform, shape in self.reg.protocol:  # Mastodon and Bluesky: by the shape of the request, on any host
            if shape.pattern.search(url.path) and names & shape.fields and method in (shape.methods or {method}):
                return Target(platform.name, shape.kind, True, url.path)
        text = self._endpoint_text(url, fields)
        platform = lookup(host, self.reg.by_host)
        if platform is not None:
            kind = platform.kind(text)
            return Target(platform.name, kind, kind in ACCOUNT_KINDS, text)
        scoped = lookup(host, _scope())
        kind = self.reg.generic_kind(text) if scoped else None
        return Target(scoped, kind, False, text) if kind else None

    def _endpoint_text(self, url, fields: list[tuple[str, str]]) -> str:
        """The path and query, and a GraphQL operation's name, which is where such APIs say what a request does."""
        ops = [value[:200] for name, value in fields if named(name, self.reg.operation_words)]
        return " ".join([f"{url.path}?{url.query}" if url.query else url.path, *ops])

    def _kind(self, target: Target, field: str) -> str:
        kind = target.kind or self.reg.generic_kind(target.text) or "account_settings"
        if kind == "account_settings" and named(field, self.reg.email_words):
            return "email_change"
        return kind

    def _email_like(self, name: str) -> bool:
        return named(name, self.reg.email_words) or named(name, self.reg.identifier_words)

    def _id_tokens(self, platform: str, fields: list[Leaf]) -> Iterator[tuple[str, Hit]]:
        """An ID token posted back after "Sign in with ...": its claims say which account signed in."""
        for leaf in fields:
            claims = _claims(leaf.value) if leaf.value[:3] == "eyJ" else {}
            address = self._token_address(claims)
            if address:
                issuer = _host_of(str(claims.get("iss", "")))
                provider = self.reg.issuers.get(issuer, issuer or "identity")
                yield address.lower(), self._hit("id_token", platform, (address, "jwt"), f"field:{leaf.name}",
                                                 provider=provider)

    def _token_address(self, claims: dict) -> str | None:
        for claim in self.reg.address_claims:
            found = self._match(str(claims.get(claim, "")))
            if found:
                return found
        for claim in self.reg.domain_claims:
            domain = str(claims.get(claim, "")).lower()
            if domain and self._school_domain(domain):
                return f"@{domain}"
        return None

    # -- Sign in with Google / Microsoft / Apple --

    def _sign_in_with(self, provider: Provider, submission: Submission, url) -> Iterator[Hit]:
        params = parse_qsl(url.query, keep_blank_values=True) + list(submission.fields)
        kind = _provider_kind(provider, url.path, _method(submission))
        if kind is None:
            return
        platform = self._destination(provider, params)
        if platform is None:
            return
        found = self._hint(provider, params, url.path)
        if found is None and kind != "oauth":
            found = next(((a, how, f"field:{leaf.name}") for leaf, (a, how) in
                          self._addresses(leaves(submission.fields))), None)
        if found:
            address, how, where = found
            yield self._hit(kind, platform.name, (address, how), where, provider=provider.name)

    def _destination(self, provider: Provider, params: list[tuple[str, str]], depth: int = 0) -> Platform | None:
        """The personal platform the sign-in returns to, following identity-provider URLs nested in a parameter."""
        first = dict(reversed(params))
        service = first.get(provider.service_param, "").lower() if provider.service_param else ""
        if service in self.reg.by_service:
            return self.reg.by_service[service]
        for name in provider.destinations:
            host = _host_of(first.get(name, ""))
            if not host or platforms.in_scope(host, self.official):
                continue
            inner = lookup(host, self.reg.provider_by_host)
            platform = lookup(host, self.reg.by_host)
            if inner is not None and depth < 3:
                platform = self._destination(inner, parse_qsl(urlsplit(first[name]).query), depth + 1)
            if platform is not None:
                return platform
        return None

    def _hint(self, provider: Provider, params: list[tuple[str, str]], path: str) -> tuple[str, str, str] | None:
        """A login_hint / hd / domain_hint (or a tenant in the path) of the school's domain."""
        for name, value in params:
            if name in provider.hints and value:
                found = self._find(value, name)
                domain = value.strip().lstrip("@").lower()
                if found:
                    return (*found, f"param:{name}")
                if self._school_domain(domain):
                    return f"@{domain}", name, f"param:{name}"
        tenant = path.strip("/").split("/")[0].lower()
        if provider.tenant_in_path and "." in tenant and self._school_domain(tenant):
            return f"@{tenant}", "tenant", "url"
        return None

    # -- addresses --

    def _addresses(self, fields: Iterable[Leaf]) -> Iterator[tuple[Leaf, tuple[str, str]]]:
        for leaf in fields:
            found = self._find(leaf.value, leaf.how)
            if found:
                yield leaf, found

    def _find(self, text: str, how: str = "plain") -> tuple[str, str] | None:
        """The first school address in the text as it is or decoded, and how it was encoded."""
        candidates = [(text, how)]
        if len(text) <= MAX_SCAN:
            candidates = chain(candidates, ((t, h if how == "plain" else f"{how}+{h}") for t, h in decodings(text)))
        return next(((a, h) for t, h in candidates for a in [self._match(t)] if a), None)

    def _match(self, text: str) -> str | None:
        if "@" not in text:
            return None
        return next((m.group(0) for m in ADDRESS.finditer(text) if self._school_domain(m.group(1).lower())), None)

    def _school_domain(self, domain: str) -> bool:
        return any(domain == d or domain.endswith("." + d) for d in self.domains)

    def _hit(self, kind: str, platform: str, found: tuple[str, str], target: str, **extra) -> Hit:
        address, how = found
        evidence = {"platform": platform, "kind": kind, "address": mask(address), "encoding": how, **extra}
        message = MESSAGES[kind].format(platform=platform, address=mask(address), provider=extra.get("provider", ""))
        return Hit(RULE, message, evidence, target)


def _provider_kind(provider: Provider, path: str, method: str) -> str | None:
    """An authorisation request (any method), or the provider's own sign-up or sign-in form (a POST)."""
    if any(p.search(path) for p in provider.authorize):
        return "oauth"
    for kind, pats in (("sign_up", provider.sign_up), ("login", provider.sign_in)):
        if method in BODY_METHODS and any(p.search(path) for p in pats):
            return kind
    return None


def _method(submission: Submission) -> str:
    """The request's method; Rails forms say PUT or PATCH in a _method field."""
    override = next((v for k, v in submission.fields if k == "_method"), "")
    return (override or submission.method).upper()


def _official_services(hosts: list[str]) -> set[str]:
    """The config's `[school] official_services` (checked at load: non-empty strings) as hosts; URLs give theirs."""
    return {_host_of(v.strip()).rstrip(".") for v in hosts}
