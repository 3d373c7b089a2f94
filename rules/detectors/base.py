"""What every detector shares: the rules it provides, their default wording, and the hooks the engine calls."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Iterable

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


class Detector:
    id: ClassVar[str]
    rules: ClassVar[dict[str, str]]  # rule id -> what the rule looks for, in one line (for docs and `--help`)
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

    def check(self, submission: Submission, rules: set[str]) -> Iterable[Hit]:
        raise NotImplementedError

    def sanitise(self, attachment: Attachment, rules: set[str]) -> tuple[bytes, list[str]]:
        """The attachment's bytes with what `rules` found removed, and a list of what was removed."""
        return attachment.data, []
