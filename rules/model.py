"""The engine's input and output: a submission in, a verdict out. Plain data, no I/O."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

ACTIONS = ("off", "log", "warn", "sanitise", "block")
SEVERITIES = ("info", "low", "medium", "high")
DECISIONS = ("allow", "sanitise", "warn", "block")  # weakest first
ACTION_DECISION = {"log": "allow", "sanitise": "sanitise", "warn": "warn", "block": "block"}


@dataclass(frozen=True)
class Attachment:
    """A file in a submission: its name and declared type are what the sender claims, the bytes are the truth."""

    name: str
    data: bytes
    content_type: str = ""
    field: str = ""

    def __repr__(self) -> str:
        return f"Attachment({self.name!r}, {len(self.data)} bytes, {self.content_type!r})"


@dataclass
class Submission:
    """Where a post goes and what it carries."""

    url: str = ""
    method: str = "POST"
    fields: list[tuple[str, str]] = field(default_factory=list)
    files: list[Attachment] = field(default_factory=list)
    context: dict = field(default_factory=dict)  # facts about the sender: on_school_network, user, ...
    reports: dict = field(default_factory=dict, repr=False, compare=False)  # media.inspect_file's, per file


@dataclass(frozen=True)
class Clause:
    ref: str
    text: str


@dataclass
class Finding:
    rule: str
    severity: str
    message: str
    policy: list[Clause]
    evidence: dict
    action: str = "log"
    target: str = ""  # which part of the submission: "file:photo.jpg", "field:email"

    def to_dict(self) -> dict:
        return {"rule": self.rule, "severity": self.severity, "message": self.message,
                "policy": [dataclasses.asdict(c) for c in self.policy], "evidence": self.evidence,
                "action": self.action, "target": self.target}


@dataclass
class Verdict:
    decision: str = "allow"
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # inspection errors: a detector failed, the post went on

    def to_dict(self) -> dict:
        return {"decision": self.decision, "findings": [f.to_dict() for f in self.findings],
                "errors": list(self.errors)}


def strongest(decisions) -> str:
    return max(decisions, key=DECISIONS.index, default="allow")
