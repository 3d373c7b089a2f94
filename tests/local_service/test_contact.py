"""/api/v1/contact: the extension asks whether a profile's shown name is a pupil's; the roster never leaves."""
from __future__ import annotations

import pytest

from local_service.app import create_app
from local_service.services import Services
from rules import roster
from rules.config import parse_config

from .conftest import EXTENSION_ORIGIN, TOKEN, Api

ROSTER = "Legal Surname,Legal Forename\nSmith,Jamie\nO'Brien,Chloé\n"


@pytest.fixture
def contact_app(tmp_path):
    config = parse_config({"data_dir": str(tmp_path / "data"),
                           "school": {"name": "St Mary of the Angels", "pack": "st-mary-of-the-angels"}})
    csv = tmp_path / "pupils.csv"
    csv.write_text(ROSTER, encoding="utf-8")
    roster.import_csv(config, csv)
    app = create_app({"TESTING": True, "SECRET_KEY": "test-secret", "EXTENSION_ORIGINS": [EXTENSION_ORIGIN]},
                     Services.open(config, database=f"sqlite:///{tmp_path / 'events.sqlite3'}", token=TOKEN,
                                   user="teacher1"))
    yield app
    app.extensions["postguard"].store.close()


@pytest.fixture
def capi(contact_app):
    return Api(contact_app.test_client())


def events(app):
    return list(app.extensions["postguard"].store.iter_all())


def ask(capi, name, action="friend", url="https://www.facebook.com/chloe.obrien.5"):
    r = capi.post("/api/v1/contact/check", json={"url": url, "action": action, "name": name})
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_a_pupils_name_is_warned_with_the_schools_clause(capi):
    got = ask(capi, "Chloe O'Brien")
    assert got["decision"] == "warn"
    (finding,) = got["findings"]
    assert finding["rule"] == "contact.pupil"
    assert [c["ref"] for c in finding["policy"]] == ["6.2", "6.6"]
    assert "report this to the DSL" in finding["policy"][1]["text"]
    assert "Chlo" not in str(got), "the answer must not repeat the name"
    assert got["reasons"]


def test_an_unrelated_name_is_allowed_and_logs_nothing(capi, contact_app):
    got = ask(capi, "Priya Raman", "follow")
    assert got["decision"] == "allow" and got["findings"] == []
    assert events(contact_app) == []


def test_report_to_the_dsl_writes_one_event_with_the_reason(capi, contact_app):
    got = ask(capi, "J. Smith", "message")
    assert got["findings"][0]["evidence"]["match"] == "initial"
    body = {"check_id": got["check_id"], "choice": "report", "reason": "She sent me a friend request",
            "idempotency_key": "k1", "url": "https://www.facebook.com/messages/t/123"}
    r1 = capi.post("/api/v1/contact/decision", json=body)
    r2 = capi.post("/api/v1/contact/decision", json=body)  # a resend is logged once
    assert r1.status_code == 200 and r1.get_json()["reported"] is True
    assert r2.get_json()["event_ids"] == r1.get_json()["event_ids"]
    (event,) = events(contact_app)
    assert event["rule"] == "contact.pupil" and event["decision"] == "cancelled"
    assert event["severity"] == "high"
    assert event["reason"] == "Reported to the DSL: She sent me a friend request"
    assert event["evidence"]["reported_to_dsl"] is True and event["evidence"]["action"] == "message"
    assert event["user"] == "teacher1" and event["host"] == "www.facebook.com"
    assert event["path"] in ("", "/"), "a profile path names the person: not kept"


def test_not_a_pupil_needs_a_reason_and_is_logged_as_overridden(capi, contact_app):
    got = ask(capi, "Jamie Smith")
    r = capi.post("/api/v1/contact/decision", json={"check_id": got["check_id"], "choice": "not_pupil"})
    assert r.status_code == 400 and "reason" in r.get_json()["error"]
    r = capi.post("/api/v1/contact/decision", json={"check_id": got["check_id"], "choice": "not_pupil",
                                                   "reason": "My nephew"})
    assert r.status_code == 200
    (event,) = events(contact_app)
    assert (event["decision"], event["reason"]) == ("overridden", "Not a pupil: My nephew")
    r = capi.post("/api/v1/contact/decision", json={"check_id": got["check_id"], "choice": "cancel"})
    assert r.status_code == 409


def test_cancel_is_logged_as_cancelled(capi, contact_app):
    got = ask(capi, "Smith Jamie", "follow")
    r = capi.post("/api/v1/contact/decision", json={"check_id": got["check_id"], "choice": "cancel"})
    assert r.status_code == 200
    assert [(e["decision"], e["reason"]) for e in events(contact_app)] == [("cancelled", "")]


@pytest.mark.parametrize("body", [
    {"action": "poke", "name": "Jamie Smith"},
    {"action": "friend", "name": ""},
    {"action": "friend", "name": 12},
    {"action": "friend", "name": "x" * 256},
    {"action": "friend", "name": "Jamie Smith", "roster": True},
])
def test_bad_input_is_a_400(capi, body):
    r = capi.post("/api/v1/contact/check", json=body)
    assert r.status_code == 400 and r.get_json()["error"]


def test_needs_the_token(contact_app):
    r = contact_app.test_client().post("/api/v1/contact/check", json={"action": "friend", "name": "Jamie Smith"})
    assert r.status_code == 401


def test_an_ordinary_check_cannot_be_answered_here(capi):
    r = capi.post("/api/v1/check", json={"url": "", "fields": [], "files": []})
    check_id = r.get_json()["check_id"]
    r = capi.post("/api/v1/contact/decision", json={"check_id": check_id, "choice": "report"})
    assert r.status_code == 404
