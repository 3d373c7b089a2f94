"""Issue 16's alert acceptance with real parts: a real `postguard server run` process on a real PostgreSQL server,
a laptop forwarding over HTTP, a real SMTP server (aiosmtpd) and a real syslog listener. A high-severity event from
the DSL's school reaches the DSL by e-mail within 60 s; a second within 10 minutes goes into the digest instead;
a CEF line reaches the listener."""
import json
import os
import random
import time

import pytest

from rules.config import parse_config
from rules.record.events import Event
from rules.record.store import open_store
from tests import pgserver

from .test_alert_mail import Inbox, start
from .test_alerts_channels import Listener
from .test_trust_e2e import ServerProcess, laptop, postguard

pytestmark = pytest.mark.skipif(not pgserver.available(), reason="needs Debian's postgresql package (initdb)")
DSL = "dsl@stmary.sch.uk"


def wait_for(check, timeout: float = 60, what: str = ""):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"not within {timeout} s: {what}")


def test_a_forwarded_high_severity_event_reaches_the_dsl_and_the_siem(tmp_path, pg_server):
    inbox = Inbox()
    inbox.controller = start(inbox)
    siem = Listener("tcp")
    server = None
    try:
        database = pg_server.fresh_database(f"alerts_{os.getpid()}_{random.randrange(10**6)}").replace(
            "postgresql+psycopg://", "postgresql://")
        config = tmp_path / "server.toml"
        config.write_text(f'''data_dir = "{tmp_path / 'server'}"
[service]
smtp_host = "127.0.0.1"
smtp_port = {inbox.controller.port}
smtp_tls = "none"
alert_from = "postguard@trust.example"
[alerts]
syslog = "{siem.url}"
syslog_severity = "high"
[[alerts.routes]]
to = ["{DSL}"]
school = "St Mary"
[[alerts.routes]]
to = ["head@other.sch.uk"]
school = "Another School"
''')
        postguard("server", "init", "--config", str(config), "--database", database)
        secret = postguard("server", "school", "add", "St Mary", "--json", "--config", str(config), "--database",
                           database).stdout
        server = ServerProcess(config, database)
        server.start()
        lap = laptop(tmp_path, "a")
        store = open_store(parse_config({"data_dir": str(tmp_path / "a")}))
        store.append([Event(rule="location.gps", decision="sanitised", severity="high", user="amy"),
                      Event(rule="location.place", decision="warned", severity="medium", user="amy")])
        store.close()
        postguard("enrol", f"http://127.0.0.1:{server.port}", "--secret", json.loads(secret)["secret"], "--name",
                  "laptop-a", "--config", str(lap))
        sent = time.monotonic()
        postguard("forward", "--once", "--config", str(lap))
        wait_for(lambda: inbox.messages, 60, "the DSL's e-mail")
        took = time.monotonic() - sent
        (_, rcpt, msg, _), = inbox.messages
        assert rcpt == [DSL]  # not the other school's headteacher
        assert msg["Subject"] == "PostGuard: Location (GPS) in a photo or video (cleaned, then posted)"
        assert "(St Mary)" in msg.get_body().get_content()
        wait_for(lambda: siem.received, 30, "the CEF line")
        (cef,) = siem.received  # the medium one is under syslog_severity
        assert cef["header"][4] == "location.gps" and cef["ext"]["cs2"] == "St Mary" and cef["ext"]["suser"] == "amy"
        # a second one within 10 minutes: into the DSL's digest, not another e-mail
        store = open_store(parse_config({"data_dir": str(tmp_path / "a")}))
        second = Event(rule="location.gps", decision="sanitised", severity="high", user="amy")
        store.append(second)
        store.close()
        postguard("forward", "--once", "--config", str(lap))
        server_store = open_store(parse_config({"data_dir": str(tmp_path / "server")}), database)
        try:
            wait_for(lambda: second.id in ((server_store.get_setting("alert_digest") or {}).get(DSL) or {})
                     .get("daily", []), 60, "the second event in the digest")
        finally:
            server_store.close()
        assert len(inbox.messages) == 1
        print(f"first alert e-mail {took:.1f} s after the forward")
    finally:
        if server:
            server.stop()
        siem.stop()
        inbox.controller.stop()
