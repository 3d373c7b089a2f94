"""Hosts added to the proxy's scope (issue 18): Apple's sign-in widget at idmsa.apple.com, Fandom's wikia.org wikis and
Wikifunctions. Through the real addon with the default pack's own scope: posts there reach the engine, and what the
rules find there is acted on; a host just beside them is still out of scope."""
import json
from urllib.parse import urlencode

import pytest
from mitmproxy.test import tflow

from proxy_addon.addon import PostGuard
from rules import Engine, load_pack
from rules.record.store import Filter
from tests.proxy_addon.test_addon import run
from tests.rules.test_school_email import CONFIG, SCHOOL

APPLE_AUTHORIZE = ("https://appleid.apple.com/auth/authorize?" + urlencode({
    "client_id": "com.reddit.web", "redirect_uri": "https://www.reddit.com/account/apple/callback",
    "response_type": "code id_token", "response_mode": "form_post", "scope": "name email", "state": "s"}))
WIKI_EDIT = urlencode({"action": "edit", "title": "Sheffield", "text": "x", "token": "0123abcd+\\"}).encode()


def post(addon, host, path, body, ctype, referer=""):
    f = tflow.tflow()
    f.request.method, f.request.scheme, f.request.port = "POST", "https", 443
    f.request.host, f.request.path = host, path
    f.request.headers["Content-Type"] = ctype
    if referer:
        f.request.headers["Referer"] = referer
    f.request.raw_content = body
    return run(addon, f)


@pytest.fixture
def addon(store):
    return PostGuard(store=store, engine=Engine(CONFIG, load_pack("default")))


def test_a_school_apple_id_in_apples_sign_in_widget_on_idmsa_is_seen(addon, store):
    body = json.dumps({"accountName": SCHOOL, "password": "x", "rememberMe": False}).encode()
    flow = post(addon, "idmsa.apple.com", "/appleauth/auth/signin?isRememberMeEnabled=true", body,
                "application/json", APPLE_AUTHORIZE)
    assert flow.metadata["postguard"]["decision"] == "warn"
    (event,) = store.list(Filter(rule="school_email.personal_account")).rows
    assert event["evidence"]["platform"] == "Reddit" and event["evidence"]["provider"] == "Apple"


@pytest.mark.parametrize("host", ["starwars.wikia.org", "www.wikifunctions.org"])
def test_an_edit_on_a_wiki_now_in_scope_is_seen(addon, store, host):
    post(addon, host, "/w/api.php", WIKI_EDIT, "application/x-www-form-urlencoded")
    (event,) = store.list(Filter(rule="wikipedia.edit")).rows
    assert event["evidence"]["host"] == host


@pytest.mark.parametrize("host", ["idmsa.apple.com.example.net", "wikia.org.example.net", "notwikifunctions.org"])
def test_a_host_beside_them_is_still_out_of_scope(addon, store, host):
    flow = post(addon, host, "/w/api.php", WIKI_EDIT, "application/x-www-form-urlencoded")
    assert "postguard" not in flow.metadata and store.count() == 0
