"""High-severity events reach the admin's webhook; the rest do not; a dead webhook breaks nothing."""
import http.server
import json
import threading

from local_service.alerts import Alerter
from rules.record.events import Event


def webhook_server():
    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, received


def test_high_severity_events_are_posted_to_the_webhook(store):
    server, received = webhook_server()
    try:
        store.set_setting("alert_webhook", f"http://127.0.0.1:{server.server_port}/hook")
        alerter = Alerter(store, dashboard_url="http://127.0.0.1:8765")
        store.append([Event(rule="location.gps", decision="blocked", severity="high", user="amy"),
                      Event(rule="location.place", decision="warned", severity="medium", user="ben")])
        alerter.flush()
        (body,) = received
        assert body["count"] == 1 and body["events"][0]["user"] == "amy"
        assert body["events"][0]["link"].startswith("http://127.0.0.1:8765/admin/events/")
        store.append(Event(rule="location.place", decision="warned", severity="low"))
        alerter.flush()
        assert len(received) == 1
    finally:
        server.shutdown()


def test_an_unreachable_webhook_does_not_break_writing(store):
    store.set_setting("alert_webhook", "http://127.0.0.1:9/nothing-listens-here")
    alerter = Alerter(store)
    ids = store.append(Event(rule="location.gps", decision="blocked", severity="high"))
    alerter.flush()
    assert store.get(ids[0]) is not None
