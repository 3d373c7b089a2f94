"""Alerts that reach people: who gets what and when ([alerts] routes), escalation, throttling, digests, and the
channels: e-mail, a signed webhook (webhooks.py) and syslog carrying CEF (syslog_cef.py).

Events are read from the record by sequence number after they are committed (Store.outbox), from a cursor kept in
the store's settings and moved atomically, so a slow mail server never delays a post, every event is considered
once even with several processes, and events the trust server ingests (which no listener sees) are read too; a
laptop's store listener only wakes the reader. For each event:
- syslog gets a CEF line ([alerts] syslog, from syslog_severity up) and the webhook the high-severity ones;
- each matching route's people get it at once ("instant"), or queued for their daily digest or weekly summary;
  the dashboard's alert e-mail address is an instant route for high-severity events;
- instant mail to one person about one rule is throttled to one per throttle_minutes: the ones held back, and the
  ones whose mail failed, go into that person's next daily digest (queued in the store's settings), never dropped;
- a matching escalation list alerts its first person; the scheduler (AlertScheduler: a thread in `postguard run`
  and `postguard server run`) alerts the next one whenever nobody has acted on the post within after_minutes
  (Acknowledgements: the triage status moved from "new"), and sends the digests at digest_hour in the school's
  time zone.
Mail goes through the [service] mail server, retried with backoff a bounded number of times. Each failed attempt
of a channel is recorded in the store's settings (alert_<mail|webhook|syslog>_failures, _failing_since,
_last_error, _last_error_at) for the dashboard's overview and settings pages, and a delivery clears them.
"""
from __future__ import annotations

import ipaddress
import logging
import queue
import secrets
import smtplib
import ssl
import stat
import threading
import time as _time
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from rules.alert_config import Alerts, at_least, covers
from rules.config import Config, Service, write_private
from rules.record.events import utcnow
from rules.record.keys import secret_file

from . import syslog_cef, webhooks, words

log = logging.getLogger("postguard.alerts")
SEVERE = {"high"}
ATTEMPTS = 4  # a mail is tried at most this many times
WAIT_S = 2.0  # then 2, 4, 8 s between attempts (at most MAX_WAIT_S)
MAX_WAIT_S = 60.0
TIMEOUT_S = 10
# how each channel is named on the dashboard
CHANNELS = {"mail": "Alert e-mail", "webhook": "Alert webhook", "syslog": "Syslog (SIEM)"}


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
    """Every alert channel failing now (mail, webhook, syslog), for the dashboard's overview."""
    return [state for channel in CHANNELS if (state := Failures(store, channel).state())]


class Acknowledgements(Protocol):
    """Whether somebody has acted on a post's events: what stops an escalation."""

    def acted(self, event_ids: list[str]) -> bool: ...


class TriageAcks:
    """Acted = the triage status of any of the post's events moved from "new" (Store.triage_of, the triage
    tables of local_service/triage.py)."""

    def __init__(self, store):
        self.store = store

    def acted(self, event_ids: list[str]) -> bool:
        return any((row.get("status") or "new") != "new" for row in self.store.triage_of(list(event_ids)).values())


TICK_S = 15.0  # the scheduler's step: new events on the trust server, escalations and digests are this late at most
QUEUE_CAP = 2000  # event ids queued for one person's digest; past it only a count is kept (the record has them all)
MAX_ESCALATIONS = 1000
POLL_BATCH = 500
EVERYONE = "*"


def _now_s() -> float:
    return _time.time()


class Alerter:
    def __init__(self, store, dashboard_url: str = "", service=None, *, config: Config | None = None,
                 alerts: Alerts | None = None, acks: Acknowledgements | None = None, attempts: int = ATTEMPTS,
                 wait_s: float = WAIT_S, clock=_now_s):
        """`config`: the whole configuration (its [service] mail server, [alerts] routes, [school] name and time
        zone); `service` and `alerts` override its tables (tests). `acks`: what tells whether a post was acted on
        (default: its triage status)."""
        self.config = config if config is not None else Config()
        self.store, self.dashboard_url = store, dashboard_url.rstrip("/")
        self.alerts = alerts if alerts is not None else self.config.alerts
        self.school = self.config.school.name
        self.zone = ZoneInfo(self.config.school.time_zone)
        self.acks = acks if acks is not None else TriageAcks(store)
        self.attempts, self.wait_s, self.clock = attempts, wait_s, clock
        self.mailer = Mailer(store, service if service is not None else self.config.service, attempts=attempts,
                             wait_s=wait_s)
        head = store.head()[0]
        store.update_setting("alert_cursor", lambda c: (head if c is None else c, None))
        self._queue: queue.Queue = queue.Queue(maxsize=1000)
        self._thread = threading.Thread(target=self._worker, name="postguard-alerts", daemon=True)
        self._thread.start()
        store.listeners.append(self.on_events)

    # -- reading new events ----------------------------------------------------------------------------------

    def on_events(self, events) -> None:
        """The store's listener: committed events wake the reader (it reads them from the record)."""
        try:
            self._queue.put_nowait("wake")
        except queue.Full:
            pass  # a wake is pending already: it will read these too

    def flush(self, timeout: float = 10) -> None:
        """Wait until every event committed so far has been handled (tests, shutdown)."""
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def _worker(self) -> None:
        while True:
            item = self._queue.get()
            try:
                self.poll()
            except Exception:
                log.exception("alerts failed")
            if isinstance(item, threading.Event):
                item.set()

    def poll(self) -> int:
        """Handle the events committed since the cursor; the cursor is moved first, atomically, so two readers
        never take the same events. Returns how many were read."""
        head = self.store.head()[0]
        start = self.store.update_setting("alert_cursor", lambda c: (max(c or 0, head), c or 0))
        after, n = start, 0
        while after < head:
            rows = self.store.outbox(after, min(POLL_BATCH, head - after))
            if not rows:
                break
            after = rows[-1]["seq"]
            n += len(rows)
            self.handle([r for r in rows if r["seq"] <= head])
        return n

    def _full(self, row: dict) -> dict:
        full = self.store.get(row["id"]) or row
        return dict(full) | {"school": full.get("school") or self.school}

    # -- what goes where -------------------------------------------------------------------------------------

    def handle(self, rows: list[dict]) -> None:
        rows = [self._full(r) for r in rows if r.get("decision") != "purged" and not r.get("purged")]
        if not rows:
            return
        if self.alerts.syslog:
            siem = [r for r in rows if at_least(r["severity"], self.alerts.syslog_severity)]
            if siem:
                self.send_syslog(siem)
        severe = [r for r in rows if r["severity"] in SEVERE]
        webhook = self.store.get_setting("alert_webhook")
        if webhook and severe:
            self.send_webhook(webhook, severe)
        instant: dict[str, list[dict]] = {}
        later: dict[tuple[str, str], list[str]] = {}
        email = self.store.get_setting("alert_email")
        for r in rows:
            for route in self.alerts.routes:
                if self._matches(route, r):
                    for person in route.to:
                        if route.when == "instant":
                            instant.setdefault(person, []).append(r)
                        else:
                            later.setdefault((person, route.when), []).append(r["id"])
            if email and r["severity"] in SEVERE:
                instant.setdefault(email, []).append(r)
        for post in self._posts([r for r in rows if any(self._matches(e, r) for e in self.alerts.escalation)]):
            esc = next(e for e in self.alerts.escalation if self._matches(e, post[0]))
            instant.setdefault(esc.people[0], []).extend(post)
            self._escalate_later(esc, post)
        for (person, kind), ids in later.items():
            self.queue(person, kind, ids)
        for person, events in instant.items():
            self.send_instant(person, _unique(events))

    def _matches(self, route, row: dict) -> bool:
        return (route.school == EVERYONE or route.school == row.get("school")) and covers(route.rules, row["rule"]) \
            and at_least(row["severity"], route.severity)

    @staticmethod
    def _posts(rows: list[dict]) -> list[list[dict]]:
        """The events of one post together: the findings one post raised share person, device, destination and
        path (Store.post_events' grouping)."""
        posts: dict[tuple, list[dict]] = {}
        for r in rows:
            posts.setdefault((r.get("user"), r.get("device"), r.get("host"), r.get("path"), r.get("school")),
                             []).append(r)
        return list(posts.values())

    # -- throttling and the digest queues --------------------------------------------------------------------

    def _throttled(self, person: str, rule: str) -> bool:
        window = self.alerts.throttle_minutes * 60
        if not window:
            return False
        last = (self.store.get_setting("alert_throttle") or {}).get(f"{person}|{rule}")
        return last is not None and self.clock() - last < window

    def _mark_sent(self, person: str, rules: set[str]) -> None:
        now, window = self.clock(), self.alerts.throttle_minutes * 60

        def change(state):
            state = {k: t for k, t in (state or {}).items() if now - t < window}
            state.update({f"{person}|{rule}": now for rule in rules})
            return state, None

        if window:
            self.store.update_setting("alert_throttle", change, {})

    def queue(self, person: str, kind: str, ids: list[str]) -> None:
        """Queue event ids for `person`'s daily digest or weekly summary (kept in the store: a restart loses none)."""
        def change(state):
            state = dict(state or {})
            mine = dict(state.get(person) or {})
            have = mine.get(kind) or []
            room = max(0, QUEUE_CAP - len(have))
            new = [i for i in ids if i not in have]
            mine[kind] = have + new[:room]
            mine[f"{kind}_more"] = int(mine.get(f"{kind}_more") or 0) + max(0, len(new) - room)
            state[person] = mine
            return state, None

        self.store.update_setting("alert_digest", change, {})

    def take(self, kind: str) -> dict[str, tuple[list[str], int]]:
        """Remove and return every person's queued ids of `kind` (and how many more there were)."""
        def change(state):
            state = dict(state or {})
            taken = {}
            for person, mine in list(state.items()):
                mine = dict(mine)
                if mine.get(kind) or mine.get(f"{kind}_more"):
                    taken[person] = (mine.pop(kind, []) or [], int(mine.pop(f"{kind}_more", 0) or 0))
                state[person] = mine
            return {p: m for p, m in state.items() if m}, taken

        return self.store.update_setting("alert_digest", change, {})

    def queued(self) -> dict:
        return self.store.get_setting("alert_digest") or {}

    # -- sending ---------------------------------------------------------------------------------------------

    def send_instant(self, person: str, events: list[dict]) -> None:
        now_ok = [e for e in events if not self._throttled(person, e["rule"])]
        held = [e for e in events if e not in now_ok]
        if held:
            self.queue(person, "daily", [e["id"] for e in held])
            log.info("alert to %s throttled: %d event(s) go into the next digest", person, len(held))
        if not now_ok:
            return
        try:
            self.mailer.send(self.mailer.message(person, _subject(now_ok), self._instant_text(now_ok, held)))
        except Exception as exc:
            log.error("alert mail to %s failed (%s): its %d event(s) go into the next digest", person,
                      describe(exc), len(now_ok))
            self.queue(person, "daily", [e["id"] for e in now_ok])
        else:
            self._mark_sent(person, {e["rule"] for e in now_ok})

    def send_webhook(self, url: str, events: list[dict]) -> None:
        failures = Failures(self.store, "webhook")
        try:
            webhooks.Webhook(url, self.webhook_secret(), attempts=self.attempts, wait_s=self.wait_s).post(
                self.payload(events), on_failure=failures.record)
        except Exception as exc:
            log.error("alert webhook failed: %s", describe(exc))  # recorded; the mail is still sent
        else:
            failures.clear()

    def send_syslog(self, events: list[dict]) -> None:
        try:
            send_syslog(self.store, self.alerts.syslog, events, wait_s=self.wait_s, ca_file=self.alerts.syslog_ca_file)
        except Exception as exc:
            log.error("syslog alert failed: %s", describe(exc))  # recorded for the dashboard

    def webhook_secret(self) -> str:
        return webhook_secret(self.config, self.alerts)

    def payload(self, events) -> dict:
        return {"source": "PostGuard", "count": len(events), "events": [
            {"id": e["id"], "time": e["time"], "rule": e["rule"], "rule_name": words.rule_name(e["rule"]),
             "severity": e["severity"], "decision": e["decision"], "user": e.get("user") or "",
             "device": e.get("device") or "", "host": e.get("host") or "", "school": e.get("school") or "",
             "message": e.get("message") or "", "clauses": [c.get("ref") for c in e.get("clauses") or []],
             "link": self.link(e)} for e in events]}

    def link(self, e: dict) -> str:
        return f"{self.dashboard_url}/admin/events/{e['id']}" if self.dashboard_url else ""

    def when(self, t) -> str:
        if isinstance(t, str):
            t = datetime.fromisoformat(t.replace("Z", "+00:00"))
        t = t.astimezone(self.zone)
        return f"{t.day} {t:%b %Y, %H:%M} {t.tzname()}"

    def line(self, e: dict) -> str:
        who = e.get("user") or "someone"
        text = (f"{self.when(e['time'])}  {who} on {e.get('device') or 'an unknown laptop'}"
                f"{' at ' + e['host'] if e.get('host') else ''}{' (' + e['school'] + ')' if e.get('school') else ''}\n"
                f"  {words.rule_name(e['rule'])}: {words.decision_words(e['decision'])} "
                f"(severity {e['severity']})")
        if e.get("message"):
            text += f"\n  They were told: {e['message']}"
        refs = [c.get("ref") for c in e.get("clauses") or [] if c.get("ref")]
        if refs:
            text += f"\n  Policy clause{'s' if len(refs) > 1 else ''}: {'; '.join(refs)}"
        if self.link(e):
            text += f"\n  {self.link(e)}"
        return text

    def _instant_text(self, events: list[dict], held: list[dict]) -> str:
        text = "PostGuard recorded:\n\n" + "\n\n".join(self.line(e) for e in events)
        if held:
            text += (f"\n\n{len(held)} more like these in the last {self.alerts.throttle_minutes} minutes will be in "
                     "your next daily digest.")
        return text + "\n\nOpen the dashboard to triage them: marking an event seen stops its escalation.\n"

    # -- the scheduler's work: escalations and digests -------------------------------------------------------

    def _escalate_later(self, esc, post: list[dict]) -> None:
        if len(esc.people) < 2:
            return
        entry = {"ids": [e["id"] for e in post], "people": list(esc.people), "step": 0,
                 "after_s": esc.after_minutes * 60, "due": self.clock() + esc.after_minutes * 60}

        def change(state):
            state = list(state or [])
            if len(state) >= MAX_ESCALATIONS:
                log.error("escalation list full (%d posts waiting): this post is not escalated", len(state))
                return state, None
            return state + [entry], None

        self.store.update_setting("alert_escalations", change, [])

    def escalate(self) -> int:
        """Alert the next person for every post nobody acted on in time; returns how many were alerted."""
        now = self.clock()
        due = self.store.update_setting("alert_escalations", lambda s: ([e for e in s or [] if e["due"] > now],
                                                                        [e for e in s or [] if e["due"] <= now]), [])
        again, sent = [], 0
        for entry in due:
            if self.acks.acted(entry["ids"]):
                continue
            step = entry["step"] + 1
            if step >= len(entry["people"]):
                continue  # the last person has had it: nobody further to tell
            events = [e for i in entry["ids"] if (e := self.store.get(i))]
            person = entry["people"][step]
            text = (f"Nobody has acted on this post in {int(entry['after_s'] // 60)} minutes, so it comes to you: "
                    f"you are next on the escalation list after {', '.join(entry['people'][:step])}.\n\n"
                    + "\n\n".join(self.line(dict(e, school=e.get("school") or self.school)) for e in events)
                    + "\n\nMark it seen or act on it in the dashboard to stop the escalation.\n")
            try:
                self.mailer.send(self.mailer.message(person, "PostGuard escalation: " + _subject(events), text))
            except Exception as exc:
                log.error("escalation mail to %s failed (%s): tried again at the next tick", person, describe(exc))
                again.append(entry)
                continue
            sent += 1
            if step < len(entry["people"]) - 1:
                again.append(dict(entry, step=step, due=now + entry["after_s"]))
        if again:
            self.store.update_setting("alert_escalations", lambda s: ((s or []) + again, None), [])
        return sent

    def escalations(self) -> list[dict]:
        return self.store.get_setting("alert_escalations") or []

    def digests(self, now: datetime | None = None) -> int:
        """Send the daily digests and weekly summaries that are due (once per day and week, whichever process
        gets there first); returns how many mails were sent."""
        local = (now or datetime.fromtimestamp(self.clock(), timezone.utc)).astimezone(self.zone)
        if local.hour < self.alerts.digest_hour:
            return 0
        sent = 0
        for kind, due in (("daily", True), ("weekly", local.weekday() == self.alerts.weekday)):
            stamp = local.date().isoformat()
            if not due or not self.store.update_setting(f"alert_{kind}_sent",
                                                        lambda last: (stamp, last != stamp), None):
                continue
            for person, (ids, more) in self.take(kind).items():
                events = [e for i in ids if (e := self.store.get(i)) and not e.get("purged")]
                if not events and not more:
                    continue
                try:
                    self.mailer.send(self.mailer.message(person, *self._digest(kind, events, more, local)))
                    sent += 1
                except Exception as exc:
                    log.error("%s digest to %s failed (%s): kept for the next one", kind, person, describe(exc))
                    self.queue(person, kind, ids)
        return sent

    def _digest(self, kind: str, events: list[dict], more: int, local: datetime) -> tuple[str, str]:
        events = [dict(e, school=e.get("school") or self.school) for e in events]
        total = len(events) + more
        if kind == "daily":
            subject = f"PostGuard daily digest, {local.day} {local:%b %Y}: {total} event{'s' if total != 1 else ''}"
            body = "Events for you since the last digest, oldest first:\n\n" + "\n\n".join(
                self.line(e) for e in sorted(events, key=lambda e: e["time"]))
        else:
            subject = f"PostGuard weekly summary to {local.day} {local:%b %Y}: {total} event{'s' if total != 1 else ''}"
            counts: dict[tuple[str, str], int] = {}
            for e in events:
                key = (words.rule_name(e["rule"]), words.decision_words(e["decision"]))
                counts[key] = counts.get(key, 0) + 1
            body = "This week's events, by rule and what happened:\n\n" + "\n".join(
                f"  {n:>4}  {rule}: {decision}" for (rule, decision), n in sorted(counts.items(),
                                                                                 key=lambda kv: -kv[1]))
            links = [self.link(e) for e in events if self.link(e)]
            if links:
                body += "\n\nEach event:\n" + "\n".join(f"  {link}" for link in links[:200])
        if more:
            body += f"\n\n{more} more were recorded than fit in one mail: see the dashboard."
        return subject, body + "\n"

    def tick(self) -> None:
        """One step of the scheduler: read new events, escalate, send due digests."""
        for job in (self.poll, self.escalate, self.digests):
            try:
                job()
            except Exception:
                log.exception("alerts: %s failed", job.__name__)

    def run_scheduler(self, stopping: threading.Event, every_s: float = TICK_S) -> None:
        while not stopping.wait(every_s):
            self.tick()

    def start_scheduler(self, stopping: threading.Event, every_s: float = TICK_S) -> threading.Thread:
        thread = threading.Thread(target=self.run_scheduler, args=(stopping, every_s), name="postguard-digests",
                                  daemon=True)
        thread.start()
        return thread


def _unique(events: list[dict]) -> list[dict]:
    seen, out = set(), []
    for e in events:
        if e["id"] not in seen:
            seen.add(e["id"])
            out.append(e)
    return out


def _subject(events: list[dict]) -> str:
    if len(events) == 1:
        e = events[0]
        return f"PostGuard: {words.rule_name(e['rule'])} ({words.decision_words(e['decision']).lower()})"
    return f"PostGuard: {len(events)} events"


def webhook_secret(config: Config, alerts: Alerts | None = None) -> str:
    """The key webhook requests are signed with: [alerts] webhook_secret_file, else webhook_secret in data_dir
    (made at first use, readable by its owner only)."""
    name = (alerts or config.alerts).webhook_secret_file
    path = Path(name).expanduser() if name else secret_file(config, "webhook_secret")
    if not path.exists():
        write_private(path, secrets.token_urlsafe(32) + "\n")
    return path.read_text(encoding="utf-8").strip()


def send_syslog(store, url: str, events: list[dict], attempts: int | None = None, wait_s: float = 1.0,
                ca_file: str = "") -> None:
    """CEF lines for `events` to the syslog listener at `url`; each failure recorded for the dashboard, raised."""
    failures = Failures(store, "syslog")
    try:
        syslog_cef.SyslogSender(url, wait_s=wait_s, ca_file=ca_file).send(
            [syslog_cef.rfc5424(syslog_cef.cef(e, words.rule_name(e["rule"])), e["severity"]) for e in events],
            attempts=attempts)
    except Exception as exc:
        failures.record(exc)
        raise
    failures.clear()


def send_test_webhook(store, config: Config, url: str) -> None:
    """One signed test request to `url`, tried once: raises what went wrong (and records it)."""
    failures = Failures(store, "webhook")
    webhooks.Webhook(url, webhook_secret(config), attempts=1).post(
        {"source": "PostGuard", "test": True, "count": 0, "events": []}, on_failure=failures.record)
    failures.clear()


def send_test_syslog(store, config: Config) -> None:
    """One CEF test line to the configured syslog listener, tried once: raises what went wrong (and records it)."""
    test = {"id": "test", "time": utcnow().isoformat(), "rule": "alert.test", "severity": "info",
            "decision": "recorded", "message": "PostGuard test message from the dashboard's settings page",
            "school": config.school.name}
    send_syslog(store, config.alerts.syslog, [test], attempts=1, ca_file=config.alerts.syslog_ca_file)


def send_test(mailer: Mailer, to: str) -> None:
    """One test mail, sent now and tried once: raises what went wrong (and records it, as a real alert's)."""
    mailer.send(mailer.message(to, "PostGuard: test alert",
                               "This is a test of PostGuard's alert e-mail, sent from the dashboard's settings page. "
                               "High-severity events will be reported to this address."), attempts=1)
