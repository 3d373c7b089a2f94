"""The engine's input and output: a submission in, a verdict out. Plain data, no I/O."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .vocabulary import ACTION_DECISION, ACTIONS, DECISIONS, SEVERITIES, strongest  # noqa: F401  (re-exported)


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

    @classmethod
    def from_dict(cls, d: dict) -> "Verdict":
        """The Verdict `to_dict()` described (as the extension or a standalone proxy sends it back); ValueError
        naming the bad part."""
        findings, errors = d.get("findings", []), d.get("errors", [])
        if not isinstance(findings, list) or not isinstance(errors, list) or \
                not all(isinstance(e, str) for e in errors):
            raise ValueError("findings must be a list of findings and errors a list of strings")
        out = []
        for i, f in enumerate(findings):
            try:
                if not isinstance(f.get("rule"), str) or f.get("severity", "info") not in SEVERITIES:
                    raise ValueError("needs a rule and a known severity")
                policy = [Clause(str(c["ref"]), str(c["text"])) for c in f.get("policy", [])]
                evidence = f.get("evidence", {})
                if not isinstance(evidence, dict):
                    raise ValueError("evidence must be an object")
                out.append(Finding(rule=f["rule"], severity=f.get("severity", "info"),
                                   message=str(f.get("message", "")), policy=policy, evidence=evidence,
                                   action=str(f.get("action", "log")), target=str(f.get("target", ""))))
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"findings[{i}]: {exc}") from None
        decision = d.get("decision", "warn")
        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {', '.join(DECISIONS)}, not {decision!r}")
        return cls(decision=decision, findings=out, errors=list(errors))
