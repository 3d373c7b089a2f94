"""The settings page's "send a test" for the webhook and syslog channels, through the dashboard (login, CSRF, the
audit log), against a real signed-webhook receiver and a real syslog listener; a failing channel on the overview."""
from html import unescape

import pytest

from local_service import webhooks
from rules.config import parse_config

from .admin_helpers import auth, fast_hashing  # noqa: F401
from .test_alerts_channels import Hook, Listener


@pytest.fixture
def listener():
    listener = Listener("tcp")
    yield listener
    listener.stop()


@pytest.fixture
def pg_config(tmp_path, listener):
    return parse_config({"data_dir": str(tmp_path / "data"), "school": {"name": "Test School"},
                         "alerts": {"syslog": listener.url,
                                    "routes": [{"to": ["dsl@test-school.sch.uk"], "rules": ["location.*"],
                                                "when": "daily"}],
                                    "escalation": [{"people": ["dsl@test-school.sch.uk", "head@test-school.sch.uk"],
                                                    "after_minutes": 20}]}})


def test_send_a_test_to_the_webhook_and_to_syslog(client, store, auth, listener, pg_config):
    auth.login()
    page = unescape(client.get("/admin/settings").text)
    assert "dsl@test-school.sch.uk → head@test-school.sch.uk, the next one after 20 minutes" in page
    assert "<td>dsl@test-school.sch.uk</td><td>daily digest</td><td>every school</td><td>every location rule</td>" \
        in page
    hook = Hook([204])
    try:
        store.set_setting("alert_webhook", hook.url)
        r = auth.post("/admin/settings", {"action": "send_test", "channel": "webhook"}, follow_redirects=True)
        assert f"The test to {hook.url} was accepted." in unescape(r.text)
        (body, header), = hook.received
        secret = (pg_config.data_dir / "webhook_secret").read_text().strip()
        assert webhooks.verify(secret, body, header)
    finally:
        hook.stop()
    r = auth.post("/admin/settings", {"action": "send_test", "channel": "syslog"}, follow_redirects=True)
    assert f"The test to {listener.url} was sent." in unescape(r.text)
    (got,) = listener.wait(1)
    assert got["header"][4] == "alert.test" and got["ext"]["cs2"] == "Test School"
    tests = [a["detail"] for a in store.audit_entries(limit=100) if a["action"] == "test_alert"]
    assert {(t["channel"], t["ok"]) for t in tests} == {("webhook", True), ("syslog", True)}


def test_a_failing_syslog_shows_on_the_overview_and_the_test_says_why(client, store, auth, listener):
    listener.stop()
    auth.login()
    r = auth.post("/admin/settings", {"action": "send_test", "channel": "syslog"}, follow_redirects=True)
    assert "was not sent: ConnectionRefusedError" in unescape(r.text)
    overview = unescape(client.get("/admin/").text)
    assert "Syslog (SIEM) failing since" in overview and "(1 failed attempt)" in overview
    assert "Syslog (SIEM) failing since" in unescape(client.get("/admin/settings").text)


def test_the_test_buttons_need_the_csrf_token(client, store, auth, listener):
    auth.login()
    r = client.post("/admin/settings", data={"csrf_token": "wrong", "action": "send_test", "channel": "syslog"})
    assert r.status_code == 400
    assert listener.received == []
