"""Warn: the proxy holds the post until the person decides in the browser (through the local service's broker)."""
import threading
import time

import pytest

from local_service.broker import Broker
from rules.record.store import Filter
from proxy_addon.addon import PostGuard
from rules import Engine, load_pack, media
from tests.proxy_addon.test_addon import make_flow, run
from tests.rules.test_location import SHEFFIELD, gps_ifd, jpeg_with_gps


@pytest.fixture
def warn_pack(tmp_path):
    path = tmp_path / "warny.toml"
    path.write_text('[pack]\nid="warny"\nname="W"\nextends="default"\n[settings]\nwarn_timeout_s = 1\n'
                    '[rules."location.gps"]\naction="warn"\n')
    return load_pack(str(path))


def decide_when_held(broker, choice, reason=""):
    def worker():
        for _ in range(200):
            held = broker.pending()
            if held:
                broker.decide(held[0].id, choice, reason)
                return
            time.sleep(0.01)
    t = threading.Thread(target=worker, daemon=True)
    t.start()
    return t


@pytest.mark.parametrize("choice", ["post_anyway", "cancel", "fix"])
def test_a_held_post_follows_the_persons_decision(store, warn_pack, choice):
    broker = Broker()
    addon = PostGuard(store=store, broker=broker, engine=Engine(pack=warn_pack))
    photo = jpeg_with_gps(gps_ifd(*SHEFFIELD))
    worker = decide_when_held(broker, choice, "Parental consent on file")
    flow = run(addon, make_flow(photo, "image/jpeg"))
    worker.join(5)
    if choice == "post_anyway":
        assert flow.response is None and flow.request.raw_content == photo
    elif choice == "cancel":
        assert flow.response.status_code == 409
    else:
        assert flow.response is None and media.inspect(flow.request.raw_content).real_coordinates == []
    assert store.count() == 0  # the person's answer is logged by the service's /decision, not twice here


def test_no_answer_applies_the_packs_fallback(store, warn_pack):
    addon = PostGuard(store=store, broker=Broker(), engine=Engine(pack=warn_pack))
    flow = run(addon, make_flow(jpeg_with_gps(gps_ifd(*SHEFFIELD)), "image/jpeg"))
    assert flow.response.status_code == 403
    (event,) = store.list(Filter(rule="location.gps")).rows
    # issue 14: "no answer in time" is its own outcome, no longer logged and counted as "blocked"
    assert event["decision"] == "unanswered" and event["reason"].startswith("no answer in time")
    assert "blocked" in event["reason"]


@pytest.mark.parametrize("fallback,status", [("block", 403), ("allow", None)])
def test_a_post_nobody_answered_is_recorded_unanswered_with_the_fallback_applied(store, tmp_path, fallback, status):
    path = tmp_path / "fallback.toml"
    path.write_text('[pack]\nid="fb"\nname="F"\nextends="default"\n[settings]\nwarn_timeout_s = 1\n'
                    f'warn_fallback = "{fallback}"\n[rules."location.gps"]\naction="warn"\n')
    addon = PostGuard(store=store, broker=Broker(), engine=Engine(pack=load_pack(str(path))))
    photo = jpeg_with_gps(gps_ifd(*SHEFFIELD))
    flow = run(addon, make_flow(photo, "image/jpeg"))
    if status is None:
        assert flow.response is None and flow.request.raw_content == photo
    else:
        assert flow.response.status_code == status
    (event,) = store.list(Filter(rule="location.gps")).rows
    assert event["decision"] == "unanswered"
    assert event["reason"] == "no answer in time; the pack's warn_fallback " + \
        ("let it go (allowed)" if fallback == "allow" else "refused it (blocked)")
    assert store.count(Filter(decision="blocked")) == 0 and store.count(Filter(decision="allowed")) == 0


def test_with_no_way_to_ask_the_post_is_unanswered_too(store, warn_pack):
    addon = PostGuard(store=store, engine=Engine(pack=warn_pack))  # no broker: the service is not running
    flow = run(addon, make_flow(jpeg_with_gps(gps_ifd(*SHEFFIELD)), "image/jpeg"))
    assert flow.response.status_code == 403
    (event,) = store.list(Filter(rule="location.gps")).rows
    assert event["decision"] == "unanswered" and event["reason"].startswith("no way to ask")


def test_an_answer_given_in_the_page_is_not_asked_again(store, warn_pack):
    """The extension asked and the person chose Post anyway; the proxy then sees the same bytes."""
    from rules.record.hold import fingerprint

    broker = Broker()
    photo = jpeg_with_gps(gps_ifd(*SHEFFIELD))
    broker.remember_answer([fingerprint(photo)], "post_anyway", "Official school account")
    addon = PostGuard(store=store, broker=broker, engine=Engine(pack=warn_pack))
    started = time.monotonic()
    flow = run(addon, make_flow(photo, "image/jpeg"))
    assert flow.response is None and flow.request.raw_content == photo
    assert time.monotonic() - started < 0.9  # released at once, not after the 1 s warn timeout
    assert broker.pending() == [] and store.count() == 0
