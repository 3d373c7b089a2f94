"""Who gets what, against a real SMTP server (aiosmtpd): routes per school and rule, throttling per person and rule
with the held-back events in the next digest, daily digests and weekly summaries at the school's hour, and
escalation down a list until somebody acts (the triage status moves from "new")."""
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from local_service.alerts import Alerter
from rules.alert_config import Alerts, Escalation, Route
from rules.record.events import Event, utcnow

from .test_alert_mail import FROM, Inbox, inbox, start  # noqa: F401 (the inbox fixture)

DSL, HEAD, DEPUTY, IT = "dsl@test-school.sch.uk", "head@test-school.sch.uk", "deputy@test-school.sch.uk", \
    "it@test-school.sch.uk"
LONDON = ZoneInfo("Europe/London")


class Clock:
    def __init__(self):
        self.t = utcnow().timestamp()

    def __call__(self):
        return self.t

    def advance(self, minutes: float):
        self.t += minutes * 60


@pytest.fixture
def mail_config(pg_config, inbox):
    service = pg_config.service.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": inbox.controller.port,
                                                   "smtp_tls": "none", "alert_from": FROM})
    return pg_config.model_copy(update={"service": service})


def make(store, config, clock, **alerts):
    return Alerter(store, "http://dash.test", config=config, alerts=Alerts(**alerts), clock=clock, wait_s=0.01,
                   attempts=2)


def to(inbox, person):
    return [m for _, rcpt, m, _ in inbox.messages if person in rcpt]


def gps(**kw):
    return Event(**({"rule": "location.gps", "decision": "sanitised", "severity": "high", "user": "amy",
                     "device": "LT-1", "path": "https://x.com/upload"} | kw))


def test_one_instant_mail_per_person_and_rule_in_ten_minutes_the_rest_in_the_next_digest(store, mail_config, inbox):
    clock = Clock()
    alerter = make(store, mail_config, clock, routes=[Route(to=[DSL])])
    store.append(gps())
    alerter.flush()
    assert len(to(inbox, DSL)) == 1
    clock.advance(4)
    held = gps(user="ben")
    store.append(held)
    alerter.flush()
    assert len(to(inbox, DSL)) == 1  # throttled: same person, same rule, within 10 minutes
    assert alerter.queued()[DSL]["daily"] == [held.id]
    store.append(gps(rule="pupil.image", user="cat"))  # another rule is not throttled by the first
    alerter.flush()
    assert len(to(inbox, DSL)) == 2
    clock.advance(7)  # 11 minutes after the first mail
    store.append(gps(user="dan"))
    alerter.flush()
    assert len(to(inbox, DSL)) == 3
    # the digest at 07:00 school time holds the held-back event, once
    day = datetime(2026, 12, 4, 7, 0, tzinfo=LONDON)
    assert alerter.digests(datetime(2026, 12, 4, 6, 59, tzinfo=LONDON)) == 0
    assert alerter.digests(day) == 1
    digest = to(inbox, DSL)[-1]
    assert digest["Subject"] == "PostGuard daily digest, 4 Dec 2026: 1 event"
    body = digest.get_body().get_content()
    assert "ben on LT-1 at x.com" in body and f"/admin/events/{held.id}" in body and "amy" not in body
    assert alerter.digests(day.replace(hour=9)) == 0 and DSL not in alerter.queued()  # once a day


def test_routes_choose_by_school_rule_and_severity_and_weekly_summaries_wait_for_their_day(store, mail_config, inbox):
    clock = Clock()
    alerter = make(store, mail_config, clock, weekly_day="friday", routes=[
        Route(to=[DSL], rules=["location.*"], severity="medium"),
        Route(to=[HEAD], school="Another School"),
        Route(to=[IT], rules=["pupil.image"], severity="low", when="weekly")])
    store.append([gps(rule="location.place", severity="medium"), gps(rule="pupil.image", severity="low"),
                  gps(rule="personal_data.pupil")])
    alerter.flush()
    (mail,) = to(inbox, DSL)
    assert "Place name in a photo" in mail.get_body().get_content()  # location.* at medium; not the others
    assert to(inbox, HEAD) == [] and to(inbox, IT) == []  # another school's route; a weekly one
    assert len(alerter.queued()[IT]["weekly"]) == 1
    thursday, friday = datetime(2026, 12, 3, 8, tzinfo=LONDON), datetime(2026, 12, 4, 8, tzinfo=LONDON)
    alerter.digests(thursday)
    assert to(inbox, IT) == []
    alerter.digests(friday)
    (summary,) = to(inbox, IT)
    assert summary["Subject"].startswith("PostGuard weekly summary to 4 Dec 2026: 1 event")
    assert "1  Photo of pupils or the school: Cleaned, then posted" in summary.get_body().get_content()


def test_a_failed_instant_mail_is_kept_for_the_digest(store, mail_config, inbox):
    clock = Clock()
    inbox.controller.stop()
    alerter = make(store, mail_config, clock, routes=[Route(to=[DSL])])
    event = gps()
    store.append(event)
    alerter.flush()
    assert inbox.messages == [] and alerter.queued()[DSL]["daily"] == [event.id]
    assert store.get_setting("alert_mail_failing_since")
    inbox.controller = start(inbox)
    alerter.mailer.port = inbox.controller.port
    alerter.digests(datetime(2026, 12, 4, 7, tzinfo=LONDON))
    assert event.id in to(inbox, DSL)[0].get_body().get_content()


def test_escalation_goes_down_the_list_until_somebody_acts(store, mail_config, inbox):
    clock = Clock()
    alerter = make(store, mail_config, clock, escalation=[Escalation(people=[DSL, DEPUTY, HEAD], after_minutes=30)])
    first, second = gps(), gps(rule="personal_data.pupil")  # one post, two findings
    store.append([first, second])
    alerter.flush()
    assert len(to(inbox, DSL)) == 1 and len(alerter.escalations()) == 1
    clock.advance(29)
    assert alerter.escalate() == 0 and to(inbox, DEPUTY) == []
    clock.advance(2)
    assert alerter.escalate() == 1
    (mail,) = to(inbox, DEPUTY)
    assert mail["Subject"].startswith("PostGuard escalation:")
    assert f"after {DSL}" in mail.get_body().get_content()
    # the deputy marks the post seen (the triage Store method): the headteacher is not alerted
    store.triage_set(first.id, [first.id, second.id], "seen", None, DEPUTY)
    clock.advance(31)
    assert alerter.escalate() == 0 and to(inbox, HEAD) == [] and alerter.escalations() == []


def test_escalation_without_anyone_acting_reaches_the_last_person_once(store, mail_config, inbox):
    clock = Clock()
    alerter = make(store, mail_config, clock, escalation=[Escalation(people=[DSL, HEAD], after_minutes=10)])
    store.append(gps(severity="medium"))  # under the list's severity: not escalated
    store.append(gps())
    alerter.flush()
    assert len(to(inbox, DSL)) == 1
    clock.advance(11)
    alerter.tick()
    clock.advance(60)
    alerter.tick()
    assert len(to(inbox, HEAD)) == 1 and alerter.escalations() == []


def test_events_no_listener_saw_are_read_by_the_scheduler(store, mail_config, inbox):
    """On the trust server events arrive through Store.ingest, which calls no listener: the scheduler's tick reads
    them from the record by sequence number, once."""
    clock = Clock()
    alerter = make(store, mail_config, clock, routes=[Route(to=[DSL])], throttle_minutes=0)
    store.listeners.remove(alerter.on_events)
    store.append(gps())
    assert inbox.messages == []
    alerter.tick()
    assert len(to(inbox, DSL)) == 1
    alerter.tick()
    other = Alerter(store, config=mail_config, alerts=Alerts(routes=[Route(to=[DSL])]))  # a second process
    store.listeners.remove(other.on_events)
    other.poll()
    assert len(to(inbox, DSL)) == 1
