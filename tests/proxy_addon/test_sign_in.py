"""A sign-in the pack says to warn about is held with a page that lets the person continue with a reason; only a
block is refused (issue 18 item 7: "a warning never becomes a refusal without a way on")."""
from __future__ import annotations

import json
from urllib.parse import urlencode

from mitmproxy.test import tflow

from proxy_addon.addon import PostGuard
from proxy_addon.sign_in import CONTINUE_PATH, SignIns, reason_of
from rules import Engine, load_pack
from rules.config import parse_config
from rules.record.store import Filter
from tests.proxy_addon.test_addon import run

SIGN_IN_PATH = ("/o/oauth2/v2/auth?client_id=1.apps.googleusercontent.com&response_type=code&scope=openid%20email"
                "&login_hint=j.smith%40stmarys-angels.sch.uk&redirect_uri=https%3A%2F%2Fwww.tiktok.com%2Flogin%2F")


def addon(store, pack="st-mary-of-the-angels"):
    config = parse_config({"school": {"email_domains": ["stmarys-angels.sch.uk"]}})
    return PostGuard(store=store, engine=Engine(config, load_pack(pack)))


def request(method="GET", path=SIGN_IN_PATH, form=None, accept="text/html"):
    f = tflow.tflow()
    f.request.method, f.request.scheme, f.request.port = method, "https", 443
    f.request.host, f.request.path = "accounts.google.com", path
    f.request.headers["Accept"] = accept
    f.request.headers["Sec-Fetch-Mode"] = "navigate"
    if form is not None:
        f.request.headers["Content-Type"] = "application/x-www-form-urlencoded"
        f.request.raw_content = urlencode(form).encode()
    else:
        f.request.raw_content = b""
    return f


def token_of(page: bytes) -> str:
    text = page.decode()
    return text.split('name="token" value="', 1)[1].split('"', 1)[0]


def test_a_warned_sign_in_is_held_with_a_way_on_then_continues_once_with_a_reason(store):
    proxy = addon(store)
    held = run(proxy, request())
    assert held.response.status_code == 200, "a warning is not a refusal"
    page = held.response.content
    assert b"Continue to sign in" in page and CONTINUE_PATH.encode() in page and b"6.10" in page
    assert b"Approved by my line manager" in page, "the pack's reasons are offered"
    token = token_of(page)

    no_reason = run(proxy, request("POST", CONTINUE_PATH, {"token": token}))
    assert no_reason.response.status_code == 200
    assert b"Please choose or write a short reason" in no_reason.response.content
    assert token_of(no_reason.response.content) == token, "the same sign-in is still held"

    answered = run(proxy, request("POST", CONTINUE_PATH, {"token": token, "reason": "Setting up the school's page"}))
    assert answered.response.status_code == 303
    assert answered.response.headers["Location"] == held.request.pretty_url
    through = run(proxy, request())
    assert through.response is None, "the continued sign-in goes through"
    again = run(proxy, request())
    assert again.response is not None and again.response.status_code == 200, "once: the next one is asked again"

    replay = run(proxy, request("POST", CONTINUE_PATH, {"token": token, "reason": "again please"}))
    assert replay.response.status_code == 410, "a token is used once"
    rows = store.list(Filter(rule="school_email.personal_account")).rows
    assert sorted(r["decision"] for r in rows) == ["overridden", "warned", "warned"]
    (over,) = [r for r in rows if r["decision"] == "overridden"]
    assert over["reason"] == "Setting up the school's page"


def test_a_blocked_sign_in_is_still_refused(store, tmp_path):
    pack = tmp_path / "email.toml"
    pack.write_text('[pack]\nid="email"\nname="E"\nextends="default"\n'
                    '[rules."school_email.personal_account"]\naction="block"\nseverity="high"\n')
    stopped = run(addon(store, str(pack)), request())
    assert stopped.response.status_code == 403 and b"Continue to sign in" not in stopped.response.content


def test_a_script_gets_the_hold_as_json_with_the_way_on(store):
    held = run(addon(store), request(accept="application/json"))
    body = json.loads(held.response.content)
    assert body["decision"] == "warn" and body["continue"]["path"] == CONTINUE_PATH and body["continue"]["token"]


def test_an_unknown_token_is_not_a_way_round(store):
    forged = run(addon(store), request("POST", CONTINUE_PATH, {"token": "guess", "reason": "let me in"}))
    assert forged.response.status_code == 410
    assert run(addon(store), request()).response.status_code == 200, "still held"


def test_held_sign_ins_expire_and_stay_bounded():
    now = [0.0]
    holds = SignIns(clock=lambda: now[0])
    token = holds.hold("https://a.example/x", None)
    now[0] += 601
    assert holds.answer(token) is None and not holds.passes("https://a.example/x")
    tokens = [holds.hold(f"https://a.example/{i}", None) for i in range(300)]
    assert holds.held(tokens[0]) is None and holds.held(tokens[-1]) is not None
    assert len(holds._held) <= 256


def test_a_reason_is_a_listed_one_or_the_persons_own_words():
    assert reason_of({"reason": "No pupils shown"}) == "No pupils shown"
    assert reason_of({"reason": "No pupils shown", "other": "  my   own  "}) == "my own"
    assert reason_of({"reason": "  "}) == "" and reason_of({"other": "x" * 301}) == ""


def test_through_a_real_proxy_the_sign_in_is_held_continued_once_and_reaches_the_site(tmp_path, upstream, store):
    """mitmproxy on loopback: the hold page, the continue form answered by the proxy itself (the site never sees
    it), then the same sign-in goes through to the site once."""
    import urllib.error
    import urllib.request

    from tests.proxy_addon.conftest import Proxy

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    p = Proxy(tmp_path / "mitm", addon(store))
    url = upstream.url + SIGN_IN_PATH
    headers = {"Host": "accounts.google.com", "Accept": "text/html", "Sec-Fetch-Mode": "navigate"}

    def send(req):  # the proxy's opener, not following the redirect (it leads to the real accounts.google.com)
        import ssl

        proxy = f"http://127.0.0.1:{p.port}"
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({"http": proxy, "https": proxy}), NoRedirect(),
            urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=str(p.ca))))
        try:
            with opener.open(req, timeout=20) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    try:
        status, _, page = send(urllib.request.Request(url, headers=headers))
        assert status == 200 and b"Continue to sign in" in page and upstream.received == []
        form = urlencode({"token": token_of(page), "reason": "Setting up the school's page"}).encode()
        answer_form = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
        status, answer, _ = send(urllib.request.Request(upstream.url + CONTINUE_PATH, data=form, method="POST",
                                                        headers=answer_form))
        assert status == 303 and "/o/oauth2/v2/auth" in answer["Location"] and upstream.received == []
        status, _, _ = send(urllib.request.Request(url, headers=headers))
        assert status == 200 and [r[1] for r in upstream.received] == [SIGN_IN_PATH], "through, once"
    finally:
        p.stop()
    assert sorted(r["decision"] for r in store.list(Filter(rule="school_email.personal_account")).rows) == \
        ["overridden", "warned"]
