"""The per-post time budget: an inspection past [proxy] inspection_budget_s is abandoned and logged as an inspection
error, the post handled as any post that could not be inspected (the pack's fail_mode), never as clean; meanwhile
the event loop keeps answering everyone else."""
import asyncio
import threading

import pytest

from proxy_addon.addon import PostGuard
from proxy_addon.budget import Inspectors, OverBudget
from rules import Engine, load_pack
from rules.config import ConfigError, parse_config
from rules.detectors.location import LocationDetector
from rules.record.store import Filter
from tests.proxy_addon.conftest import Proxy
from tests.proxy_addon.test_addon import BOUNDARY, make_flow, multipart, run
from tests.proxy_addon.test_e2e import post
from tests.rules.test_location import SHEFFIELD, gps_ifd, jpeg_with_gps


@pytest.fixture
def stuck(monkeypatch):
    """location's detector stuck on any file named slow.jpg until the test lets it go (a real slow inspection: the
    engine and the addon do not know it is a test)."""
    release, entered = threading.Event(), threading.Event()
    original = LocationDetector.check_file

    def slow(self, submission, att, rules):
        if att.name == "slow.jpg":
            entered.set()
            release.wait(30)
        return original(self, submission, att, rules)

    monkeypatch.setattr(LocationDetector, "check_file", slow)
    yield entered, release
    release.set()


def _engine(budget_s: float, pack: str = "default") -> Engine:
    return Engine(parse_config({"proxy": {"inspection_budget_s": budget_s}}), load_pack(pack))


def _photo_post(name: str) -> bytes:
    return multipart([("caption", None, b"Sports day", ""),
                      ("photo", name, jpeg_with_gps(gps_ifd(*SHEFFIELD)), "image/jpeg")])


def test_the_budget_is_a_typed_config_key_with_a_default():
    assert parse_config({}).proxy.inspection_budget_s == 5.0
    for bad in (0, -1, "5", 10_000):
        with pytest.raises(ConfigError, match="proxy.inspection_budget_s"):
            parse_config({"proxy": {"inspection_budget_s": bad}})


def test_a_slow_inspection_is_abandoned_logged_and_the_loop_keeps_answering(tmp_path, upstream, e2e_store, stuck):
    entered, release = stuck
    # 6 s: room for the other post to be answered meanwhile, even on a busy machine
    p = Proxy(tmp_path / "mitm", PostGuard(store=e2e_store, engine=_engine(6.0)))
    slow_body, results = _photo_post("slow.jpg"), {}
    ctype = f"multipart/form-data; boundary={BOUNDARY}"
    try:
        slow = threading.Thread(target=lambda: results.update(
            slow=post(p, upstream.url + "/slow", slow_body, ctype)))
        slow.start()
        assert entered.wait(20), "the slow inspection never started"
        # While that inspection is stuck on a worker thread, another post through the same proxy is inspected,
        # cleaned and answered: the event loop is not waiting for the stuck one.
        quick = post(p, upstream.url + "/quick", _photo_post("quick.jpg"), ctype)
        still_waiting = slow.is_alive()
        slow.join(30)
    finally:
        release.set()
        p.stop()
    assert quick[0] == 200 and still_waiting
    assert results["slow"][0] == 200  # the default pack fails open: the post goes on...
    (sent,) = [body for _, path, _, body in upstream.received if path == "/slow"]
    assert sent == slow_body  # ...untouched, and never as "clean": it is on the record as not inspected
    (error,) = e2e_store.list(Filter(decision="inspection_error")).rows
    assert error["path"].endswith("/slow") and "6 s budget" in error["reason"] and "abandoned" in error["reason"]
    (cleaned,) = e2e_store.list(Filter(decision="sanitised")).rows
    assert cleaned["path"].endswith("/quick")


def test_past_the_budget_a_fail_closed_pack_refuses_the_post(store, tmp_path, stuck):
    entered, release = stuck
    pack = tmp_path / "closed.toml"
    pack.write_text('[pack]\nid="closed"\nname="C"\nextends="default"\n[settings]\nfail_mode = "closed"\n')
    flow = run(PostGuard(store=store, engine=_engine(0.2, str(pack))),
               make_flow(_photo_post("slow.jpg"), f"multipart/form-data; boundary={BOUNDARY}"))
    assert entered.is_set() and flow.response is not None and flow.response.status_code == 403
    (event,) = store.list().rows
    assert event["decision"] == "blocked" and "budget" in event["reason"]


def test_an_abandoned_inspection_finishing_later_changes_nothing(store, stuck):
    entered, release = stuck
    addon = PostGuard(store=store, engine=_engine(0.2))
    body = _photo_post("slow.jpg")
    flow = run(addon, make_flow(body, f"multipart/form-data; boundary={BOUNDARY}"))
    assert flow.request.raw_content == body and addon.inspectors.abandoned == 1
    release.set()
    addon.inspectors.close()
    for _ in range(200):
        if addon.inspectors.abandoned == 0:
            break
        threading.Event().wait(0.05)
    assert addon.inspectors.abandoned == 0  # it did finish, found the GPS...
    assert flow.request.raw_content == body  # ...and neither the post nor the record heard of it
    assert [e["decision"] for e in store.list().rows] == ["inspection_error"]


def test_a_post_queued_behind_busy_inspectors_is_not_inspected_late_but_refused_in_time():
    inspectors = Inspectors(workers=1)
    gate = threading.Event()
    ran = []

    async def scenario():
        first = asyncio.ensure_future(inspectors.run(gate.wait, 30, budget_s=0.2))
        await asyncio.sleep(0)  # the first is handed to the one worker before the second asks
        with pytest.raises(OverBudget, match="no inspector was free"):
            await inspectors.run(ran.append, "queued", budget_s=0.1)
        with pytest.raises(OverBudget, match="abandoned"):
            await first

    try:
        asyncio.run(scenario())
    finally:
        gate.set()
        inspectors.close()
    assert ran == []  # the queued inspection was cancelled, never run after its post went on


def test_a_small_post_never_queues_behind_large_inspections():
    """Large or encoded bodies (photos, bombs) and small plain ones have lanes of their own: with every large
    inspector busy, a small post is still inspected at once."""
    inspectors = Inspectors(workers=1, small_workers=1)
    gate = threading.Event()

    async def scenario():
        big = asyncio.ensure_future(inspectors.run(gate.wait, 30, budget_s=5))
        await asyncio.sleep(0)
        assert await inspectors.run(lambda: "inspected", budget_s=5, small=True) == "inspected"
        assert not big.done()  # the large lane's one inspector was busy all along
        gate.set()
        await big

    try:
        asyncio.run(scenario())
    finally:
        gate.set()
        inspectors.close()
    assert Inspectors.small(b"x" * 1000, encoded=False)
    assert not Inspectors.small(b"x" * 1000, encoded=True)  # a small body may decode to megabytes
    assert not Inspectors.small(b"x" * (1 << 20), encoded=False)
