"""Through a real proxy on loopback, over HTTP and HTTPS, to a local upstream site."""
import urllib.request

import pytest

from rules.record.store import Filter
from rules import media
from tests.proxy_addon.test_addon import BOUNDARY, multipart, pixels
from tests.rules.test_location import SHEFFIELD, gps_ifd, jpeg_with_gps


def post(proxy, url, body, ctype, method="POST", headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": ctype, **(headers or {})})
    try:
        with proxy.opener().open(req, timeout=20) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_multipart_gps_upload_arrives_clean_with_same_pixels_and_fields(proxy, upstream, e2e_store):
    photo = jpeg_with_gps(gps_ifd(*SHEFFIELD), size=(640, 480))
    body = multipart([("caption", None, "Trip to Whitby\r\nday 1".encode(), ""),
                      ("photo", "IMG_0042.jpg", photo, "image/jpeg"), ("csrf", None, b"\x00\x01tok", "")])
    status, _ = post(proxy, upstream.url + "/upload", body, f"multipart/form-data; boundary={BOUNDARY}")
    assert status == 200
    (method, path, headers, got) = upstream.received[-1]
    assert len(got) == len(body) and int(headers["Content-Length"]) == len(body)
    start = got.index(b"\xff\xd8\xff")
    received = got[start:start + len(photo)]
    assert media.inspect(received).real_coordinates == [] and pixels(received) == pixels(photo)
    assert got[:start] == body[:start] and got[start + len(photo):] == body[start + len(photo):]
    assert e2e_store.count(Filter(decision="sanitised")) == 1


def test_clean_upload_arrives_byte_identical(proxy, upstream, e2e_store):
    body = multipart([("photo", "a.jpg", jpeg_with_gps(None), "image/jpeg"), ("t", None, b"x", "")])
    status, _ = post(proxy, upstream.url + "/upload", body, f"multipart/form-data; boundary={BOUNDARY}")
    assert status == 200 and upstream.received[-1][3] == body
    assert e2e_store.count() == 0


def test_blocked_post_never_reaches_the_site(tmp_path, upstream, e2e_store):
    from proxy_addon.addon import PostGuard
    from rules import Engine, load_pack
    from tests.proxy_addon.conftest import Proxy

    pack = tmp_path / "blocky.toml"
    pack.write_text('[pack]\nid="blocky"\nname="B"\nextends="default"\n[rules."location.gps"]\naction="block"\n')
    p = Proxy(tmp_path / "mitm2", PostGuard(store=e2e_store, engine=Engine(pack=load_pack(str(pack)))))
    try:
        status, page = post(p, upstream.url + "/media", jpeg_with_gps(gps_ifd(*SHEFFIELD)), "image/jpeg",
                            method="PUT", headers={"Accept": "text/html"})
    finally:
        p.stop()
    assert status == 403 and b"What to do instead" in page
    assert upstream.received == []
    assert e2e_store.count(Filter(decision="blocked")) == 1


@pytest.mark.parametrize("choice", ["post_anyway", "cancel"])
def test_held_request_is_released_or_cancelled_through_the_service(tmp_path, upstream, choice):
    import threading
    import time

    from local_service.app import create_app
    from local_service.services import Services
    from local_service.api import get_broker
    from proxy_addon.addon import PostGuard
    from rules import Engine, load_pack
    from rules.config import parse_config
    from tests.local_service.conftest import EXTENSION_ORIGIN, TOKEN
    from tests.proxy_addon.conftest import Proxy

    pack = tmp_path / "warny.toml"
    pack.write_text('[pack]\nid="warny"\nname="W"\nextends="default"\n[settings]\nwarn_timeout_s = 20\n'
                    '[rules."location.gps"]\naction="warn"\n')
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "EXTENSION_ORIGINS": [EXTENSION_ORIGIN]},
                     Services.open(parse_config({"data_dir": str(tmp_path / "data")}),
                                   database=f"sqlite:///{tmp_path / 'svc.sqlite3'}", token=TOKEN))
    svc = app.extensions["postguard"]
    addon = PostGuard(store=svc.store, broker=get_broker(app), engine=Engine(pack=load_pack(str(pack))))
    p = Proxy(tmp_path / "mitm3", addon)
    headers = {"Authorization": f"Bearer {TOKEN}", "Origin": EXTENSION_ORIGIN}

    def the_person():
        client = app.test_client()
        for _ in range(500):
            held = client.get("/api/v1/pending", headers=headers).get_json()["pending"]
            if held:
                client.post("/api/v1/decision", headers=headers, json={
                    "pending_id": held[0]["pending_id"], "choice": choice, "reason": "Official school account"})
                return
            time.sleep(0.02)

    person = threading.Thread(target=the_person, daemon=True)
    person.start()
    try:
        status, _ = post(p, upstream.url + "/media", jpeg_with_gps(gps_ifd(*SHEFFIELD)), "image/jpeg",
                         method="PUT")
    finally:
        person.join(10)
        p.stop()
    if choice == "post_anyway":
        assert status == 200 and len(upstream.received) == 1
        (event,) = svc.store.list(Filter(rule="location.gps")).rows
        assert event["decision"] == "overridden" and event["reason"] == "Official school account"
    else:
        assert status == 409 and upstream.received == []
        assert svc.store.list(Filter(rule="location.gps")).rows[0]["decision"] == "cancelled"
    svc.store.close()


def test_raw_put_and_base64_json_photos_are_caught_in_flight(proxy, upstream, e2e_store):
    import base64
    import json

    photo = jpeg_with_gps(gps_ifd(*SHEFFIELD), size=(320, 240))
    status, _ = post(proxy, upstream.url + "/media/upload", photo, "image/jpeg", method="PUT")
    assert status == 200
    sent = upstream.received[-1][3]
    assert media.inspect(sent).real_coordinates == [] and pixels(sent) == pixels(photo)
    doc = {"text": "Our trip", "attachments": [{"image": base64.b64encode(photo).decode()}]}
    status, _ = post(proxy, upstream.url + "/api/graphql", json.dumps(doc).encode(), "application/json")
    assert status == 200
    got = json.loads(upstream.received[-1][3])
    data = base64.b64decode(got["attachments"][0]["image"])
    assert got["text"] == "Our trip" and media.inspect(data).real_coordinates == [] and pixels(data) == pixels(photo)
    assert e2e_store.count(Filter(decision="sanitised")) == 2


def test_malformed_multipart_and_truncated_gzip_pass_unchanged_and_are_logged(proxy, upstream, e2e_store):
    import gzip

    broken = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.jpg\"\r\n\r\n"
              ).encode() + jpeg_with_gps(gps_ifd(*SHEFFIELD))  # no closing boundary
    status, _ = post(proxy, upstream.url + "/upload", broken, f"multipart/form-data; boundary={BOUNDARY}")
    assert status == 200 and upstream.received[-1][3] == broken
    cut = gzip.compress(b'{"status": "hello"}' * 50)[:-10]
    status, _ = post(proxy, upstream.url + "/status", cut, "application/json", headers={"Content-Encoding": "gzip"})
    assert status == 200 and upstream.received[-1][3] == cut
    reasons = [r["reason"] for r in e2e_store.list(Filter(decision="inspection_error")).rows]
    assert len(reasons) == 2 and any("gzip" in r for r in reasons)


def test_school_library_photo_is_stopped_in_the_proxy_and_others_pass(tmp_path, upstream, e2e_store):
    """pupil.image through the proxy: a resized copy of a library photo is blocked (this pack blocks), with the
    signals in the log; an unrelated photo arrives byte for byte."""
    skimage_data = pytest.importorskip("skimage.data")
    from PIL import Image

    from proxy_addon.addon import PostGuard
    from rules import Engine, load_pack
    from rules.config import parse_config
    from rules.images.library import Library
    from tests.proxy_addon.conftest import Proxy
    from tests.rules.images.edits import encoded

    config = parse_config({"data_dir": str(tmp_path / "data")})
    Library.for_config(config).add_image(encoded(Image.fromarray(skimage_data.coffee())), "Shared drive")
    pack = tmp_path / "strict.toml"
    pack.write_text('[pack]\nid="strict"\nname="S"\nextends="default"\n[rules."pupil.image"]\naction="block"\n')
    p = Proxy(tmp_path / "mitm3", PostGuard(store=e2e_store, engine=Engine(config, load_pack(str(pack)))))
    try:
        copy = encoded(Image.fromarray(skimage_data.coffee()).resize((300, 200)))
        body = multipart([("photo", "IMG_1.jpg", copy, "image/jpeg"), ("caption", None, b"Our class!", "")])
        status, _ = post(p, upstream.url + "/upload", body, f"multipart/form-data; boundary={BOUNDARY}")
        assert status == 403 and upstream.received == []
        other = multipart([("photo", "cat.jpg", encoded(Image.fromarray(skimage_data.chelsea())), "image/jpeg")])
        status, _ = post(p, upstream.url + "/upload", other, f"multipart/form-data; boundary={BOUNDARY}")
        assert status == 200 and upstream.received[-1][3] == other
    finally:
        p.stop()
    events = list(e2e_store.iter_all(Filter(decision="blocked")))
    assert [e["rule"] for e in events] == ["pupil.image"]
    assert events[0]["evidence"]["signals"][0]["signal"] == "library" and events[0]["severity"] == "high"


class SlowStore:
    """A store whose writes take a while, noting when each one finished."""

    def __init__(self, store, delay_s):
        self.store, self.delay_s, self.finished = store, delay_s, []

    def append(self, events):
        import time
        time.sleep(self.delay_s)
        self.store.append(events)
        self.finished.append(time.monotonic())

    def __getattr__(self, name):
        return getattr(self.store, name)


def test_sanitised_upload_goes_on_while_its_event_is_written_and_the_answer_waits_for_it(tmp_path, e2e_store):
    import time

    from proxy_addon.addon import PostGuard
    from rules import Engine
    from tests.proxy_addon.conftest import Proxy, Upstream
    arrived = []

    class Arrivals(list):
        def append(self, request):
            arrived.append(time.monotonic())
            super().append(request)

    site = Upstream()
    site.received = Arrivals()
    slow = SlowStore(e2e_store, 0.5)
    proxy = Proxy(tmp_path / "mitm", PostGuard(store=slow, engine=Engine()))
    try:
        photo = jpeg_with_gps(gps_ifd(*SHEFFIELD), size=(64, 48))
        body = multipart([("photo", "IMG_1.jpg", photo, "image/jpeg")])
        status, _ = post(proxy, site.url + "/upload", body, f"multipart/form-data; boundary={BOUNDARY}")
        answered = time.monotonic()
        assert status == 200 and len(site.received) == 1
        assert media.inspect(site.received[0][3][site.received[0][3].index(b"\xff\xd8\xff"):]).real_coordinates == []
        assert slow.finished and slow.finished[0] <= answered  # the answer came after the event was in the log
        assert arrived[0] < slow.finished[0] - 0.3  # and the site had the cleaned upload while it was written
        assert e2e_store.count(Filter(decision="sanitised")) == 1
    finally:
        proxy.stop()
        site.stop()


def test_malloc_is_tuned_to_keep_freed_upload_memory_on_glibc():
    import ctypes
    import platform
    import sys

    from proxy_addon.tuning import keep_freed_memory
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt is glibc's")
    assert hasattr(ctypes.CDLL(None), "mallopt") and keep_freed_memory() is True


def test_last_chunk_of_a_tus_video_upload_is_cleaned_in_flight(proxy, upstream, e2e_store):
    from tests.proxy_addon.test_extract import mp4_with_location
    last = mp4_with_location()[9000:]
    status, _ = post(proxy, upstream.url + "/files/abc123", last, "application/offset+octet-stream", method="PATCH",
                     headers={"Tus-Resumable": "1.0.0", "Upload-Offset": "9000"})
    assert status == 200
    got = upstream.received[-1][3]
    assert len(got) == len(last) and got != last and media.inspect(got).real_coordinates == []
    assert media.inspect(last).real_coordinates  # what was sent did have it
    assert e2e_store.count(Filter(decision="sanitised")) == 1
