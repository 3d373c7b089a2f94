"""contact.pupil, the detector: a friend, follow or message action towards someone whose shown name is a pupil's.

Only a submission the contact endpoint builds (rules.contact.submission: the contact in its context, no fields or
files) gives it anything to look at; every other post passes through untouched. The matching is rules/contact.py.
The evidence says which action and how the name matched, never the name.
"""
from __future__ import annotations

from typing import Iterable

from .. import contact, roster
from ..model import Submission
from .base import Detector, Hit

TARGET = "contact"
DOING = {"friend": "Sending or accepting a friend request to", "follow": "Following", "message": "Messaging"}


class ContactDetector(Detector):
    id = "contact"
    rules = {contact.RULE: "a friend, follow or message action towards a person whose shown name matches a pupil on "
                           "the school roster (order, accents and initials folded)"}
    messages = {
        contact.FULL: "This person's name matches a pupil on your school's roster. {doing} a pupil from a personal "
                      "account goes against your school's policy.",
        contact.INITIAL: "This person's name could be a pupil on your school's roster (an initial matches). {doing} a "
                         "pupil from a personal account goes against your school's policy.",
    }

    def __init__(self, config, tuning: dict | None = None):
        super().__init__(config, tuning)
        roster.cached(config.data_dir)  # a damaged roster or a replaced key is a loud error at start

    def status(self) -> str:
        found = roster.cached(self.config.data_dir)
        if found is None:
            return "contact.pupil: no roster imported, so no name can match (postguard roster import)"
        if not found.initial_tags:
            return "contact.pupil: the roster was imported before initials were kept: import it again to match " \
                   "'J. Smith'"
        return ""

    def check(self, submission: Submission, rules: set[str]) -> Iterable[Hit]:
        given = submission.context.get("contact")
        if not isinstance(given, contact.Contact) or contact.RULE not in rules:
            return
        how = contact.match(roster.cached(self.config.data_dir), given.name)
        if how:
            yield Hit(contact.RULE, self.message(how, doing=DOING[given.action]),
                      {"action": given.action, "match": how, "platform": contact.platform(submission.url)},
                      TARGET)
