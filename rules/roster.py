"""The school roster as keyed hashes: pupils' names can be recognised in a post, but not read back from the disk.

`import_csv` reads a management-information-system export (SIMS, Arbor, Bromcom: CSV with forename and surname
columns, or one "Surname, Forename" column) and stores only HMAC-SHA256 tags of normalised (forename, surname)
pairs, keyed with a per-install secret in `config.data_dir`. Both files are 0600. `Roster.names_in(text)` counts the
roster's name pairs in a text: adjacent "Forename Surname" and "Surname, Forename", preferred forenames too,
tolerating case, accents, hyphen and apostrophe variants and extra spaces. A forename or surname alone never counts.
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import hmac
import io
import json
import os
import re
import secrets
import time
import unicodedata
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import not_
from pathlib import Path
from typing import Callable

from .schema import write_private

KEY_FILE = "roster.key"
ROSTER_FILE = "roster.json"
FORMAT = "postguard-roster"
VERSION = 1
TAG_BYTES = 16  # HMAC-SHA256 truncated to 128 bits: no collisions at school scale
MAX_PARTS = 3  # words a forename or surname may span in a post ("Mary Jane", "Van der Berg")
SEP = "\x1f"  # between forename and surname inside the hashed message


class RosterError(ValueError):
    """A roster file or export that cannot be used: the message names the file (and the row)."""


# ---------------------------------------------------------------------------------------------- normalising

_APOSTROPHES = "\u2019\u2018\u02bc\u02b9\u00b4\u2032\uff07"
_HYPHENS = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d"
_SPECIAL = {"ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "ł": "l", "Ł": "L", "þ": "th",
            "Þ": "Th", "æ": "ae", "Æ": "Ae", "œ": "oe", "Œ": "Oe", "ı": "i", "ħ": "h", "Ħ": "H", "\u00ad": "",
            **dict.fromkeys(_APOSTROPHES, "'"), **dict.fromkeys(_HYPHENS, "-")}
_HEX_LETTERS = str.maketrans("0123456789abcdef", "abcdefghijklmnop")


def _fold_non_ascii(error: UnicodeEncodeError) -> tuple[str, int]:
    """Codec error handler for a run of non-ASCII characters: accents stripped (NFKD, combining marks dropped), a
    few letters NFKD keeps made ASCII, apostrophe and hyphen look-alikes made ' and -, letters of other scripts
    spelt as ASCII letters ("X" + their code point in letters, so they stay one word), anything else a space.
    The same characters come back in every post (curly quotes, a pound sign, an accented letter): a run of one or
    two is folded once and remembered (longer runs, such as a name in another script, are post text: never kept)."""
    run = error.object[error.start:error.end]
    folded = _FOLDED.get(run)
    if folded is None:
        folded = _fold(run)
        if len(run) <= 2 and len(_FOLDED) < FOLD_CACHE:
            _FOLDED[run] = folded
    return folded, error.end


FOLD_CACHE = 4096  # distinct short non-ASCII runs remembered
_FOLDED: dict[str, str] = {}


def _fold(run: str) -> str:
    out = []
    for ch in unicodedata.normalize("NFKD", run):
        if unicodedata.combining(ch):
            continue
        special = _SPECIAL.get(ch)
        if special is not None:
            out.append(special)
        elif ch.isascii():
            out.append(ch)
        elif ch.isalpha():
            out.append("X" + format(ord(ch.casefold()[0]), "x").translate(_HEX_LETTERS))
        else:
            out.append(" ")
    return "".join(out)


codecs.register_error("postguard-fold", _fold_non_ascii)

# Hyphens and underscores separate words, and so do digits; other punctuation is a break ("|": "Smith. Jones" is
# not a name); a comma is a word of its own (for "Surname, Forename"). Applied to the folded text's ASCII bytes,
# where translate is one table lookup per byte (str.translate builds its cache again on every call).
_PUNCTUATION = b'.!?;:()[]{}"/\\<>@#&*+=~^%$'
_BREAKS = bytes.maketrans(_PUNCTUATION + b"0123456789-_`", b"|" * len(_PUNCTUATION) + b" " * 12 + b"'")
_APOSTROPHE = re.compile(rb"'[sS](?= |\Z)|'")  # a possessive 's goes, and any other apostrophe: O'Brien -> OBrien


def _normalise(text: str) -> str:
    # The encoder copies ASCII at C speed and calls _fold_non_ascii for the rest, which returns ASCII only.
    t = text.encode("ascii", "postguard-fold").translate(_BREAKS)
    if b"," in t:
        t = t.replace(b",", b" , ")
    if b"|" in t:
        t = t.replace(b"|", b" | ")
    if b"'" in t:
        t = _APOSTROPHE.sub(b"", t)
    return t.decode("ascii")


def words(text: str) -> list[str]:
    """The text's words, case kept: accents, apostrophes, possessive 's and hyphens folded away; a comma and a
    break ("|") are words of their own. 'Chloé O’Brien-Smith's' -> ['Chloe', 'OBrien', 'Smith']."""
    return _normalise(text).split()


def fold(text: str) -> str:
    """Case, accents, apostrophes, hyphens and spacing folded away: 'Chloé O’Brien-Smith' -> 'chloe obrien smith'."""
    return " ".join(words(text)).casefold()


def name_parts(name: str) -> list[str]:
    """The words of one forename or surname, folded (empty when the name has no letters)."""
    return [w.casefold() for w in words(name) if w not in (",", "|")]


# Everyday English words that are (almost) never a forename or surname. A post's words in this list are skipped
# before hashing, which keeps matching fast; a pupil whose name contains one cannot be matched (the import says
# how many). Words that are also names (will, may, hope, grace, do, an, so, le, to, he, ...) are deliberately absent.
STOPWORDS = frozenset("""
a about above after again against all also although always am among and another any anyone anything are around
as at away back be because been before being below between both but by could did does doing done down during
each either else even ever every everyone everything few for from further had has have having her here hers
herself him himself his how however i if in into is it its itself just last let like made make many me might
mine more most much must myself never next not nothing now of off often on once only onto or other others our
ours ourselves out over own please quite rather really said same see she should since some something still
such than thank thanks that the their theirs them themselves then there these they this those though through
thus today together tomorrow tonight too towards under until up upon us very was we were what whatever
when where whether which while who whom whose why with within without would yesterday yet you your yours
yourself yourselves
school class classes pupil pupils children child parents parent carers families staff teacher teachers year
years week weeks term holiday holidays morning afternoon evening trip visit lovely amazing fantastic brilliant
wonderful proud done great good well congratulations everyone's learning reading writing maths homework
assembly photos photo post posts reminder office team club
mr mrs ms miss mx dr sir rev prof
""".split())
# Name particles are written in lower case inside a capitalised name ("Lena van der Berg").
PARTICLES = frozenset("van von der den de del della da das dos du di la le bin binti bint ibn al el ap".split())
_COMMA = {",": 1}
_SKIP_LOWER = dict.fromkeys([*STOPWORDS, ",", "|"], True)  # for a post written without capitals
_SKIP_CASED = {**dict.fromkeys([v for w in STOPWORDS for v in (w, w.title(), w.upper())], True),
               ",": True, "|": True, **dict.fromkeys(PARTICLES, False)}
# In a post with capitals: runs of capitalised words ("Jamie", "JAMIE", "McDonald"), joined by spaces, lower-case
# particles or a comma. Only inside such runs can a roster name be. (The pattern starts with [A-Z] and checks the
# character before it afterwards, so the regex engine can skip ahead to capitals. The quantifiers are possessive:
# a word, a space or a particle once read is never given back, so a capitalised word that starts no run costs one
# look at what follows it instead of a retry at every shorter prefix; none of them can also start what comes next.)
_CAPITALISED = r"[A-Z][A-Za-z]*+"
_PARTICLE = "(?:" + "|".join(sorted(PARTICLES, key=len, reverse=True)) + ")"
_NAME_RUN = re.compile(rf"[A-Z](?<![A-Za-z][A-Z])[A-Za-z]*+(?: ++{_CAPITALISED}| ++, ++{_CAPITALISED})++"
                       rf"(?![A-Za-z])")
# The same with particles, used only when a roster name has one (the alternation makes the scan slower).
_NAME_RUN_PARTICLES = re.compile(rf"[A-Z](?<![A-Za-z][A-Z])[A-Za-z]*+(?:(?: ++{_PARTICLE})*+ ++{_CAPITALISED}"
                                 rf"| ++, ++{_CAPITALISED})++(?![A-Za-z])")


# ---------------------------------------------------------------------------------------------- keys and tags

def key_path(data_dir: Path) -> Path:
    return Path(data_dir) / KEY_FILE


def roster_path(data_dir: Path) -> Path:
    return Path(data_dir) / ROSTER_FILE


def load_key(data_dir: Path, create: bool = False) -> tuple[bytes, bool]:
    """The per-install roster key (32 random bytes, hex in a 0600 file), created when missing if `create`."""
    path = key_path(data_dir)
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        if not create:
            raise RosterError(f"{path}: the roster key is missing: import the roster again") from None
        key = secrets.token_bytes(32)
        write_private(path, key.hex() + "\n")
        return key, True
    except (OSError, UnicodeError) as exc:
        raise RosterError(f"{path}: {exc}") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < 16:
        raise RosterError(f"{path}: not a roster key (expected 64 hex digits)")
    return key, False


class _Tagger:
    """HMAC-SHA256 (RFC 2104) with the key's inner and outer hash states computed once; tags are truncated."""

    def __init__(self, key: bytes):
        block = hashlib.sha256().block_size
        if len(key) > block:
            key = hashlib.sha256(key).digest()
        key = key.ljust(block, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def tag(self, message: str) -> bytes:
        inner = self._inner.copy()
        inner.update(message.encode("utf-8"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()[:TAG_BYTES]


def key_id(key: bytes) -> str:
    """Names the key a roster was made with, so a replaced key is noticed (reveals nothing about the key)."""
    return hmac.new(key, b"postguard roster key id", hashlib.sha256).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------- matching

class Roster:
    """The imported roster: tags of name pairs, and how many words the longest forename and surname span."""

    def __init__(self, key: bytes, tags: frozenset[bytes], forename_parts: int = 1, surname_parts: int = 1,
                 pupils: int = 0, particles: bool = True, initial_tags: frozenset[bytes] = frozenset()):
        self._tagger = _Tagger(key)
        self._runs = _NAME_RUN_PARTICLES if particles else _NAME_RUN
        self.tags = tags
        self.initial_tags = initial_tags  # "j" + SEP + "smith" and "jamie" + SEP + "s": only rules/contact.py reads them
        self.forename_parts = max(1, min(MAX_PARTS, forename_parts))
        self.surname_parts = max(1, min(MAX_PARTS, surname_parts))
        self.pupils = pupils

    @classmethod
    def load(cls, data_dir: Path) -> Roster | None:
        """The roster imported into `data_dir`, or None when there is none."""
        path = roster_path(data_dir)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, UnicodeError, json.JSONDecodeError) as exc:
            raise RosterError(f"{path}: unreadable roster ({exc}): import the roster again") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != VERSION:
            raise RosterError(f"{path}: not a PostGuard roster (format {FORMAT!r} version {VERSION})")
        key, _ = load_key(data_dir)
        if doc.get("key_id") != key_id(key):
            raise RosterError(f"{path}: made with a different key than {key_path(data_dir)}: import the roster again")
        try:
            tags = frozenset(bytes.fromhex(t) for t in doc["tags"])
            initials = frozenset(bytes.fromhex(t) for t in doc.get("initials", []))
            return cls(key, tags, int(doc["forename_parts"]), int(doc["surname_parts"]), int(doc["pupils"]),
                       bool(doc.get("particles", True)), initials)
        except (KeyError, TypeError, ValueError) as exc:
            raise RosterError(f"{path}: damaged roster ({type(exc).__name__}: {exc}): import the roster again") \
                from None

    def names_in(self, text: str) -> int:
        """How many different roster name pairs `text` contains (0 for a forename or surname alone)."""
        if not self.tags or not text:
            return 0
        tag = self._tagger.tag
        return sum(1 for message in self.candidates(text) if tag(message) in self.tags)

    def has_pair(self, forename: str, surname: str, initial: bool = False) -> bool:
        """Whether the folded, joined `forename` and `surname` are a roster pair (with `initial`: a pair where one of
        the two is the first letter only, from the tags an import since contact.pupil stores)."""
        return self._tagger.tag(forename + SEP + surname) in (self.initial_tags if initial else self.tags)

    def candidates(self, text: str) -> set[str]:
        """Every "forename SEP surname" message the text could hold: adjacent words "Forename Surname" and
        "Surname , Forename", each name up to `forename_parts` / `surname_parts` words, never an everyday word.
        Names are written with capitals: in a post that has any, an all-lower-case word is not a name (except
        particles such as "van"); a post written all in lower case is matched word for word."""
        out: set[str] = set()
        if text.islower():
            toks = words(text)
            self._add_candidates(toks, list(map(_SKIP_LOWER.get, toks, repeat(False))), out)
            return out
        runs = self._runs.findall(_normalise(text))
        if runs:  # all runs at once, a break ("|", skipped) between two: no name spans it
            toks = " | ".join(runs).split()
            self._add_candidates(toks, [_SKIP_CASED.get(w, False) for w in toks], out)
        return out

    def _add_candidates(self, toks: list[str], skip: list[bool], out: set[str]) -> None:
        n = len(toks)
        fore_max, sur_max = self.forename_parts, self.surname_parts
        for i in compress(range(n), map(not_, skip)):  # a forename starts at i, its surname follows
            fore = ""
            for j in range(i, min(n - 1, i + fore_max)):
                if skip[j]:
                    break
                fore += toks[j].casefold()
                sur = ""
                for k in range(j + 1, min(n, j + 1 + sur_max)):
                    if skip[k]:
                        break
                    sur += toks[k].casefold()
                    out.add(fore + SEP + sur)
        if "," in toks:  # "Surname, Forename": the surname ends just before the comma at c
            for c in compress(range(n), map(_COMMA.get, toks, repeat(0))):
                sur = ""
                for k in range(c - 1, max(-1, c - 1 - sur_max), -1):
                    if skip[k]:
                        break
                    sur = toks[k].casefold() + sur
                    fore = ""
                    for j in range(c + 1, min(n, c + 1 + fore_max)):
                        if skip[j]:
                            break
                        fore += toks[j].casefold()
                        out.add(fore + SEP + sur)


_cache: dict[str, list] = {}  # str(data_dir) -> [checked at (monotonic), mtime_ns, Roster | None, roster path]
RELOAD_CHECK_S = 2.0


def cached(data_dir: Path) -> Roster | None:
    """The roster in `data_dir`, reloaded when the file changes (its mtime is looked at every 2 seconds at most)."""
    now = time.monotonic()
    entry = _cache.get(str(data_dir))
    if entry is not None and now - entry[0] < RELOAD_CHECK_S:
        return entry[2]
    path = entry[3] if entry else roster_path(data_dir)
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        mtime = -1
    if entry is not None and entry[1] == mtime:
        entry[0] = now
        return entry[2]
    roster = Roster.load(data_dir) if mtime != -1 else None
    _cache[str(data_dir)] = [now, mtime, roster, path]
    return roster


# ---------------------------------------------------------------------------------------------- importing

FORENAME_COLUMNS = ("legal forename", "forename", "forenames", "first name", "firstname", "legal first name",
                    "given name", "given names", "student forename", "pupil forename", "student first name",
                    "pupil first name", "child forename", "child first name")
PREFERRED_COLUMNS = ("preferred forename", "preferred first name", "preferred name", "known as", "chosen forename",
                     "chosen name", "nickname")
SURNAME_COLUMNS = ("legal surname", "surname", "last name", "lastname", "legal last name", "family name",
                   "student surname", "pupil surname", "student last name", "pupil last name", "child surname",
                   "preferred surname", "preferred last name", "child last name")
NAME_COLUMNS = ("name", "full name", "student name", "pupil name", "student", "pupil", "child name",
                "name (surname, forename)", "surname, forename")
HEADER_SEARCH_ROWS = 10  # exports sometimes start with a title line or two


@dataclass
class ImportResult:
    path: Path  # the export that was read
    roster_path: Path  # where the tags went (0600)
    pupils: int  # rows that gave a name
    tags: int  # keyed hashes stored (a pupil has one per forename/surname variant)
    columns: dict[str, list[str]]  # which export columns were used: {"forename": [...], "surname": [...]}
    encoding: str
    delimiter: str
    key_created: bool  # a new roster key was made (the old roster, if any, can no longer be matched)
    skipped: list[str] = field(default_factory=list)  # "file: row 7: no surname" (never a name)
    unmatchable: int = 0  # pupils with a name word in STOPWORDS: posts naming them are not recognised
    everyday_words: list[str] = field(default_factory=list)  # which STOPWORDS those were

    def summary(self) -> str:
        shape = {",": "comma-separated", ";": "semicolon-separated", "\t": "tab-separated", "|": "pipe-separated",
                 "\x1e": "one column"}.get(self.delimiter, repr(self.delimiter))
        lines = [f"Imported {self.pupils} pupils from {self.path} ({self.encoding}, {shape}): {self.tags} keyed "
                 f"name hashes in {self.roster_path}."]
        lines += [f"  skipped {s}" for s in self.skipped]
        if self.unmatchable:
            lines.append(f"  {self.unmatchable} pupils have a name that is also an everyday word "
                         f"({', '.join(self.everyday_words)}): posts naming them will not be recognised.")
        return "\n".join(lines)


def _decode(path: Path, raw: bytes) -> tuple[str, str]:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16"), "utf-16"
        except UnicodeError as exc:
            raise RosterError(f"{path}: not valid UTF-16 ({exc})") from None
    if b"\0" in raw[:4096]:
        raise RosterError(f"{path}: not a CSV file (it contains binary data); export the roster as CSV")
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as exc:
        raise RosterError(f"{path}: neither UTF-8 nor Windows-1252 text (byte {exc.start}); save the export as "
                          f"CSV UTF-8") from None


def _column_key(header: str) -> str:
    return " ".join(header.replace("_", " ").replace("-", " ").strip().lower().split())


def _find_columns(header: list[str]) -> dict[str, list[int]]:
    keys = [_column_key(h) for h in header]
    found = {kind: [i for i, k in enumerate(keys) if k in names]
             for kind, names in (("forename", FORENAME_COLUMNS), ("preferred", PREFERRED_COLUMNS),
                                 ("surname", SURNAME_COLUMNS), ("name", NAME_COLUMNS))}
    return {k: v for k, v in found.items() if v}


def _sniff(path: Path, text: str) -> tuple[str, list[list[str]], int]:
    """(delimiter, rows, index of the header row): the header is the first of the first rows naming name columns."""
    lines = text.splitlines()[:HEADER_SEARCH_ROWS]
    best = None
    for delimiter in (",", ";", "\t", "|"):
        for index, line in enumerate(lines):
            cells = next(csv.reader([line], delimiter=delimiter), [])
            columns = _find_columns(cells)
            if (("forename" in columns or "preferred" in columns) and "surname" in columns) or "name" in columns:
                score = (len(cells), -index)
                if best is None or score > best[0]:
                    best = (score, delimiter, index)
                break
    if best is None:
        first = lines[0][:120] if lines else ""
        raise RosterError(f"{path}: no name columns found in the first {HEADER_SEARCH_ROWS} rows (looked for "
                          f"'Forename'/'Legal Forename'/'First Name' with 'Surname'/'Legal Surname'/'Last Name', "
                          f"or one 'Name' column); the first row reads {first!r}")
    (cells, _), delimiter, index = best
    if cells == 1:  # one column ("Surname, Forename" unquoted): do not split the rows at all
        delimiter = "\x1e"
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    return delimiter, rows, index


def _pairs_of_row(cells: list[str], columns: dict[str, list[int]]) -> tuple[list[list[str]], list[list[str]], str]:
    """(forename variants, surname variants, problem) for one row, each variant as its folded words."""
    def values(kind):
        return [cells[i].strip() for i in columns.get(kind, []) if i < len(cells) and cells[i].strip()]

    forenames, surnames = values("forename") + values("preferred"), values("surname")
    if not forenames and not surnames and "name" in columns:
        for value in values("name"):
            if "," not in value:
                return [], [], "the name column holds no comma (expected 'Surname, Forename')"
            surname, forename = value.split(",", 1)
            surnames.append(surname)
            forenames.append(forename)
    if not forenames and not surnames:
        return [], [], ""  # a blank row
    if not forenames:
        return [], [], "no forename"
    if not surnames:
        return [], [], "no surname"
    fore = _variants(forenames, first_word=True)
    sur = _variants(surnames, first_word=False)
    if not fore or not sur:
        return [], [], "a name without letters"
    return fore, sur, ""


def _variants(names: list[str], first_word: bool) -> list[list[str]]:
    """Each name's words; with `first_word`, also the first word alone of a spaced multi-word forename
    ("Olivia Rose" is also written "Olivia"; "Mary-Jane" is not "Mary")."""
    out: list[list[str]] = []
    for name in names:
        parts = name_parts(name)
        if parts and parts not in out:
            out.append(parts)
        words = name.split()
        if first_word and len(words) > 1:
            first = name_parts(words[0])
            if first and first not in out:
                out.append(first)
    return out


def import_csv(config, path: str | os.PathLike, progress: Callable[[int, int], None] | None = None) -> ImportResult:
    """Replace the roster in `config.data_dir` with the names in the export at `path`.

    Stores only keyed hashes (HMAC-SHA256, key in `config.data_dir/roster.key`, made when missing) of folded
    (forename, surname) pairs, legal and preferred. `progress(done, total)` is called as rows are read.
    Raises RosterError (a ValueError) naming the file, and the row where one is at fault.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RosterError(f"{path}: {exc.strerror or exc}") from None
    text, encoding = _decode(path, raw)
    delimiter, rows, header_index = _sniff(path, text)
    header = rows[header_index]
    columns = _find_columns(header)
    body = rows[header_index + 1:]
    first_row = header_index + 2  # 1-based file row of body[0] (ignoring quoted newlines, rare in name exports)
    key, created = load_key(config.data_dir, create=True)
    tagger = _Tagger(key)
    tags: set[bytes] = set()
    initials: set[bytes] = set()  # a name as a profile may show it: "J Smith", "Jamie S" (contact.pupil)
    skipped: list[str] = []
    everyday: set[str] = set()
    pupils = unmatchable = 0
    forename_parts = surname_parts = 1
    particles = False
    for n, cells in enumerate(body):
        if progress and n % 500 == 0:
            progress(n, len(body))
        fore, sur, problem = _pairs_of_row(cells, columns)
        if problem:
            skipped.append(f"{path}: row {first_row + n}: {problem}")
            continue
        if not fore:
            continue
        pupils += 1
        blocked = [set(f + s) & STOPWORDS for f in fore for s in sur]
        if all(blocked):
            unmatchable += 1
            everyday.update(*blocked)
        particles = particles or any(w in PARTICLES for parts in fore + sur for w in parts)
        forename_parts = max(forename_parts, *(len(p) for p in fore))
        surname_parts = max(surname_parts, *(len(p) for p in sur))
        for f in fore:
            for s in sur:
                tags.add(tagger.tag("".join(f) + SEP + "".join(s)))
                initials.add(tagger.tag(f[0][0] + SEP + "".join(s)))
                initials.add(tagger.tag("".join(f) + SEP + s[0][0]))
    if progress:
        progress(len(body), len(body))
    if not pupils:
        why = f" ({skipped[0]}{' ...' if len(skipped) > 1 else ''})" if skipped else ""
        raise RosterError(f"{path}: no pupil names found below the header row {header_index + 1}{why}")
    doc = {
        "format": FORMAT, "version": VERSION, "key_id": key_id(key),
        "hash": f"HMAC-SHA256 truncated to {TAG_BYTES} bytes, of folded 'forename' + U+001F + 'surname'",
        "imported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "pupils": pupils, "forename_parts": min(forename_parts, MAX_PARTS),
        "surname_parts": min(surname_parts, MAX_PARTS), "particles": particles,
        "tags": sorted(t.hex() for t in tags),
        "initials": sorted(t.hex() for t in initials),
    }
    target = roster_path(config.data_dir)
    temporary = target.with_name(target.name + ".new")
    write_private(temporary, json.dumps(doc, indent=0) + "\n")
    os.replace(temporary, target)
    _cache.pop(str(config.data_dir), None)
    used = {kind: [header[i] for i in idx] for kind, idx in columns.items()
            if kind != "name" or not ({"forename", "preferred"} & columns.keys())}
    return ImportResult(path, target, pupils, len(tags), used, encoding, delimiter, created, skipped,
                        unmatchable, sorted(everyday))
