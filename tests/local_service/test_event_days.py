"""The overview's daily rollup (store.event_days) against counting the events themselves, on SQLite and a real
PostgreSQL server: whatever is stored, ingested from devices of several schools, or purged, the overview's numbers
from the rollup are the numbers the events give."""
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.record.events import Event
from rules.record.store import Filter, Retention, ScopedFilter, Store, event_days, events, host_days

from .rewind import rewind

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
MIDNIGHT = datetime(2026, 11, 1, tzinfo=timezone.utc)
RULES = ["location.gps", "contact.pupil", "school_email.signup"]
HOSTS = ["www.facebook.com", "x.com", ""]

events_st = st.lists(st.tuples(
    st.integers(0, 40 * 24 * 60 - 1),  # minutes before NOW: 40 days, across UTC midnights
    st.sampled_from(RULES), st.sampled_from(["warned", "overridden", "sanitised", "blocked"]),
    st.sampled_from(HOSTS), st.sampled_from([None, "St Mary", "Mill Lane"])), min_size=1, max_size=60)


@pytest.fixture
def store(store_url):
    s = Store(store_url)
    yield s
    s.close()


def _add(store, spec):
    evs, extras = [], []
    for minutes, rule, decision, host, school in spec:
        evs.append(Event(rule=rule, decision=decision, severity="medium", user="amy",
                         path=f"https://{host}/post" if host else "", time=NOW - timedelta(minutes=minutes)))
        extras.append({"school": school})
    with store._lock, store.engine.begin() as conn:  # the trust server's path: each event with its school
        store._append(conn, evs, extras)


def _same(store, since, flt=None):
    got, want = store.stats(since, flt), store.stats_from_events(since, flt)
    assert got["per_day"] == want["per_day"]
    assert got["decisions"] == want["decisions"]
    assert got["hosts"] == want["hosts"]
    return got


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=events_st, second=events_st, keep_days=st.integers(1, 45))
def test_the_rollup_counts_what_the_events_count(store, first, second, keep_days):
    with store.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM events"))
        conn.execute(event_days.delete())
        conn.execute(host_days.delete())
    _add(store, first)
    _add(store, second)
    for since in (MIDNIGHT, MIDNIGHT + timedelta(days=20)):
        _same(store, since)
        for school in ("St Mary", "Mill Lane"):
            _same(store, since, Filter(school=school))
        _same(store, since, ScopedFilter(schools=("St Mary",)))
        _same(store, since, ScopedFilter(schools=()))
    store.purge(Retention(default_days=keep_days), now=NOW)
    got = _same(store, MIDNIGHT)
    assert sum(n for *_, n in got["per_day"]) == store.count(Filter(since=MIDNIGHT)) - _purged_since(store, MIDNIGHT)


def _purged_since(store, since):
    with store.reader.connect() as conn:
        return conn.scalar(sa.select(sa.func.count()).select_from(events).where(events.c.purged.is_(True),
                                                                                  events.c.time >= since))


def test_a_start_that_is_not_midnight_or_another_filter_counts_the_events(store):
    _add(store, [(m, "location.gps", "warned", "x.com", None) for m in range(0, 3000, 7)])
    for since, flt in ((NOW - timedelta(hours=30), None), (MIDNIGHT, Filter(rule="location.gps")),
                       (MIDNIGHT, Filter(user="amy"))):
        assert store.stats(since, flt) == store.stats_from_events(since, flt)
    # and the rollup alone is what the overview reads: emptying it empties the overview's numbers
    with store.engine.begin() as conn:
        conn.execute(event_days.delete())
        conn.execute(host_days.delete())
    assert store.stats(MIDNIGHT)["per_day"] == [] and store.stats(MIDNIGHT)["hosts"] == []
    assert store.stats_from_events(MIDNIGHT)["per_day"] != []


def test_an_older_store_is_counted_into_the_rollup_when_it_is_migrated(tmp_path):
    url = f"sqlite:///{tmp_path / 'log.db'}"
    s = Store(url)
    _add(s, [(m, "location.gps", "warned", "x.com", None) for m in range(0, 5000, 13)])
    want = s.stats_from_events(MIDNIGHT)
    s.close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # back to revision 0004: no rollup
        rewind(conn, "0004")
    engine.dispose()
    s = Store(url)
    try:
        assert s.stats(MIDNIGHT) == want and want["per_day"]
    finally:
        s.close()
