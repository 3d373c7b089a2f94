"""Typed input at every boundary (issue 14, item 5): the record refuses malformed events whoever makes them, and
the API answers any hostile body with a 4xx in JSON, never a 500, and never a broken chain."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from rules.record.events import Event, utcnow

from .test_api import V1, proxy_event

OK = {"rule": "location.gps", "decision": "sanitised"}


# -- the record's boundary: Event ------------------------------------------------------------------------------------

@pytest.mark.parametrize("field,value", [
    ("user", 12345), ("device", 7), ("host", ["a"]), ("path", None), ("reason", b"x"), ("source", {}),
    ("message", 1.5), ("rule", 3), ("id", 4), ("decision", None), ("severity", 2),
    ("clauses", "gdpr"), ("clauses", [{"ref": "x"}]), ("clauses", [{"ref": 1, "text": "t"}]),
    ("clauses", [{"ref": "r", "text": "t", "extra": "e"}]), ("clauses", ["r"]),
    ("evidence", []), ("evidence", "x"), ("evidence", {"n": float("nan")}), ("evidence", {"s": {1, 2}}),
    ("evidence", {"o": object()}), ("evidence", {1: "int key"}),
    ("time", "2026-01-01T00:00:00Z"), ("time", datetime(2026, 1, 1)), ("time", datetime(1999, 12, 31, tzinfo=timezone.utc)),
    ("time", utcnow() + timedelta(days=2)),
])
def test_an_event_refuses_a_field_of_the_wrong_type_naming_it(field, value):
    with pytest.raises(ValueError, match=field if field != "time" else "time"):
        Event(**(OK | {field: value}))


def test_deep_evidence_is_refused():
    deep: dict = {}
    for _ in range(40):
        deep = {"d": deep}
    with pytest.raises(ValueError, match="evidence"):
        Event(**OK, evidence=deep)


def test_a_well_typed_event_still_passes():
    e = Event(**OK, user="amy", device="laptop-1", clauses=[{"ref": "GDPR 5", "text": "minimised"}],
              evidence={"lat": 53.38, "list": [1, "a", None, True, {"k": 1.5}], "raw": b"xx"},
              time=utcnow() - timedelta(days=3))
    assert e.clauses == [{"ref": "GDPR 5", "text": "minimised"}]


# -- defect 1: /events with the wrong types --------------------------------------------------------------------------

@pytest.mark.parametrize("change", [{"user": 12345}, {"device": 7}, {"host": 1}, {"message": ["m"]},
                                    {"clauses": [{"ref": 1, "text": 2}]}, {"evidence": [1]},
                                    {"time": "1970-01-01T00:00:00Z"}, {"time": 5}])
def test_a_wrong_type_in_an_event_is_a_400_and_the_chain_holds(api, store, change):
    response = api.post(f"{V1}/events", json={"events": [proxy_event() | change]})
    assert response.status_code == 400, response.json
    assert next(iter(change)) in response.json["error"]
    assert store.count() == 0 and store.verify().ok
    good = api.post(f"{V1}/events", json={"events": [proxy_event()]})
    assert good.status_code == 200 and store.verify().ok


# -- defect 2: deep JSON ---------------------------------------------------------------------------------------------

POSTS = ["/check", "/strip", "/decision", "/pending", "/notices", "/events"]


@pytest.mark.parametrize("path", POSTS)
@pytest.mark.parametrize("depth", [65, 100_000])
def test_deep_json_is_a_400_saying_so(api, store, path, depth):
    response = api.post(V1 + path, data="[" * depth + "]" * depth, content_type="application/json")
    assert response.status_code == 400 and "nested more than 64" in response.json["error"]
    inside = api.post(V1 + path, data='{"x":' + "[" * depth + "]" * depth + "}", content_type="application/json")
    assert inside.status_code == 400 and "nested" in inside.json["error"]
    assert store.count() == 0 and store.verify().ok


def test_brackets_inside_strings_do_not_count_as_depth():
    from local_service.payloads import json_depth_ok
    assert json_depth_ok(b'{"a": "' + b"[" * 1000 + b'\\"[[["}')
    assert not json_depth_ok(b"[" * 65)
    assert json_depth_ok(b"[" * 64 + b"]" * 64)


def test_a_schema_error_names_the_field_path(api):
    response = api.post(f"{V1}/check", json={"files": [{"data": "QUJD", "name": 5}]})
    assert response.status_code == 400 and response.json["error"].startswith("files.0.name: ")
