"""The event list's search box: one phrase matched against a person, laptop, destination, rule (its id or its name
in words), policy clause (its number or its words), the message and the person's reason.

A phrase that is exactly a known person, laptop, destination or rule becomes that filter, so every matching event
is found and paged as the list is. Anything else is looked for in the newest SCAN_CAP events that match the other
filters (read in the store's pages, never the whole log), and the page says so: narrow the dates to look further
back. (A full-text index belongs in the store, rules/record/store.py, with its migrations; it is not there yet.)
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from rules.record.store import Filter, Page

from . import words

SCAN_CAP = 5000
SHOWN = 50
MAX_QUERY = 200
EXACT = ("user", "device", "host", "rule")


@dataclass
class Found:
    rows: list[dict]
    exact: str | None  # the column the phrase matched exactly, if it did
    scanned: int  # events read for a free-text search
    capped: bool  # the scan stopped at SCAN_CAP: older events were not searched


def exact_filter(flt: Filter, q: str, known: dict[str, list[str]]) -> tuple[Filter, str] | None:
    """The filter for a phrase that is exactly one known value (case folded), or a rule's name in words."""
    folded = q.casefold()
    for column in EXACT:
        for value in known.get(column) or []:
            if value.casefold() == folded or (column == "rule" and words.rule_name(value).casefold() == folded):
                if getattr(flt, column) not in (None, "", value):
                    return None  # another filter already says otherwise
                return replace(flt, **{column: value}), column
    return None


def haystack(row: dict) -> str:
    parts = [row.get(k) or "" for k in ("user", "device", "host", "path", "rule", "message", "reason", "school")]
    parts.append(words.rule_name(row.get("rule") or ""))
    parts.append(words.decision_words(row.get("decision") or ""))
    for clause in row.get("clauses") or []:
        parts += [str(clause.get("ref") or ""), str(clause.get("text") or "")]
    return "\n".join(parts).casefold()


def scan(store, flt: Filter, q: str, cap: int = SCAN_CAP, shown: int = SHOWN) -> Found:
    folded, rows, n = q.casefold(), [], 0
    for row in store.iter_all(flt, batch=500):
        n += 1
        if folded in haystack(row):
            rows.append(row)
            if len(rows) >= shown:
                return Found(rows, None, n, False)
        if n >= cap:
            return Found(rows, None, n, True)
    return Found(rows, None, n, False)


def page(rows: list[dict]) -> Page:
    """Search results as the list's page: one page, no older link."""
    return Page(rows, None)
