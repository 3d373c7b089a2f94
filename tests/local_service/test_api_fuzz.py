"""Hypothesis fuzzing of the service's API and of `postguard scan-har` (issue 14 items 4 and 5): arbitrary JSON, JSON
shaped like each endpoint's payload with arbitrary values, and arbitrary bytes under any content type, at every
/api/v1 endpoint (read from the app's URL map, so a new endpoint is fuzzed too) with a valid token; arbitrary
HAR-shaped JSON at the HAR scanner. Never a 500, never an uncaught exception, an error is JSON saying what, and the
store's chain still verifies. Bounded example counts and a fixed seed: part of every test run."""
from __future__ import annotations

import base64
import json
import re

import pytest
from hypothesis import HealthCheck, given, seed, settings, strategies as st

from local_service.cli import main
from proxy_addon.har import NOT_CHECKED, scan_har
from rules import Engine
from tests.proxy_addon.test_outcomes import school_photo

V1 = "/api/v1"
SETTINGS = settings(max_examples=250, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# -- values ------------------------------------------------------------------------------------------------------

SCALAR = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40) |
          st.sampled_from(["", "fix", "cancel", "post_anyway", "report", "not_pupil", "friend", "high", "warn",
                           "location.gps", "https://www.facebook.com/upload", "\x00", "ｆｉｘ", "9" * 400]))
JSON = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=4) |
                    st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=16)
PHOTO = base64.b64encode(school_photo()).decode()  # a real photo with GPS from the school's camera
B64 = st.one_of(st.just(PHOTO), st.just("data:image/jpeg;base64," + PHOTO), st.binary(max_size=300).map(
    lambda b: base64.b64encode(b).decode()), st.text(max_size=40))


def shaped(keys: dict) -> st.SearchStrategy:
    """An object with some of `keys` (each with its near-valid values, or anything) and maybe a stray key."""
    return st.fixed_dictionaries({}, optional={k: st.one_of(v, JSON) for k, v in keys.items()} |
                                 {"stray": JSON})


FILE = shaped({"name": st.sampled_from(["IMG_0001.jpg", "../../etc/passwd", "a\x00b.png", ""]),
               "type": st.sampled_from(["image/jpeg", "image/png", "text/plain", "x/y;z=1"]), "data": B64})
FINDING = shaped({"rule": st.sampled_from(["location.gps", "pupil.image", "nope"]),
                  "severity": st.sampled_from(["low", "high", "extreme"]), "message": st.text(max_size=30),
                  "policy": st.lists(shaped({"ref": st.text(max_size=10), "text": st.text(max_size=10)}), max_size=2),
                  "evidence": st.dictionaries(st.text(max_size=8), JSON, max_size=3),
                  "action": st.sampled_from(["warn", "sanitise", "off"]), "target": st.text(max_size=20)})
EVENT = shaped({"rule": st.sampled_from(["location.gps", "inspection.error"]),
                "decision": st.sampled_from(["sanitised", "blocked", "purged", "bogus"]),
                "severity": st.sampled_from(["low", "high", "bogus"]), "user": st.text(max_size=20),
                "device": st.text(max_size=20), "time": st.sampled_from(["2026-01-01T00:00:00Z", "yesterday"]),
                "clauses": st.lists(shaped({"ref": st.text(max_size=8), "text": st.text(max_size=8)}), max_size=2),
                "evidence": st.dictionaries(st.text(max_size=8), JSON, max_size=3), "path": st.text(max_size=40),
                "id": st.text(max_size=40)})
BODIES = {  # near-valid payloads per endpoint (by its endpoint name); anything else gets JSON and bytes only
    "api.check": shaped({"url": st.text(max_size=60), "method": st.sampled_from(["POST", "PUT", "DELETE"]),
                         "fields": st.one_of(st.lists(st.tuples(st.text(max_size=10), JSON), max_size=3),
                                             st.dictionaries(st.text(max_size=10), JSON, max_size=3)),
                         "files": st.lists(FILE, max_size=2)}),
    "api.strip": FILE,
    "api.decision": shaped({"check_id": st.just("<check>"), "pending_id": st.just("<pending>"),
                            "choice": st.sampled_from(["fix", "cancel", "post_anyway", "delete"]),
                            "reason": st.sampled_from(["Parental consent on file", "ab", " " * 5, "x" * 400]),
                            "idempotency_key": st.text(max_size=20), "user": st.sampled_from(
                                ["amy@test-school.sch.uk", "me@gmail.com", "\n"]), "url": st.text(max_size=40)}),
    "api.hold": shaped({"summary": shaped({"url": st.text(max_size=40), "decision": st.sampled_from(
        ["warn", "allow", "maybe"]), "findings": st.lists(FINDING, max_size=3), "errors": st.lists(JSON, max_size=2)}),
        "timeout_s": st.sampled_from([0.01, 0, -1, 1e308, 3601])}),
    "api.notices": shaped({"notice": shaped({"message": st.text(max_size=40), "kind": st.text(max_size=10),
                                             "url": st.text(max_size=40)})}),
    "api.events_batch": shaped({"events": st.lists(EVENT, max_size=3)}),
    "contact.check": shaped({"url": st.text(max_size=40), "action": st.sampled_from(["friend", "follow", "poke"]),
                             "name": st.text(max_size=40)}),
    "contact.decision": shaped({"check_id": st.just("<check>"), "choice": st.sampled_from(
        ["cancel", "report", "not_pupil", "x"]), "reason": st.text(max_size=40), "url": st.text(max_size=40)}),
}
WORDS = st.text(st.characters(codec="utf-8"), min_size=1, max_size=40)
VALID = {  # payloads the endpoint takes, with arbitrary text where text is free: these reach the store and broker
    "api.decision": st.fixed_dictionaries({"choice": st.sampled_from(["fix", "cancel", "post_anyway"]),
                                           "reason": st.just("Parental consent on file")},
                                          optional={"user": WORDS, "url": WORDS, "idempotency_key": WORDS}).flatmap(
        lambda d: st.sampled_from([{**d, "check_id": "<check>"}, {**d, "pending_id": "<pending>"}])),
    "api.events_batch": st.fixed_dictionaries({"events": st.lists(st.fixed_dictionaries(
        {"rule": st.sampled_from(["location.gps", "inspection.error"]), "decision": st.sampled_from(
            ["sanitised", "inspection_error"]), "severity": st.sampled_from(["low", "medium"])},
        optional={"user": WORDS, "device": WORDS, "path": WORDS, "reason": WORDS, "message": WORDS,
                  "evidence": st.dictionaries(WORDS, WORDS, max_size=2)}), min_size=1, max_size=3)}),
    "api.notices": st.fixed_dictionaries({"notice": st.fixed_dictionaries({"message": WORDS},
                                                                          optional={"kind": WORDS})}),
    "api.hold": st.fixed_dictionaries({"summary": st.fixed_dictionaries(
        {"url": WORDS, "decision": st.just("warn"), "findings": st.just([])}), "timeout_s": st.just(0.01)}),
}
CTYPES = st.sampled_from(["application/json", "application/json; charset=latin-1", "text/plain", "",
                          "application/x-www-form-urlencoded", "multipart/form-data; boundary=XyZ",
                          "multipart/form-data", "application/octet-stream"])
RAW = st.one_of(st.binary(max_size=400), st.builds(
    lambda parts: b"".join(b"--XyZ\r\nContent-Disposition: form-data; name=\"" + n + b"\"; filename=\"" + f +
                           b"\"\r\nContent-Type: image/jpeg\r\n\r\n" + d + b"\r\n" for n, f, d in parts) + b"--XyZ--\r\n",
    st.lists(st.tuples(st.binary(max_size=8), st.binary(max_size=8), st.sampled_from(
        [b"", b"\xff\xd8\xff", base64.b64decode(PHOTO)])), max_size=2)))


def endpoints(app) -> list[tuple[str, str, str]]:
    """(method, rule, endpoint) for every /api/v1 route the app has."""
    return sorted((m, r.rule, r.endpoint) for r in app.url_map.iter_rules() if r.rule.startswith(V1)
                  for m in r.methods - {"HEAD", "OPTIONS"})


@st.composite
def requests(draw, routes):
    method, rule, endpoint = draw(st.sampled_from(routes))
    path = re.sub(r"<[^>]+>", lambda _: draw(st.sampled_from(["<expired>", "x", "../..", "%00", "9" * 80])), rule)
    query = draw(st.sampled_from(["", "?timeout=0.01", "?timeout=nan", "?timeout=-5", "?timeout=1e400",
                                  "?last_event_id=99999", "?last_event_id=abc"]))
    kinds = ["json", "bytes"] + (["shaped"] if endpoint in BODIES else []) + (["valid"] * 2 if endpoint in VALID else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "bytes":
        return method, path + query, draw(RAW), draw(CTYPES), endpoint
    body = draw({"shaped": BODIES, "valid": VALID}[kind][endpoint]) if kind in ("shaped", "valid") else draw(JSON)
    return method, path + query, json.dumps(body).encode(), "application/json", endpoint


@pytest.fixture
def fuzz_app(app):
    app.config["STREAM_SECONDS"] = 0.05  # /stream ends at once: its answer is read whole
    return app


def _real_ids(api) -> dict[str, str]:
    """A check and held posts that exist, so decisions and waits reach past "unknown id"."""
    checked = api.post(f"{V1}/check", json={"url": "https://www.facebook.com/", "files": [
        {"name": "IMG.jpg", "type": "image/jpeg", "data": PHOTO}]}).json
    held = api.post(f"{V1}/pending", json={"summary": {"url": "https://www.facebook.com/", "decision": "warn",
                                                       "findings": checked["findings"]}, "timeout_s": 600}).json
    expired = api.post(f"{V1}/pending", json={"summary": {"url": "https://x.com/", "decision": "warn",
                                                          "findings": []}, "timeout_s": 0.01}).json
    # a wait on the held post would last its whole timeout (25 s by default): waits get the one that has expired
    return {"<check>": checked["check_id"], "<pending>": held["pending_id"], "<expired>": expired["pending_id"]}


def test_every_api_endpoint_is_fuzzed(fuzz_app):
    found = {e for _, _, e in endpoints(fuzz_app)}
    assert {"api.check", "api.strip", "api.decision", "api.hold", "api.wait", "api.stream", "api.events_batch",
            "api.notices"} <= found
    assert set(BODIES) | set(VALID) <= found  # no payload for an endpoint that is gone


def test_arbitrary_input_at_every_endpoint_is_never_a_500_and_the_chain_holds(fuzz_app, api, store):
    ids, seen = _real_ids(api), set()

    @seed(14)
    @SETTINGS
    @given(case=requests(endpoints(fuzz_app)))
    def fuzz(case):
        method, path, body, ctype, endpoint = case
        for name, real in ids.items():  # near-valid ids, and sometimes the real ones
            body, path = body.replace(name.encode(), real.encode()), path.replace(name, real)
        headers = {"Content-Type": ctype} if ctype else {}
        response = api.client.open(path, method=method, data=body if method == "POST" else None,
                                   headers={**api.headers, **headers})
        assert response.status_code < 500, (method, path, body[:300], response.data[:300])
        if response.status_code >= 400:
            assert response.is_json and isinstance(response.json.get("error"), str), (path, response.data[:300])
        seen.add((endpoint, response.status_code // 100))

    fuzz()
    assert store.verify().ok
    reached = {e for e, status in seen if status == 2}
    assert {"api.check", "api.decision", "api.events_batch", "api.notices", "api.hold"} <= reached, seen  # not all 400s


# -- scan-har ----------------------------------------------------------------------------------------------------

def _maybe(strategy):
    return st.one_of(strategy, JSON)


HEADER = _maybe(shaped({"name": st.sampled_from(["Content-Type", "content-encoding", ":authority", "X-File-Name"]),
                        "value": st.sampled_from(["image/jpeg", "gzip", "application/json", "a.jpg"])}))
POST_DATA = _maybe(shaped({
    "mimeType": st.sampled_from(["image/jpeg", "application/json", "multipart/form-data; boundary=XyZ",
                                 "application/x-www-form-urlencoded", "image/heic"]),
    "text": st.one_of(st.text(max_size=80), st.just(PHOTO), st.just(json.dumps({"img": "data:image/jpeg;base64," +
                                                                                  PHOTO}))),
    "encoding": st.sampled_from(["base64", "utf-8"]),
    "params": st.lists(_maybe(shaped({"name": st.text(max_size=8), "value": st.text(max_size=8)})), max_size=2)}))
REQUEST = _maybe(shaped({"method": st.sampled_from(["POST", "PUT", "PATCH", "GET", "post"]),
                         "url": st.sampled_from(["https://www.facebook.com/upload", "https://[::1", "",
                                                 "https://accounts.google.com/o/oauth2/auth?login_hint=a%40b.c",
                                                 "https://en.wikipedia.org/w/index.php?action=submit"]),
                         "headers": st.lists(HEADER, max_size=3), "postData": POST_DATA}))
HAR = _maybe(st.fixed_dictionaries({"log": _maybe(st.fixed_dictionaries({"entries": _maybe(
    st.lists(_maybe(st.fixed_dictionaries({"request": REQUEST})), max_size=4))}))}))
ENGINE = Engine()


@seed(14)
@SETTINGS
@given(har=HAR)
def test_arbitrary_har_shaped_json_is_scanned_entry_by_entry_never_a_crash(tmp_path_factory, har):
    path = tmp_path_factory.mktemp("har") / "capture.har"
    path.write_text(json.dumps(har))
    try:
        results = list(scan_har(str(path), ENGINE))
    except ValueError as exc:  # the file as a whole is not a HAR: the CLI's usage error
        assert "not a HAR 1.2 file" in str(exc)
        return
    assert [r["entry"] for r in results] == list(range(len(har["log"]["entries"])))
    for r in results:
        assert r["decision"] in ("allow", "sanitise", "warn", "block", NOT_CHECKED)
        if r["error"] and not r["findings"]:
            assert r["decision"] == NOT_CHECKED, r  # not checked is never "allow"
        if r["decision"] == "allow":
            assert r["error"] is None and r["note"] is None


@seed(14)
@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(har=HAR)
def test_scan_har_exits_0_1_or_2_as_its_lines_say(tmp_path_factory, capsys, har):
    path = tmp_path_factory.mktemp("cli") / "capture.har"
    path.write_text(json.dumps(har))
    capsys.readouterr()
    code = main(["scan-har", str(path)])
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    if not rows and "not a HAR" in err:
        assert code == 2
        return
    if any(r["findings"] for r in rows):
        assert code == 1
    elif any(r["decision"] == NOT_CHECKED for r in rows):
        assert code == 2  # as `scan`: nothing found, but not everything could be checked
    else:
        assert code == 0
