"""The overview's tiles count posts: a post with two findings is one post; past the cap they count findings and
say so."""
from datetime import timedelta
from html import unescape

from local_service import charts
from rules.record.events import Event, utcnow
from rules.record.store import Filter

from .admin_helpers import auth, fast_hashing  # noqa: F401


def post(t, user="amy", decisions=("sanitised",), path="https://x.com/upload"):
    return [Event(rule=r, decision=d, severity="high", user=user, device="LT-1", path=path,
                  time=t + timedelta(milliseconds=10 * i))
            for i, (r, d) in enumerate(zip(["location.gps", "personal_data.pupil", "pupil.image"], decisions))]


def test_two_findings_of_one_post_are_one_post(store):
    now = utcnow() - timedelta(hours=1)
    store.append(post(now, decisions=("sanitised", "overridden")))  # one post, two findings
    store.append(post(now + timedelta(seconds=30)))  # the same person and page, later: another post
    store.append(post(now, user="ben", decisions=("blocked",)))  # another person at the same moment
    counts = charts.post_counts(store.iter_all(Filter(since=now - timedelta(days=1))))
    assert counts == {"posts": 3, "by_decision": {"sanitised": 2, "overridden": 1, "blocked": 1}}
    assert charts.post_counts(store.iter_all(Filter()), cap=3) is None  # past the cap: not guessed


def test_the_tiles_say_posts_and_findings(client, store, auth):
    now = utcnow() - timedelta(hours=1)
    store.append(post(now, decisions=("sanitised", "sanitised")))
    auth.login()
    tiles = unescape(client.get("/admin/").text).split('<ul class="cards">')[1].split("</ul>")[0]
    assert "<span class=\"stat-n\">1</span><span class=\"stat-l\">posts with a finding" in tiles
    assert "(2 findings: a post can have several)" in tiles
    assert "<span class=\"stat-n\">1</span><span class=\"stat-l\">posts cleaned before they went out" in tiles
