"""Redaction keeps evidence meaningful and what the person was told whole (issue 14: messages were cut at about 120
characters, and roster-name evidence became "…er"), while real identifiers, emails and coordinates stay redacted."""
import json

import pytest

from rules.model import Finding, Verdict
from rules.record.events import MAX_MESSAGE, Event, from_verdict, redact
from rules.record.store import Store
from tests.rules.test_personal_data import detector, hits  # noqa: F401 (the fixture)

LONG_MESSAGE = ("This post names a pupil on the school roster (in 'caption'): check you have consent before posting, "
                "and remember that the school's social media policy asks that pupils are never named alongside a "
                "photograph of them, on any platform, whether the account is the school's or your own.")


def test_what_the_person_was_told_is_stored_whole(tmp_path):
    assert len(LONG_MESSAGE) > 200
    event = Event(rule="personal_data.pupil", decision="warned", message=LONG_MESSAGE)
    assert event.message == LONG_MESSAGE
    store = Store(f"sqlite:///{tmp_path / 'log.sqlite3'}")
    try:
        store.append([event])
        assert store.list().rows[0]["message"] == LONG_MESSAGE
    finally:
        store.close()


def test_a_message_is_still_bounded_and_its_emails_masked():
    event = Event(rule="x", decision="warned", message="Write to jo.bloggs@gmail.com. " + "y" * (3 * MAX_MESSAGE))
    assert MAX_MESSAGE >= 2000 and len(event.message) == MAX_MESSAGE
    assert event.message.startswith("Write to j***@gmail.com.") and "jo.bloggs" not in event.message


def test_roster_evidence_stays_meaningful(detector, tmp_path):  # noqa: F811 (the fixture)
    (hit,) = hits(detector, "Great match, Jamie Smith!", field="status")
    event = Event(rule=hit.rule, decision="warned", evidence=hit.evidence, message=hit.message)
    assert event.evidence == {"identifier": "a name on the school roster", "field": "status", "count": 1}
    assert "Jamie" not in json.dumps(event.to_dict()) and "Smith" not in json.dumps(event.to_dict())


def test_identifier_kinds_and_match_words_stay_readable(detector):  # noqa: F811
    (upn,) = hits(detector, "Her UPN is B801200005001")
    evidence = redact(upn.evidence)
    assert evidence["identifier"] == "Unique Pupil Number" and evidence["last_two"] == ["01"]
    assert "B801200005001" not in json.dumps(evidence)
    assert redact({"signal": "library", "match": "possible"}) == {"signal": "library", "match": "possible"}


@pytest.mark.parametrize("key,value,kept", [
    ("identifier", "A123456789012", "…12"),
    ("upn", "B801200005001", "…01"),
    ("uln", "9276308686", "…86"),
    ("nhs_number", "943 476 5919", "…19"),
    ("ni_number", "AB123456C", "…6C"),
    ("match", "B801200005001", "…01"),
])
def test_real_identifiers_keep_only_their_last_two_characters(key, value, kept):
    assert redact({key: value}) == {key: kept}


def test_emails_and_coordinates_stay_redacted():
    assert redact({"email": "jo.bloggs@test-school.sch.uk", "identifier": "jo.bloggs@gmail.com",
                   "lat": 53.382847, "lon": -1.465523}) == {
        "email": "j***@test-school.sch.uk", "identifier": "j***@gmail.com", "lat": 53.38, "lon": -1.47}


def test_evidence_strings_are_still_short():
    assert len(redact({"field": "x" * 1000})["field"]) == 120


def test_from_verdict_keeps_the_whole_message():
    finding = Finding(rule="personal_data.pupil", severity="high", message=LONG_MESSAGE, policy=[], action="warn",
                      evidence={"identifier": "a name on the school roster", "field": "caption", "count": 2})
    (event,) = from_verdict(Verdict(decision="warn", findings=[finding]), url="https://example.org/post")
    assert event.message == LONG_MESSAGE and event.evidence["identifier"] == "a name on the school roster"
