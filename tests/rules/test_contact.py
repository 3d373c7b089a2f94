"""contact.pupil: a friend/follow/message action towards a shown name that matches the roster (keyed hashes)."""
from __future__ import annotations

import json

import pytest

from rules import contact, roster
from rules.config import parse_config
from rules.engine import Engine
from rules.packs import load_pack

ROSTER_CSV = ("Legal Surname,Legal Forename,Preferred Forename,Year\n"
              "Smith,Jamie,,6\n"
              "O'Brien-Walsh,Chloé,,5\n"
              "Van der Berg,Lena,,4\n"
              "Okafor,Chidi Emmanuel,,6\n")


@pytest.fixture
def config(tmp_path):
    cfg = parse_config({"data_dir": str(tmp_path / "data")})
    path = tmp_path / "pupils.csv"
    path.write_text(ROSTER_CSV, encoding="utf-8")
    roster.import_csv(cfg, path)
    return cfg


@pytest.fixture
def pupils(config):
    return roster.Roster.load(config.data_dir)


@pytest.mark.parametrize("shown, expected", [
    ("Jamie Smith", contact.FULL),
    ("Smith Jamie", contact.FULL),  # order
    ("SMITH, Jamie", contact.FULL),
    ("jamie_smith07", contact.FULL),  # a user name: underscores and digits split words
    ("Chloe O'Brien Walsh", contact.FULL),  # accents, apostrophes, hyphens
    ("Chloé O’Brien-Walsh 🌸", contact.FULL),
    ("Lena van der Berg", contact.FULL),
    ("Jamie Lee Smith", contact.FULL),  # a middle name between
    ("Chidi Okafor", contact.FULL),  # the first word of a two-word forename
    ("J. Smith", contact.INITIAL),  # initials
    ("Jamie S.", contact.INITIAL),
    ("Smith J", contact.INITIAL),
])
def test_a_pupils_name_as_profiles_show_it_matches(pupils, shown, expected):
    assert contact.match(pupils, shown) == expected


@pytest.mark.parametrize("shown", [
    "Jamie", "Smith",  # a forename or surname alone
    "J S",  # two initials are never enough
    "Jamie Smithson", "James Smith", "Jamie Smyth",  # near misses
    "K. Smith", "Jamie T.",
    "Lena Berg",  # part of a surname
    "",
    "Jamie " * 500 + "Smith",  # only the first words of a long name are read
])
def test_other_names_do_not_match(pupils, shown):
    assert contact.match(pupils, shown) is None


def test_no_roster_matches_nothing():
    assert contact.match(None, "Jamie Smith") is None


def test_a_roster_imported_before_initials_still_matches_full_names(config):
    path = roster.roster_path(config.data_dir)
    doc = json.loads(path.read_text())
    del doc["initials"]
    path.write_text(json.dumps(doc))
    roster._cache.clear()
    old = roster.Roster.load(config.data_dir)
    assert contact.match(old, "Jamie Smith") == contact.FULL
    assert contact.match(old, "J. Smith") is None


def test_the_roster_file_keeps_no_name(config):
    text = roster.roster_path(config.data_dir).read_text().lower()
    for word in ("jamie", "smith", "chloe", "okafor"):
        assert word not in text


def test_unknown_action_is_refused():
    with pytest.raises(ValueError, match="action must be one of"):
        contact.Contact("poke", "Jamie Smith")


@pytest.mark.parametrize("pack", ["st-mary-of-the-angels", "all-saints", "mill-lane-primary",
                                  "corpus-christi-catholic-primary", "education-my-life-matters"])
def test_the_engine_warns_with_the_schools_own_clause(config, pack):
    engine = Engine(config, load_pack(pack))
    verdict = engine.evaluate(contact.submission("https://www.facebook.com/jamie.smith.77",
                                                 contact.Contact("friend", "Jamie Smith")))
    assert verdict.decision == "warn"
    (finding,) = verdict.findings
    assert finding.rule == "contact.pupil" and finding.severity == "high"
    assert finding.evidence == {"action": "friend", "match": "full name", "platform": "facebook.com"}
    assert "Jamie" not in json.dumps(finding.to_dict())
    assert finding.policy, f"{pack} quotes its own clause"
    policy = (roster.Path(__file__).parents[2] / "rules" / "policies" / f"{pack}.txt").read_text(encoding="utf-8")
    flat = " ".join(policy.split())
    for clause in finding.policy:
        for part in clause.text.split(" ... "):
            assert part in flat, f"{pack}: not the school's own words: {part!r}"


def test_an_unrelated_name_and_an_ordinary_post_give_nothing(config):
    engine = Engine(config, load_pack("st-mary-of-the-angels"))
    verdict = engine.evaluate(contact.submission("https://www.instagram.com/someone/",
                                                 contact.Contact("follow", "Priya Raman")))
    assert verdict.findings == [] and verdict.errors == []
    from rules.model import Submission
    plain = engine.evaluate(Submission(url="https://www.facebook.com/", fields=[("msg", "Jamie Smith, well done")]))
    assert all(f.rule != "contact.pupil" for f in plain.findings)
