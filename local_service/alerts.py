"""Alerts for high-severity events: a webhook and/or an email to the address the admin set in the dashboard.

Sent from a background thread after the event is committed, so a slow mail server never delays a post; a failure is
logged, never raised.
"""
from __future__ import annotations

import json
import logging
import queue
import smtplib
import threading
import urllib.request
from email.message import EmailMessage

log = logging.getLogger("postguard.alerts")
SEVERE = {"high"}


class Alerter:
    def __init__(self, store, dashboard_url: str = "", smtp_host: str = "localhost", smtp_port: int = 25):
        self.store, self.dashboard_url = store, dashboard_url.rstrip("/")
        self.smtp_host, self.smtp_port = smtp_host, smtp_port
        self._queue: queue.Queue = queue.Queue(maxsize=1000)
        self._thread = threading.Thread(target=self._worker, name="postguard-alerts", daemon=True)
        self._thread.start()
        store.listeners.append(self.on_events)

    def on_events(self, events) -> None:
        severe = [e for e in events if e.severity in SEVERE and e.decision != "purged"]
        if severe:
            try:
                self._queue.put_nowait(severe)
            except queue.Full:
                log.error("alert queue full: %d high-severity events not alerted", len(severe))

    def flush(self, timeout: float = 10) -> None:
        """Wait until queued alerts are sent (tests, shutdown)."""
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def _worker(self) -> None:
        while True:
            item = self._queue.get()
            if isinstance(item, threading.Event):
                item.set()
                continue
            try:
                self.send(item)
            except Exception:
                log.exception("alert failed")

    def payload(self, events) -> dict:
        return {"source": "PostGuard", "count": len(events), "events": [
            {"id": e.id, "time": e.to_dict()["time"], "rule": e.rule, "severity": e.severity,
             "decision": e.decision, "user": e.user, "device": e.device, "host": e.host, "message": e.message,
             "clauses": [c.get("ref") for c in e.clauses],
             "link": f"{self.dashboard_url}/admin/events/{e.id}" if self.dashboard_url else ""} for e in events]}

    def send(self, events) -> None:
        webhook = self.store.get_setting("alert_webhook")
        email = self.store.get_setting("alert_email")
        body = self.payload(events)
        if webhook:
            req = urllib.request.Request(webhook, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as resp:
                resp.read()
        if email:
            msg = EmailMessage()
            msg["Subject"] = f"PostGuard: {len(events)} high-severity event(s)"
            msg["From"] = "postguard@localhost"
            msg["To"] = email
            lines = [f"{e['time']}  {e['user'] or '?'} on {e['device'] or '?'}: {e['rule']} ({e['decision']}) "
                     f"at {e['host'] or '-'}\n  {e['message']}\n  {e['link']}" for e in body["events"]]
            msg.set_content("High-severity events in the monitoring log:\n\n" + "\n\n".join(lines))
            with smtplib.SMTP(self.smtp_host, self.smtp_port, timeout=10) as smtp:
                smtp.send_message(msg)
