"""The addon on mitmproxy's own test flows: what reaches the site, what is logged."""
import base64
import gzip
import io
import json

import pytest
from mitmproxy.proxy.layers.http import HttpRequestHook
from mitmproxy.test import taddons, tflow

from rules.record.store import Filter
from proxy_addon.addon import PostGuard
from rules import Engine, load_pack, media
from tests.rules.test_location import SHEFFIELD, gps_ifd, jpeg_with_gps

Image = pytest.importorskip("PIL.Image")
BOUNDARY = "----PostGuardTestBoundary7MA4YWxk"


def run(addon, flow):
    """Run the hook as mitmproxy does (awaited when it hands back a coroutine), on its own event loop in its own
    thread: another test's loop may still be running here."""
    import asyncio
    import concurrent.futures

    async def request_then_log():
        await tctx.master.addons.invoke_addon(addon, HttpRequestHook(flow))
        write = getattr(addon, "_writes", {}).get(flow.id)  # a sanitised upload's log write, which the response
        if write is not None:  # hook awaits in mitmproxy: without it, asyncio.run may cancel it before it starts
            await write

    with taddons.context(addon) as tctx, concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, request_then_log()).result(60)
    return flow


def make_flow(body: bytes, content_type: str, method="POST", path="/upload", headers=()):
    f = tflow.tflow()
    f.request.method = method
    f.request.host, f.request.port, f.request.scheme = "upload.facebook.com", 443, "https"
    f.request.path = path
    f.request.headers["Content-Type"] = content_type
    for k, v in headers:
        f.request.headers[k] = v
    f.request.raw_content = body
    return f


def multipart(parts: list[tuple[str, str | None, bytes, str]]) -> bytes:
    out = b""
    for name, filename, data, ctype in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disp}\r\n".encode()
        if ctype:
            out += f"Content-Type: {ctype}\r\n".encode()
        out += b"\r\n" + data + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


def addon_with(store, pack="default"):
    return PostGuard(store=store, engine=Engine(pack=load_pack(pack)))


def pixels(data: bytes):
    with Image.open(io.BytesIO(data)) as im:
        return im.tobytes()


def test_multipart_gps_photo_is_sanitised_in_flight(store):
    photo = jpeg_with_gps(gps_ifd(*SHEFFIELD), size=(320, 240))
    caption = "Sports day!\r\n\r\nBinary-ish: \x00\xff".encode("latin-1")
    body = multipart([("caption", None, caption, ""), ("photo", "IMG_0001.jpg", photo, "image/jpeg"),
                      ("token", None, b"abc123", "")])
    flow = run(addon_with(store), make_flow(body, f"multipart/form-data; boundary={BOUNDARY}"))
    sent = flow.request.raw_content
    assert flow.response is None
    assert len(sent) == len(body)  # same-length strip: boundaries and Content-Length stay right
    start = sent.index(b"\xff\xd8\xff")
    cleaned = sent[start:start + len(photo)]
    assert media.inspect(cleaned).real_coordinates == [] and pixels(cleaned) == pixels(photo)
    assert sent[:start] == body[:start] and sent[start + len(photo):] == body[start + len(photo):]
    (event,) = store.list(Filter(rule="location.gps")).rows
    assert event["decision"] == "sanitised" and event["host"] == "upload.facebook.com" and event["source"] == "proxy"


def test_raw_put_and_base64_json_are_caught(store):
    photo = jpeg_with_gps(gps_ifd(*SHEFFIELD))
    put = run(addon_with(store), make_flow(photo, "image/jpeg", method="PUT", path="/media/upload?id=1"))
    assert media.inspect(put.request.raw_content).real_coordinates == []
    doc = {"status": "hello", "media": [{"data": "data:image/jpeg;base64," + base64.b64encode(photo).decode()}]}
    js = run(addon_with(store), make_flow(json.dumps(doc).encode(), "application/json"))
    sent = json.loads(js.request.raw_content)
    data = base64.b64decode(sent["media"][0]["data"].split(",", 1)[1])
    assert sent["status"] == "hello" and media.inspect(data).real_coordinates == []
    assert pixels(data) == pixels(photo)
    assert store.count(Filter(decision="sanitised")) == 2


def test_clean_photo_and_plain_form_pass_byte_identical(store):
    clean = multipart([("photo", "a.jpg", jpeg_with_gps(None), "image/jpeg"), ("text", None, b"hi", "")])
    flow = run(addon_with(store), make_flow(clean, f"multipart/form-data; boundary={BOUNDARY}"))
    assert flow.request.raw_content == clean and flow.response is None
    form = b"status=Lovely+day&visibility=public"
    flow = run(addon_with(store), make_flow(form, "application/x-www-form-urlencoded"))
    assert flow.request.raw_content == form
    assert store.count() == 0  # a silent allow is not an event


def test_block_pack_answers_with_the_clause_and_nothing_is_sent(store, tmp_path):
    pack = tmp_path / "blocky.toml"
    pack.write_text('[pack]\nid="blocky"\nname="B"\nextends="default"\n[rules."location.gps"]\naction="block"\n')
    photo = jpeg_with_gps(gps_ifd(*SHEFFIELD))
    flow = run(addon_with(store, str(pack)), make_flow(photo, "image/jpeg", headers=[("Accept", "application/json"),
                                                                                     ("Sec-Fetch-Mode", "cors")]))
    assert flow.response.status_code == 403
    body = json.loads(flow.response.content)
    assert body["findings"][0]["rule"] == "location.gps" and body["findings"][0]["policy"][0]["ref"]
    page = run(addon_with(store, str(pack)), make_flow(photo, "image/jpeg", headers=[("Accept", "text/html")]))
    assert b"What to do instead" in page.response.content
    assert store.count(Filter(decision="blocked")) == 2


@pytest.mark.parametrize("body,ctype,extra", [
    (b"--nope\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated", "multipart/form-data", []),
    (gzip.compress(b'{"a": "b"}' * 100)[:-12], "application/json", [("Content-Encoding", "gzip")]),
    (b'{"unclosed": ', "application/json", []),
])
def test_unparseable_bodies_pass_unchanged_and_are_logged(store, body, ctype, extra):
    flow = run(addon_with(store), make_flow(body, ctype, headers=extra))
    assert flow.request.raw_content == body and flow.response is None
    (event,) = store.list().rows
    assert event["decision"] == "inspection_error" and event["reason"]


def test_a_crashing_engine_fails_open(store, monkeypatch):
    addon = addon_with(store)
    monkeypatch.setattr(addon.engine, "evaluate", lambda sub: 1 / 0)
    photo = jpeg_with_gps(gps_ifd(*SHEFFIELD))
    flow = run(addon, make_flow(photo, "image/jpeg"))
    assert flow.request.raw_content == photo and flow.response is None
    assert "ZeroDivisionError" in store.list().rows[0]["reason"]


def test_oversized_body_passes_uninspected_and_is_logged(store):
    addon = addon_with(store)
    addon.max_body = 2048
    photo = jpeg_with_gps(gps_ifd(*SHEFFIELD), size=(400, 300))
    flow = run(addon, make_flow(photo, "image/jpeg"))
    assert flow.request.raw_content == photo
    assert "over the inspection limit" in store.list().rows[0]["reason"]


def test_out_of_scope_hosts_are_not_inspected(store):
    photo = jpeg_with_gps(gps_ifd(*SHEFFIELD))
    flow = make_flow(photo, "image/jpeg")
    flow.request.host = "online.mybank.co.uk"
    run(addon_with(store), flow)
    assert flow.request.raw_content == photo and store.count() == 0


def test_loads_as_a_mitmdump_script(tmp_path):
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    mitmdump = Path(sys.executable).with_name("mitmdump")
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    proc = subprocess.Popen([str(mitmdump), "-q", "--listen-host", "127.0.0.1", "--listen-port", "0",
                             "--set", f"confdir={tmp_path / 'mitm'}", "-s", str(root / "proxy_addon" / "addon.py"),
                             "--set", f"postguard_config={cfg}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "data" / "events.sqlite3").exists() and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.1)
        assert (tmp_path / "data" / "events.sqlite3").exists()  # the addon opened the monitoring log
        assert proc.poll() is None, proc.stderr.read()
    finally:
        proc.terminate()
        proc.wait(10)


def test_sign_in_with_a_school_google_account_to_a_personal_platform_is_stopped(store, tmp_path):
    """The authorisation request is a GET to accounts.google.com: the hint and the redirect are in its URL."""
    from rules.config import parse_config

    pack = tmp_path / "email.toml"
    pack.write_text('[pack]\nid="email"\nname="E"\nextends="default"\n'
                    '[rules."school_email.personal_account"]\naction="block"\nseverity="high"\n')
    config = parse_config({"school": {"email_domains": ["stmarys-angels.sch.uk"]}})
    addon = PostGuard(store=store, engine=Engine(config, load_pack(str(pack))))

    def signin(hint, redirect):
        f = tflow.tflow()
        f.request.method, f.request.scheme, f.request.port = "GET", "https", 443
        f.request.host = "accounts.google.com"
        f.request.path = (f"/o/oauth2/v2/auth?client_id=1.apps.googleusercontent.com&response_type=code"
                          f"&scope=openid%20email&login_hint={hint}&redirect_uri={redirect}")
        f.request.raw_content = b""
        return run(addon, f)

    stopped = signin("j.smith%40stmarys-angels.sch.uk", "https%3A%2F%2Fwww.tiktok.com%2Flogin%2Fcallback")
    assert stopped.response is not None and stopped.response.status_code == 403
    allowed = signin("j.smith%40stmarys-angels.sch.uk", "https%3A%2F%2Fclassroom.google.com%2F")
    assert allowed.response is None
    personal = signin("jsmith%40gmail.com", "https%3A%2F%2Fwww.tiktok.com%2Flogin%2Fcallback")
    assert personal.response is None
    (event,) = store.list(Filter(rule="school_email.personal_account")).rows
    assert event["decision"] == "blocked" and "j***@stmarys-angels.sch.uk" in json.dumps(event["evidence"])


def test_location_that_cannot_be_removed_safely_blocks_the_post(store, monkeypatch):
    """When lossless removal refuses (StripError), nothing is sent: the post is refused and logged as blocked."""

    def refuse(self, attachment, rules=None):
        raise media.StripError("location still present after removal: EXIF GPS")

    monkeypatch.setattr(Engine, "sanitise", refuse)
    photo = jpeg_with_gps(gps_ifd(*SHEFFIELD))
    body = multipart([("photo", "IMG_0002.jpg", photo, "image/jpeg")])
    flow = run(addon_with(store), make_flow(body, f"multipart/form-data; boundary={BOUNDARY}"))
    assert flow.response is not None and flow.response.status_code == 403
    assert b"could not remove the location" in flow.response.content
    (event,) = store.list(Filter(rule="location.gps")).rows
    assert event["decision"] == "blocked" and "still present" in event["reason"]


def test_the_script_module_answers_every_hook_lookup_without_an_exception():
    """`mitmdump -s` asks the module itself for every hook on every event; a name the module lacked would cost a
    formatted AttributeError each time. The addon inside still receives its own hooks."""
    from pathlib import Path

    from mitmproxy import hooks
    from mitmproxy.addons.script import load_script
    ns = load_script(str(Path(__file__).resolve().parents[2] / "proxy_addon" / "addon.py"))
    assert set(hooks.all_hooks) <= set(vars(ns))
    with taddons.context() as tctx:
        for hook, expected in ((HttpRequestHook(tflow.tflow()), "request"), (hooks.DoneHook(), "done")):
            found = [(type(a).__name__, f.__name__) for a, f in tctx.master.addons._iter_hooks(ns, hook)]
            assert found == [("PostGuard", expected)]
