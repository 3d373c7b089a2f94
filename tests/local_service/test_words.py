"""Rules, decisions, evidence and audit details in words: never an id where a name exists, never JSON."""
import pytest

from local_service import words
from rules.detectors import known_rules
from rules.vocabulary import OUTCOMES


def test_every_rule_and_outcome_has_words():
    for rule in known_rules():
        assert words.rule_name(rule) != rule and words.rule_name(rule)[0].isupper(), rule
    for outcome in OUTCOMES:
        assert words.decision_words(outcome) != outcome.value or outcome.value.capitalize() == outcome.value, outcome
    assert words.rule_name("not.a.rule") == "not.a.rule"  # an unknown id stays itself, never a made-up name


def test_a_location_is_a_sentence_with_the_town_and_the_site():
    ev = {"lat": 53.38, "lon": -1.46, "source": "EXIF GPS", "format": "jpeg",
          "nearest_town": {"name": "Sheffield", "country": "GB"},
          "school_site": {"name": "Main site", "on_site": True, "distance_m": 40}}
    assert words.evidence_sentence("location.gps", ev) == (
        "The file held a location (53.38, -1.46, rounded to about 1 km) near Sheffield, in its EXIF GPS; it is on "
        "the school site (Main site).")
    off = dict(ev, school_site={"name": "Main site", "on_site": False})
    assert "school site" not in words.evidence_sentence("location.gps", off)


@pytest.mark.parametrize("evidence", [
    {"lat": 1.5, "carriers": [{"source": "XMP", "lat": 1.5, "lon": 2.5}], "nearest_town": {"name": "Leeds"}},
    {"identifier": "phone number", "kinds": ["mobile"], "last_two": ["07", "12"], "counts": {"upn": 2}},
    {"filters": {"user": "amy"}, "rows": 3, "changed": {"alert_email": {"from": "", "to": "a@b.uk"}}},
])
def test_fields_are_labelled_text_never_json(evidence):
    pairs = words.fields(evidence)
    assert len(pairs) == len(evidence)
    for label, text in pairs:
        assert label and "_" not in label
        assert not any(c in text for c in "{}[]\""), text


def test_audit_entries_in_words():
    assert words.audit_sentence("export_csv", {"filters": {}, "rows": 1}) == "Exported events (CSV): 1 row"
    assert words.audit_sentence("view_person", {"user": "amy"}) == "Viewed a person's history (amy)"
    assert words.audit_sentence("something_new", {}) == "Something new"
