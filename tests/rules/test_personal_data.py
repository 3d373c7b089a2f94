"""personal_data.pupil and personal_data.staff on submissions: what counts, what does not, and what evidence keeps."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rules import roster
from rules.config import ConfigError, parse_config
from rules.detectors.personal_data import PUPIL, STAFF, PersonalDataDetector
from rules.model import Submission

ROOT = Path(__file__).resolve().parents[2]
BOTH = {PUPIL, STAFF}


@pytest.fixture
def detector(tmp_path):
    export = tmp_path / "roster.csv"
    export.write_text("Legal Surname,Legal Forename,Preferred Forename\nSmith,Jamie,\nO'Brien,Chloé,Clo\n"
                      "Núñez,Zoë,\n", encoding="utf-8")
    config = parse_config({"data_dir": str(tmp_path / "data")})
    roster.import_csv(config, export)
    return PersonalDataDetector(config)


def hits(detector, *values, rules=BOTH, field="message"):
    return list(detector.check(Submission(fields=[(field, v) for v in values]), rules))


def kinds(found):
    return sorted((h.rule, h.evidence.get("type", "ROSTER")) for h in found)


@pytest.mark.parametrize("text,expected", [
    ("Her UPN is B801200005001", [(PUPIL, "UPN")]),
    ("Her NHS number is 943 476 5919", [(PUPIL, "NHS")]),
    ("NHS no: 943-476-5919", [(PUPIL, "NHS")]),
    ("nhs 9434765919", [(PUPIL, "NHS")]),
    ("His ULN is 9276308686", [(PUPIL, "ULN")]),
    ("Well done Jamie Smith!", [(PUPIL, "ROSTER")]),
    ("Smith, Jamie came first", [(PUPIL, "ROSTER")]),
    ("Zoe Nunez won the race", [(PUPIL, "ROSTER")]),  # accents typed without them
    ("Clo O'Brien", [(PUPIL, "ROSTER")]),  # preferred forename
    ("NI number AB 12 34 56 C", [(STAFF, "NINO")]),
    ("Jo Bloggs, DOB 12/03/1985, 1 High St, TS18 1AB", [(STAFF, "POSTCODE+DOB")]),
    ("born 3 March 1990 at TS18 1AB", [(STAFF, "POSTCODE+DOB")]),
    ("Her UPN is B801200005001 and NI AB123456C", [(PUPIL, "UPN"), (STAFF, "NINO")]),
])
def test_personal_data_is_found(detector, text, expected):
    assert kinds(hits(detector, text)) == expected


@pytest.mark.parametrize("text,why", [
    ("Her UPN is A801200005001", "13 characters failing the UPN check letter"),
    ("NHS number 943 476 5918", "10 digits failing NHS modulus 11"),
    ("NHS number 9434765911", "10 digits failing NHS modulus 11"),
    ("ULN 9276308687", "10 digits failing the ULN check digit"),
    ("Order 9434765919 shipped", "a valid NHS checksum with no NHS context: ten bare digits"),
    ("NI number BG 12 34 56 A", "NINO with the disallowed prefix BG"),
    ("Our school is at TS18 1AB", "a postcode without a date of birth"),
    ("Summer fair on 12/07/2025 at TS18 1AB", "a postcode beside this year's event date, not a birth date"),
    ("Well done Jamie!", "a roster forename alone"),
    ("The Smith family says thanks", "a roster surname alone"),
    ("Jamie O'Brien and Chloe Smith", "forenames and surnames of different pupils"),
    ("Call 01642 123456 or 07700 900123", "phone numbers"),
    ("Posted 1717171717, id 4012345678901", "timestamps and long ids"),
])
def test_near_misses_are_not_findings(detector, text, why):
    assert hits(detector, text) == [], why


def test_evidence_keeps_only_the_type_and_the_last_two_characters(detector):
    values = ["UPN B801200005001", "NHS 943 476 5919", "ULN 9276308686", "NI AB123456C",
              "DOB 12/03/1985 TS18 1AB"]
    found = hits(detector, *values)
    assert len(found) == 5
    dump = json.dumps([(h.message, h.evidence, h.target) for h in found])
    for secret in ("B801200005001", "801200005", "943 476 5919", "9434765919", "476", "9276308686", "AB123456C",
                   "123456", "12/03/1985", "TS18"):
        assert secret not in dump, secret
    by_type = {h.evidence["type"]: h for h in found}
    assert by_type["UPN"].evidence["last_two"] == ["01"] and by_type["NHS"].evidence["last_two"] == ["19"]
    assert by_type["ULN"].evidence["identifier"] == "Unique Learner Number"
    assert by_type["UPN"].message.startswith("This post contains a pupil's Unique Pupil Number")
    assert all(h.target == "field:message" for h in found)


def test_a_roster_name_is_reported_by_field_never_by_name(detector):
    (hit,) = hits(detector, "Great match, Jamie Smith!", field="status")
    assert hit.rule == PUPIL and hit.target == "field:status"
    assert hit.evidence == {"identifier": "a name on the school roster", "field": "status", "count": 1}
    assert "Jamie" not in hit.message and "Smith" not in hit.message


def test_each_field_is_read_and_token_like_fields_are_skipped(detector):
    token = "eyJhbGciOiJIUzI1NiJ9" + "B801200005001" + "x" * 40
    found = list(detector.check(Submission(fields=[("fb_dtsg", token), ("caption", "UPN B801200005001"),
                                                   ("message", "Jamie Smith")]), BOTH))
    assert sorted(h.target for h in found) == ["field:caption", "field:message"]


def test_only_the_rules_asked_for_run(detector):
    text = "UPN B801200005001, NI AB123456C, Jamie Smith"
    assert kinds(hits(detector, text, rules={STAFF})) == [(STAFF, "NINO")]
    assert kinds(hits(detector, text, rules={PUPIL})) == [(PUPIL, "ROSTER"), (PUPIL, "UPN")]


def test_without_a_roster_identifiers_still_work(tmp_path):
    detector = PersonalDataDetector(parse_config({"data_dir": str(tmp_path)}))
    assert kinds(hits(detector, "Jamie Smith, UPN B801200005001")) == [(PUPIL, "UPN")]


def test_dob_window_option(tmp_path):
    text = "DOB 12/03/1985" + " lorem" * 10 + " TS18 1AB"  # 60 characters apart
    near = PersonalDataDetector(parse_config({"data_dir": str(tmp_path), "personal_data": {"dob_window": 80}}))
    far = PersonalDataDetector(parse_config({"data_dir": str(tmp_path), "personal_data": {"dob_window": 20}}))
    assert kinds(hits(near, text)) == [(STAFF, "POSTCODE+DOB")]
    assert hits(far, text) == []


@pytest.mark.parametrize("table,message", [
    ({"dob_window": "80"}, "personal_data.dob_window"),
    ({"dob_window": -1}, "personal_data.dob_window"),
    ({"window": 80}, "personal_data.window: unknown option"),
])
def test_bad_options_are_loud(tmp_path, table, message):
    with pytest.raises(ConfigError, match=message):
        PersonalDataDetector(parse_config({"data_dir": str(tmp_path), "personal_data": table}))


def test_a_roster_made_with_another_key_refuses_to_start(detector, tmp_path):
    (tmp_path / "data" / roster.KEY_FILE).write_text("ab" * 32)
    roster._cache.clear()
    with pytest.raises(roster.RosterError, match="different key"):
        PersonalDataDetector(detector.config)


def test_the_detector_imports_neither_mitmproxy_nor_flask():
    code = ("import sys, rules.detectors.personal_data, rules.roster, rules.identifiers\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('mitmproxy', 'flask')]\n"
            "assert not bad, bad\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
