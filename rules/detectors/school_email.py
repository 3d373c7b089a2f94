"""school_email.personal_account: a school email address used to sign up or sign in to a personal platform.

The platforms, their account endpoints and the school services that are allowed are data
(rules/platforms_accounts.toml, loaded by rules/platforms_accounts.py; sources in docs/platforms.md); this detector
finds the address in a request to one of them, also when a client has encoded it (percent, JSON escape, base64,
TikTok's XOR-hex: undone by rules/field_decoding.py) or when the school account arrives through "Sign in with
Google / Microsoft / Apple".
"""
from __future__ import annotations

import re
from functools import lru_cache
from itertools import chain
from typing import Iterable, Iterator, NamedTuple
from urllib.parse import parse_qsl, urlsplit

from .. import platforms
from ..field_decoding import (MAX_SCAN, Leaf, decodings, host_of, is_jwt, jwt_claims, jwt_claims_in, leaves,
                              named)
from ..model import Submission
from ..platforms_accounts import ACCOUNT_KINDS, CONTENT_KINDS, Platform, Provider, lookup, registry
from .base import Detector, Hit, field_target

RULE = "school_email.personal_account"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
ADDRESS = re.compile(r"[A-Za-z0-9._%+'-]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")

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


@lru_cache(maxsize=1)
def _scope() -> dict[str, str]:
    return {h: h for h in platforms.scope_hosts()}


def mask(address: str) -> str:
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain.lower()}"


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
    messages = MESSAGES

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
        counted = (leaf for leaf in fields if not is_jwt(leaf.value) and
                   (target.every_field or self._email_like(leaf.name)))
        for leaf, (address, how) in self._addresses(counted):
            if address.lower() not in seen:
                seen.add(address.lower())
                yield self._hit(self._kind(target, leaf.name), target.platform, (address, how),
                                field_target(leaf.name), endpoint=url.path)

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
        seen: set[str] = set()  # a token inside JSON is met twice: in its own field and in the JSON text
        for leaf in fields:
            for claims in jwt_claims_in(leaf.value):
                address = self._token_address(claims)
                if address and address.lower() not in seen:
                    seen.add(address.lower())
                    issuer = host_of(str(claims.get("iss", "")))
                    provider = self.reg.issuers.get(issuer, issuer or "identity")
                    yield address.lower(), self._hit("id_token", platform, (address, "jwt"),
                                                     field_target(leaf.name), provider=provider)
                    break

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
        if platform is None and kind != "oauth":
            platform = self._referred_destination(submission.context.get("page_url", ""))
        if platform is None:
            return
        found = self._hint(provider, params, url.path)
        if found is None and kind != "oauth":
            found = next(((a, how, field_target(leaf.name)) for leaf, (a, how) in
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
            host = host_of(first.get(name, ""))
            if not host or platforms.in_scope(host, self.official):
                continue
            inner = lookup(host, self.reg.provider_by_host)
            platform = lookup(host, self.reg.by_host)
            if inner is not None and depth < 3:
                platform = self._destination(inner, parse_qsl(urlsplit(first[name]).query), depth + 1)
            if platform is not None:
                return platform
        return None

    def _referred_destination(self, page_url: str) -> Platform | None:
        """Where a sign-in form posted from a provider's authorize page returns: its Referer is that page (same
        origin, so the whole URL), whose redirect_uri or continue names the platform."""
        page = urlsplit(page_url)
        provider = lookup(page.hostname or "", self.reg.provider_by_host)
        if provider is None or not page.query:
            return None
        return self._destination(provider, parse_qsl(page.query, keep_blank_values=True))

    def _hint(self, provider: Provider, params: list[tuple[str, str]], path: str) -> tuple[str, str, str] | None:
        """A login_hint / hd / domain_hint (or a tenant in the path) of the school's domain."""
        for name, value in params:
            if name in provider.hints and value:
                found = self._token_hint(value) or self._find(value, name)
                domain = value.strip().lstrip("@").lower()
                if found:
                    return (*found, f"param:{name}")
                if self._school_domain(domain):
                    return f"@{domain}", name, f"param:{name}"
        tenant = path.strip("/").split("/")[0].lower()
        if provider.tenant_in_path and "." in tenant and self._school_domain(tenant):
            return f"@{tenant}", "tenant", "url"
        return None

    def _token_hint(self, value: str) -> tuple[str, str] | None:
        """An id_token_hint: the claims of the ID token it holds (an address inside is base64url, not plain)."""
        address = self._token_address(jwt_claims(value))
        return (address, "jwt") if address else None

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
        message = self.message(kind, platform=platform, address=mask(address), provider=extra.get("provider", ""))
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
    return {host_of(v.strip()).rstrip(".") for v in hosts}
