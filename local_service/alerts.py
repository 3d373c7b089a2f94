"""Alerts for high-severity events: a webhook and/or an email to the address the admin set in the dashboard.

Sent from a background thread after the event is committed, so a slow mail server never delays a post; a failure is
logged, never raised. Mail goes through the [service] table's mail server (smtp_host, smtp_port, smtp_tls, smtp_user,
smtp_password_file, alert_from), retried with backoff a bounded number of times. Each failed attempt, of the mail or of the webhook, is recorded in
the store's settings (alert_<mail|webhook>_failures, _failing_since, _last_error, _last_error_at) for the dashboard's
overview and settings pages, and a delivery clears them (Failures).
"""
from __future__ import annotations

import ipaddress
import json
import logging
import queue
import smtplib
import ssl
import stat
import threading
import urllib.request
from email.message import EmailMessage
from pathlib import Path

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from rules.config import Service
from rules.record.events import utcnow

log = logging.getLogger("postguard.alerts")
SEVERE = {"high"}
ATTEMPTS = 4  # a mail is tried at most this many times
WAIT_S = 2.0  # then 2, 4, 8 s between attempts (at most MAX_WAIT_S)
MAX_WAIT_S = 60.0
TIMEOUT_S = 10
CHANNELS = {"mail": "Alert e-mail", "webhook": "Alert webhook"}  # how each is named on the dashboard


class MailSetupError(Exception):
    """The mail settings cannot work (no STARTTLS offered, an unsafe password file, a login in plain text):
    retrying does not help."""


def _permanent(exc: BaseException) -> bool:
    return isinstance(exc, (MailSetupError, smtplib.SMTPAuthenticationError, smtplib.SMTPNotSupportedError,
                            smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, ssl.SSLCertVerificationError)) \
        or (isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code >= 500)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_password(path: Path) -> str:
    """The password in `path`, which must be its owner's only (0600 or stricter)."""
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode) or mode & 0o077:
        raise MailSetupError(f"{path} must be a file readable by its owner only (chmod 600 {path})")
    return path.read_text(encoding="utf-8").strip("\r\n")


def describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"{type(exc).__name__}: {exc.smtp_code} {text}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class Mailer:
    """Sends one message through the configured mail server, with bounded retries; records the outcome."""

    def __init__(self, store, service=None, attempts: int = ATTEMPTS, wait_s: float = WAIT_S,
                 max_wait_s: float = MAX_WAIT_S):
        self.store = store
        service = service if service is not None else Service()  # the schema's defaults, declared once there
        self.host, self.port, self.tls = service.smtp_host, service.smtp_port, service.smtp_tls
        self.user, self.password_file, self.sender = service.smtp_user, service.smtp_password_file, service.alert_from
        self.attempts, self.wait_s, self.max_wait_s = max(1, attempts), wait_s, max_wait_s
        self.context = ssl.create_default_context()

    def message(self, to: str, subject: str, text: str) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"], msg["From"], msg["To"] = subject, self.sender, to
        msg.set_content(text)
        return msg

    def send(self, msg: EmailMessage, attempts: int | None = None) -> None:
        """Deliver `msg` to the mail server, trying up to `attempts` times; every failure is recorded, the last
        one raised."""
        retrying = Retrying(stop=stop_after_attempt(attempts or self.attempts),
                            wait=wait_exponential(multiplier=self.wait_s, max=self.max_wait_s),
                            retry=retry_if_exception(lambda e: not _permanent(e)),
                            after=self._failed, reraise=True)
        for attempt in retrying:
            with attempt:
                try:
                    self._deliver(msg)
                except Exception as exc:
                    self.record_failure(exc)
                    raise
        self.record_success()

    def _failed(self, state: RetryCallState) -> None:
        log.warning("alert mail attempt %d failed: %s", state.attempt_number, describe(state.outcome.exception()))

    def _deliver(self, msg: EmailMessage) -> None:
        password = None
        if self.user:
            if self.tls == "none" and not _loopback(self.host):
                raise MailSetupError("refusing to send the mail login in plain text: set smtp_tls to starttls or tls")
            if self.password_file is None:
                raise MailSetupError("smtp_user is set but smtp_password_file is not")
            password = read_password(Path(self.password_file))
        if self.tls == "tls":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=TIMEOUT_S, context=self.context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=TIMEOUT_S)
        with smtp:
            if self.tls == "starttls":
                smtp.ehlo()
                if not smtp.has_extn("starttls"):
                    raise MailSetupError(f"{self.host}:{self.port} does not offer STARTTLS (smtp_tls = \"starttls\"); "
                                         "set smtp_tls to \"none\" only for a relay on this computer")
                smtp.starttls(context=self.context)
                smtp.ehlo()
            if password is not None:
                smtp.ehlo_or_helo_if_needed()
                if "plain" in (smtp.esmtp_features.get("auth") or "").lower().split():
                    # one mechanism, one answer: login() would go on to others after a refusal
                    smtp.user, smtp.password = self.user, password
                    smtp.auth("PLAIN", smtp.auth_plain)
                else:
                    smtp.login(self.user, password)
            smtp.send_message(msg)

    def record_failure(self, exc: BaseException) -> None:
        Failures(self.store, "mail").record(exc)

    def record_success(self) -> None:
        Failures(self.store, "mail").clear()


class Failures:
    """One alert channel's failures (mail, webhook), kept in the store's settings until a delivery clears them."""

    def __init__(self, store, channel: str):
        if channel not in CHANNELS:
            raise ValueError(f"unknown alert channel {channel!r}")
        self.store, self.channel, self.prefix = store, channel, f"alert_{channel}_"

    def record(self, exc: BaseException) -> None:
        now = utcnow().isoformat(timespec="seconds")
        # atomic: the alert thread and the dashboard's "Send test" may fail at the same moment
        self.store.update_setting(self.prefix + "failures", lambda n: (int(n or 0) + 1, None), 0)
        if not self.store.get_setting(self.prefix + "failing_since"):
            self.store.set_setting(self.prefix + "failing_since", now)
        self.store.set_setting(self.prefix + "last_error", describe(exc)[:500])
        self.store.set_setting(self.prefix + "last_error_at", now)

    def clear(self) -> None:
        if self.store.get_setting(self.prefix + "failing_since"):
            for key in ("failures", "failing_since", "last_error", "last_error_at"):
                self.store.set_setting(self.prefix + key, None)
        self.store.set_setting(self.prefix + "last_ok_at", utcnow().isoformat(timespec="seconds"))

    def state(self) -> dict | None:
        """While the channel fails: since when, how many failed attempts, the last error and when; else None."""
        since = self.store.get_setting(self.prefix + "failing_since")
        if not since:
            return None
        return {"channel": self.channel, "label": CHANNELS[self.channel], "since": since,
                "count": self.store.get_setting(self.prefix + "failures", 0),
                "error": self.store.get_setting(self.prefix + "last_error", ""),
                "at": self.store.get_setting(self.prefix + "last_error_at")}


def failure_state(store) -> dict | None:
    """What the dashboard shows while alert mail fails: since when, how many failed attempts, the last error."""
    return Failures(store, "mail").state()


def failing(store) -> list[dict]:
    """Every alert channel failing now (mail, webhook), for the dashboard's overview."""
    return [state for channel in CHANNELS if (state := Failures(store, channel).state())]


class Alerter:
    def __init__(self, store, dashboard_url: str = "", service=None, *, attempts: int = ATTEMPTS,
                 wait_s: float = WAIT_S):
        """`service`: the config's [service] table (its mail server settings); None: its defaults."""
        self.store, self.dashboard_url = store, dashboard_url.rstrip("/")
        self.mailer = Mailer(store, service, attempts=attempts, wait_s=wait_s)
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
            failures = Failures(self.store, "webhook")
            try:
                req = urllib.request.Request(webhook, data=json.dumps(body).encode(), method="POST",
                                             headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=10) as resp:
                    resp.read()
            except Exception as exc:
                log.exception("alert webhook failed")  # recorded for the dashboard; the e-mail is still sent
                failures.record(exc)
            else:
                failures.clear()
        if email:
            lines = [f"{e['time']}  {e['user'] or '?'} on {e['device'] or '?'}: {e['rule']} ({e['decision']}) "
                     f"at {e['host'] or '-'}\n  {e['message']}\n  {e['link']}" for e in body["events"]]
            self.mailer.send(self.mailer.message(
                email, f"PostGuard: {len(events)} high-severity event(s)",
                "High-severity events in the monitoring log:\n\n" + "\n\n".join(lines)))



def send_test(mailer: Mailer, to: str) -> None:
    """One test mail, sent now and tried once: raises what went wrong (and records it, as a real alert's)."""
    mailer.send(mailer.message(to, "PostGuard: test alert",
                               "This is a test of PostGuard's alert e-mail, sent from the dashboard's settings page. "
                               "High-severity events will be reported to this address."), attempts=1)
