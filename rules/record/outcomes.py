"""What happened to each finding of a post whose location was removed and which then went on.

"Remove location" (the person's "fix", or a pack's sanitise) removes what a sanitisable rule found in a file, and
nothing else: a pupil photo, a school address or a pupil's number found in the same post goes out with it. So the
record says finding by finding what happened: "sanitised" for what was removed, "allowed" (with the reason) for
what went out as it was. Never "sanitised" for a finding that left the laptop.
"""
from __future__ import annotations

from ..detectors import sanitisable_rules
from ..model import Finding, Verdict
from ..vocabulary import Outcome
from .events import Event, from_verdict

WENT_OUT = "went out with the post: removing the location does not remove it"


def removed_by_cleaning(finding: Finding) -> bool:
    """Whether cleaning the post removes what this finding found: a sanitisable rule's finding in a file."""
    return finding.rule in sanitisable_rules() and finding.target.startswith("file:")


def removal_events(verdict: Verdict, *, reason: str = "", chosen: bool = False, **fields) -> list[Event]:
    """One event per finding (then one per inspection error) of a post that went on cleaned: "sanitised" with
    `reason` (what was removed) for each finding cleaning removed, "allowed" for each that went out as it was, its
    reason saying so (and, when `chosen`, that the person had chosen "Remove location" when warned)."""
    kept = f"the person chose 'Remove location'; this {WENT_OUT}" if chosen else f"this {WENT_OUT}"
    out = []
    for f in verdict.findings:
        if removed_by_cleaning(f):
            out += from_verdict(Verdict(verdict.decision, [f]), decision=Outcome.SANITISED, reason=reason, **fields)
        else:
            out += from_verdict(Verdict(verdict.decision, [f]), decision=Outcome.ALLOWED, reason=kept, **fields)
    return out + from_verdict(Verdict(verdict.decision, [], list(verdict.errors)), **fields)
