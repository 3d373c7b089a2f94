"""The staff notice says what is stored, for how long and who can see it, and changes with the configuration (issue
18 item 8): alerts set or not, the record's database on this computer or a server, retention per rule, the pack."""
from __future__ import annotations

import pytest

from local_service.staff_notice import build, database_host, rule_label
from rules.packs import load_pack
from rules.record.store import Retention

from .test_staff import open_record


def notice(pack="default", days=90, per_rule=None, email="", webhook="", database="sqlite:////tmp/e.sqlite3",
           forward="", domains=()):
    return build(pack=load_pack(pack), retention=Retention(days, per_rule or {}), alert_email=email,
                 alert_webhook=webhook, database_url=database, forward_server=forward, school_domains=domains)


def text(n) -> str:
    return " ".join(n.recorded + n.not_recorded + n.kept + n.who + n.quietly_recorded)


def test_nothing_leaves_this_computer_is_said_only_when_true():
    quiet = notice()
    assert not quiet.leaves_this_computer and "Nothing leaves this computer" in text(quiet)
    for loud in (notice(email="dsl@school.sch.uk"), notice(webhook="https://hooks.example.org/abc"),
                 notice(database="postgresql://pg@records.school.internal/postguard"),
                 notice(forward="https://postguard.trust.example.org/")):
        assert loud.leaves_this_computer and "Nothing leaves this computer" not in text(loud)


def test_the_school_e_mail_is_said_to_be_recorded_only_where_the_school_has_domains():
    assert "school e-mail address" not in text(notice())
    said = text(notice(domains=("stmary.sch.uk",)))
    assert "Your school e-mail address" in said and "@stmary.sch.uk" in said and "personal account is not" in said


def test_alerts_name_where_they_go():
    n = notice(email="dsl@school.sch.uk", webhook="https://hooks.example.org/secret-path")
    assert "e-mailed to dsl@school.sch.uk" in text(n)
    assert "sent to hooks.example.org" in text(n) and "secret-path" not in text(n), "the webhook's host, not its key"


def test_a_database_server_is_named_and_a_local_one_is_not():
    assert "records.school.internal" in text(notice(database="postgresql://pg@records.school.internal/pg"))
    assert database_host("postgresql://pg@localhost/pg") == "" and database_host("sqlite:///x") == ""
    assert "on this computer" in text(notice(database="postgresql://pg@127.0.0.1/pg"))


def test_retention_is_the_configured_days_and_each_rules_own():
    assert "30 days, then deleted" in text(notice(days=30))
    n = notice(days=90, per_rule={"location.gps": 365, "wikipedia.edit": 90})
    assert f"{rule_label('location.gps')}: 365 days" in text(n)
    assert "wikipedia" not in " ".join(n.kept).lower(), "a rule kept for the default period is not an exception"


def test_place_names_and_sign_in_pages_are_said_to_be_stored_when_those_rules_run(tmp_path):
    n = notice()
    assert "nearest town are stored as they are" in text(n) and "Sign-in pages" in text(n)
    assert "rounded to about 1 km" in text(n)
    pack = tmp_path / "p.toml"
    pack.write_text('[pack]\nid="p"\nname="P"\nextends="default"\n[rules."location.gps"]\naction="off"\n'
                    '[rules."location.place"]\naction="off"\n[rules."school_email.personal_account"]\naction="off"\n')
    quiet = notice(str(pack))
    assert "nearest town" not in text(quiet) and "Sign-in pages" not in text(quiet)


@pytest.mark.parametrize("pack,expected", [
    ("st-mary-of-the-angels", "off the school network"),  # the at-work clause: only recorded elsewhere
    ("mill-lane-primary", None),  # school equipment: always asked
])
def test_what_is_recorded_without_a_question_is_listed(pack, expected):
    quiet = " ".join(notice(pack).quietly_recorded)
    if expected:
        assert expected in quiet and rule_label("wikipedia.edit") in quiet
    else:
        assert rule_label("wikipedia.edit") not in quiet


def test_the_me_page_follows_the_dashboard_settings(app, client, store):
    html = open_record(app, client, "amy").text
    assert "Nothing leaves this computer" in html and "dsl@example.sch.uk" not in html
    store.set_setting("alert_email", "dsl@example.sch.uk")
    store.set_setting("retention_days", 30)
    html = open_record(app, client, "amy").text
    assert "e-mailed to dsl@example.sch.uk" in html and "Nothing leaves this computer" not in html
    assert "30 days" in html and "nearest town are stored as they are" in html
    store.set_setting("forward.enrolment", {"server": "https://postguard.trust.example.org", "device": "d1",
                                            "school": "s", "name": "laptop 7"})
    assert "record server at postguard.trust.example.org" in \
        open_record(app, client, "amy").text
