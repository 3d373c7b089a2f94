"""personal_data.pupil and personal_data.staff: identifiers and names in what a post says.

Pupils: Unique Pupil Numbers, Unique Learner Numbers and NHS numbers that pass their published checks, and names on
the school roster (keyed hashes, see rules/roster.py). Staff (lower severity): National Insurance numbers, and a UK
postcode within `personal_data.dob_window` characters of a date of birth. Evidence names the identifier type and
its last two characters only; a roster name is "a name on the school roster" and the field it was in, never the
name. Only form fields are read (not attachments); values that are obviously tokens are skipped.
"""
from __future__ import annotations

import bisect
import re

from pydantic import Field

from .. import identifiers, roster, schema
from ..model import Submission
from .base import Detector, Hit, field_target

PUPIL, STAFF = "personal_data.pupil", "personal_data.staff"

_RULE_OF = {"UPN": PUPIL, "ULN": PUPIL, "NHS": PUPIL, "NINO": STAFF}
_LABELS = {**{r.entity: r.label for r in (*identifiers.PUPIL, *identifiers.STAFF)},
           "POSTCODE+DOB": "UK postcode beside a date of birth"}
_TOKENISH = re.compile(r"[A-Za-z0-9+/=_.:%~-]+")
TOKEN_MIN_CHARS = 40  # a value this long with no spaces and only base64/url characters is a token, not text


def looks_like_token(value: str) -> bool:
    return len(value) >= TOKEN_MIN_CHARS and _TOKENISH.fullmatch(value) is not None


class PersonalDataDetector(Detector):
    id = "personal_data"
    rules = {
        PUPIL: "pupils' Unique Pupil Numbers, Unique Learner Numbers and NHS numbers (checksums must pass), and "
               "pupils' names on the school roster",
        STAFF: "National Insurance numbers, and a UK postcode beside a date of birth",
    }
    messages = {
        "UPN": "This post contains a pupil's Unique Pupil Number (ending {last}), which identifies the child in "
               "school records and must never be published.",
        "ULN": "This post contains a pupil's Unique Learner Number (ending {last}), which identifies the child's "
               "learning record and must never be published.",
        "NHS": "This post contains an NHS number (ending {last}), which opens a person's health records and must "
               "never be published.",
        "NINO": "This post contains a National Insurance number (ending {last}), which is someone's private tax and "
                "benefits identifier.",
        "POSTCODE+DOB": "This post puts a postcode (ending {last}) beside a date of birth, which together identify "
                        "a person and where they live.",
        "ROSTER": "This post names a pupil on the school roster (in '{field}'): check you have consent before "
                  "naming a child.",
    }
    table = "personal_data"

    class Options(schema.Options):
        """Personal data in what a post says (personal_data.pupil, personal_data.staff)."""

        dob_window: schema.Int = Field(80, ge=0, description="How many characters apart a postcode and a date of birth "
                                                      "may be and still count as one person's details "
                                                      "(personal_data.staff).")

    def __init__(self, config, tuning: dict | None = None):
        super().__init__(config, tuning)
        self._dob_window = self.options.dob_window
        self._pupil = identifiers.PUPIL
        self._staff = identifiers.STAFF
        self._least_digits = min(r.min_digits for r in (*self._pupil, *self._staff))
        self._postcode = identifiers.Postcode()
        self._dob = identifiers.DateOfBirth()
        roster.cached(config.data_dir)  # a damaged roster or a replaced key is a loud error at start

    def begin(self, submission: Submission, rules: set[str]):
        pupil = PUPIL in rules
        return pupil, STAFF in rules, roster.cached(self.config.data_dir) if pupil else None

    def check_field(self, name: str, value: str, rules: set[str], state) -> list[Hit] | None:
        if not isinstance(value, str) or looks_like_token(value):
            return None
        pupil, staff, names = state
        hits = None
        runs = identifiers.digit_runs(value)
        if runs:
            hits = list(self._identifiers(value, runs, name, field_target(name), pupil, staff)) or None
        if names is not None:
            count = names.names_in(value)
            if count:
                hits = hits or []
                hits.append(Hit(PUPIL, self.message("ROSTER", field=name[:60]),
                                {"identifier": "a name on the school roster", "field": name, "count": count},
                                field_target(name)))
        return hits

    def _identifiers(self, text: str, runs: list, field: str, target: str, pupil: bool, staff: bool):
        recognizers = (self._pupil if pupil else ()) + (self._staff if staff else ())
        by_entity: dict[str, list[identifiers.Match]] = {}
        if recognizers:  # most of a post's digit runs are too short for any identifier: drop them once, here
            long_runs = [r for r in runs if r[2] >= self._least_digits]
            most = max([r[2] for r in long_runs], default=0)
            for recognizer in recognizers:
                if recognizer.min_digits <= most:
                    for match in recognizer.analyze(text, long_runs):
                        by_entity.setdefault(match.entity, []).append(match)
        for entity, matches in by_entity.items():
            yield self._hit(_RULE_OF[entity], entity, matches, field, target)
        if staff:
            pairs = self._postcode_beside_birth_date(text, runs)
            if pairs:
                yield self._hit(STAFF, "POSTCODE+DOB", pairs, field, target)

    def _postcode_beside_birth_date(self, text: str, runs) -> list[identifiers.Match]:
        """Postcodes with a date of birth within `dob_window` characters (postcodes first: they are the rarer)."""
        postcodes = self._postcode.analyze(text, runs)
        if not postcodes:
            return []
        window = self._dob_window
        reach = window + max(self._dob.reach)
        starts = [p.start for p in postcodes]  # sorted, as analyze returns them
        near = []
        for run in runs:  # the runs within `reach` of a postcode: the nearest postcodes either side decide
            i = bisect.bisect_left(starts, run[0])
            if any(0 <= j < len(postcodes) and run[0] - postcodes[j].end <= reach
                   and postcodes[j].start - run[1] <= reach for j in (i - 1, i)):
                near.append(run)
        births = self._dob.analyze(text, near)
        return [p for p in postcodes
                if any(p.start - b.end <= window and b.start - p.end <= window for b in births)]

    def _hit(self, rule: str, entity: str, matches: list[identifiers.Match], field: str, target: str) -> Hit:
        endings = list(dict.fromkeys([m.last_two for m in matches]))
        evidence = {"identifier": _LABELS[entity], "type": entity, "last_two": endings, "count": len(matches),
                    "field": field, "found_by": matches[0].explanation}
        return Hit(rule, self.message(entity, last=" and ".join(endings[:3])), evidence, target)
