"""Attribution (issue 15): every event names the person by their OS account and, where the extension knows it, their
school e-mail. The extension reports the address the browser is signed in with; the laptop's store stamps it on that
account's events; it travels, sealed, to the trust server, where a person's history can be asked for by it."""
from rules.record.events import Event
from rules.record.store import Filter

from .admin_helpers import auth, fast_hashing  # noqa: F401 (fixtures)
from .test_trust_server import Laptop, held, server  # noqa: F401 (the trust server fixture)


def test_the_extension_reports_a_school_address_and_the_accounts_events_name_it(api, store):
    before = Event(rule="location.gps", decision="warned", user="teacher1")
    store.append(before)
    r = api.post("/api/v1/identity", json={"email": "  A.Teacher@Test-School.sch.uk "})
    assert r.status_code == 200 and r.get_json() == {"kept": True, "email": "a.teacher@test-school.sch.uk",
                                                      "user": "teacher1"}
    after, other = (Event(rule="location.gps", decision="warned", user="teacher1"),
                    Event(rule="location.gps", decision="warned", user="someone-else"))
    store.append([after, other])
    assert store.get(before.id)["email"] is None  # nothing is rewritten: the record is sealed as it was
    assert store.get(after.id)["email"] == "a.teacher@test-school.sch.uk"
    assert store.get(other.id)["email"] is None  # another OS account is another person
    assert [r["id"] for r in store.list(Filter(email="a.teacher@test-school.sch.uk")).rows] == [after.id]
    assert store.verify().ok


def test_a_personal_or_malformed_address_is_not_recorded(api, store):
    r = api.post("/api/v1/identity", json={"email": "a.teacher@gmail.com"})
    assert r.status_code == 200 and r.get_json()["kept"] is False and "personal" in r.get_json()["why"]
    for bad in ({"email": "not an address"}, {"email": 5}, {"email": "x@test-school.sch.uk", "more": 1}, {}):
        assert api.post("/api/v1/identity", json=bad).status_code == 400
    assert api.client.post("/api/v1/identity", json={"email": "a@test-school.sch.uk"}).status_code in (401, 403)
    ev = Event(rule="location.gps", decision="warned", user="teacher1")
    store.append(ev)
    assert store.get(ev.id)["email"] is None and store.school_emails() == {}


def test_the_address_travels_sealed_to_the_trust_server(server, tmp_path):  # noqa: F811
    app, central, net = server
    a = Laptop(tmp_path, "a", net)
    a.add(3, user="amy")
    a.store.set_school_email("amy", "amy@stmary.sch.uk")
    a.add(2, user="amy")
    a.add(1, user="ben")
    a.enrol()
    assert a.forward()
    rows = sorted(held(central), key=lambda r: r["origin_seq"])
    assert [r["email"] for r in rows] == [None, None, None, "amy@stmary.sch.uk", "amy@stmary.sch.uk", None]
    assert [c.problem for c in central.verify_devices()] == [""]
    assert len(central.list(Filter(email="amy@stmary.sch.uk")).rows) == 2


def test_the_dashboard_shows_the_address_and_filters_by_it(client, store, api, auth):  # noqa: F811
    api.post("/api/v1/identity", json={"email": "a.teacher@test-school.sch.uk"})
    ev = Event(rule="location.gps", decision="warned", user="teacher1")
    store.append([ev, Event(rule="location.gps", decision="warned", user="other")])
    auth.login()
    page = client.get(f"/admin/events/{ev.id}").get_data(as_text=True)
    assert "a.teacher@test-school.sch.uk" in page
    listed = client.get("/admin/events?email=a.teacher@test-school.sch.uk").get_data(as_text=True)
    assert ev.id in listed and 'name="email"' in listed and "/admin/people/other" not in listed
