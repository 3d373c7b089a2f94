"""Policy packs: which rules run, with what action, severity, message and clause. One loader for every consumer."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from .detectors import detector_for, known_rules, sanitisable_rules  # the registry decides which rules exist
from .model import ACTIONS, SEVERITIES, Clause
from .platforms import scope_hosts
from .situations import SITUATIONS

PACK_DIR = Path(__file__).parent / "packs"
SETTINGS = {"warn_timeout_s": (int, float), "warn_fallback": str, "fail_mode": str, "override_reasons": list}
RULE_KEYS = {"action", "severity", "message", "clauses", "guidance", "retention_days", "thresholds", *SITUATIONS}
SITUATION_KEYS = {"action", "severity", "message", "clauses", "guidance"}
# A clause PostGuard wrote itself, shown where the school's policy has no clause for a rule: marked as such wherever
# it is shown (its ref says so), never passed off as the school's words.
GUIDANCE_REF = "PostGuard guidance (not a clause of the school's policy)"


def is_guidance(clause: Clause) -> bool:
    return clause.ref == GUIDANCE_REF


class PackError(ValueError):
    """A pack that cannot be used: the message names the file and the key."""


@dataclass(frozen=True)
class RuleSpec:
    id: str
    action: str
    severity: str
    message: str | None = None
    clauses: tuple[Clause, ...] = ()
    retention_days: int | None = None
    thresholds: dict = field(default_factory=dict)  # the detector's tunable numbers (Detector.thresholds)
    # What changes in a situation (rules.situations: official_account, off_school_network, no_school_trip): the
    # keys given in the pack's [rules."<id>".<situation>] table (action, severity, message, clauses).
    situations: dict[str, dict] = field(default_factory=dict)

    def in_situation(self, name: str) -> "RuleSpec":
        return replace(self, **self.situations.get(name, {}), situations={})


@dataclass
class Pack:
    id: str
    name: str
    policy: str = ""
    source: str = ""
    path: str = ""
    settings: dict = field(default_factory=dict)
    rules: dict[str, RuleSpec] = field(default_factory=dict)
    scope: dict[str, list[str]] = field(default_factory=dict)  # include / exclude hosts

    @property
    def hosts(self) -> list[str]:
        """The hosts the proxy inspects: the platform registry, plus and minus this pack's scope."""
        return scope_hosts(self.scope.get("include", []), self.scope.get("exclude", []))

    @property
    def active(self) -> dict[str, RuleSpec]:
        return {k: r for k, r in self.rules.items() if r.action != "off"}


def available() -> list[str]:
    return sorted(p.stem for p in PACK_DIR.glob("*.toml"))


def resolve(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix == ".toml" and p.exists():
        return p
    candidate = PACK_DIR / f"{name_or_path}.toml"
    if candidate.exists():
        return candidate
    raise PackError(f"no policy pack named {name_or_path!r} (available: {', '.join(available())})")


def load_pack(name_or_path: str = "default", _chain: tuple[str, ...] = ()) -> Pack:
    path = resolve(name_or_path)
    if str(path) in _chain:
        raise PackError(f"{path}: 'extends' makes a loop")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeError, tomllib.TOMLDecodeError) as exc:
        raise PackError(f"{path}: {exc}") from None

    def fail(key: str, why: str):
        raise PackError(f"{path}: {key}: {why}")

    unknown = set(doc) - {"pack", "settings", "rules", "scope"}
    if unknown:
        fail(sorted(unknown)[0], "unknown table (expected [pack], [settings], [scope], [rules.\"...\"])")
    meta = doc.get("pack", {})
    for key in ("id", "name"):
        if not isinstance(meta.get(key), str) or not meta[key]:
            fail(f"pack.{key}", "must be a non-empty string")
    if meta["id"] != path.stem and path.parent == PACK_DIR:
        fail("pack.id", f"is {meta['id']!r} but the file is {path.name}")

    if meta.get("extends"):
        base = load_pack(meta["extends"], _chain + (str(path),))
        settings, rules, scope = dict(base.settings), dict(base.rules), dict(base.scope)
    else:
        settings, rules, scope = {}, {}, {}

    for key, value in doc.get("scope", {}).items():
        if key not in ("include", "exclude"):
            fail(f"scope.{key}", "unknown key (known: include, exclude)")
        if not isinstance(value, list) or not all(isinstance(h, str) and h.strip() for h in value):
            fail(f"scope.{key}", "must be a list of host names")
        scope[key] = sorted(set(scope.get(key, [])) | {h.strip().lower() for h in value})

    for key, value in doc.get("settings", {}).items():
        if key not in SETTINGS:
            fail(f"settings.{key}", f"unknown setting (known: {', '.join(SETTINGS)})")
        if not isinstance(value, SETTINGS[key]) or isinstance(value, bool):
            fail(f"settings.{key}", f"bad value {value!r}")
        settings[key] = value
    if settings.get("warn_fallback", "block") not in ("allow", "block"):
        fail("settings.warn_fallback", "must be 'allow' or 'block'")
    if settings.get("fail_mode", "open") not in ("open", "closed"):
        fail("settings.fail_mode", "must be 'open' or 'closed'")

    known, sanitisable = known_rules(), sanitisable_rules()
    for rule_id, table in doc.get("rules", {}).items():
        where = f'rules."{rule_id}"'
        if rule_id not in known:
            fail(where, f"no detector provides this rule (known rules: {', '.join(sorted(known))})")
        if not isinstance(table, dict):
            fail(where, "must be a table")
        for key in set(table) - RULE_KEYS:
            fail(f"{where}.{key}", f"unknown key (known: {', '.join(sorted(RULE_KEYS))})")
        spec = rules.get(rule_id) or RuleSpec(rule_id, "log", "medium")
        spec = replace(spec, **_rule_fields(fail, where, rule_id, table, sanitisable))
        if "retention_days" in table:
            days = table["retention_days"]
            if not isinstance(days, int) or isinstance(days, bool) or days < 1:
                fail(f"{where}.retention_days", f"bad value {days!r} (a whole number of days, at least 1)")
            spec = replace(spec, retention_days=days)
        if "thresholds" in table:
            allowed = detector_for(rule_id).thresholds.get(rule_id, {})
            given = table["thresholds"]
            if not isinstance(given, dict):
                fail(f"{where}.thresholds", "must be a table of numbers")
            for key, value in given.items():
                if key not in allowed:
                    fail(f"{where}.thresholds.{key}", f"unknown threshold (known: {', '.join(allowed) or 'none'})")
                if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                    fail(f"{where}.thresholds.{key}", f"bad value {value!r} (a number, at least 0)")
            spec = replace(spec, thresholds={**spec.thresholds, **given})
        situations = dict(spec.situations)
        for name in SITUATIONS:
            if name in table:
                sub = table[name]
                if not isinstance(sub, dict):
                    fail(f"{where}.{name}", "must be a table")
                for key in set(sub) - SITUATION_KEYS:
                    fail(f"{where}.{name}.{key}", f"unknown key (known: {', '.join(sorted(SITUATION_KEYS))})")
                situations[name] = {**situations.get(name, {}),
                                    **_rule_fields(fail, f"{where}.{name}", rule_id, sub, sanitisable)}
        spec = replace(spec, situations=situations)
        rules[rule_id] = spec
    return Pack(id=meta["id"], name=meta["name"], policy=meta.get("policy", ""), source=meta.get("source", ""),
                path=str(path), settings=settings, rules=rules, scope=scope)


def _rule_fields(fail, where: str, rule_id: str, table: dict, sanitisable) -> dict:
    """action, severity, message and clauses (quoted clauses, then PostGuard's guidance) as a table gives them. A
    table that gives clauses or guidance replaces everything the parent quoted for the rule: a school's pack never
    shows another pack's words."""
    out = {}
    if "action" in table:
        if table["action"] not in ACTIONS:
            fail(f"{where}.action", f"bad value {table['action']!r} (one of {', '.join(ACTIONS)})")
        if table["action"] == "sanitise" and rule_id not in sanitisable:
            fail(f"{where}.action", "this rule's detector cannot sanitise")
        out["action"] = table["action"]
    if "severity" in table:
        if table["severity"] not in SEVERITIES:
            fail(f"{where}.severity", f"bad value {table['severity']!r} (one of {', '.join(SEVERITIES)})")
        out["severity"] = table["severity"]
    if "message" in table:
        if not isinstance(table["message"], str) or not table["message"].strip():
            fail(f"{where}.message", "must be a non-empty string")
        out["message"] = table["message"].strip()
    if "clauses" in table or "guidance" in table:
        clauses = []
        for i, c in enumerate(table.get("clauses", []) if isinstance(table.get("clauses", []), list) else [None]):
            if not isinstance(c, dict) or not isinstance(c.get("ref"), str) or not isinstance(c.get("text"), str):
                fail(f"{where}.clauses[{i}]", "needs string 'ref' and 'text'")
            if set(c) - {"ref", "text"}:
                fail(f"{where}.clauses[{i}].{sorted(set(c) - {'ref', 'text'})[0]}", "unknown key (known: ref, text)")
            if c["ref"].strip() == GUIDANCE_REF:
                fail(f"{where}.clauses[{i}].ref", "is PostGuard's guidance: put the text in 'guidance' instead")
            clauses.append(Clause(c["ref"], " ".join(c["text"].split())))
        if "guidance" in table:
            if not isinstance(table["guidance"], str) or not table["guidance"].strip():
                fail(f"{where}.guidance", "must be a non-empty string (PostGuard's own wording)")
            clauses.append(Clause(GUIDANCE_REF, " ".join(table["guidance"].split())))
        out["clauses"] = tuple(clauses)
    return out
