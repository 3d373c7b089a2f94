"""Issue 14's acceptance: with three decompression bombs in flight, a real proxy process stays under 400 MB and
still answers a small post; each bomb goes on untouched and is on the record as an inspection error. (The 1 s
figure for the small post is bench/bomb_bench.py's: a unit test asserts no durations.)"""
import pytest

from rules.record.store import Filter, Store
from tests.proxy_addon.bomb_flight import ENCODINGS, SMALL, Mitmdump, bomb, in_flight, status_kb
from tests.proxy_addon.conftest import Upstream

LIMIT_KB = 400 << 10


@pytest.fixture(scope="module")
def bombs():
    return {encoding: bomb(encoding, seed=n) for n, encoding in enumerate(ENCODINGS)}


def test_three_bombs_in_flight_stay_under_400_mb_and_a_small_post_is_answered(tmp_path, bombs):
    from proxy_addon.extract import MAX_DECODED, MAX_RATIO
    assert all(len(b) * MAX_RATIO > MAX_DECODED for b in bombs.values())  # each may expand to the full cap
    site = Upstream()
    proxy = Mitmdump(tmp_path / "proxy")
    try:
        rounds = [in_flight(proxy, site.url, bombs) for _ in range(2)]
        peak_kb = status_kb(proxy.pid, "VmHWM")  # the most the process ever held, start-up included
    finally:
        proxy.stop()
        site.stop()
    assert 0 < peak_kb < LIMIT_KB and all(0 < r.peak_rss_kb < LIMIT_KB for r in rounds), (peak_kb, rounds)
    for r in rounds:
        assert r.small_status == 200 and r.bomb_status == [200, 200, 200], r
    received = [(path, headers.get("Content-Encoding"), body) for _, path, headers, body in site.received]
    assert sorted(b for p, _, b in received if p.startswith("/api/post/")) == sorted(list(bombs.values()) * 2)
    assert [b for p, _, b in received if p == "/api/status"] == [SMALL, SMALL]
    store = Store(f"sqlite:///{proxy.db}")
    try:
        errors = store.list(Filter(decision="inspection_error")).rows
        assert store.count() == len(errors) == 6  # one per bomb, and nothing for the small post
    finally:
        store.close()
    assert all("decompression bomb" in e["reason"] and "/api/post/" in e["path"] for e in errors), errors
