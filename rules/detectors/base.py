"""What every detector shares: the rules it provides, their wording, its config table, the walk over a post's files
and fields, and the hooks the engine calls. A detector is mostly data: its id, rules, messages and options, plus
`check_file` or `check_field` (or `check`, for one that judges the request as a whole)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterable

from pydantic import BaseModel

from ..model import Attachment, Submission


@dataclass
class Hit:
    """A detector's raw result; the engine turns it into a Finding with the pack's action, severity and clause."""

    rule: str
    message: str
    evidence: dict = field(default_factory=dict)
    target: str = ""
    severity: str | None = None  # raises the pack's severity for this finding (never lowers it)


@dataclass(frozen=True)
class Unchecked:
    """A part of the post a detector could not read (a malformed or truncated structure, a format it cannot walk).
    Yielded among the hits; the engine puts it in the verdict's errors, so it is an inspection error, never "nothing
    found"."""

    target: str
    why: str


def file_target(name: str) -> str:
    """Which part of a submission a finding is about: a file, by the name it was sent with."""
    return f"file:{name}"


def field_target(name: str) -> str:
    """A form or JSON field, by its name or path ("media.0.alt")."""
    return f"field:{name}"


URL_TARGET = "url"  # the request itself: its URL and what it does (a wiki save, a sign-in)


class Detector:
    id: ClassVar[str]
    rules: ClassVar[dict[str, str]]  # rule id -> what the rule looks for, in one line (for docs and `--help`)
    messages: ClassVar[dict[str, str]] = {}  # kind -> the message shown to the person, with {placeholders}
    sanitises: ClassVar[frozenset[str]] = frozenset()  # rule ids whose findings `sanitise` can remove
    thresholds: ClassVar[dict[str, dict]] = {}  # rule id -> the numbers a pack may tune, with their defaults
    # The config table this detector owns ("wikipedia" for [wikipedia]) and its schema (a rules.schema.Options
    # model: typed keys with defaults and help). rules.config adds it to the file's schema from the registry.
    table: ClassVar[str | None] = None
    Options: ClassVar[type[BaseModel] | None] = None

    def __init__(self, config, tuning: dict | None = None):
        self.config = config
        self.tuning = tuning or {}  # rule id -> the pack's thresholds for it
        # This detector's table, validated when the config was read. A detector copies what its checks need into
        # plain attributes here: nothing on the per-post path reads the config model.
        self.options = None
        if self.table:
            self.options = getattr(config, self.table, None)
            if self.options is None:  # a config object made without this detector's table
                self.options = self.Options()

    def status(self) -> str:
        """A line for `postguard status` about the data this detector uses ("" when there is nothing to say)."""
        return ""

    def warm_up(self) -> None:
        """Load what the first check would otherwise wait for (data files, indexes). Called once, off the hot path."""

    def message(self, kind: str, **values) -> str:
        return self.messages[kind].format(**values)

    def check(self, submission: Submission, rules: set[str]) -> Iterable[Hit]:
        """The walk every file and text field takes: each file through `check_file`, and each non-empty field
        through `check_field` with what `begin` prepared for this post, for the detectors that define them. A
        detector that judges the request as a whole (its URL, its account fields) overrides this instead."""
        if self._checks_files:
            for att in submission.files:
                yield from self.check_file(submission, att, rules)
        if self._checks_fields and submission.fields:
            state = self.begin(submission, rules)
            check_field = self.check_field
            for name, value in submission.fields:
                if value:
                    hits = check_field(name, value, rules, state)
                    if hits:
                        yield from hits

    def check_file(self, submission: Submission, attachment: Attachment, rules: set[str]) -> Iterable[Hit]:
        """Hits for one file; `media.inspect_file(submission, attachment)` reads its metadata once for all."""
        return ()

    def begin(self, submission: Submission, rules: set[str]) -> Any:
        """What `check_field` needs for this post, prepared once (e.g. which rules are on, the roster)."""
        return None

    def check_field(self, name: str, value: str, rules: set[str], state: Any) -> list[Hit] | None:
        """Hits for one text field (a list, or None when there are none: most fields have none)."""
        return None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._checks_files = cls.check_file is not Detector.check_file
        cls._checks_fields = cls.check_field is not Detector.check_field

    def sanitise(self, attachment: Attachment, rules: set[str]) -> tuple[bytes, list[str]]:
        """The attachment's bytes with what `rules` found removed, and a list of what was removed."""
        return attachment.data, []
