"""The policy engine: run the pack's detectors on a submission and decide."""
from __future__ import annotations

import logging
from dataclasses import replace

from .config import Config
from .detectors import detector_for
from .detectors.base import Unchecked
from .model import ACTION_DECISION, SEVERITIES, Attachment, Finding, Submission, Verdict, strongest
from .packs import Pack, load_pack
from .situations import SITUATIONS, Facts

log = logging.getLogger(__name__)


class Engine:
    def __init__(self, config: Config | None = None, pack: Pack | None = None):
        self.config = config or Config()
        self.pack = pack or load_pack(self.config.school.pack or "default")
        by_detector: dict[type, set[str]] = {}
        for rule in self.pack.active:
            by_detector.setdefault(detector_for(rule), set()).add(rule)
        self._detectors = [(cls(self.config, {r: self.pack.rules[r].thresholds for r in rules}), rules)
                           for cls, rules in by_detector.items()]

    def status(self) -> list[str]:
        """Each running detector's line about its data, and what the pack's situations can tell, for `postguard
        status`."""
        lines = [line for detector, _ in self._detectors if (line := detector.status())]
        used = {name for spec in self.pack.active.values() for name in spec.situations}
        school = self.config.school
        if "official_account" in used:
            lines.append(f"official accounts: {len(school.official_accounts) or 'none'} listed "
                         "([school] official_accounts); posts there follow the pack's official-account rules")
        if "off_school_network" in used and not school.networks:
            lines.append("school network: none configured ([school] networks), so rules the pack ties to being at "
                         "work act everywhere")
        if "no_school_trip" in used:
            lines.append(f"school trips: {len(self.config.trips)} configured" if self.config.trips else
                         "school trips: none configured ([[trips]]), so rules the pack ties to trips act every day")
        return lines

    def warm_up(self) -> None:
        """Load every detector's data now (the town index, the photo library), so no post waits for it."""
        for detector, _ in self._detectors:
            try:
                detector.warm_up()
            except Exception:  # the same failure will be reported, per post, as an inspection error
                log.exception("detector %s could not warm up", detector.id)

    def evaluate(self, submission: Submission) -> Verdict:
        verdict = Verdict()
        facts = Facts(submission, self.config)
        for detector, rules in self._detectors:
            try:
                hits = list(detector.check(submission, rules))
            except Exception as exc:  # a detector bug must never break someone's post: record it, go on
                log.exception("detector %s failed", detector.id)
                verdict.errors.append(f"{detector.id}: {type(exc).__name__}: {exc}")
                continue
            for hit in hits:
                if type(hit) is Unchecked:  # a part the detector could not read: never "nothing found"
                    verdict.errors.append(f"{detector.id}: {hit.target}: {hit.why}")
                    continue
                spec, message, evidence = self.pack.rules[hit.rule], None, hit.evidence
                situation = next((s for s in SITUATIONS if s in spec.situations and facts.holds(s)), None)
                if situation:  # the pack answers differently here (rules/situations.py)
                    spec = spec.in_situation(situation)
                    message = f"{spec.message or hit.message} {facts.note(situation)}"
                    evidence = {**hit.evidence, "situation": situation}
                if spec.action == "off":
                    continue
                severity = max(spec.severity, hit.severity or spec.severity, key=SEVERITIES.index)
                verdict.findings.append(Finding(
                    rule=hit.rule, severity=severity, message=message or spec.message or hit.message,
                    policy=list(spec.clauses), evidence=evidence, action=spec.action, target=hit.target))
        if verdict.findings:
            verdict.decision = strongest(ACTION_DECISION[f.action] for f in verdict.findings)
        return verdict

    def sanitise(self, attachment: Attachment, rules: set[str] | None = None) -> tuple[Attachment, list[str]]:
        """The attachment with what the pack's sanitisable rules found removed (lossless), and what was removed.

        Raises ValueError (media.StripError) when removal cannot be done safely; the caller must not send the file
        as cleaned then.
        """
        rules = set(self.pack.active) if rules is None else rules
        removed: list[str] = []
        for detector, own in self._detectors:
            wanted = own & rules & detector.sanitises
            if wanted:
                data, what = detector.sanitise(attachment, wanted)
                attachment = replace(attachment, data=data)
                removed += what
        return attachment, removed


def evaluate(submission: Submission, config: Config | None = None, pack: Pack | None = None) -> Verdict:
    return Engine(config, pack).evaluate(submission)
