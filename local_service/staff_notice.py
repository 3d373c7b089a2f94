"""The staff notice on /me: what is stored, for how long and who can see it, said from the running configuration
(the pack's rules and actions, retention, alert e-mail and webhook, where the record's database is), never from a
fixed text that can drift from what PostGuard does (issue 18 item 8). Pure: tested without Flask.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from rules.detectors import known_rules

LOCAL_HOSTS = {"", "localhost", "127.0.0.1", "::1"}
LOCATION_RULES = ("location.gps", "location.place")
SIGN_IN_RULES = ("school_email.personal_account",)
# The trust server this laptop is enrolled with (local_service/forwarder.py keeps the enrolment in this setting: a
# table with its "server" URL); read here by name so the notice does not need the forwarder loaded.
ENROLMENT_SETTING = "forward.enrolment"
SITUATION_WORDS = {"official_account": "on the school's official accounts",
                   "off_school_network": "when off the school network",
                   "no_school_trip": "when no school trip is on"}


@dataclass
class Notice:
    recorded: list[str] = field(default_factory=list)
    not_recorded: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    who: list[str] = field(default_factory=list)
    leaves_this_computer: bool = False
    quietly_recorded: list[str] = field(default_factory=list)  # rules that record without asking at the time


def rule_label(rule: str) -> str:
    """A rule as the notice names it: its id and, in brackets, the one line on what it looks for."""
    try:
        return f"{rule} ({known_rules()[rule].rules[rule]})"
    except KeyError:
        return rule


def database_host(url: str) -> str:
    """The server the record's database is on; "" for SQLite or a database on this computer."""
    if not url or url.startswith("sqlite"):
        return ""
    host = (urlsplit(url).hostname or "").lower()
    return "" if host in LOCAL_HOSTS else host


def build(*, pack, retention, alert_email: str, alert_webhook: str, database_url: str, forward_server: str = "",
          school_domains=(), rule_meaning=rule_label) -> Notice:
    n = Notice()
    active = pack.active
    n.recorded.append(
        "When PostGuard finds something in what you post from this computer: the time, your user name and "
        "computer, the site and page you were posting to (never anything after a \u201c?\u201d in its address), "
        f"which rule of \u201c{pack.name}\u201d applied and the policy clause or guidance it showed, what "
        "PostGuard told you, what happened to the post, and any reason you gave.")
    if school_domains:
        n.recorded.append("Your school e-mail address, when Chrome or Edge is signed in with your school account ("
                          + ", ".join(f"@{d}" for d in school_domains) + "): each of those events names it beside "
                          "your user name. A browser signed in with a personal account is not recorded.")
    if any(r in active for r in SIGN_IN_RULES):
        n.recorded.append("Sign-in pages: when you sign in to a site in a way a rule is about (for example with "
                          "your school account on a personal site), that sign-in page's address is recorded, with "
                          "the account's address masked (j***@school.sch.uk).")
    if any(r in active for r in LOCATION_RULES):
        n.recorded.append("Where a photo was taken: its coordinates rounded to about 1 km; place names written in "
                          "the photo and the nearest town are stored as they are, and whether it was taken on a "
                          "school site.")
    n.recorded.append("Other details are cut down before they are stored: email addresses masked, pupil and staff "
                      "identifiers reduced to their last two characters.")
    for rule_id, spec in sorted(active.items()):
        situations = [SITUATION_WORDS.get(s, s) for s, changes in spec.situations.items()
                      if changes.get("action", spec.action) == "log"]
        if spec.action == "log":
            n.quietly_recorded.append(f"{rule_meaning(rule_id)} (recorded without asking you)")
        elif situations:
            n.quietly_recorded.append(f"{rule_meaning(rule_id)} (recorded without asking you "
                                      f"{' or '.join(situations)})")
    n.not_recorded.append("The text of your posts, your photos and videos, and the pages you only look at (a "
                          "sign-in page only when it triggers a finding, as above).")

    per_rule = {r: d for r, d in retention.per_rule.items() if d != retention.default_days and r in pack.rules}
    n.kept.append(f"{retention.default_days} days, then deleted automatically."
                  if not per_rule else
                  f"{retention.default_days} days, except: " +
                  "; ".join(f"{rule_meaning(r)}: {d} days" for r, d in sorted(per_rule.items())) +
                  ". Then deleted automatically.")
    n.kept.append("A note that old events were deleted is kept, without their details.")

    n.who.append("You, on this page.")
    server = database_host(database_url)
    if server:
        n.who.append(f"The record is kept in the school's database on {server}, not only on this computer: the "
                     "school's IT admin and safeguarding lead see it through a password-protected dashboard, and "
                     "whoever runs that server can read the database.")
    else:
        n.who.append("The school's IT admin and safeguarding lead, through a password-protected dashboard on this "
                     "computer. Every time they view or export records it is written to an audit log that cannot "
                     "be edited.")
    if forward_server:
        host = urlsplit(forward_server).hostname or forward_server
        n.who.append(f"Every event is also forwarded to the school's record server at {host}, where the people the "
                     "school gives access to it can see it; how long it is kept there is that server's setting, not "
                     "this computer's.")
    if alert_email:
        n.who.append(f"High-severity events are also e-mailed to {alert_email} as they happen (time, your user name "
                     "and computer, the rule, what happened, the site and what PostGuard told you).")
    if alert_webhook:
        host = urlsplit(alert_webhook).hostname or alert_webhook
        n.who.append(f"High-severity events are also sent to {host} (the same details as the alert e-mail).")
    n.leaves_this_computer = bool(server or alert_email or alert_webhook or forward_server)
    if not n.leaves_this_computer:
        n.who.append("Nothing leaves this computer: no alert e-mail or webhook is set up, the record is not forwarded "
                     "to a server, and its database is on this computer.")
    return n


def for_services(s) -> Notice:
    """The notice for the running service: its pack, the admin's settings in the store, its database."""
    store = s.store
    enrolled = store.get_setting(ENROLMENT_SETTING)
    return build(pack=s.engine.pack, retention=s.retention(), alert_email=store.get_setting("alert_email", "") or "",
                 alert_webhook=store.get_setting("alert_webhook", "") or "", database_url=store.url,
                 forward_server=str(enrolled.get("server", "")) if isinstance(enrolled, dict) else "",
                 school_domains=tuple(s.config.school.email_domains))

