"""One vocabulary: the words are defined once, in rules/vocabulary.py, and the extension's copy is generated."""
from pathlib import Path

from rules import vocabulary
from rules.model import Clause, Finding, Verdict
from rules.record import events
from rules.vocabulary import Action, Choice, Decision, Outcome, Severity

ROOT = Path(__file__).resolve().parents[2]


def test_the_extension_module_is_generated_from_the_python_vocabulary():
    js = (ROOT / "extension" / "src" / "lib" / "vocabulary.js").read_text()
    assert js == vocabulary.javascript(), "run `make vocabulary` to regenerate extension/src/lib/vocabulary.js"


def test_the_extension_names_its_choices_and_decisions_through_the_vocabulary_only():
    """No quoted choice word in the extension's sources: "remove" on the page used to become "fix" on the wire."""
    src = ROOT / "extension" / "src"
    for path in src.rglob("*.js"):
        if path.name == "vocabulary.js":
            continue
        text = path.read_text()
        for word in ("post_anyway", '"fix"', '"remove"'):
            assert word not in text, f"{path}: {word}"


def test_every_word_is_defined_once_and_the_record_uses_the_same():
    assert events.DECISIONS == tuple(Outcome) and events.SEVERITIES == tuple(Severity)
    assert set(vocabulary.ACTION_DECISION) == set(Action) - {Action.OFF}
    assert set(vocabulary.CHOICE_OUTCOME) == set(Choice)
    assert vocabulary.strongest([Decision.WARN, Decision.ALLOW, Decision.SANITISE]) == "warn"


def test_verdict_to_dict_and_from_dict_round_trip():
    verdict = Verdict(decision=Decision.WARN, findings=[
        Finding(rule="location.gps", severity="high", message="GPS", policy=[Clause("6.9", "Photographs...")],
                evidence={"lat": 54.57}, action="sanitise", target="file:a.jpg")], errors=["x: failed"])
    assert Verdict.from_dict(verdict.to_dict()) == verdict
    for bad in ({"decision": "maybe"}, {"findings": [{"severity": "high"}]}, {"findings": "x"},
                {"findings": [{"rule": "r", "severity": "dire"}]}):
        try:
            Verdict.from_dict(bad)
        except ValueError:
            continue
        raise AssertionError(f"accepted {bad}")
