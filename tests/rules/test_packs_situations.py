"""A rule answers per its own clause's words: "at work" is the school network, All Saints' location clause holds on
school trips, and the school's official accounts follow the consent rules (issue 18 items 6 and 7)."""
from __future__ import annotations

import datetime as dt

import pytest

from rules import network
from rules.config import ConfigError, parse_config
from rules.engine import Engine
from rules.model import Attachment, Submission
from rules.packs import load_pack
from rules.situations import account_url, on_official_account
from tests.rules.test_location import SHEFFIELD, gps_ifd, jpeg_with_gps

EDIT = ("https://en.wikipedia.org/w/api.php", [("action", "edit"), ("title", "Foo"), ("text", "x"), ("token", "+\\")])
UPN = "Her UPN is B801200005001"
PHOTO = jpeg_with_gps(gps_ifd(*SHEFFIELD))
TRIP = {"name": "Year 6 residential", "start": dt.date(2026, 6, 8), "end": dt.date(2026, 6, 12)}


def edit(pack: str, on_school_network, config=None):
    url, fields = EDIT
    context = {} if on_school_network is None else {"on_school_network": on_school_network}
    return Engine(config or parse_config({}), load_pack(pack)).evaluate(
        Submission(url=url, fields=list(fields), context=context))


@pytest.mark.parametrize("pack", ["st-mary-of-the-angels", "education-my-life-matters", "default"])
def test_at_work_clauses_warn_only_on_the_school_network(pack, monkeypatch):
    monkeypatch.setattr(network, "local_addresses", lambda now=None: [])
    on = edit(pack, True)
    assert on.decision == "warn" and on.findings[0].action == "warn"
    off = edit(pack, False)
    (finding,) = off.findings
    assert off.decision == "allow" and finding.action == "log", "off the school network the edit is only recorded"
    assert finding.evidence["situation"] == "off_school_network" and "off the school network" in finding.message
    unknown = edit(pack, None)  # no [school] networks: PostGuard cannot tell, so it asks
    assert unknown.decision == "warn" and "situation" not in unknown.findings[0].evidence


@pytest.mark.parametrize("pack", ["mill-lane-primary", "corpus-christi-catholic-primary"])
def test_school_equipment_clauses_warn_off_the_network_too(pack):
    """Mill Lane 6.1 I and Corpus Christi name school equipment, not being at work: the laptop is the equipment."""
    assert edit(pack, False).decision == "warn"


def test_all_saints_removes_location_only_while_a_trip_is_on():
    pack = load_pack("all-saints")
    photo = Submission(url="https://www.facebook.com/upload", files=[Attachment("IMG_1.jpg", PHOTO, "image/jpeg")])

    def verdict(trips, today):
        photo.context["today"] = today
        return Engine(parse_config({"trips": trips}), pack).evaluate(photo)

    on_trip = verdict([TRIP], dt.date(2026, 6, 10))
    assert on_trip.decision == "sanitise" and on_trip.findings[0].policy[0].ref == "The Golden Principles"
    last_day = verdict([TRIP], dt.date(2026, 6, 12))
    assert last_day.decision == "sanitise", "the last day of a trip is on the trip"
    after = verdict([TRIP], dt.date(2026, 6, 13))
    assert after.decision == "allow" and not after.findings, "no trip on: the clause does not apply, nothing kept"
    unconfigured = verdict([], dt.date(2026, 6, 13))
    assert unconfigured.decision == "sanitise", "no trips configured: PostGuard cannot tell, so it acts as on a trip"


def test_other_packs_remove_location_whatever_the_date():
    photo = Submission(url="https://www.facebook.com/upload", files=[Attachment("IMG_1.jpg", PHOTO, "image/jpeg")],
                       context={"today": dt.date(2026, 6, 13)})
    config = parse_config({"trips": [TRIP]})
    assert Engine(config, load_pack("st-mary-of-the-angels")).evaluate(photo).decision == "sanitise"


ACCOUNTS = {"school": {"official_accounts": ["https://www.facebook.com/StMarysAngels", "stmarys.wordpress.com"]}}


@pytest.mark.parametrize("pack", ["default", "st-mary-of-the-angels", "mill-lane-primary",
                                  "corpus-christi-catholic-primary", "education-my-life-matters"])
def test_pupil_data_on_the_official_account_is_a_consent_warning_not_a_block(pack):
    engine = Engine(parse_config(ACCOUNTS), load_pack(pack))
    personal = engine.evaluate(Submission(url="https://www.facebook.com/api/graphql/", fields=[("message", UPN)],
                                          context={"page_url": "https://www.facebook.com/jsmith.teacher"}))
    assert personal.decision == "block"
    official = engine.evaluate(Submission(url="https://www.facebook.com/api/graphql/", fields=[("message", UPN)],
                                          context={"page_url": "https://m.facebook.com/StMarysAngels/posts"}))
    (finding,) = official.findings
    assert official.decision == "warn" and finding.evidence["situation"] == "official_account"
    assert "official" in finding.message and finding.policy, "the consent rule says which clause applies"


def test_an_official_blog_is_recognised_by_its_host():
    engine = Engine(parse_config(ACCOUNTS), load_pack("default"))
    verdict = engine.evaluate(Submission(url="https://stmarys.wordpress.com/wp-admin/post.php",
                                         fields=[("content", UPN)]))
    assert verdict.decision == "warn"


@pytest.mark.parametrize("url,expected", [
    ("https://www.facebook.com/StMarysAngels", True),
    ("https://facebook.com/stmarysangels/photos/1", True),
    ("https://www.facebook.com/StMarysAngelsFans", False),  # a prefix of the name is another page
    ("https://www.facebook.com/", False),
    ("https://x.com/StMarysAngels", False),
    ("https://blog.stmarys.wordpress.com/", True),
    ("https://stmarys.wordpress.com.evil.example/", False),
    ("not a url", False),
])
def test_which_addresses_are_the_official_account(url, expected):
    assert (on_official_account([url], ACCOUNTS["school"]["official_accounts"]) is not None) is expected


@pytest.mark.parametrize("value", ["", "   ", "nohost", "https:///path"])
def test_a_bad_official_account_refuses_to_load_naming_the_key(value):
    with pytest.raises(ConfigError, match=r"school\.official_accounts"):
        parse_config({"school": {"official_accounts": [value]}})
    if value.strip():
        with pytest.raises(ValueError):
            account_url(value)


def test_status_says_what_the_situations_can_tell():
    bare = Engine(parse_config({}), load_pack("all-saints")).status()
    assert any("school trips: none configured" in line for line in bare)
    assert any("official accounts: none listed" in line for line in bare)
    configured = Engine(parse_config({"trips": [TRIP], "school": {"networks": ["10.0.0.0/8"]}}),
                        load_pack("st-mary-of-the-angels")).status()
    assert not any("none configured" in line for line in configured)
    assert any("at work act everywhere" in line for line in Engine(parse_config({}), load_pack("default")).status())
