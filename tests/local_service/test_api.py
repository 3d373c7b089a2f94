"""The extension's API and the proxy's: the gate on every endpoint, real photos through /check and /strip, decisions
logged once, held posts answered through the long poll, and the event stream."""
import base64
import io
import json
import socket
import threading
import time
import uuid

import pytest

from local_service.api import get_broker
from local_service.tickets import read_staff_ticket
from rules.record.events import Event
from rules import media
from rules.media import StripError
from rules.packs import GUIDANCE_REF
from tests.local_service.conftest import EXTENSION_ORIGIN, TOKEN
from tests.rules.test_location import SHEFFIELD, gps_ifd, jpeg_with_gps

Image = pytest.importorskip("PIL.Image")

V1 = "/api/v1"
PAGE = "https://www.facebook.com/groups/parents/posts?ref=share&token=abc"


@pytest.fixture(scope="module")
def gps_jpeg():
    return jpeg_with_gps(gps_ifd(*SHEFFIELD))


@pytest.fixture(scope="module")
def clean_jpeg():
    return jpeg_with_gps(None)


@pytest.fixture
def broker(app):
    return get_broker(app)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def pixels(data: bytes):
    with Image.open(io.BytesIO(data)) as im:
        return im.mode, im.size, im.tobytes()


def parse_sse(text: str) -> list[dict]:
    """Each block as {"id", "event", "data"} (data decoded), or {"comment": ...} for a heartbeat."""
    out = []
    for block in text.split("\n\n"):
        item = {}
        for line in block.splitlines():
            if line.startswith(":"):
                item["comment"] = line[1:].strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                item[key] = json.loads(value) if key == "data" else value.strip()
        if item:
            out.append(item)
    return out


def check_json(api, data: bytes, name="photo.jpg", url=PAGE):
    response = api.post(f"{V1}/check", json={"url": url, "fields": [["message", "Sports day!"]],
                                             "files": [{"name": name, "type": "image/jpeg", "data": b64(data)}]})
    assert response.status_code == 200, response.json
    return response.json


def summary_of(app, data: bytes, url=PAGE) -> dict:
    """What the proxy addon sends when it holds a post: the engine's verdict and the page."""
    from rules import Attachment, Submission
    verdict = app.extensions["postguard"].engine.evaluate(Submission(url=url, files=[Attachment("photo.jpg", data)]))
    return {"url": url, **verdict.to_dict()}


def proxy_event(**kw) -> dict:
    return Event(**{"rule": "location.gps", "decision": "sanitised", "severity": "high", "source": "proxy",
                    "path": "https://www.instagram.com/create/upload?x=1", "user": "teacher1",
                    "evidence": {"lat": 53.3828472, "lon": -1.4566778}, **kw}).to_dict()


# -- the gate, on every endpoint -----------------------------------------------------------------------------------

ENDPOINTS = {
    ("GET", "/health"): {},
    ("POST", "/check"): {"json": {"url": PAGE, "fields": {"message": "hi"}}},
    ("POST", "/strip"): {"json": {"name": "a.txt", "data": b64(b"plain text")}},
    ("POST", "/decision"): {"json": {"check_id": str(uuid.uuid4()), "choice": "cancel"}},
    ("GET", "/pending"): {},
    ("POST", "/pending"): {"json": {"summary": {"url": PAGE, "findings": []}, "timeout_s": 5}},
    ("GET", "/pending/<pending_id>/wait"): {"query_string": {"timeout": 0}},
    ("POST", "/notices"): {"json": {"notice": {"message": "location removed from photo.jpg"}}},
    ("POST", "/events"): {"json": {"events": [proxy_event()]}},
    ("GET", "/stream"): {},
    ("POST", "/me-link"): {},
    ("POST", "/proxy/heartbeat"): {},
    ("POST", "/contact/check"): {"json": {"url": PAGE, "action": "friend", "name": "Jamie Smith"}},
    ("POST", "/contact/decision"): {"json": {"check_id": str(uuid.uuid4()), "choice": "cancel"}},
    ("GET", "/photos/needs"): {},
    ("POST", "/identity"): {"json": {"email": "a.teacher@test-school.sch.uk"}},
}
REFUSALS = {
    "no token": ({"Origin": EXTENSION_ORIGIN}, 401),
    "wrong token": ({"Authorization": "Bearer not-the-token", "Origin": EXTENSION_ORIGIN}, 401),
    "foreign origin": ({"Authorization": f"Bearer {TOKEN}", "Origin": "https://evil.example"}, 403),
    "foreign host": ({"Authorization": f"Bearer {TOKEN}", "Origin": EXTENSION_ORIGIN,
                      "Host": "attacker.example:5000"}, 421),
}


def test_the_gate_table_lists_every_api_endpoint(app):
    routes = {(method, rule.rule.removeprefix(V1)) for rule in app.url_map.iter_rules()
              if rule.rule.startswith(V1) for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == set(ENDPOINTS)


@pytest.mark.parametrize("refusal", REFUSALS)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[f"{m} {p}" for m, p in ENDPOINTS])
def test_every_endpoint_refuses_without_token_origin_and_host(client, store, broker, endpoint, refusal):
    method, path = endpoint
    headers, status = REFUSALS[refusal]
    path = path.replace("<pending_id>", broker.hold({"url": PAGE}, 5).id)
    response = client.open(V1 + path, method=method, headers=headers, **ENDPOINTS[endpoint])
    assert response.status_code == status
    assert "error" in response.json
    assert store.count() == 0 and len(broker.pending()) == 1 and not broker.proxy_active()
    assert not broker.notices() and len(broker.checks) == 0


def test_the_proxy_needs_the_token_but_sends_no_origin(client):
    response = client.get(f"{V1}/health", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200


# -- health and the record link -------------------------------------------------------------------------------------

def test_health_names_the_pack_the_user_and_whether_the_proxy_is_there(api, broker):
    body = api.get(f"{V1}/health").json
    assert body == {"ok": True, "version": body["version"], "pack": {"id": "default",
                    "name": "Default (PostGuard guidance, no school policy)"}, "proxy": False, "user": "teacher1",
                    "extension": {"connected": True, "seen_s_ago": body["extension"]["seen_s_ago"]}}
    assert body["version"]
    assert api.post(f"{V1}/proxy/heartbeat").json == {"ok": True}
    assert api.get(f"{V1}/health").json["proxy"] is True
    broker._proxy_seen -= 61
    assert api.get(f"{V1}/health").json["proxy"] is False


def test_me_link_is_a_signed_ticket_for_the_local_user(app, api):
    body = api.post(f"{V1}/me-link").json
    assert body["url"].startswith("/me/")
    with app.test_request_context():
        assert read_staff_ticket(body["url"].removeprefix("/me/")) == "teacher1"


# -- /check ---------------------------------------------------------------------------------------------------------

def test_check_finds_gps_and_quotes_the_clauses(app, api, store, gps_jpeg):
    body = check_json(api, gps_jpeg)
    uuid.UUID(body["check_id"])
    assert body["decision"] == "sanitise" and body["errors"] == []
    [gps] = [f for f in body["findings"] if f["rule"] == "location.gps"]
    assert "near Sheffield" in gps["message"] and gps["target"] == "file:photo.jpg"
    assert not [f for f in body["findings"] if f["rule"] == "location.school_site"]  # conftest's site is 1.3 km off
    assert gps["policy"] and all(c["ref"] and c["text"] for c in gps["policy"])
    assert [c["ref"] for c in gps["policy"]] == [GUIDANCE_REF]  # the default pack quotes no school
    assert body["override_reasons"] == app.extensions["postguard"].engine.pack.settings["override_reasons"]
    assert store.count() == 0  # a check is not yet a post


def test_check_of_a_clean_photo_allows_it(api, clean_jpeg):
    body = check_json(api, clean_jpeg)
    assert body["decision"] == "allow" and body["findings"] == []


def test_multipart_and_json_build_the_same_submission(app, api, gps_jpeg, monkeypatch):
    engine = app.extensions["postguard"].engine
    seen, real = [], engine.evaluate
    monkeypatch.setattr(engine, "evaluate", lambda s: seen.append(s) or real(s))
    awkward = gps_jpeg + b"\r\n--boundary\r\n\x00\xff"  # binary-safe: nothing in the bytes is read as form syntax
    multipart = api.post(f"{V1}/check", data={
        "_url": PAGE, "message": "Sports day!", "tag": ["a", "b"],
        "photo": (io.BytesIO(awkward), "../../staff/photo.jpg", "image/jpeg")})
    as_dict = api.post(f"{V1}/check", json={"url": PAGE, "fields": {"message": "Sports day!"},
                                            "files": [{"name": "photo.jpg", "type": "image/jpeg",
                                                       "data": b64(awkward)}]})
    as_pairs = api.post(f"{V1}/check", json={"url": PAGE, "fields": [["message", "Sports day!"]],
                                             "files": [{"name": "photo.jpg", "data": f"data:image/jpeg;base64,"
                                                                                     f"{b64(awkward)}"}]})
    assert [r.status_code for r in (multipart, as_dict, as_pairs)] == [200, 200, 200]
    m, d, p = seen
    assert m.url == d.url == p.url == PAGE
    assert m.fields == [("message", "Sports day!"), ("tag", "a"), ("tag", "b")]
    assert d.fields == p.fields == [("message", "Sports day!")]
    assert [(f.name, f.data, f.content_type) for f in m.files] == [("photo.jpg", awkward, "image/jpeg")]
    assert [(f.name, f.data) for f in d.files] == [(f.name, f.data) for f in p.files] == [("photo.jpg", awkward)]
    rules = [[f["rule"] for f in r.json["findings"]] for r in (multipart, as_dict, as_pairs)]
    assert rules[0] == rules[1] == rules[2] and "location.gps" in rules[0]


@pytest.mark.parametrize("body,why", [
    ({"files": [{"name": "a.jpg", "data": "not base64!"}]}, "base64"),
    ({"files": [{"name": "a.jpg", "data": "QUJDR"}]}, "base64"),  # a length base64 cannot have
    ({"files": [{"name": "a.jpg"}]}, "data"),
    ({"files": {"name": "a.jpg"}}, "files"),
    ({"fields": [["only-a-name"]]}, "field"),
    ({"fields": "message=hi"}, "fields"),
    ({"url": 42}, "url"),
    (["not", "an", "object"], "JSON object"),
])
def test_bad_check_input_is_a_400_naming_the_problem(api, body, why):
    response = api.post(f"{V1}/check", json=body)
    assert response.status_code == 400
    assert why in response.json["error"]


def test_a_body_that_is_not_json_is_a_400(api):
    response = api.post(f"{V1}/check", data="url=x", content_type="text/plain")
    assert response.status_code == 400 and "JSON" in response.json["error"]


@pytest.mark.parametrize("path", ["/check", "/strip"])
def test_too_large_is_a_413_in_json(app, api, path):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    as_json = api.post(V1 + path, json={"name": "a.jpg", "files": [{"name": "a.jpg", "data": b64(b"x" * 2000)}],
                                        "data": b64(b"x" * 2000)})
    as_form = api.post(V1 + path, data={"f": (io.BytesIO(b"x" * 2000), "a.jpg", "image/jpeg")})
    for response in (as_json, as_form):
        assert response.status_code == 413
        assert "1000 bytes" in response.json["error"]


# -- /strip ---------------------------------------------------------------------------------------------------------

def test_strip_multipart_removes_gps_and_keeps_the_pixels(api, gps_jpeg):
    assert media.inspect(gps_jpeg).real_coordinates  # the test photo really has a location
    response = api.post(f"{V1}/strip", data={"file": (io.BytesIO(gps_jpeg), "sports day.jpg", "image/jpeg")})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/jpeg"
    assert 'filename="sports day.jpg"' in response.headers["Content-Disposition"]
    assert "GPS" in response.headers["X-PostGuard-Removed"]
    cleaned = response.data
    assert cleaned != gps_jpeg and len(cleaned) == len(gps_jpeg)
    report = media.inspect(cleaned)
    assert report.format == "JPEG" and report.real_coordinates == [] and report.places == []
    assert pixels(cleaned) == pixels(gps_jpeg)


def test_strip_json_gives_the_same_bytes_as_multipart(api, gps_jpeg):
    as_json = api.post(f"{V1}/strip", json={"name": "photo.jpg", "type": "image/jpeg", "data": b64(gps_jpeg)})
    as_form = api.post(f"{V1}/strip", data={"file": (io.BytesIO(gps_jpeg), "photo.jpg", "image/jpeg")})
    assert as_json.status_code == 200 and as_json.data == as_form.data
    assert as_json.headers["X-PostGuard-Removed"] == as_form.headers["X-PostGuard-Removed"]


def test_strip_of_a_clean_file_returns_it_unchanged(api, clean_jpeg):
    response = api.post(f"{V1}/strip", json={"name": "clean.jpg", "data": b64(clean_jpeg)})
    assert response.status_code == 200
    assert response.data == clean_jpeg
    assert response.headers["X-PostGuard-Removed"] == ""
    assert response.headers["Content-Type"] == "application/octet-stream"  # nothing declared


def test_strip_that_cannot_be_done_safely_is_a_422(app, api, gps_jpeg, monkeypatch):
    def refuse(attachment, rules=None):
        raise StripError("location still present after removal: XMP exif:GPSLatitude")

    monkeypatch.setattr(app.extensions["postguard"].engine, "sanitise", refuse)
    response = api.post(f"{V1}/strip", data={"file": (io.BytesIO(gps_jpeg), "photo.jpg", "image/jpeg")})
    assert response.status_code == 422
    assert "cannot remove the location from photo.jpg" in response.json["error"]
    assert "Do not post it" in response.json["error"]
    assert "XMP" in response.json["detail"]


def test_strip_wants_exactly_one_file(api, gps_jpeg):
    none = api.post(f"{V1}/strip", data={"caption": "hi"})
    two = api.post(f"{V1}/strip", data={"a": (io.BytesIO(gps_jpeg), "a.jpg"), "b": (io.BytesIO(gps_jpeg), "b.jpg")})
    assert none.status_code == two.status_code == 400
    assert "exactly one file" in two.json["error"]
    assert api.post(f"{V1}/strip", json={"name": "a.jpg", "data": "@@@"}).status_code == 400


# -- /decision ------------------------------------------------------------------------------------------------------

def test_post_anyway_needs_a_reason(api, store, gps_jpeg):
    check_id = check_json(api, gps_jpeg)["check_id"]
    for reason in (None, "", "  ", "ok", "x" * 301):
        body = {"check_id": check_id, "choice": "post_anyway"} | ({"reason": reason} if reason is not None else {})
        response = api.post(f"{V1}/decision", json=body)
        assert response.status_code == 400, reason
        assert "reason" in response.json["error"]
    assert store.count() == 0


def test_post_anyway_logs_each_finding_with_the_reason(app, api, store, gps_jpeg):
    check_id = check_json(api, gps_jpeg)["check_id"]
    response = api.post(f"{V1}/decision", json={"check_id": check_id, "choice": "post_anyway",
                                                "reason": "Parental consent on file"})
    assert response.status_code == 200
    assert response.json["decision"] == "overridden"
    rows = store.list().rows
    assert [r["id"] for r in rows] == response.json["event_ids"]
    [row] = rows
    assert row["rule"] == "location.gps" and row["decision"] == "overridden"
    assert row["reason"] == "Parental consent on file"
    assert row["user"] == "teacher1" and row["device"] == socket.gethostname() and row["source"] == "extension"
    assert row["host"] == "www.facebook.com" and row["path"] == "/groups/parents/posts"  # no query string
    assert row["clauses"] and row["clauses"][0]["ref"] and row["clauses"][0]["text"]
    assert row["evidence"]["lat"] == round(SHEFFIELD[0], 2)  # redacted to about 1 km
    assert store.verify().ok


def test_a_retried_decision_adds_no_rows(api, store, gps_jpeg):
    check_id = check_json(api, gps_jpeg)["check_id"]
    body = {"check_id": check_id, "choice": "post_anyway", "reason": "No pupils shown"}
    first = api.post(f"{V1}/decision", json=body)
    again = api.post(f"{V1}/decision", json=body)
    assert first.status_code == again.status_code == 200
    assert first.json["event_ids"] == again.json["event_ids"]
    assert store.count() == 1
    other = api.post(f"{V1}/decision", json={"check_id": check_id, "choice": "cancel"})
    assert other.status_code == 409 and store.count() == 1


def test_the_same_idempotency_key_is_a_retry(api, store, gps_jpeg):
    check_id = check_json(api, gps_jpeg)["check_id"]
    for _ in range(2):
        api.post(f"{V1}/decision", json={"check_id": check_id, "choice": "cancel", "idempotency_key": "k-1"})
    assert store.count() == 1


@pytest.mark.parametrize("choice,logged", [("cancel", "cancelled"), ("fix", "sanitised")])
def test_cancel_and_fix_are_logged(api, store, gps_jpeg, choice, logged):
    check_id = check_json(api, gps_jpeg)["check_id"]
    response = api.post(f"{V1}/decision", json={"check_id": check_id, "choice": choice})
    assert response.status_code == 200
    assert [(r["rule"], r["decision"], r["reason"]) for r in store.list().rows] == [("location.gps", logged, "")]


@pytest.mark.parametrize("given,stored", [
    ("J.Smith@Test-School.sch.uk", "j.smith@test-school.sch.uk"),  # the school account: who posted
    ("jane.smith@gmail.com", "j***@gmail.com"),  # a personal account: masked
    ("Jane Smith", "Jane Smith"),
])
def test_the_extension_may_name_the_user(api, store, gps_jpeg, given, stored):
    check_id = check_json(api, gps_jpeg)["check_id"]
    api.post(f"{V1}/decision", json={"check_id": check_id, "choice": "cancel", "user": given})
    assert [r["user"] for r in store.list().rows] == [stored]


@pytest.mark.parametrize("body,status", [
    ({"check_id": "no-such-check", "choice": "cancel"}, 404),
    ({"choice": "cancel"}, 400),
    ({"check_id": "a", "pending_id": "b", "choice": "cancel"}, 400),
    ({"check_id": "a", "choice": "maybe"}, 400),
    ({"pending_id": "no-such-hold", "choice": "cancel"}, 404),
])
def test_bad_decisions(api, store, body, status):
    response = api.post(f"{V1}/decision", json=body)
    assert response.status_code == status and response.json["error"]
    assert store.count() == 0


# -- held posts: the proxy's side -----------------------------------------------------------------------------------

def test_a_held_post_is_listed_and_the_long_poll_gets_the_decision(app, api, store, broker, gps_jpeg):
    created = api.post(f"{V1}/pending", json={"summary": summary_of(app, gps_jpeg), "timeout_s": 10})
    assert created.status_code == 200
    pending_id = created.json["pending_id"]
    listed = api.get(f"{V1}/pending").json["pending"]
    assert [p["pending_id"] for p in listed] == [pending_id]
    assert listed[0]["summary"]["findings"][0]["policy"] and listed[0]["seconds_left"] > 5
    assert api.get(f"{V1}/health").json["proxy"] is True

    polled = {}

    def poll():  # the proxy addon, in its own thread with its own connection
        from tests.local_service.conftest import Api
        polled["response"] = Api(app.test_client()).get(f"{V1}/pending/{pending_id}/wait?timeout=5")

    proxy = threading.Thread(target=poll)
    proxy.start()
    time.sleep(0.1)
    decided = api.post(f"{V1}/decision", json={"pending_id": pending_id, "choice": "post_anyway",
                                               "reason": "Official school account"})
    proxy.join(5)
    assert decided.status_code == 200
    assert polled["response"].json == {"pending_id": pending_id, "state": "decided",
                                       "decision": {"choice": "post_anyway", "reason": "Official school account"}}
    [row] = store.list().rows
    assert (row["rule"], row["decision"], row["reason"]) == ("location.gps", "overridden",
                                                             "Official school account")
    assert row["host"] == "www.facebook.com"
    assert api.get(f"{V1}/pending").json["pending"] == []
    again = api.post(f"{V1}/decision", json={"pending_id": pending_id, "choice": "post_anyway",
                                             "reason": "Official school account"})
    assert again.json["event_ids"] == decided.json["event_ids"] and store.count() == 1


def test_a_long_poll_that_ends_first_says_still_pending(api):
    pending_id = api.post(f"{V1}/pending", json={"summary": {"url": PAGE}, "timeout_s": 10}).json["pending_id"]
    started = time.monotonic()
    response = api.get(f"{V1}/pending/{pending_id}/wait?timeout=0.2")
    assert time.monotonic() - started < 2
    assert response.json == {"pending_id": pending_id, "state": "pending", "decision": None}


def test_an_expired_hold_answers_none_and_refuses_a_late_decision(api, store):
    pending_id = api.post(f"{V1}/pending", json={"summary": {"url": PAGE}, "timeout_s": 0.2}).json["pending_id"]
    response = api.get(f"{V1}/pending/{pending_id}/wait?timeout=5")
    assert response.json == {"pending_id": pending_id, "state": "expired", "decision": None}
    late = api.post(f"{V1}/decision", json={"pending_id": pending_id, "choice": "cancel"})
    assert late.status_code == 409 and store.count() == 0


def test_waiting_on_an_unknown_hold_or_with_a_bad_timeout(api):
    assert api.get(f"{V1}/pending/{uuid.uuid4()}/wait?timeout=0").status_code == 404
    pending_id = api.post(f"{V1}/pending", json={"summary": {"url": PAGE}}).json["pending_id"]
    for bad in ("soon", "nan", "inf"):
        assert api.get(f"{V1}/pending/{pending_id}/wait?timeout={bad}").status_code == 400


@pytest.mark.parametrize("body", [
    {},
    {"summary": "a post"},
    {"summary": {"url": PAGE, "findings": {"rule": "location.gps"}}},
    {"summary": {"url": PAGE, "findings": [{"rule": "location.gps", "severity": "dire"}]}},
    {"summary": {"url": PAGE, "findings": [{"rule": "location.gps", "policy": [{"ref": "x"}]}]}},
    {"summary": {"url": PAGE, "decision": "perhaps"}},
    {"summary": {"url": PAGE}, "timeout_s": 0},
    {"summary": {"url": PAGE}, "timeout_s": "soon"},
])
def test_bad_holds_are_refused(api, broker, body):
    response = api.post(f"{V1}/pending", json=body)
    assert response.status_code == 400 and response.json["error"]
    assert broker.pending() == []


def test_notices(api, broker):
    response = api.post(f"{V1}/notices", json={"notice": {"message": "Location removed from photo.jpg on "
                                                                      "facebook.com", "host": "facebook.com"}})
    assert response.status_code == 200 and isinstance(response.json["id"], int)
    assert broker.notices()[-1]["host"] == "facebook.com"
    for bad in ({}, {"notice": "hi"}, {"notice": {"message": ""}}, {"notice": {"message": "x" * 5000}}):
        assert api.post(f"{V1}/notices", json=bad).status_code == 400


def test_the_proxy_writes_events_through_the_store(api, store):
    batch = [proxy_event(), proxy_event(rule="location.place", decision="warned", severity="medium")]
    response = api.post(f"{V1}/events", json={"events": batch})
    assert response.status_code == 200
    assert response.json["ids"] == [e["id"] for e in batch]
    stored = store.get(batch[0]["id"])
    assert stored["decision"] == "sanitised" and stored["source"] == "proxy"
    assert stored["host"] == "www.instagram.com" and stored["path"] == "/create/upload"
    assert stored["evidence"] == {"lat": 53.38, "lon": -1.46}
    assert api.post(f"{V1}/events", json={"events": batch}).status_code == 200  # a retried batch
    assert store.count() == 2 and store.verify().ok


@pytest.mark.parametrize("change,why", [
    ({"decision": "ignored"}, "unknown decision"),
    ({"severity": "dire"}, "unknown severity"),
    ({"id": "not-a-uuid"}, "events[1]"),
    ({"colour": "red"}, "unknown event field"),
    ({"rule": None}, "events[1]"),
])
def test_a_bad_event_refuses_the_whole_batch(api, store, change, why):
    bad = {k: v for k, v in (proxy_event() | change).items() if v is not None}
    response = api.post(f"{V1}/events", json={"events": [proxy_event(), bad]})
    assert response.status_code == 400 and why in response.json["error"]
    assert store.count() == 0


def test_events_must_be_a_non_empty_list(api):
    for body in ({}, {"events": []}, {"events": {"rule": "x"}}, {"events": ["x"]}):
        assert api.post(f"{V1}/events", json=body).status_code == 400


# -- the stream -----------------------------------------------------------------------------------------------------

@pytest.fixture
def short_stream(app):
    app.config.update(STREAM_SECONDS=0.6, STREAM_HEARTBEAT_SECONDS=0.25)


def read_stream(api, **kw):
    started = time.monotonic()
    response = api.get(f"{V1}/stream", **kw)
    text = response.get_data(as_text=True)  # the stream ends on its own after STREAM_SECONDS
    assert time.monotonic() - started < 3
    return response, parse_sse(text)


def test_the_stream_starts_with_what_is_waiting(api, broker, short_stream):
    held = broker.hold({"url": PAGE, "findings": []}, 10)
    response, items = read_stream(api)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream" and response.headers["Cache-Control"] == "no-store"
    pending = [i for i in items if i.get("event") == "pending"]
    assert [p["data"]["pending_id"] for p in pending] == [held.id]
    assert all(i["id"].isdigit() for i in items if "event" in i)
    assert {"comment": "heartbeat"} in items


def test_the_stream_delivers_news_and_resumes_from_the_last_id(app, api, broker, short_stream):
    later = threading.Timer(0.1, broker.hold, ({"url": PAGE, "findings": []}, 10))
    later.start()
    _, items = read_stream(api)
    later.join()
    [first] = [i for i in items if i.get("event") == "pending"]
    assert first["data"]["url"] == PAGE

    broker.notify({"message": "Location removed from photo.jpg on facebook.com"})
    _, resumed = read_stream(api, headers={"Last-Event-ID": first["id"]})
    events = [(i["event"], i["data"].get("message")) for i in resumed if "event" in i]
    assert events == [("notice", "Location removed from photo.jpg on facebook.com")]  # the hold is not repeated


def test_bad_input_does_not_use_up_the_decision(api, store, gps_jpeg):
    check_id = check_json(api, gps_jpeg)["check_id"]
    refused = api.post(f"{V1}/decision", json={"check_id": check_id, "choice": "cancel", "user": "x" * 200})
    assert refused.status_code == 400 and store.count() == 0
    answered = api.post(f"{V1}/decision", json={"check_id": check_id, "choice": "post_anyway",
                                                "reason": "No pupils shown"})
    assert answered.status_code == 200 and store.count() == 1


def test_post_anyway_in_the_page_is_remembered_for_the_proxy(app, api):
    import base64

    from rules.record.hold import fingerprint
    from tests.rules.test_location import SHEFFIELD, gps_ifd, jpeg_with_gps

    photo = jpeg_with_gps(gps_ifd(*SHEFFIELD))
    checked = api.post("/api/v1/check", json={"url": "https://www.facebook.com/", "files": [
        {"name": "a.jpg", "type": "image/jpeg", "data": base64.b64encode(photo).decode()}]}).get_json()
    broker = app.extensions["postguard"].broker
    assert broker.answer_for([fingerprint(photo)]) is None
    api.post("/api/v1/decision", json={"check_id": checked["check_id"], "choice": "post_anyway",
                                       "reason": "Official school account"})
    assert broker.answer_for([fingerprint(photo)]).choice == "post_anyway"
