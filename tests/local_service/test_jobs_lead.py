"""One app server of several on the same database runs the background jobs (Store.lead): on a real PostgreSQL
server, the first to ask holds it, the others do not, and one of them takes over when the holder stops."""
import time

from rules.record.store import Store


def eventually(ask) -> bool:
    """A session's lock goes when its backend process has exited, moments after its connection closed or it was
    told to end: ask until it says yes (a bound, not a timing: 30 s)."""
    deadline = time.monotonic() + 30
    while not ask() and time.monotonic() < deadline:
        time.sleep(0.05)
    return ask()


def test_one_store_leads_and_another_takes_over_when_it_closes(store_url):
    a, b = Store(store_url), Store(store_url)
    try:
        if a.sqlite:
            assert a.lead() and b.lead()  # one server on a file: nothing to share
            return
        assert a.lead()
        assert a.lead()  # asking again keeps it
        assert not b.lead()
        a.close()
        assert eventually(b.lead)
        c = Store(store_url)
        try:
            assert not c.lead()
        finally:
            c.close()
    finally:
        b.close()
        a.close()


def test_a_dropped_connection_gives_the_lead_to_another(pg_server):
    url = pg_server.fresh_database("t_lead_dropped")
    a, b = Store(url), Store(url)
    try:
        assert a.lead() and not b.lead()
        with b.engine.connect() as conn:  # the database ends a's lock-holding session (a restart, a network cut)
            conn.exec_driver_sql("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                                 "AND objid = 7210515 AND database = (SELECT oid FROM pg_database "
                                 "WHERE datname = current_database())")
            conn.commit()
        assert eventually(b.lead)
        assert not a.lead()  # a notices its session is gone, and asks again: b holds it now
    finally:
        a.close()
        b.close()
