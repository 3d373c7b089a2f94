"""PostGuard's one vocabulary: every word the engine, the record, the service and the extension share.

Each is a `StrEnum`, so a value compares equal to its word ("warn") and goes into JSON and SQL as that word. The
extension imports the same words from extension/src/lib/vocabulary.js, which `make vocabulary` writes from
`javascript()` here (a test keeps it current).
"""
from __future__ import annotations

import json
from enum import StrEnum


class Severity(StrEnum):
    """How serious a finding is, weakest first."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Action(StrEnum):
    """What a pack tells the engine to do when a rule finds something."""

    OFF = "off"  # the rule does not run
    LOG = "log"  # the post goes on; the finding is recorded
    WARN = "warn"  # the person is asked: cancel, fix it, or post anyway with a reason
    SANITISE = "sanitise"  # what was found is removed losslessly and the post goes on
    BLOCK = "block"  # the post is refused


class Decision(StrEnum):
    """The engine's verdict on a whole post, weakest first: the strongest of its findings' actions."""

    ALLOW = "allow"
    SANITISE = "sanitise"
    WARN = "warn"
    BLOCK = "block"


class Choice(StrEnum):
    """What the person chose when warned."""

    CANCEL = "cancel"
    FIX = "fix"  # "Remove location" on the page: the post goes on cleaned
    POST_ANYWAY = "post_anyway"  # needs a reason


class Outcome(StrEnum):
    """What happened to a post, as the record keeps it (an event's `decision`)."""

    ALLOWED = "allowed"
    WARNED = "warned"
    OVERRIDDEN = "overridden"
    CANCELLED = "cancelled"
    SANITISED = "sanitised"
    BLOCKED = "blocked"
    UNANSWERED = "unanswered"  # held for the person, no answer in time: the pack's warn_fallback applied (the reason)
    INSPECTION_ERROR = "inspection_error"
    PURGED = "purged"
    RECORDED = "recorded"


SEVERITIES = tuple(Severity)
ACTIONS = tuple(Action)
DECISIONS = tuple(Decision)
CHOICES = tuple(Choice)
OUTCOMES = tuple(Outcome)

ACTION_DECISION = {Action.LOG: Decision.ALLOW, Action.SANITISE: Decision.SANITISE, Action.WARN: Decision.WARN,
                   Action.BLOCK: Decision.BLOCK}
DECISION_OUTCOME = {Decision.ALLOW: Outcome.ALLOWED, Decision.WARN: Outcome.WARNED,
                    Decision.SANITISE: Outcome.SANITISED, Decision.BLOCK: Outcome.BLOCKED}
CHOICE_OUTCOME = {Choice.CANCEL: Outcome.CANCELLED, Choice.FIX: Outcome.SANITISED,
                  Choice.POST_ANYWAY: Outcome.OVERRIDDEN}


def strongest(decisions) -> Decision:
    return max(decisions, key=DECISIONS.index, default=Decision.ALLOW)


def javascript() -> str:
    """extension/src/lib/vocabulary.js: the same words for the extension's plain modules."""
    lines = ["// Generated from rules/vocabulary.py by `make vocabulary`; do not edit (a test keeps it current).",
             "// PostGuard's one vocabulary (rules/vocabulary.py): the words the service sends and expects."]
    for enum in (Severity, Action, Decision, Choice, Outcome):
        members = {m.name: m.value for m in enum}
        lines.append(f"export const {enum.__name__} = Object.freeze({json.dumps(members)});")
    return "\n".join(lines) + "\n"

