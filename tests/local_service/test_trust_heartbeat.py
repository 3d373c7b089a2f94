"""A batch with no events (a laptop's heartbeat) takes Store.ingest's short path on PostgreSQL (one UPDATE ...
RETURNING, no wait for the WAL flush): it must still see every problem a full batch would, and still be refused
for a revoked device. On SQLite it takes the ordinary path; both backends are checked."""
import shutil

from local_service import forwarder
from tests.local_service.test_trust_server import Laptop, integrity, server  # noqa: F401  (server: the fixture)


def test_a_heartbeat_updates_health_and_acknowledges_what_is_held(server, tmp_path):  # noqa: F811
    app, store, net = server
    a = Laptop(tmp_path, "a", net)
    e = a.enrol()
    a.add(3)
    assert a.forward()
    before = store.device(e.device)["last_seen"]
    acked, head = forwarder.Forwarder(a.config, a.store, post=net).send_batch()  # nothing new: a heartbeat
    assert (acked, head) == (3, 3)
    dev = store.device(e.device)
    assert dev["last_seen"] >= before and dev["held"] == 3 and dev["health"]["backlog"] == 0
    assert integrity(store) == []


def test_a_heartbeat_from_a_rewound_laptop_is_reported(server, tmp_path):  # noqa: F811
    app, store, net = server
    a = Laptop(tmp_path, "a", net)
    a.enrol()
    a.add(5)
    assert a.forward()
    a.store.close()
    backup = tmp_path / "backup"
    shutil.copytree(a.dir, backup)
    a.reopen()
    a.add(5)
    assert a.forward()
    a.store.close()
    shutil.rmtree(a.dir)
    shutil.copytree(backup, a.dir)
    (a.dir / "anchors").unlink(missing_ok=True)
    a.reopen()  # restored: its record ends at 5, the server holds 10; nothing new to send
    forwarder.Forwarder(a.config, a.store, post=net).send_batch()
    assert integrity(store) == ["integrity.rewound"]
    assert [c.problem != "" for c in store.verify_devices()] == [True]


def test_a_heartbeat_from_a_revoked_device_is_refused_and_reported(server, tmp_path):  # noqa: F811
    app, store, net = server
    a = Laptop(tmp_path, "a", net)
    e = a.enrol()
    a.add(2)
    assert a.forward()
    seen = store.device(e.device)["last_seen"]
    store.device_revoke(e.device)
    try:
        forwarder.Forwarder(a.config, a.store, post=net).send_batch()
    except forwarder.ForwardError as exc:
        assert "revoked" in str(exc)
    else:
        raise AssertionError("a revoked device's heartbeat was accepted")
    assert integrity(store) == ["integrity.revoked"]
    assert store.device(e.device)["last_seen"] == seen
