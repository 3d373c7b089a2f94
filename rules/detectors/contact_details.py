"""personal_data.contact_details: a member of staff's personal phone number, e-mail address or home address in what
a post or message says.

All Saints ("Personal details are never shared with pupils such as private email address, telephone number or home
address"), Corpus Christi, St Mary 6.15 and Education My Life Matters 6.13 ask staff to keep these off social media.

- Phone numbers: python-phonenumbers' matcher at leniency VALID (the number must be a real allocation: Ofcom's drama
  ranges such as 07700 900xxx fail), UK first (`[contact_details] region`). Freephone, premium-rate, shared-cost and
  03 numbers are organisations' numbers, not a person's, and the school's own (`school_numbers`) never count.
- E-mail addresses: any address that is not at the school's domains (or their subdomains), not at a platform in
  PostGuard's registry (noreply@facebookmail.com is the platform talking) and not at the school's official services.
- Home addresses: a house number and a street ("12 Acacia Avenue", "Flat 2, 7 High St") within a few words of a valid
  UK postcode; a postcode alone, or a street alone, is not an address. The school's own postcodes
  (`school_postcodes`) never count.

Fields that set up the account itself (email, username, phone, password) are not a post and are not read. Regexes are
bounded (no nested quantifiers), each field is read up to MAX_CHARS; a longer field is an inspection error for the
rest, never "nothing found". Evidence never holds the detail: the kind, a masked address, the last two characters.
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import phonenumbers
from phonenumbers import PhoneNumberType as T
from pydantic import Field, field_validator, model_validator

from .. import identifiers, platforms, schema
from ..model import Submission
from .base import Detector, Hit, Unchecked, field_target
from .personal_data import looks_like_token

RULE = "personal_data.contact_details"
MAX_CHARS = 64_000  # per field: a post longer than this is an inspection error past this point
PHONE_MAX_WINDOWS = 500  # stretches of one field that could hold a phone number, each read by the matcher
PHONE_MAX_TRIES = 200  # candidates the matcher may look at in one stretch (its own default is 65,535)
_JOINERS = frozenset(" ()+-./")

# Organisations' numbers: 0800/0808 (toll free), 084/087 (shared cost), 09 (premium), 03 (UAN: "UK-wide numbers"
# that charities, councils and helplines use, e.g. the Professional Online Safety Helpline's 0344 381 4772).
_NOT_PERSONAL = frozenset({T.TOLL_FREE, T.PREMIUM_RATE, T.SHARED_COST, T.UAN, T.VOICEMAIL, T.PAGER})
_KIND = {T.MOBILE: "mobile", T.FIXED_LINE: "landline", T.FIXED_LINE_OR_MOBILE: "phone", T.PERSONAL_NUMBER: "phone",
         T.VOIP: "phone"}

# An address: a local part and a domain, each bounded, no nested quantifiers; the domain is checked in Python.
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@([A-Za-z0-9.-]{3,253})")
_LABEL = re.compile(r"[A-Za-z0-9-]{1,63}")  # a domain label; not starting or ending with "-" is checked apart


def _label(label: str) -> bool:
    return _LABEL.fullmatch(label) is not None and label[0] != "-" and label[-1] != "-"


# A house number (optionally with a letter: 12A) and a street: up to 40 characters of name, then a street word.
_STREET_WORDS = ("road", "rd", "street", "st", "avenue", "ave", "lane", "ln", "close", "drive", "dr", "way",
                 "crescent", "cres", "court", "ct", "place", "pl", "grove", "gardens", "gdns", "terrace", "terr",
                 "mews", "hill", "walk", "row", "square", "sq", "view", "park", "rise", "green", "parade", "vale",
                 "gate", "croft", "fold", "wynd", "chase", "meadow", "meadows", "bank", "approach", "boulevard")
_STREET = re.compile(r"(?<![0-9A-Za-z])[0-9]{1,4}[A-Za-z]?,? [A-Za-z][A-Za-z' .-]{0,40}? (?:"
                     + "|".join(_STREET_WORDS) + r")\.?(?![A-Za-z])", re.IGNORECASE)
PERSONAL_MAIL_CATEGORIES = ("webmail", "files", "identity")  # rules/platforms.toml categories
# Domains the platforms send their notices from that are not their sites' hosts.
PLATFORM_MAIL = ("facebookmail.com", "redditmail.com", "tiktokglobalshop.com", "twitch.tv", "discordapp.com")
NOT_POSTS = ("wikis", "identity")  # rules/platforms.toml categories whose requests are not posts or messages
STREET_REACH = 120  # characters before a postcode searched for the street
STREET_GAP = 60  # most characters between the street's end and the postcode (", Stockton-on-Tees, ")

# Account and addressing fields (the last part of a form field's name or JSON path): setting up the account, or who a
# message goes to (a parent's address in "to" is not the sender's), not what the post says.
_ACCOUNT_FIELD = re.compile(r"(?:e-?mail(?:_?address)?|user(?:_?name)?|login|pass(?:word)?|phone(?:_?number)?|tel|"
                            r"mobile|msisdn|contact_point|identifier|account_?name|to|cc|bcc|from|sender|"
                            r"recipients?|reply_?to)", re.IGNORECASE)
_PARTS = re.compile(r"[^.\[\]]+")


def _phone_windows(text: str, runs) -> list[tuple[int, int]]:
    """Where a phone number could be: digit runs (identifiers.digit_runs) joined across at most 3 characters of
    brackets, spaces and a plus, holding 8 digits or more (a UK number has 10 or 11; the 7-digit national numbers of
    a few small countries are not looked for), with 3 characters before (a "+44 ") and 1 after. Spaced numbers side
    by side are one run ("01642 496011 07911 123456"): the matcher looks inside it."""
    clusters: list[list[int]] = []
    for start, end, digits in runs:
        if clusters and start - clusters[-1][1] <= 3 and _JOINERS.issuperset(text[clusters[-1][1]:start]):
            clusters[-1][1] = end
            clusters[-1][2] += digits
        else:
            clusters.append([start, end, digits])
    length = len(text)
    return [(max(0, s - 3), min(length, e + 1)) for s, e, n in clusters if n >= 8]


def _region(value: str) -> str:
    value = value.strip().upper()
    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"not a region python-phonenumbers knows (two letters, e.g. GB, IE): {value!r}")
    return value


def mask(address: str) -> str:
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain.lower()}"


def _under(domain: str, parents) -> bool:
    labels = domain.split(".")
    return any(".".join(labels[i:]) in parents for i in range(len(labels)))


class ContactDetailsDetector(Detector):
    id = "contact_details"
    rules = {RULE: "a personal phone number, personal e-mail address or home address (house number, street and "
                   "postcode) in what a post or message says"}
    messages = {
        "phone": "This post gives a {number} number (ending {last}): keep personal phone numbers away from pupils, "
                 "parents and the public.",
        "email": "This post gives a personal e-mail address ({address}): use the school's e-mail for pupils and "
                 "parents, and keep personal addresses off social media.",
        "address": "This post gives a home address (a street and the postcode ending {last}): keep home addresses "
                   "off social media.",
    }
    table = "contact_details"

    class Options(schema.Options):
        """Staff contact details in what a post says (personal_data.contact_details)."""

        region: schema.Str = Field("GB", description="The school's country, as a two-letter region (GB, IE, ...): "
                                                     "phone numbers written without a country code are read as "
                                                     "this country's.")
        school_numbers: list[schema.Str] = Field(
            default_factory=list, description="The school's own phone numbers (the office, a mobile the school "
                                              "issues): never a personal number.",
            json_schema_extra={"examples": [["01642 496000"]]})
        school_postcodes: list[schema.Str] = Field(
            default_factory=list, description="The school's own postcodes: an address there is not a home address.",
            json_schema_extra={"examples": [["TS18 1AB"]]})

        @field_validator("region")
        @classmethod
        def _known_region(cls, value: str) -> str:
            return _region(value)

        @model_validator(mode="after")
        def _numbers(self):
            """Each school number must be a phone number as read in `region` (checked here, at load, with it)."""
            for raw in self.school_numbers:
                try:
                    phonenumbers.parse(raw, self.region)
                except phonenumbers.NumberParseException as exc:
                    raise ValueError(f"school_numbers: not a phone number: {raw!r} ({exc})") from None
            return self

        @field_validator("school_postcodes")
        @classmethod
        def _postcodes(cls, values: list[str]) -> list[str]:
            bad = [v for v in values if not identifiers.postcode_is_valid(v)]
            if bad:
                raise ValueError(f"not a UK postcode: {bad[0]!r}")
            return ["".join(v.split()).upper() for v in values]

    def __init__(self, config, tuning: dict | None = None):
        super().__init__(config, tuning)
        self.region = self.options.region
        self.school_numbers = set()
        for raw in self.options.school_numbers:  # parsed when the config was read (Options._numbers)
            self.school_numbers.add(phonenumbers.format_number(phonenumbers.parse(raw, self.region),
                                                               phonenumbers.PhoneNumberFormat.E164))
        self.school_postcodes = frozenset(self.options.school_postcodes)
        self.school_domains = frozenset(d for d in config.school.email_domains if d)
        official = set()
        for entry in config.school.official_services:
            host = urlsplit(entry if "//" in entry else f"//{entry}").hostname or ""
            if host:
                official.add(host.lower())
        self.official = frozenset(official)
        # The platforms' own domains (a platform's notices and support addresses), but not webmail, cloud storage or
        # sign-in hosts: proton.me, gmx.co.uk and icloud.com are where personal addresses live.
        self.platform_domains = frozenset(h for c in platforms.categories().values()
                                          if c.name not in PERSONAL_MAIL_CATEGORIES for h in c.hosts) | \
            frozenset(PLATFORM_MAIL)
        self._postcode = identifiers.Postcode()
        # Encyclopaedia articles and sign-in pages are not posts or messages: an article's museum address or a
        # council's phone number is not a member of staff's.
        self.not_posts = frozenset(h for c in platforms.categories().values() if c.name in NOT_POSTS for h in c.hosts)

    def begin(self, submission: Submission, rules: set[str]):
        if RULE not in rules:
            return None
        host = (urlsplit(submission.url).hostname or "").lower()
        if host and platforms.in_scope(host, self.not_posts):
            return None
        labels = host.split(".")
        own = {".".join(labels[i:]) for i in range(max(1, len(labels) - 1))} if host else set()
        return own

    def check_field(self, name: str, value: str, rules: set[str], own):
        if own is None or not isinstance(value, str) or looks_like_token(value):
            return None
        last = next((p for p in reversed(_PARTS.findall(name)) if not p.isdigit()), "")  # "recipients[0]": recipients
        if last and _ACCOUNT_FIELD.fullmatch(last):
            return None
        target = field_target(name)
        hits: list = []
        text = value
        if len(text) > MAX_CHARS:
            hits.append(Unchecked(target, f"a field of {len(text)} characters: only the first {MAX_CHARS} were "
                                          f"read for contact details"))
            text = text[:MAX_CHARS]
        runs = identifiers.digit_runs(text)
        if runs:
            phones, exhausted = self._phones(text, runs)
            if exhausted:
                hits.append(Unchecked(target, f"more stretches that could be phone numbers than are read "
                                              f"({PHONE_MAX_WINDOWS}, {PHONE_MAX_TRIES} candidates each): the rest "
                                              f"of the field was not read for them"))
            if phones:
                kinds = list(dict.fromkeys(k for k, _ in phones))
                endings = list(dict.fromkeys(e for _, e in phones))
                kind = kinds[0] if len(kinds) == 1 else "phone"
                hits.append(Hit(RULE, self.message("phone", number=kind, last=" and ".join(endings[:3])),
                                {"identifier": "phone number", "type": "phone", "kinds": kinds, "last_two": endings,
                                 "count": len(phones), "field": name}, target))
            addresses = self._addresses(text, runs)
            if addresses:
                hits.append(Hit(RULE, self.message("address", last=" and ".join(addresses[:3])),
                                {"identifier": "home address", "type": "address", "last_two": addresses,
                                 "count": len(addresses), "field": name}, target))
        if "@" in text:
            emails = self._emails(text, own)
            if emails:
                hits.append(Hit(RULE, self.message("email", address=", ".join(emails[:3])),
                                {"identifier": "personal e-mail address", "type": "email", "addresses": emails,
                                 "count": len(emails), "field": name}, target))
        return hits or None

    def _phones(self, text: str, runs) -> tuple[list[tuple[str, str]], bool]:
        """(kind, last two digits) of each personal number, and whether there were more candidates than are read.

        The matcher is handed only windows around clusters of digits that could be a phone number (7 to 17 digits,
        runs joined by brackets, spaces or a plus: "(01642) 496011", "+44 (0)7911 123456"), not the whole text: on
        the whole of a 10 KB post with ordinary numbers in it the matcher took 118 ms, most of it on dates and
        amounts; a window is its own text, so every candidate is one the matcher would have seen."""
        windows = _phone_windows(text, runs)
        if not windows:
            return [], False
        found = []
        exhausted = len(windows) > PHONE_MAX_WINDOWS
        for lo, hi in windows[:PHONE_MAX_WINDOWS]:
            matcher = phonenumbers.PhoneNumberMatcher(text[lo:hi], self.region, leniency=phonenumbers.Leniency.VALID,
                                                      max_tries=PHONE_MAX_TRIES)
            for match in matcher:
                number = match.number
                kind = phonenumbers.number_type(number)
                if kind in _NOT_PERSONAL:
                    continue
                e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
                if e164 in self.school_numbers:
                    continue
                found.append((_KIND.get(kind, "phone"), e164[-2:]))
            exhausted = exhausted or matcher._max_tries <= 0  # it counts its tries down to 0 (phonenumbers 9)
        return found, exhausted

    def _emails(self, text: str, own: set[str]) -> list[str]:
        out = []
        for m in _EMAIL.finditer(text):
            domain = m.group(1).strip(".-").lower()
            labels = domain.split(".")
            if len(labels) < 2 or not all(map(_label, labels)) or not labels[-1].isalpha():
                continue
            if (_under(domain, self.school_domains) or _under(domain, self.official) or domain in own
                    or _under(domain, self.platform_domains) or platforms.in_scope(domain, own)):
                continue
            address = mask(m.group(0)[:m.start(1) - m.start()] + domain)
            if address not in out:
                out.append(address)
        return out

    def _addresses(self, text: str, runs) -> list[str]:
        out = []
        for p in self._postcode.analyze(text, runs):
            code = "".join(p.value.split()).upper()
            if code in self.school_postcodes:
                continue
            lo = max(0, p.start - STREET_REACH)
            for street in _STREET.finditer(text, lo, p.start):
                if p.start - street.end() <= STREET_GAP and "\n\n" not in text[street.end():p.start]:
                    if p.last_two not in out:
                        out.append(p.last_two)
                    break
        return out
