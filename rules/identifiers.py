"""Personal identifiers in text: what each looks like, the words that make it likelier, the check it must pass.

Shaped like Presidio's `PatternRecognizer`: a recognizer is mostly data (the entity, its patterns with scores, its
context words), with the published checksum or format rules in `validate_result()`. The base class owns matching,
scoring and the "found by X because Y" explanation. A candidate that fails its check never counts, whatever its
context: a bare pattern is not a finding.

Pure functions of the text; no configuration, no I/O.
"""
from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

from stdnum.gb import nhs as _nhs
from stdnum.gb import upn as _upn

THRESHOLD = 0.5  # a candidate counts when its score reaches this (after its check passed)

# Where every identifier here has its digits: digits, and separators between two digits.
_DIGIT_RUNS = re.compile(r"[0-9](?:[ ./-]*+[0-9])*+")


@dataclass(frozen=True)
class Pattern:
    name: str
    regex: str
    score: float


class Match(NamedTuple):
    entity: str  # "UPN", "ULN", "NHS", "NINO", "POSTCODE", "DOB"
    start: int
    end: int
    value: str  # the matched text: callers must not put it in events (see `last_two`)
    score: float
    explanation: str  # "pattern 'NHS number, spaced 3-3-4' 0.5; NHS number check passed; context 'nhs' +0.35"

    @property
    def last_two(self) -> str:
        return "".join(filter(str.isalnum, self.value))[-2:].upper()


class Recognizer:
    """One kind of identifier. Subclasses are data plus `validate_result`."""

    entity: ClassVar[str]
    label: ClassVar[str]  # as a teacher would say it: "Unique Pupil Number"
    patterns: ClassVar[tuple[Pattern, ...]]
    context: ClassVar[tuple[str, ...]] = ()  # words near a candidate that raise its score
    context_boost: ClassVar[float] = 0.35
    context_reach: ClassVar[tuple[int, int]] = (48, 24)  # characters searched before / after a candidate
    min_digits: ClassVar[int] = 1  # the fewest digits one digit run of a match holds (skips runs that cannot match)
    before: ClassVar[str] = ""  # a regex for what must stand just before a match's first digits ("" = anything)
    reach: ClassVar[tuple[int, int]] = (4, 4)  # how far a match extends before its first / after its last digit
    flags: ClassVar[int] = 0

    _compiled: ClassVar[tuple[tuple[Pattern, re.Pattern], ...]] = ()
    _why: ClassVar[dict[Pattern, str]] = {}  # each pattern's start of the explanation
    _context_re: ClassVar[re.Pattern | None] = None
    _context_lower_re: ClassVar[re.Pattern | None] = None  # the same for lower-cased ASCII text, three times faster
    _before_re: ClassVar[re.Pattern | None] = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "patterns" in cls.__dict__ or "label" in cls.__dict__:
            cls._compiled = tuple((p, re.compile(p.regex, cls.flags)) for p in cls.patterns)
            cls._why = {p: f"pattern {p.name!r} {p.score:g}; {cls.label} check passed" for p in cls.patterns}
        if "before" in cls.__dict__ and cls.before:
            cls._before_re = re.compile(f"(?:{cls.before})\\Z")
        if "context" in cls.__dict__ and cls.context:
            words = "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in cls.context)
            cls._context_re = re.compile(rf"(?<![^\W_])(?:{words})(?![^\W_])", re.IGNORECASE)
            cls._context_lower_re = re.compile(rf"(?<![^\W_])(?:{words.lower()})(?![^\W_])")

    def validate_result(self, value: str) -> bool:
        """The published check (checksum, format rules). False drops the candidate, whatever its score."""
        return True

    def rescore(self, value: str, score: float) -> float:
        """A last word on a validated candidate's score (most recognizers keep it)."""
        return score

    def analyze(self, text: str, runs: list[tuple[int, int, int]] | None = None) -> list[Match]:
        """Validated matches in `text` scoring at least THRESHOLD. `runs` are `digit_runs(text)`, shared by callers
        that run several recognizers on one text."""
        if runs is None:
            runs = digit_runs(text)
        windows = self._windows(runs, text)
        if not windows:
            return []
        best: dict[tuple[int, int], Pattern] = {}
        for start, end in windows:
            for pattern, regex in self._compiled:
                pos = start
                while (m := regex.search(text, pos, end)) is not None:  # cheaper than finditer when it finds none
                    span = m.span()
                    known = best.get(span)
                    if known is None or known.score < pattern.score:
                        best[span] = pattern
                    pos = span[1] if span[1] > span[0] else span[1] + 1
        found = []
        for (s, e), pattern in sorted(best.items()) if len(best) > 1 else best.items():
            value = text[s:e]
            if not self.validate_result(value):
                continue
            score, why = pattern.score, self._why[pattern]
            word = self._context_word(text, s, e)
            if word:
                score += self.context_boost
                why += f"; context {word!r} +{self.context_boost:g}"
            rescored = self.rescore(value, score)
            if rescored != score:
                why += f"; rescored {rescored - score:+g}"
            if rescored >= THRESHOLD:
                found.append(Match(self.entity, s, e, value, round(min(rescored, 1.0), 2), why))
        return found

    def _windows(self, runs, text: str) -> list[tuple[int, int]]:
        """Stretches of the text around digit runs that could belong to a match, merged where they touch."""
        least, before_re = self.min_digits, self._before_re
        before, after = self.reach
        length = len(text)
        windows: list[tuple[int, int]] = []
        for s, e, digits in runs:
            if digits < least or (before_re is not None and not before_re.search(text, s - 4 if s > 4 else 0, s)):
                continue
            lo = s - before if s > before else 0
            hi = e + after if e + after < length else length
            if windows and lo <= windows[-1][1]:
                windows[-1] = (windows[-1][0], hi)
            else:
                windows.append((lo, hi))
        return windows

    def _context_word(self, text: str, start: int, end: int) -> str:
        if self._context_re is None:
            return ""
        before, after = self.context_reach
        m = self._context_in(text, max(0, start - before), start) or \
            self._context_in(text, end, min(len(text), end + after))
        return " ".join(m.group(0).lower().split()) if m else ""

    def _context_in(self, text: str, lo: int, hi: int) -> re.Match | None:
        """The first context word in text[lo:hi], the character before `lo` counting for the word boundary."""
        head = lo - 1 if lo else 0
        piece = text[head:hi]
        if piece.isascii():  # lower() keeps ASCII's length, so positions hold
            return self._context_lower_re.search(piece.lower(), lo - head)
        return self._context_re.search(text, lo, hi)


_SEPARATORS = str.maketrans("", "", " ./-")
FIND_FIRST_OVER = 200  # characters: shorter values are scanned by the regex at once (ten finds would cost more)


def digit_runs(text: str) -> list[tuple[int, int, int]]:
    """(start, end, number of digits) for each run of digits and separators ("943 476 5919": 10)."""
    first = 0
    if len(text) > FIND_FIRST_OVER:
        # Start at the first digit, found by str.find (a fast substring search, 20 times the regex's scan): many
        # posts have no digits at all.
        starts = [i for i in map(text.find, "0123456789") if i >= 0]
        if not starts:
            return []
        first = min(starts)
    out = []
    for m in _DIGIT_RUNS.finditer(text, first):
        run = m.group()
        start, end = m.span()
        out.append((start, end, len(run) if run.isdigit() else len(run.translate(_SEPARATORS))))
    return out


# ---------------------------------------------------------------------------------------------- the checks

# Local authority codes a UPN may carry (characters 2-4), as the DfE's school census validation rule 1530 lists
# them ("a valid post-April 1999 LA code or a recognised pseudo-LA code", quoted in MIS suppliers' guidance, e.g.
# Arbor's "UPN/ULN errors"). python-stdnum 2.2's own list lacks 001-005, 660-681, 701-708, 820 and 875; a code on
# either list is accepted.
_DFE_LA_CODES = frozenset([
    *range(1, 6), *range(201, 214), *range(301, 321), *range(330, 337), *range(340, 345), *range(350, 360),
    *range(370, 374), *range(380, 385), *range(390, 395), 420, *range(660, 682), *range(701, 709),
    *range(800, 804), *range(805, 809), *range(810, 814), 815, 816, *range(820, 824), 825, 826, 830, 831,
    *range(835, 838), 840, 841, 845, 846, *range(850, 853), *range(855, 858), 860, 861, *range(865, 897), 908,
    909, 916, 919, 921, 925, 926, 928, 929, 931, 933, *range(935, 939)])
_UPN_SHAPE = re.compile(r"[A-HJ-NP-RT-Z][0-9]{11}[0-9A-HJ-NP-RT-Z]")


def upn_is_valid(value: str) -> bool:
    """DfE Unique Pupil Number: a check letter, then 12 digits (or 11 digits and a letter: a temporary UPN) whose
    first three are a local authority code. The check letter is stdnum.gb.upn's: the modulus 23 sum of characters
    2-13 weighted 2..13 (a temporary UPN's final letter counting as its position in A-Z without I, O, S), as a
    letter of that same alphabet (GovTalk data standard "Unique Pupil Number" 2.0, validations 1-6)."""
    number = value.strip().upper()
    if not _UPN_SHAPE.fullmatch(number) or _upn.calc_check_digit(number[1:]) != number[0]:
        return False
    return int(number[1:4]) in _DFE_LA_CODES or _upn.is_valid(number)


def nhs_is_valid(value: str) -> bool:
    """NHS number: 10 digits, modulus 11 check digit (stdnum.gb.nhs.checksum: weights 10..1 over all ten digits,
    total divisible by 11); a repeated digit (0000000000, 1111111111 pass the checksum) is a placeholder."""
    number = value.replace(" ", "").replace("-", "")
    return (len(number) == 10 and number.isascii() and number.isdigit() and _nhs.checksum(number) == 0
            and len(set(number)) > 1)


def uln_is_valid(value: str) -> bool:
    """Unique Learner Number (Learning Records Service): 10 digits, the last a modulus 11 check digit.

    The published algorithm, as the ESFA's ILR validation rule ULN_04 / derived data DD01 states it
    (guidance.submit-learner-data.service.gov.uk, validation rules "DD01"; the same as the LRS "ULN validation"
    document, assets.publishing.service.gov.uk .../ULN_validation.pdf): take the first nine digits, sum
    10 x 1st + 9 x 2nd + 8 x 3rd + 7 x 4th + 6 x 5th + 5 x 6th + 4 x 7th + 3 x 8th + 2 x 9th, divide by 11 and
    take the remainder; a remainder of 0 means the ULN is invalid, otherwise 10 - remainder is the check digit.
    HESA's ULN field specification adds that the first digit is non-zero, and gives the example 9276308686.
    (Stated so, the ULN check digit is the NHS number's minus one: no 10-digit number passes both checks.)
    """
    number = value.strip()
    if len(number) != 10 or not (number.isascii() and number.isdigit()) or number[0] == "0":
        return False
    remainder = sum(weight * int(digit) for weight, digit in zip(range(10, 1, -1), number)) % 11
    return remainder != 0 and 10 - remainder == int(number[9])


# HMRC National Insurance Manual NIM39110 ("What a NINO looks like"): two prefix letters, six digits, a suffix
# A, B, C or D. D, F, I, Q, U and V are not used as the first or second letter; O is not used as the second;
# the prefixes BG, GB, KN, NK, NT, TN and ZZ are not used. NIM39110 also lists administrative reference numbers
# that look like NINOs but are not (OO, CR, FY, MW, NC), excluded too.
_NINO_NOT_FIRST = frozenset("DFIQUV")
_NINO_NOT_SECOND = frozenset("DFIOQUV")
_NINO_NOT_PREFIX = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ", "OO", "CR", "FY", "MW", "NC"})


def nino_is_valid(value: str) -> bool:
    number = "".join(value.split()).upper()
    if not re.fullmatch(r"[A-Z]{2}[0-9]{6}[A-D]", number):
        return False
    first, second = number[0], number[1]
    return first not in _NINO_NOT_FIRST and second not in _NINO_NOT_SECOND and number[:2] not in _NINO_NOT_PREFIX


# Royal Mail's postcode format (as the MRS/Royal Mail "Postcode format" note gives it): outward code A9, A99,
# AA9, AA99, A9A or AA9A, then a space and the inward code 9AA. Q, V and X are not used in the first position;
# I, J and Z not in the second; only A B C D E F G H J K P S T U W in the third (A9A); only A B E H M N P R V W X Y
# in the fourth (AA9A); the inward code's letters are never C, I, K, M, O or V. GIR 0AA is the one exception.
_POSTCODE = re.compile(
    r"(?:[A-PR-UWYZ](?:[0-9]{1,2}|[A-HK-Y][0-9]{1,2}|[0-9][A-HJKPSTUW]|[A-HK-Y][0-9][ABEHMNPRVWXY])"
    r" ?[0-9][ABD-HJLNP-UW-Z]{2}|GIR ?0AA)")


def postcode_is_valid(value: str) -> bool:
    return _POSTCODE.fullmatch(" ".join(value.split()).upper()) is not None


_MONTHS = {m: i for i, names in enumerate(
    [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",), ("jun", "june"),
     ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
     ("dec", "december")], 1) for m in names}


def parse_date(value: str) -> datetime.date | None:
    """A day-month-year date as British people write it (12/03/2015, 12.3.15, 12th March 2015, March 12, 2015)."""
    words = re.findall(r"[0-9]+|[A-Za-z]+", value)
    nums = [int(w) for w in words if w.isdigit()]
    month_words = [_MONTHS[w.lower()] for w in words if w.lower() in _MONTHS]
    try:
        if month_words and len(nums) == 2:
            day, year = (nums[0], nums[1])
            month = month_words[0]
        elif not month_words and len(nums) == 3:
            day, month, year = nums
        else:
            return None
        if year < 100:  # two-digit year: the most recent past one
            year += 2000 if 2000 + year <= datetime.date.today().year else 1900
        return datetime.date(year, month, day)
    except ValueError:
        return None


# -------------------------------------------------------------------------------------------- the recognizers

_NOT_IN_WORD_BEFORE = r"(?<![0-9A-Za-z+])"  # not the tail of a longer word or number (or +44 ...)
_NOT_IN_WORD_AFTER = r"(?![0-9A-Za-z])"
_NOT_IN_NUMBER_AFTER = r"(?![0-9A-Za-z]|[ -][0-9]|[.,][0-9])"  # nor the head of a longer (spaced) number


class UPN(Recognizer):
    entity = "UPN"
    label = "Unique Pupil Number"
    patterns = (
        Pattern("UPN", _NOT_IN_WORD_BEFORE + r"[A-HJ-NP-RT-Z][0-9]{12}" + _NOT_IN_WORD_AFTER, 0.6),
        Pattern("temporary UPN", _NOT_IN_WORD_BEFORE + r"[A-HJ-NP-RT-Z][0-9]{11}[A-HJ-NP-RT-Z]"
                + _NOT_IN_WORD_AFTER, 0.5),
        Pattern("UPN, lower case", _NOT_IN_WORD_BEFORE + r"[a-hj-np-rt-z][0-9]{12}" + _NOT_IN_WORD_AFTER, 0.3),
    )
    context = ("upn", "pupil number", "unique pupil number", "pupil no")
    min_digits = 11
    before = "[A-Za-z]"
    reach = (2, 3)

    def validate_result(self, value: str) -> bool:
        return upn_is_valid(value)


class ULN(Recognizer):
    entity = "ULN"
    label = "Unique Learner Number"
    # Ten bare digits are too common (timestamps, order numbers) to count alone: only beside a context word.
    patterns = (Pattern("ten digits", _NOT_IN_WORD_BEFORE + r"(?<![0-9][ -])[1-9][0-9]{9}" + _NOT_IN_NUMBER_AFTER,
                        0.3),)
    context = ("uln", "ulns", "unique learner number", "learner number", "learner no", "lrs")
    min_digits = 10
    reach = (2, 3)

    def validate_result(self, value: str) -> bool:
        return uln_is_valid(value)


class NHS(Recognizer):
    entity = "NHS"
    label = "NHS number"
    patterns = (
        Pattern("NHS number, spaced 3-3-4", _NOT_IN_WORD_BEFORE + r"(?<![0-9][ -])[0-9]{3}([ -])[0-9]{3}\1[0-9]{4}"
                + _NOT_IN_NUMBER_AFTER, 0.5),
        Pattern("ten digits", _NOT_IN_WORD_BEFORE + r"(?<![0-9][ -])[0-9]{10}" + _NOT_IN_NUMBER_AFTER, 0.3),
    )
    context = ("nhs", "nhs no", "nhs number", "national health service", "health number", "chi number")
    min_digits = 10
    reach = (3, 3)

    def validate_result(self, value: str) -> bool:
        return nhs_is_valid(value)


class NINO(Recognizer):
    entity = "NINO"
    label = "National Insurance number"
    patterns = (
        Pattern("NINO", r"(?<![0-9A-Za-z])[A-Z]{2} ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D](?![0-9A-Za-z])", 0.5),
        Pattern("NINO, lower case", r"(?i)(?<![0-9a-z])[a-z]{2} ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[a-d](?![0-9a-z])",
                0.3),
    )
    context = ("national insurance", "ni number", "ni no", "nino", "nat ins")
    min_digits = 6
    before = "[A-Za-z]{2} ?"
    reach = (4, 3)

    def validate_result(self, value: str) -> bool:
        return nino_is_valid(value)


class Postcode(Recognizer):
    entity = "POSTCODE"
    label = "UK postcode"
    patterns = (
        Pattern("postcode", r"(?i)(?<![0-9a-z])[a-z]{1,2}[0-9][0-9a-z]? ?[0-9][a-z]{2}(?![0-9a-z])", 0.5),
    )
    min_digits = 1
    before = "[A-Za-z]"
    reach = (2, 6)

    def validate_result(self, value: str) -> bool:
        return postcode_is_valid(value)


_MONTH_WORD = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
               r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")


class DateOfBirth(Recognizer):
    """A date that is someone's birthday: said so ("DOB", "born"), or a full numeric date 3 to 100 years ago."""

    entity = "DOB"
    label = "date of birth"
    patterns = (
        Pattern("numeric date", r"(?<![0-9])[0-3]?[0-9]([/.-])[01]?[0-9]\1(?:19|20)?[0-9]{2}(?![0-9])", 0.3),
        Pattern("day month year", r"(?i)(?<![0-9])[0-3]?[0-9](?:st|nd|rd|th)? " + _MONTH_WORD
                + r",? (?:19|20)[0-9]{2}(?![0-9])", 0.2),
        Pattern("month day year", r"(?i)(?<![a-z])" + _MONTH_WORD + r" [0-3]?[0-9](?:st|nd|rd|th)?,? (?:19|20)[0-9]{2}"
                r"(?![0-9])", 0.2),
    )
    context = ("dob", "d.o.b", "d.o.b.", "date of birth", "birth date", "birthdate", "born", "birthday", "b.")
    context_boost = 0.3
    context_reach = (24, 0)
    min_digits = 1
    reach = (14, 20)
    birth_years = (3, 100)  # a full numeric date this many years ago (or fewer) reads as a birth date

    def validate_result(self, value: str) -> bool:
        date = parse_date(value)
        return date is not None and date <= datetime.date.today()

    def rescore(self, value: str, score: float) -> float:
        date = parse_date(value)
        years_ago = datetime.date.today().year - date.year
        numeric_four_digit_year = re.search(r"[/.-][0-9]{4}$", value) is not None
        if numeric_four_digit_year and self.birth_years[0] <= years_ago <= self.birth_years[1]:
            return score + 0.2
        return score


PUPIL = (UPN(), ULN(), NHS())
STAFF = (NINO(),)
