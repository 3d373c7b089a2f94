"""school.identified: a personal account's profile (bio, headline, "works at", display name) that names the school.

St Mary 6.1 and Education My Life Matters 6.1 ("must not identify themselves as employees of ..."), Mill Lane 6.1 III
("must not identify themselves as employees of the School ... in their personal webspace") and Corpus Christi (profile
"fields in the user profile for job title etc.": "you should not put any information onto the site that could
identify either your profession or the school where you work").

What names the school is the config's `[school] name`, its `aliases` and its `email_domains`, compared with case,
accents, apostrophes ("St Mary's"), hyphens and spacing folded away (rules.roster.fold), "St" and "Saint" taken as
one, and a name ending in "School" also found without it ("Mill Lane Primary"). Which fields are profile fields on
which platform is data: [profiles] in rules/platforms.toml. The school's own accounts (`[school]
official_services`) and sites under its e-mail domains are not personal accounts and are not checked.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from .. import platforms, platforms_accounts, roster
from ..field_decoding import named
from ..model import Submission
from .base import Detector, Hit, Unchecked, field_target

RULE = "school.identified"
MAX_CHARS = 16_000  # a profile field longer than this is read that far, and the rest is an inspection error
# Words that name the profession (Corpus Christi: "could identify either your profession or the school where you
# work"), folded as the text is. Counted only when the pack's `profession` threshold is 1: the other policies ask only
# that staff not name the school.
PROFESSION = ("teacher", "teaching assistant", "headteacher", "head teacher", "deputy head",
              "assistant head", "head of year", "senco", "hlta", "nqt", "ect", "early career teacher",
              "school business manager", "lunchtime supervisor", "learning support assistant", "educator",
              "primary school teacher", "classroom assistant", "nursery nurse", "school governor")
_PARTS = re.compile(r"[^.\[\]/]+")
ACCOUNT_EDITS = {"account_settings", "sign_up"}  # platforms_accounts.toml kinds that set up the account


@dataclass(frozen=True)
class Profile:
    key: str
    name: str  # the platform, as the message says it
    sites: frozenset[str]
    fields: frozenset[str]  # case-folded field names only a profile uses
    account_fields: frozenset[str] = frozenset()  # names posts use too: only in an account-settings request
    markers: frozenset[str] = frozenset()  # a field value that makes the request a profile edit


@lru_cache(maxsize=1)
def profiles() -> tuple[Profile | None, tuple[Profile, ...]]:
    """([profiles.any], the platforms' profiles) from rules/platforms.toml."""
    doc = tomllib.loads(platforms.DATA.read_text(encoding="utf-8")).get("profiles", {})
    made = {key: Profile(key, t.get("name", key), frozenset(h.lower() for h in t.get("sites", [])),
                         frozenset(f.casefold() for f in t["fields"]),
                         frozenset(f.casefold() for f in t.get("account_fields", [])),
                         frozenset(t.get("markers", []))) for key, t in doc.items()}
    anywhere = made.pop("any", None)
    return anywhere, tuple(made.values())


def _folded(text: str) -> str:
    """Case, accents, apostrophes, hyphens, full stops and commas folded away: "St. Mary's," -> "st mary"."""
    return " ".join(w for w in roster.fold(text).split() if w not in ("|", ","))


def _variants(name: str) -> set[str]:
    """The folded ways a school name is written: as given, with St/Saint swapped, without a final "school"."""
    folded = _folded(name)
    if not folded:
        return set()
    out = {folded}
    words = folded.split()
    if len(words) >= 3 and words[-1] == "school":
        out.add(" ".join(words[:-1]))
    for v in list(out):
        w = v.split()
        out.add(" ".join("saint" if x == "st" else x for x in w))
        out.add(" ".join("st" if x == "saint" else x for x in w))
    return {v for v in out if len(v) >= 3}


class SchoolIdentityDetector(Detector):
    id = "school_identity"
    rules = {RULE: "a personal account's profile, bio or \"works at\" field that holds the school's name, one of its "
                   "aliases or its e-mail domain"}
    messages = {
        "profile": "Your {platform} profile ('{field}') names the school ({what}): the policy asks staff not to say "
                   "where they work on personal accounts.",
        "profession": "Your {platform} profile ('{field}') names your profession ({what}): the policy asks staff not "
                      "to say on personal accounts that they work in a school.",
    }
    thresholds = {RULE: {"profession": 0}}  # 1: a profile naming the profession (a teacher, a SENCO) counts too

    def __init__(self, config, tuning: dict | None = None):
        super().__init__(config, tuning)
        school = config.school
        self.terms: dict[str, str] = {}  # folded variant -> "the school's name" / "an alias"
        for alias in school.aliases:
            for v in _variants(alias):
                self.terms[v] = "an alias of the school"
        for v in _variants(school.name):
            self.terms[v] = "the school's name"
        self.terms = dict(sorted(self.terms.items(), key=lambda kv: -len(kv[0])))  # the longest (the name) first
        self.domains = tuple(d for d in school.email_domains if d)
        self._domain_re = re.compile(r"(?<![a-z0-9-])(?:" + "|".join(re.escape(d) for d in self.domains)
                                     + r")(?![a-z0-9-])") if self.domains else None
        official = set(self.domains)
        for entry in school.official_services:
            host = urlsplit(entry if "//" in entry else f"//{entry}").hostname or ""
            if host:
                official.add(host.lower())
        self.official = official
        self.profession = bool(self.tuning.get(RULE, {}).get("profession", 0))
        self.anywhere, self.platforms = profiles()
        self.accounts = platforms_accounts.registry()
        self.scope = frozenset(platforms.scope_hosts())

    def status(self) -> str:
        if not self.terms and not self.domains:
            return f"{RULE}: no [school] name, aliases or email_domains configured: profiles cannot name the school"
        return ""

    def check(self, submission: Submission, rules: set[str]):
        if RULE not in rules or not (self.terms or self.domains or self.profession) or not submission.fields:
            return
        host = (urlsplit(submission.url).hostname or "").lower()
        if not host or platforms.in_scope(host, self.official) or not platforms.in_scope(host, self.scope):
            return
        profile = next((p for p in self.platforms if platforms.in_scope(host, p.sites)), None)
        account = profile is not None and profile.account_fields and self._account_request(
            host, submission, profile)
        for name, value in submission.fields:
            if not value or not isinstance(value, str):
                continue
            parts = [p.casefold() for p in _PARTS.findall(name)]
            if not parts:
                continue
            if profile is not None and (not profile.fields.isdisjoint(parts) or
                                        (account and not profile.account_fields.isdisjoint(parts))):
                where = profile
            elif self.anywhere is not None and parts[-1] in self.anywhere.fields:
                where = profile or self.anywhere
            else:
                continue
            target = field_target(name)
            if len(value) > MAX_CHARS:
                yield Unchecked(target, f"a profile field of {len(value)} characters: only the first {MAX_CHARS} "
                                        f"were read for the school's name")
                value = value[:MAX_CHARS]
            what = self._names_school(value)
            if what:
                yield Hit(RULE, self.message("profile", platform=where.name, field=name[:60], what=what),
                          {"field": name, "platform": where.key, "matched": what}, target)
            elif self.profession:
                word = self._names_profession(value)
                if word:
                    yield Hit(RULE, self.message("profession", platform=where.name, field=name[:60], what=word),
                              {"field": name, "platform": where.key, "matched": "the profession", "word": word},
                              target)

    def _account_request(self, host: str, submission: Submission, profile: Profile) -> bool:
        """Whether the request edits the account (so that X's "description" is the profile's, not a list's): its
        endpoint is an account-settings or sign-up one in platforms_accounts.toml, or its path or GraphQL operation
        name says so by the [generic] patterns ("ProfileCometSetBioMutation"), or a field holds one of the
        platform's markers."""
        if profile.markers and any(value in profile.markers for _, value in submission.fields):
            return True
        url = urlsplit(submission.url)
        ops = [value[:200] for name, value in submission.fields if named(name, self.accounts.operation_words)]
        text = " ".join([f"{url.path}?{url.query}" if url.query else url.path, *ops])
        platform = platforms_accounts.lookup(host, self.accounts.by_host)
        kinds = {platform.kind(text) if platform else None, self.accounts.generic_kind(text)}
        return bool(kinds & ACCOUNT_EDITS)

    @staticmethod
    def _names_profession(text: str) -> str:
        folded = f" {_folded(text)} "
        return next((w for w in PROFESSION if f" {w} " in folded), "")

    def _names_school(self, text: str) -> str:
        if self._domain_re is not None and self._domain_re.search(text.lower()):
            return "its e-mail domain"
        folded = f" {_folded(text)} "
        for term, what in self.terms.items():
            if f" {term} " in folded:
                return what
        return ""
