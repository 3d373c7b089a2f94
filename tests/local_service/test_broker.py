"""The broker on its own: held requests decided from another thread, deadlines, notices, and the stream's replay."""
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from local_service.broker import Broker, Full, NotPending, Recent
from rules.record.hold import Answer

ROOT = Path(__file__).resolve().parents[2]
SUMMARY = {"url": "https://www.facebook.com/photos/upload", "findings": [{"rule": "location.gps"}]}


def later(seconds, fn, *args):
    t = threading.Timer(seconds, fn, args)
    t.start()
    return t


def test_broker_imports_no_flask():
    code = "import sys, local_service.broker; assert 'flask' not in sys.modules, 'flask imported'"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_decision_from_another_thread_ends_the_wait():
    broker = Broker()
    held = broker.hold(SUMMARY, timeout_s=5)
    assert held.url == SUMMARY["url"] and held.state == "pending"
    later(0.1, broker.decide, held.id, "post_anyway", "Parental consent on file")
    started = time.monotonic()
    assert held.wait(3) == Answer("post_anyway", "Parental consent on file")
    assert time.monotonic() - started < 2
    assert held.state == "decided" and broker.pending() == []


def test_many_waiters_each_get_their_own_decision():
    broker = Broker()
    holds = [broker.hold({"url": f"https://x.example/{i}"}, 5) for i in range(20)]
    results = {}

    def waiter(p):
        results[p.id] = p.wait(3)

    threads = [threading.Thread(target=waiter, args=(p,)) for p in holds]
    for t in threads:
        t.start()
    for i, p in enumerate(holds):
        broker.decide(p.id, "cancel" if i % 2 else "fix")
    for t in threads:
        t.join(3)
    assert {pid: d.choice for pid, d in results.items()} == {
        p.id: "cancel" if i % 2 else "fix" for i, p in enumerate(holds)}


def test_a_hold_past_its_deadline_resolves_with_none():
    broker = Broker()
    held = broker.hold(SUMMARY, timeout_s=0.2)
    started = time.monotonic()
    assert held.wait(5) is None  # the deadline, not the 5 s, ends the wait
    assert 0.15 < time.monotonic() - started < 1.5
    assert held.state == "expired"
    assert broker.pending() == []
    with pytest.raises(NotPending):
        broker.decide(held.id, "post_anyway", "too late")


def test_a_short_wait_is_not_an_expiry():
    broker = Broker()
    held = broker.hold(SUMMARY, timeout_s=5)
    assert held.wait(0.05) is None
    assert held.state == "pending"
    assert [p.id for p in broker.pending()] == [held.id]


def test_deciding_again_is_a_retry_and_a_different_answer_is_refused():
    broker = Broker()
    held = broker.hold(SUMMARY, 5)
    broker.decide(held.id, "cancel")
    assert broker.decide(held.id, "cancel").decision == Answer("cancel")
    with pytest.raises(NotPending):
        broker.decide(held.id, "post_anyway", "changed my mind")
    with pytest.raises(KeyError):
        broker.decide("no-such-id", "cancel")
    with pytest.raises(ValueError):
        broker.decide(held.id, "maybe")


def test_bad_timeout_and_too_many_holds_are_refused():
    broker = Broker(max_pending=2)
    with pytest.raises(ValueError):
        broker.hold(SUMMARY, 0)
    broker.hold(SUMMARY, 5)
    broker.hold(SUMMARY, 5)
    with pytest.raises(Full):
        broker.hold(SUMMARY, 5)


def test_notices_are_kept_in_a_bounded_ring():
    broker = Broker(ring=3)
    for i in range(5):
        broker.notify({"message": f"location removed from photo{i}.jpg"})
    assert [n["message"] for n in broker.notices()] == [f"location removed from photo{i}.jpg" for i in (2, 3, 4)]


def test_a_new_subscriber_starts_with_what_is_waiting_then_gets_news():
    broker = Broker()
    held = broker.hold(SUMMARY, 5)
    broker.notify({"message": "old news"})
    sub = broker.subscribe()
    first = sub.next(0.1)
    assert [(m.kind, m.data["pending_id"]) for m in first] == [("pending", held.id)]  # no old notices
    later(0.1, broker.notify, {"message": "location removed from photo.jpg on facebook.com"})
    started = time.monotonic()
    news = sub.next(3)
    assert time.monotonic() - started < 1.5  # woken by the notice, not by the end of the wait
    assert [(m.kind, m.data["message"]) for m in news] == [
        ("notice", "location removed from photo.jpg on facebook.com")]
    assert sub.next(0.05) == []


def test_a_subscriber_is_woken_to_report_an_expiry():
    broker = Broker()
    sub = broker.subscribe()
    held = broker.hold(SUMMARY, 0.2)
    assert [m.kind for m in sub.next(1)] == ["pending"]
    started = time.monotonic()
    assert [(m.kind, m.data["pending_id"]) for m in sub.next(2)] == [("expired", held.id)]
    assert time.monotonic() - started < 1.5


def test_reconnecting_with_the_last_id_replays_only_what_was_missed():
    broker = Broker()
    sub = broker.subscribe()
    held = broker.hold(SUMMARY, 5)
    seen = sub.next(0.1)
    broker.decide(held.id, "fix")
    broker.notify({"message": "n1"})
    again = broker.subscribe(seen[-1].id)
    assert [m.kind for m in again.next(0.1)] == ["decided", "notice"]
    assert broker.subscribe(again.last_id).next(0.05) == []


def test_a_gap_the_ring_no_longer_covers_adds_what_is_waiting():
    broker = Broker(ring=2)
    held = broker.hold(SUMMARY, 5)  # message 1
    for i in range(3):
        broker.notify({"message": f"n{i}"})  # messages 2-4: message 1 leaves the ring
    kinds = [(m.kind, m.data.get("pending_id")) for m in broker.subscribe(1).next(0.1)]
    assert ("pending", held.id) in kinds and ("notice", None) in kinds


def test_a_restarted_service_treats_an_unknown_last_id_as_new():
    broker = Broker()
    held = broker.hold(SUMMARY, 5)
    assert [m.data["pending_id"] for m in broker.subscribe(999).next(0.1)] == [held.id]


def test_proxy_heartbeat():
    broker = Broker()
    assert not broker.proxy_active()
    broker.proxy_seen()
    assert broker.proxy_active(60)
    broker._proxy_seen -= 61
    assert not broker.proxy_active(60)


def test_recent_checks_are_bounded_and_expire():
    recent = Recent(size=2, ttl_s=0.1)
    for key in "abc":
        recent.put(key, {"n": key})
    assert recent.get("a") is None and recent.get("c") == {"n": "c"} and len(recent) == 2
    assert recent.claim("c", "choice", "cancel") == "cancel"
    assert recent.claim("c", "choice", "post_anyway") == "cancel"  # the first answer wins
    time.sleep(0.15)
    assert recent.get("c") is None
    with pytest.raises(KeyError):
        recent.claim("c", "choice", "cancel")
