"""Plain-English wording for the staff page: what each rule looks for and what each decision meant for the post."""
from __future__ import annotations

from rules.detectors import known_rules

RULES = {
    "location.gps": "A photo or video you were posting had GPS coordinates hidden in its file details. They show "
                    "exactly where it was taken (a school, a trip, a home), and anyone who saves the picture can "
                    "read them.",
    "location.place": "A photo had a place name (a town, venue or address) written into its file details, which "
                      "tells people where it was taken.",
    "inspection.error": "PostGuard could not check a post (for example, a file in an unusual format). The post "
                        "was not held up; this is recorded so IT can improve the check. It does not mean you did "
                        "anything wrong.",
}

DECISIONS = {
    "allowed": "The post went ahead unchanged; the school's policy asks only that this is recorded.",
    "warned": "PostGuard showed you a warning before the post went out.",
    "overridden": "After the warning you chose \u201cPost anyway\u201d. The reason you gave is recorded with it.",
    "cancelled": "After the warning you chose not to post.",
    "sanitised": "PostGuard removed the location details from the file before it was posted. The picture itself "
                 "was not changed.",
    "blocked": "The post was stopped, as the school's policy requires for this rule.",
    "unanswered": "PostGuard held the post to ask you about it, but no answer came in time, so the school's "
                  "setting for that case was applied: the record says whether the post was stopped or went ahead.",
    "inspection_error": "PostGuard could not check the post, so it let it through.",
    "purged": "The details of this record were deleted when its retention period ended.",
    "recorded": "Recorded for information only; nothing happened to the post.",
}


def rule_meaning(rule: str) -> str:
    if rule in RULES:
        return RULES[rule]
    try:
        detector = known_rules()[rule]
        return f"PostGuard's check for {detector.rules[rule]} found something in this post."
    except KeyError:
        return "A check from your school's social media policy found something in this post."


def decision_meaning(decision: str) -> str:
    return DECISIONS.get(decision, "")
