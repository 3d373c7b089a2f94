"""Situations a pack's rule can answer differently in: where the post goes and where the laptop is.

A school's clause often holds only somewhere: St Mary of the Angels 6.11 and Education My Life Matters 6.9 forbid
editing Wikipedia "at work"; All Saints' location clause is about "when on schools trips"; the personal-account
rules do not hold on the school's own official accounts, where the school's consent rules do. A pack says what
changes in each (`[rules."<id>".<situation>]`, docs/packs.md); this module only tells whether a situation holds:
True, False, or None when PostGuard cannot tell, and then the rule's own action applies (it never guesses the
lenient way).
"""
from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

from . import network

SITUATIONS = {
    "official_account": "the post goes to one of the school's official accounts or pages ([school] official_accounts)",
    "off_school_network": "this laptop is off the school network ([school] networks; unknown: not this situation)",
    "no_school_trip": "no school trip ([[trips]]) is on today (no trips configured: not this situation)",
}
NOTES = {  # said after the finding's message, so the person knows why the rule answered as it did
    "official_account": "This goes to the school's official account {where}.",
    "off_school_network": "This laptop is off the school network.",
    "no_school_trip": "No school trip is on today.",
}


def account_url(value: str) -> tuple[str, str]:
    """An `official_accounts` entry as (host, path prefix): "https://www.facebook.com/StMarys" -> ("facebook.com",
    "/stmarys"). A bare host ("stmarys.wordpress.com") covers the whole host. ValueError when it names no host."""
    value = value.strip()
    parts = urlsplit(value if "://" in value else f"https://{value}")
    host = (parts.hostname or "").lower().rstrip(".")
    if not host or "." not in host:
        raise ValueError(f"not an account's address: {value!r} (give its URL, e.g. https://x.com/StMarysSchool)")
    if host.startswith(("www.", "m.", "mobile.")):
        host = host.split(".", 1)[1]
    return host, parts.path.rstrip("/").lower()


def on_official_account(urls: list[str], accounts: list[str]) -> str | None:
    """The configured account a post's address or page falls under (host, and path prefix at a "/" boundary)."""
    for url in urls:
        if not url:
            continue
        try:
            host, path = account_url(url)
        except ValueError:
            continue
        for entry in accounts:
            a_host, a_path = account_url(entry)
            if (host == a_host or host.endswith("." + a_host)) and \
                    (not a_path or path == a_path or path.startswith(a_path + "/")):
                return entry
    return None


class Facts:
    """Which situations hold for one submission; each looked up once, only when a rule asks."""

    def __init__(self, submission, config, today: dt.date | None = None):
        self.submission, self.config, self._today = submission, config, today
        self._known: dict[str, tuple[bool | None, str]] = {}

    def holds(self, name: str) -> bool | None:
        if name not in self._known:
            self._known[name] = getattr(self, f"_{name}")()
        return self._known[name][0]

    def note(self, name: str) -> str:
        return NOTES[name].format(where=self._known.get(name, (None, ""))[1]).replace("  ", " ")

    def _official_account(self):
        ctx = self.submission.context
        found = on_official_account([self.submission.url, ctx.get("page_url", ""), ctx.get("referer", "")],
                                    list(self.config.school.official_accounts))
        return (found is not None, f"({found})" if found else "")

    def _off_school_network(self):
        on = self.submission.context.get("on_school_network")
        if on is None:
            on = network.on_school_network(self.config)
        return (None if on is None else not on, "")

    def _no_school_trip(self):
        trips = list(self.config.trips)
        if not trips:
            return (None, "")
        today = self._today or self.submission.context.get("today") or dt.date.today()
        return (not any(t.start <= today <= (t.end or t.start) for t in trips), "")
