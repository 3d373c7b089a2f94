"""A MediaWiki rollback link saves on a GET (RollbackAction: `index.php?action=rollback&from=...&token=...`): the
proxy hands it to the engine like a post, held and logged by the wiki rule; every other GET to a wiki is reading and
never reaches the engine (issue 18: the rule expected the GET, the proxy never passed it)."""
import ipaddress
import json

import pytest
from mitmproxy.test import tflow

from local_service.broker import Broker
from proxy_addon.addon import PostGuard
from proxy_addon.extract import saves_on_get
from proxy_addon.har import scan_har
from rules import Engine, load_pack, network
from rules.config import parse_config
from rules.record.store import Filter
from tests.proxy_addon.test_hold import decide_when_held
from tests.proxy_addon.test_addon import run

ROLLBACK = "/w/index.php?title=Sheffield&action=rollback&from=Vandal123&token=0123456789abcdef%2B%5C"
ON_NETWORK = {"school": {"networks": ["10.20.0.0/16"]}}
OFF_NETWORK = {"school": {"networks": ["172.16.0.0/12"]}}


@pytest.fixture(autouse=True)
def laptop_address(monkeypatch):
    """The laptop's address is fixed, so which network it is on does not depend on the machine running the tests."""
    monkeypatch.setattr(network, "local_addresses", lambda: [ipaddress.ip_address("10.20.3.4")])


def get(addon, path, host="en.wikipedia.org"):
    f = tflow.tflow()
    f.request.method, f.request.scheme, f.request.port = "GET", "https", 443
    f.request.host, f.request.path = host, path
    f.request.raw_content = b""
    return run(addon, f)


def addon_for(store, network, broker=None, pack="default"):
    return PostGuard(store=store, broker=broker, engine=Engine(parse_config(network), load_pack(pack)))


def test_a_rollback_link_off_the_school_network_is_logged_as_the_packs_log_action(store):
    flow = get(addon_for(store, OFF_NETWORK), ROLLBACK)
    assert flow.response is None  # the default pack only logs an edit off the school network
    (event,) = store.list(Filter(rule="wikipedia.edit")).rows
    assert event["decision"] == "allowed" and event["source"] == "proxy"
    assert event["evidence"]["shape"] == "rollback" and event["evidence"]["title"] == "Sheffield"


@pytest.mark.parametrize("choice, status", [("cancel", 409), ("post_anyway", None)])
def test_a_rollback_link_on_the_school_network_is_held_for_the_person(store, choice, status):
    broker = Broker()
    worker = decide_when_held(broker, choice, "Reverting vandalism on the school's article")
    flow = get(addon_for(store, ON_NETWORK, broker), ROLLBACK)
    worker.join(5)
    assert (flow.response.status_code if flow.response else None) == status
    assert flow.metadata["postguard"]["decision"] == "warn"


@pytest.mark.parametrize("path", [
    "/w/index.php?title=Sheffield&action=history",
    "/w/index.php?title=Sheffield&action=markpatrolled&rcid=5&token=abc%2B%5C",  # MarkpatrolledAction: POST only
    "/w/index.php?title=Sheffield&action=rollback",  # the confirmation screen: no token, nothing saved
    "/w/index.php?title=Sheffield&action=rollback&from=V&token=t&action=view",  # the last action wins, as in PHP
    "/wiki/Rollback?from=V&token=t",  # an article named Rollback
])
def test_reading_a_wiki_never_saves(store, path):
    flow = get(addon_for(store, ON_NETWORK, Broker()), path)
    assert flow.response is None and "postguard" not in flow.metadata
    assert store.count() == 0


def test_a_rollback_shaped_get_to_a_host_out_of_scope_is_not_inspected(store):
    flow = get(addon_for(store, ON_NETWORK, Broker()), ROLLBACK, host="wiki.example.net")
    assert flow.response is None and store.count() == 0


def test_a_rollback_link_on_a_listed_extra_wiki_in_the_packs_scope(store, tmp_path):
    pack = tmp_path / "wiki.toml"
    pack.write_text('[pack]\nid="wiki"\nname="W"\nextends="default"\n[scope]\ninclude=["wiki.example.net"]\n')
    config = parse_config({**OFF_NETWORK, "wikipedia": {"extra_wikis": ["wiki.example.net"]}})
    addon = PostGuard(store=store, engine=Engine(config, load_pack(str(pack))))
    get(addon, ROLLBACK, host="wiki.example.net")
    (event,) = store.list(Filter(rule="wikipedia.edit")).rows
    assert event["evidence"]["host"] == "wiki.example.net"


@pytest.mark.parametrize("url, saves", [
    ("https://en.wikipedia.org" + ROLLBACK, True),
    ("https://en.wikipedia.org/w/index.php?action=r%6Fllback&from=V&token=t", True),  # PHP decodes it
    ("https://en.wikipedia.org/w/index.php?title=Rollback", False),
    ("https://en.wikipedia.org/w/index.php?action=rollbacks", False),
    ("https://en.wikipedia.org/", False),
])
def test_saves_on_get(url, saves):
    assert saves_on_get(url) is saves


def test_scan_har_sees_the_rollback_link_the_live_proxy_sees(tmp_path):
    har = {"log": {"version": "1.2", "entries": [
        {"request": {"method": "GET", "url": "https://en.wikipedia.org" + ROLLBACK, "headers": []}},
        {"request": {"method": "GET", "url": "https://en.wikipedia.org/w/index.php?title=X&action=history",
                     "headers": []}}]}}
    path = tmp_path / "c.har"
    path.write_text(json.dumps(har))
    rollback, history = scan_har(str(path), Engine(parse_config(OFF_NETWORK)))
    assert [f["rule"] for f in rollback["findings"]] == ["wikipedia.edit"]
    assert history["findings"] == []
