"""What happened to each finding of a post whose location was removed and which then went on.

"Remove location" (the person's "fix", or a pack's sanitise) removes what a sanitisable rule found in a file, and
nothing else: a pupil photo, a school address or a pupil's number found in the same post goes out with it. So the
record says finding by finding what happened: "sanitised" for what was removed, "allowed" (with the reason) for
what went out as it was. Never "sanitised" for a finding that left the laptop.
"""
from __future__ import annotations

from ..detectors import sanitisable_rules
from ..model import Finding, Verdict
from ..vocabulary import Action, Outcome
from .events import Event, from_verdict

WENT_OUT = "went out with the post: removing the location does not remove it"
ALWAYS_REMOVED = ("removed before the post went out: the pack removes it whatever is decided about the rest (the "
                  "person's 'Post anyway' answered the rest)")


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


def removed_anyway(verdict: Verdict) -> list[Finding]:
    """The findings a "Post anyway" does not undo: the pack's action for them is sanitise, cleaning removes them, and
    the post also holds something cleaning cannot remove (a pupil photo). "Post anyway" answered that; the location
    goes first (the page strips it, extension/src/lib/findings.js removeAnyway; the proxy strips a held post). When
    everything found is removable, the dialog offered the removal itself, and "Post anyway" was the choice to keep
    it: overridden, like the rest."""
    if all(removed_by_cleaning(f) for f in verdict.findings):
        return []
    return [f for f in verdict.findings if f.action == Action.SANITISE and removed_by_cleaning(f)]


def override_events(verdict: Verdict, *, reason: str, **fields) -> list[Event]:
    """One event per finding (then one per inspection error) of a post the person chose to post anyway: "overridden"
    with their reason for each finding their answer covered, "sanitised" for each the product removed regardless
    (removed_anyway), since that never went out."""
    kept = removed_anyway(verdict)
    out = []
    for f in verdict.findings:
        one = Verdict(verdict.decision, [f])
        if any(f is k for k in kept):
            out += from_verdict(one, decision=Outcome.SANITISED, reason=ALWAYS_REMOVED, **fields)
        else:
            out += from_verdict(one, decision=Outcome.OVERRIDDEN, reason=reason, **fields)
    return out + from_verdict(Verdict(verdict.decision, [], list(verdict.errors)), **fields)
