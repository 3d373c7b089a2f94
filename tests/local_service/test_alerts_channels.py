"""The alert channels against real listeners on loopback: syslog carrying CEF over UDP and TCP (octet counting) to
a socketserver that parses what arrives, and the signed webhook (HMAC-SHA256 with a timestamp) with its retries."""
import http.server
import json
import re
import socketserver
import ssl
import threading
import time

import pytest

from local_service import syslog_cef, webhooks
from local_service.alerts import Alerter, send_test_syslog, send_test_webhook
from rules.alert_config import Alerts
from rules.record.events import Event
from tests.tls import self_signed

SYSLOG = re.compile(r"<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|\[.*?\]) (.*)", re.S)


def split_header(text: str) -> tuple[list[str], str]:
    """CEF's seven header fields (\\| and \\\\ unescaped) and the extension after them."""
    fields, cur, i = [], "", 0
    while len(fields) < 7:
        c = text[i]
        if c == "\\" and text[i + 1] in "|\\":
            cur += text[i + 1]
            i += 2
            continue
        if c == "|":
            fields.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    return fields, text[i:]


def parse_extension(ext: str) -> dict:
    """key=value pairs; a value runs to the next unescaped ' key='; \\=, \\\\, \\n and \\r unescaped."""
    out, pos = {}, 0
    keys = [m for m in re.finditer(r"(?:^| )([A-Za-z0-9_]+)=", ext) if not _escaped(ext, m.start(1) - 1)]
    for n, m in enumerate(keys):
        end = keys[n + 1].start() if n + 1 < len(keys) else len(ext)
        raw = ext[m.end():end]
        value, i = "", 0
        while i < len(raw):
            if raw[i] == "\\" and i + 1 < len(raw):
                value += {"n": "\n", "r": "\r"}.get(raw[i + 1], raw[i + 1])
                i += 2
            else:
                value += raw[i]
                i += 1
        out[m.group(1)] = value
        pos = end
    assert pos == len(ext) or not keys
    return out


def _escaped(text: str, i: int) -> bool:
    n = 0
    while i >= 0 and text[i] == "\\":
        n, i = n + 1, i - 1
    return n % 2 == 1


def parse(message: bytes) -> dict:
    m = SYSLOG.fullmatch(message.decode())
    assert m, message
    pri, stamp, host, app, procid, msgid, sd, msg = m.groups()
    assert msg.startswith("CEF:0|"), msg
    header, ext = split_header(msg)
    return {"pri": int(pri), "stamp": stamp, "host": host, "app": app, "msgid": msgid, "header": header,
            "ext": parse_extension(ext)}


class Listener:
    """A syslog receiver: UDP (a message a datagram) or TCP (RFC 6587 octet counting), parsing what arrives."""

    def __init__(self, proto: str, tls=None):
        self.received, self.errors = [], []
        outer = self

        class Udp(socketserver.BaseRequestHandler):
            def handle(self):
                outer.take(self.request[0])

        class Tcp(socketserver.StreamRequestHandler):
            def handle(self):
                while True:
                    length = b""
                    while (c := self.rfile.read(1)) not in (b" ", b""):
                        length += c
                    if not length:
                        return
                    outer.take(self.rfile.read(int(length)))

        class TlsServer(socketserver.ThreadingTCPServer):
            def get_request(self):
                sock, addr = super().get_request()
                return tls.wrap_socket(sock, server_side=True), addr

            def handle_error(self, request, client_address):  # a client that refused our certificate
                outer.errors.append(("handshake", client_address))

        cls = socketserver.ThreadingUDPServer if proto == "udp" else TlsServer if tls else \
            socketserver.ThreadingTCPServer
        cls.allow_reuse_address = True
        self.server = cls(("127.0.0.1", 0), Udp if proto == "udp" else Tcp)
        self.url = f"{'tls' if tls else proto}://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take(self, data: bytes):
        try:
            self.received.append(parse(data))
        except Exception as exc:  # shown by the test, not swallowed
            self.errors.append((data, exc))

    def wait(self, n: int, timeout: float = 5) -> list[dict]:
        end = time.monotonic() + timeout
        while len(self.received) < n and time.monotonic() < end:
            time.sleep(0.02)
        return self.received

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_events_reach_a_syslog_listener_as_cef(store, pg_config, proto):
    listener = Listener(proto)
    try:
        alerts = Alerts(syslog=listener.url, syslog_severity="medium")
        alerter = Alerter(store, "http://dash.test", config=pg_config, alerts=alerts, wait_s=0.01)
        store.append([Event(rule="location.gps", decision="blocked", severity="high", user="amy=1", device="LT-7",
                            path="https://x.com/upload?q=secret", message="line one\nline two | pipe \\ slash",
                            clauses=[{"ref": "6.9", "text": "..."}]),
                      Event(rule="location.place", decision="warned", severity="medium", user="ben"),
                      Event(rule="location.place", decision="recorded", severity="low", user="cat")])
        alerter.flush()
        got = listener.wait(2)
        time.sleep(0.2)
    finally:
        listener.stop()
    assert not listener.errors
    assert len(got) == 2  # the low-severity one is under syslog_severity
    first = next(g for g in got if g["ext"]["suser"] == "amy=1")
    assert first["pri"] == 20 * 8 + 3 and first["app"] == "postguard" and first["msgid"] == "cef"
    assert first["header"][:3] == ["CEF:0", "PostGuard", "PostGuard"]
    assert first["header"][4:] == ["location.gps", "Location (GPS) in a photo or video", "8"]
    ext = first["ext"]
    assert ext["msg"] == "line one\nline two | pipe \\ slash" and ext["act"] == "blocked"
    assert ext["shost"] == "LT-7" and ext["dhost"] == "x.com" and ext["request"] == "https://x.com/upload"
    assert ext["cs1Label"] == "policyClauses" and ext["cs1"] == "6.9" and ext["cs2"] == "Test School"
    assert "secret" not in json.dumps(got)
    assert {g["ext"]["suser"] for g in got} == {"amy=1", "ben"}


def test_cef_escapes_the_header_and_the_extension():
    line = syslog_cef.cef({"id": "i", "time": "2026-01-02T03:04:05Z", "rule": "a|b\\c", "severity": "low",
                           "decision": "warned", "message": "x=y\r\nz\\"}, "name | with\nnewline")
    header, ext = split_header(line)
    assert header[4:] == ["a|b\\c", "name | with newline", "3"]
    assert "msg=x\\=y\\nz\\\\" in ext
    assert parse_extension(ext)["msg"] == "x=y\nz\\"
    assert parse_extension(ext)["rt"] == "1767323045000"


def test_a_syslog_listener_that_is_down_shows_as_a_failing_channel(store, pg_config):
    listener = Listener("tcp")
    url = listener.url
    listener.stop()  # nothing listens there now
    alerter = Alerter(store, config=pg_config, alerts=Alerts(syslog=url), wait_s=0.01)
    store.append(Event(rule="location.gps", decision="blocked", severity="high"))
    alerter.flush()
    assert store.get_setting("alert_syslog_failures") == 1  # tenacity tried 3 times; the channel records the batch
    assert "ConnectionRefusedError" in store.get_setting("alert_syslog_last_error")
    with pytest.raises(ConnectionRefusedError):
        send_test_syslog(store, pg_config.model_copy(update={"alerts": Alerts(syslog=url)}))
    assert store.get_setting("alert_syslog_failures") == 2


def test_send_test_syslog_reaches_the_listener(store, pg_config):
    listener = Listener("udp")
    try:
        send_test_syslog(store, pg_config.model_copy(update={"alerts": Alerts(syslog=listener.url)}))
        (got,) = listener.wait(1)
    finally:
        listener.stop()
    assert got["header"][4] == "alert.test" and "test message" in got["ext"]["msg"]


class Hook:
    def __init__(self, statuses):
        self.statuses, self.received = list(statuses), []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append((body, self.headers.get(webhooks.HEADER)))
                status = outer.statuses.pop(0) if len(outer.statuses) > 1 else outer.statuses[0]
                self.send_response(status)
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


def test_the_webhook_is_signed_and_retried_until_it_answers(store, pg_config):
    hook = Hook([503, 502, 200])
    try:
        store.set_setting("alert_webhook", hook.url)
        alerter = Alerter(store, config=pg_config, wait_s=0.01)
        store.append(Event(rule="location.gps", decision="blocked", severity="high", user="amy"))
        alerter.flush()
    finally:
        hook.stop()
    assert len(hook.received) == 3 and store.get_setting("alert_webhook_failing_since") is None
    secret = (pg_config.data_dir / "webhook_secret").read_text().strip()
    assert (pg_config.data_dir / "webhook_secret").stat().st_mode & 0o077 == 0
    for body, header in hook.received:
        assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)
        assert webhooks.verify(secret, body, header)
        assert not webhooks.verify(secret, body + b" ", header)  # the body is what is signed
        assert not webhooks.verify("another key", body, header)
        t = int(header.split(",")[0][2:])
        assert not webhooks.verify(secret, body, header, now=t + webhooks.TOLERANCE_S + 1)  # a replay, later
    payload = json.loads(hook.received[-1][0])
    assert payload["events"][0]["user"] == "amy" and payload["events"][0]["rule_name"].startswith("Location")


def test_a_refusing_webhook_is_not_retried_and_the_test_button_raises(store, pg_config):
    hook = Hook([400])
    try:
        store.set_setting("alert_webhook", hook.url)
        alerter = Alerter(store, config=pg_config, wait_s=0.01)
        store.append(Event(rule="location.gps", decision="blocked", severity="high"))
        alerter.flush()
        assert len(hook.received) == 1 and store.get_setting("alert_webhook_failures") == 1
        with pytest.raises(Exception, match="400"):
            send_test_webhook(store, pg_config, hook.url)
        hook.statuses = [204]
        send_test_webhook(store, pg_config, hook.url)
        assert json.loads(hook.received[-1][0])["test"] is True
        assert store.get_setting("alert_webhook_failing_since") is None
    finally:
        hook.stop()


def test_cef_over_tls_checks_the_listener_certificate(store, pg_config, tmp_path):
    cert, key = self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    listener = Listener("tcp", tls=server_tls)
    try:
        untrusted = pg_config.model_copy(update={"alerts": Alerts(syslog=listener.url)})
        with pytest.raises(ssl.SSLCertVerificationError):
            send_test_syslog(store, untrusted)  # a self-signed listener the system does not trust: nothing sent
        assert "CERTIFICATE_VERIFY_FAILED" in store.get_setting("alert_syslog_last_error")
        assert listener.received == []
        trusted = pg_config.model_copy(update={"alerts": Alerts(syslog=listener.url, syslog_ca_file=cert)})
        alerter = Alerter(store, config=trusted, wait_s=0.01)
        store.append(Event(rule="location.gps", decision="blocked", severity="high", user="amy"))
        alerter.flush()
        (got,) = listener.wait(1)
    finally:
        listener.stop()
    assert got["ext"]["suser"] == "amy" and store.get_setting("alert_syslog_failing_since") is None
