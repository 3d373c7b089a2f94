"""contact.pupil, the matching: is the name a profile page shows one of the school's pupils?

The browser extension sees a friend, follow or message button pressed on a profile and sends the name the page
shows; the roster holds keyed hashes only (rules/roster.py), so the name is folded the roster's way and each way it
could split into a forename and a surname is hashed and looked up. Fuzzy on:

- order: "Jamie Smith", "Smith Jamie" and "Smith, Jamie" are the same pair;
- accents, case, apostrophes, hyphens, underscores and digits: the roster's own normalisation ("jámie_smith07");
- middle names: "Jamie Lee Smith" holds the pair (jamie, smith);
- initials: "J. Smith" and "Jamie S." match the initial tags an import stores (a roster imported before those
  existed matches full names only, and `postguard status` cannot tell; importing again adds them).

A display name is short: only its first MAX_WORDS words are read, so the work is bounded whatever a page holds.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from .model import Submission
from .roster import Roster, words

RULE = "contact.pupil"
ACTIONS = ("friend", "follow", "message")
MAX_NAME = 200  # characters of a display name read
MAX_WORDS = 6  # words of it tried (pairs of runs: at most a few hundred hashes)
FULL, INITIAL = "full name", "initial"


@dataclass(frozen=True)
class Contact:
    """What the page reported: the action and the name shown for the person it is towards."""

    action: str
    name: str

    def __post_init__(self):
        if self.action not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}, not {self.action!r}")


def name_words(display: str) -> list[str]:
    """The display name's words, folded the roster's way; commas and breaks dropped (the order is tried both ways)."""
    return [w.casefold() for w in words(display[:MAX_NAME]) if w not in (",", "|")][:MAX_WORDS]


def _runs(toks: list[str], longest: int) -> list[tuple[int, int, str]]:
    """Every run of 1..longest consecutive words as (start, end, joined)."""
    return [(i, j, "".join(toks[i:j])) for i in range(len(toks))
            for j in range(i + 1, min(len(toks), i + longest) + 1)]


def match(roster: Roster | None, display: str) -> str | None:
    """FULL when a forename and surname of one pupil are in the name (either order, middle names between),
    INITIAL when one of them is only an initial ("J Smith", "Jamie S"), else None. Two initials never match."""
    if roster is None or not roster.tags:
        return None
    toks = name_words(display)
    if len(toks) < 2:
        return None  # a forename or surname alone is never a pupil
    longest = max(roster.forename_parts, roster.surname_parts)
    runs = _runs(toks, longest)
    initial = False
    for a_start, a_end, a in runs:
        for b_start, b_end, b in runs:
            if b_start < a_end:
                continue  # b after a, not overlapping; the order is tried both ways below
            short = (len(a) == 1) + (len(b) == 1)
            if short == 2:
                continue
            for fore, sur in ((a, b), (b, a)):
                if short == 0:
                    if roster.has_pair(fore, sur):
                        return FULL
                elif not initial and roster.initial_tags and roster.has_pair(fore, sur, initial=True):
                    initial = True  # a full-name match later on wins
    return INITIAL if initial else None


def submission(url: str, contact: Contact) -> Submission:
    """The engine's input for a contact action: no fields or files (no other rule reads it), the contact in the
    context, which only contact.pupil looks at."""
    return Submission(url=url, method="POST", context={"contact": contact})


def platform(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").removeprefix("www.")
    except ValueError:
        return ""
