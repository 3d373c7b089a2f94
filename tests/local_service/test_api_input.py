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


# -- never a 500: hostile payloads at every POST endpoint ------------------------------------------------------------

HUGE = "x" * 200_000
RAW = [b"", b"not json", b"\x00", b"null", b"[]", b"[1, 2]", b'"a string"', b"123", b"true",
       b'{"a": NaN}', b'{"a": Infinity}', b'{"a": -Infinity}', b'{"a": 1e999999}', b'{"a": "\xff\xfe"}',
       b'{"a": "\\ud800"}', b"{" * 70 + b"}" * 70, b"[" * 100_000, b'{"a": 1,}', b'{"a"']
# Each endpoint: a base body, and every field with the JSON types it accepts (any other type must be refused).
SHAPES = {
    "/check": ({}, {"url": str, "method": str, "fields": (list, dict), "files": list}),
    "/strip": ({"data": "QUJD"}, {"data": str, "name": str, "type": str}),
    "/decision": ({"check_id": "abc", "choice": "cancel"},
                  {"check_id": str, "pending_id": str, "choice": str, "reason": str, "idempotency_key": str,
                   "event_id_prefix": str, "user": str, "url": str}),
    "/pending": ({"summary": {"url": "https://example.org/"}}, {"summary": dict, "timeout_s": (int, float)}),
    "/notices": ({"notice": {"message": "hi"}}, {"notice": dict}),
    "/events": ({"events": [proxy_event()]}, {"events": list}),
}
VALUES = [1, -1, 10**40, 1.5, True, False, [], [1, "a"], {}, {"a": [1]}, "", HUGE, "\x00", "\x00" * 1000]


def hostile_bodies():
    for path, (base, types) in SHAPES.items():
        for raw in RAW:
            for content_type in ("application/json", "text/plain", None):
                yield path, raw, content_type
        for name, accepted in types.items():
            for value in VALUES:
                if isinstance(value, accepted) and not (isinstance(value, str) and len(value) > 100_000) and \
                        not (isinstance(value, bool) and accepted != str):
                    continue  # the right type (and not too long): not hostile here
                if (path, name) == ("/check", "fields") and value in ([], {}) or name == "data" and value is HUGE:
                    continue  # valid: no fields; 150 KB of base64
                yield path, base | {name: value}, "application/json"
    for name, value in [(k, v) for k in proxy_event() for v in (1, 1.5, True, [], {"a": 1}, HUGE, None)]:
        event = proxy_event() | {name: value}
        if (name, value) in (("evidence", {"a": 1}), ("clauses", [])):
            continue  # valid
        yield "/events", {"events": [event]}, "application/json"
    for value in (1, None, [], HUGE, "   ", "\x00"):
        yield "/notices", {"notice": {"message": value}}, "application/json"
    yield "/events", {"events": [proxy_event()] * 1001}, "application/json"
    yield "/events", {"events": [1, "a", None]}, "application/json"


def test_hostile_payloads_are_4xx_in_json_and_the_chain_holds(api, store):
    seen = 0
    for path, body, content_type in hostile_bodies():
        if isinstance(body, bytes):
            kw = {"data": body} | ({"content_type": content_type} if content_type else {})
        else:
            kw = {"json": body}
        response = api.post(V1 + path, **kw)
        where = f"{path} {str(body)[:200]!r} {content_type}"
        assert 400 <= response.status_code < 500, where
        assert response.is_json and isinstance(response.json.get("error"), str) and response.json["error"], where
        seen += 1
    assert seen > 400
    assert store.count() == 0 and store.verify().ok


def test_a_form_with_nothing_useful_is_a_4xx_not_a_500(api, store):
    for path in ("/strip",):
        response = api.post(V1 + path, data={"a": "b"})
        assert 400 <= response.status_code < 500 and response.json["error"]
    assert store.verify().ok


# -- the same, as a bounded property test ----------------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) |
                    st.text(max_size=50), lambda inner: st.lists(inner, max_size=4) |
                    st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=20)
EVENT_KEYS = st.sampled_from(sorted(proxy_event()) + ["colour"])
EVENT = st.one_of(st.dictionaries(EVENT_KEYS, JSON, max_size=8),
                  st.builds(lambda k, v: proxy_event() | {k: v}, EVENT_KEYS, JSON), JSON)
DECISION_KEYS = st.sampled_from(["check_id", "pending_id", "choice", "reason", "idempotency_key", "user", "url",
                                 "event_id_prefix", "other"])
BODIES = st.one_of(
    st.tuples(st.just("/events"), st.one_of(st.fixed_dictionaries({"events": st.lists(EVENT, max_size=3)}), JSON)),
    st.tuples(st.just("/decision"), st.one_of(st.dictionaries(DECISION_KEYS, JSON, max_size=6), JSON)),
    st.tuples(st.just("/check"), st.dictionaries(st.sampled_from(["url", "method", "fields", "files"]), JSON)),
    st.tuples(st.just("/notices"), st.one_of(st.fixed_dictionaries({"notice": JSON}), JSON)))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
          database=None)
@given(case=BODIES)
def test_random_json_never_gives_a_500_nor_breaks_the_chain(api, store, case):
    path, body = case
    response = api.post(V1 + path, json=body)
    assert response.status_code < 500 and response.is_json, (path, body, response.data[:300])
    if response.status_code >= 400:
        assert response.json["error"]
    assert store.verify().ok
