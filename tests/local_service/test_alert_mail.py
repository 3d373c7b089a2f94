"""Alert e-mail against a real SMTP server (aiosmtpd on 127.0.0.1): a high-severity event's mail, the dashboard's
"Send test" button, retries and the failure shown on the dashboard, and a login at a server that requires AUTH."""
import email
import email.policy
import os
import socket
from datetime import datetime
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from local_service.alerts import Alerter
from rules.alert_config import Alerts
from rules.config import parse_config
from rules.record.events import Event
from tests.tls import self_signed

from .admin_helpers import auth, fast_hashing  # noqa: F401

TO = "safeguarding@test-school.sch.uk"
FROM = "postguard@test-school.sch.uk"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                              email.message_from_bytes(envelope.content, policy=email.policy.default),
                              session.authenticated))
        return "250 OK"


def start(inbox: Inbox, **kw) -> Controller:
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **kw)
    controller.start()
    return controller


@pytest.fixture
def inbox():
    box = Inbox()
    box.controller = start(box)
    yield box
    box.controller.stop()


@pytest.fixture
def service_table(inbox):
    return {"smtp_host": "127.0.0.1", "smtp_port": inbox.controller.port, "smtp_tls": "none", "alert_from": FROM}


@pytest.fixture
def pg_config(tmp_path, service_table):
    """The dashboard's config (conftest's app uses it): its mail server is the test's aiosmtpd."""
    return parse_config({"data_dir": str(tmp_path / "data"), "school": {"name": "Test School"},
                         "service": service_table})


def mail_settings(store):
    return {k: store.get_setting(k) for k in ("alert_mail_failures", "alert_mail_failing_since",
                                              "alert_mail_last_error")}


def test_a_high_severity_event_is_mailed_with_only_what_the_record_keeps(store, pg_config, inbox):
    store.set_setting("alert_email", TO)
    alerter = Alerter(store, "http://127.0.0.1:8765", config=pg_config, wait_s=0.01)
    store.append([Event(rule="location.gps", decision="blocked", severity="high", user="amy", device="laptop-1",
                        path="https://x.com/upload?id=secret-query", message="GPS coordinates in the photo.",
                        evidence={"lat": 53.382847, "lon": -1.456677}, source="proxy",
                        clauses=[{"ref": "6.9", "text": "Photographs must not be published."}]),
                  Event(rule="location.place", decision="warned", severity="medium", user="ben")])
    alerter.flush()
    (mail_from, rcpt, msg, _), = inbox.messages
    assert mail_from == FROM and rcpt == [TO]
    assert msg["From"] == FROM and msg["To"] == TO
    assert msg["Subject"] == "PostGuard: Location (GPS) in a photo or video (blocked)"  # in words, not the rule id
    body = msg.get_body().get_content()
    assert "amy on laptop-1 at x.com (Test School)" in body and "They were told: GPS coordinates in the photo." in body
    assert "Location (GPS) in a photo or video: Blocked (severity high)" in body and "Policy clause: 6.9" in body
    (stored,) = store.list().rows[1:]  # the high-severity one (appended first), in the school's time zone
    local = datetime.fromisoformat(stored["time"].replace("Z", "+00:00")).astimezone(ZoneInfo("Europe/London"))
    assert f"{local.day} {local:%b %Y, %H:%M} {local.tzname()}  amy" in body
    assert "http://127.0.0.1:8765/admin/events/" in body
    for kept_out in ("secret-query", "53.38", "1.456", "Photographs must not", "ben"):
        assert kept_out not in body
    assert not msg.is_multipart()  # no attachment: never the post's content
    assert mail_settings(store)["alert_mail_failing_since"] is None and store.get_setting("alert_mail_last_ok_at")


def test_the_send_test_button_delivers_a_message_and_is_audited(client, store, auth, inbox):
    auth.login()
    page = client.get("/admin/settings").text
    assert "Send test" in page and "disabled" in page[page.index('value="send_test"'):page.index("Send test")]
    store.set_setting("alert_email", TO)
    response = auth.post("/admin/settings", {"action": "send_test"}, follow_redirects=True)
    assert response.status_code == 200
    assert f"The test alert to {TO} was accepted by the mail server" in unescape(response.text)
    (mail_from, rcpt, msg, _), = inbox.messages
    assert rcpt == [TO] and msg["From"] == FROM and msg["Subject"] == "PostGuard: test alert"
    (entry,) = [a for a in store.audit_entries(limit=1000) if a["action"] == "test_alert"]
    assert entry["detail"] == {"to": TO, "ok": True}


def test_the_send_test_button_without_csrf_is_refused(client, store, auth, inbox):
    auth.login()
    store.set_setting("alert_email", TO)
    response = client.post("/admin/settings", data={"csrf_token": "wrong", "action": "send_test"})
    assert response.status_code == 400 and inbox.messages == []


def test_a_stopped_server_is_retried_then_the_failure_is_shown_on_the_dashboard(client, store, auth, pg_config,
                                                                                 inbox):
    inbox.controller.stop()
    store.set_setting("alert_email", TO)
    alerter = Alerter(store, service=pg_config.service, attempts=3, wait_s=0.01)
    store.append(Event(rule="location.gps", decision="blocked", severity="high"))
    alerter.flush()
    state = mail_settings(store)
    assert state["alert_mail_failures"] == 3 and state["alert_mail_failing_since"]
    assert "ConnectionRefusedError" in state["alert_mail_last_error"]
    auth.login()
    page = unescape(client.get("/admin/settings").text)
    assert f"Alert e-mail failing since {state['alert_mail_failing_since']}" in page
    assert "3 failed attempts" in page and "ConnectionRefusedError" in page
    # the "Send test" button shows the error, and is tried once
    response = auth.post("/admin/settings", {"action": "send_test"}, follow_redirects=True)
    assert f"The test alert to {TO} was not sent: ConnectionRefusedError" in unescape(response.text)
    assert store.get_setting("alert_mail_failures") == 4
    # the server is back: the next alert is delivered and the failure cleared
    inbox.controller = start(inbox)
    alerter.mailer.port = inbox.controller.port
    store.append(Event(rule="location.gps", decision="blocked", severity="high"))
    alerter.flush()
    assert len(inbox.messages) == 1 and mail_settings(store)["alert_mail_failing_since"] is None
    assert "failing since" not in client.get("/admin/settings").text


def test_starttls_required_but_not_offered_is_not_sent_in_plain_text_nor_retried(store, pg_config, inbox):
    store.set_setting("alert_email", TO)
    service = pg_config.service.model_copy(update={"smtp_tls": "starttls"})
    alerter = Alerter(store, service=service, attempts=3, wait_s=0.01)
    store.append(Event(rule="location.gps", decision="blocked", severity="high"))
    alerter.flush()
    assert inbox.messages == []
    assert store.get_setting("alert_mail_failures") == 1
    assert "does not offer STARTTLS" in store.get_setting("alert_mail_last_error")


def test_login_with_user_and_password_file(tmp_path, store, pg_config):
    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"alerts", b"s3cret pw")
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

    inbox = Inbox()
    controller = start(inbox, authenticator=authenticator, auth_required=True, auth_require_tls=False)
    try:
        secret = tmp_path / "smtp-password"
        secret.write_text("s3cret pw\n")
        os.chmod(secret, 0o600)
        store.set_setting("alert_email", TO)
        service = pg_config.service.model_copy(update={"smtp_port": controller.port, "smtp_user": "alerts",
                                                       "smtp_password_file": secret})
        alerter = Alerter(store, service=service, alerts=Alerts(throttle_minutes=0), attempts=2, wait_s=0.01)
        store.append(Event(rule="location.gps", decision="blocked", severity="high"))
        alerter.flush()
        (_, rcpt, msg, authenticated), = inbox.messages
        assert rcpt == [TO] and authenticated
        # a wrong password: refused, recorded, not retried
        secret.write_text("wrong")
        store.append(Event(rule="location.gps", decision="blocked", severity="high"))
        alerter.flush()
        assert len(inbox.messages) == 1 and store.get_setting("alert_mail_failures") == 1
        assert "SMTPAuthenticationError: 535" in store.get_setting("alert_mail_last_error")
        # a password file others can read is not read
        secret.write_text("s3cret pw")
        os.chmod(secret, 0o644)
        store.append(Event(rule="location.gps", decision="blocked", severity="high"))
        alerter.flush()
        assert len(inbox.messages) == 1 and "chmod 600" in store.get_setting("alert_mail_last_error")
    finally:
        controller.stop()


def test_starttls_then_login_with_the_certificate_checked(tmp_path, store, pg_config):
    import ssl

    cert_file, key_file = self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert_file, key_file)

    def authenticator(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=(auth_data.login, auth_data.password) == (b"alerts", b"pw"), handled=False)

    inbox = Inbox()
    controller = start(inbox, tls_context=server_tls, require_starttls=True, authenticator=authenticator,
                       auth_required=True)  # AUTH only after STARTTLS (auth_require_tls's default)
    try:
        secret = tmp_path / "smtp-password"
        secret.write_text("pw")
        os.chmod(secret, 0o600)
        store.set_setting("alert_email", TO)
        service = pg_config.service.model_copy(update={"smtp_port": controller.port, "smtp_tls": "starttls",
                                                       "smtp_user": "alerts", "smtp_password_file": secret})
        alerter = Alerter(store, service=service, attempts=1)
        store.append(Event(rule="location.gps", decision="blocked", severity="high"))
        alerter.flush()
        assert inbox.messages == []  # the self-signed certificate is not trusted: nothing sent
        assert "CERTIFICATE_VERIFY_FAILED" in store.get_setting("alert_mail_last_error")
        alerter.mailer.context = ssl.create_default_context(cafile=str(cert_file))  # as if the CA were the system's
        store.append(Event(rule="location.gps", decision="blocked", severity="high"))
        alerter.flush()
        (_, rcpt, msg, authenticated), = inbox.messages
        assert rcpt == [TO] and authenticated and store.get_setting("alert_mail_failing_since") is None
    finally:
        controller.stop()


class Refusing(Inbox):
    """A mail server that is up but refuses every message (a full mailbox, a policy refusal)."""

    async def handle_DATA(self, server, session, envelope):
        return "554 5.7.1 Message refused by policy"


def overview_failures(client) -> str:
    page = unescape(client.get("/admin/").text)
    return page[page.index("<h1>Overview</h1>"):page.index('aria-labelledby="totals-h"')]


def test_alert_mail_failing_is_on_the_overview_until_a_mail_is_delivered(client, store, auth, pg_config, inbox):
    inbox.controller.stop()
    refusing = Refusing()
    refusing.controller = start(refusing)
    store.set_setting("alert_email", TO)
    service = pg_config.service.model_copy(update={"smtp_port": refusing.controller.port})
    alerter = Alerter(store, service=service, attempts=3, wait_s=0.01)
    try:
        auth.login()
        assert "failing since" not in overview_failures(client)
        store.append(Event(rule="location.gps", decision="blocked", severity="high"))
        alerter.flush()
    finally:
        refusing.controller.stop()
    since = store.get_setting("alert_mail_failing_since")
    shown = overview_failures(client)
    assert f"Alert e-mail failing since {since}" in shown and "(1 failed attempt)" in shown  # a refusal: not retried
    assert "554 5.7.1 Message refused by policy" in shown and "Check the alert settings" in shown
    # the server is down now: each retry is counted on the overview too
    store.append(Event(rule="location.gps", decision="blocked", severity="high"))
    alerter.flush()
    shown = overview_failures(client)
    assert f"Alert e-mail failing since {since}" in shown and "(4 failed attempts)" in shown
    assert "ConnectionRefusedError" in shown
    # back, and accepting: the next alert is delivered and the overview says nothing more
    inbox.controller = start(inbox)
    alerter.mailer.port = inbox.controller.port
    store.append(Event(rule="location.gps", decision="blocked", severity="high"))
    alerter.flush()
    assert len(inbox.messages) == 1 and "failing since" not in overview_failures(client)


class Webhook:
    """A local webhook receiver that answers with `status`."""

    def __init__(self, status: int):
        import http.server
        import threading

        self.status, self.received = status, []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                outer.received.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_alert_webhook_failing_is_on_the_overview_and_settings_until_it_answers(client, store, auth, pg_config):
    hook = Webhook(500)
    store.set_setting("alert_webhook", hook.url)
    alerter = Alerter(store, service=pg_config.service, wait_s=0.01)
    try:
        store.append(Event(rule="location.gps", decision="blocked", severity="high"))
        alerter.flush()
        assert len(hook.received) == 4  # a 5xx is retried (tenacity), each attempt signed afresh
        auth.login()
        shown = overview_failures(client)
        assert "Alert webhook failing since" in shown and "(4 failed attempts)" in shown
        assert "HTTP Error 500" in shown and "Alert e-mail failing" not in shown
        assert "Alert webhook failing since" in unescape(client.get("/admin/settings").text)
        hook.status = 204
        store.append(Event(rule="location.gps", decision="blocked", severity="high"))
        alerter.flush()
    finally:
        hook.stop()
    assert len(hook.received) == 5 and store.get_setting("alert_webhook_failing_since") is None
    assert "failing since" not in overview_failures(client)
    assert "failing since" not in client.get("/admin/settings").text
