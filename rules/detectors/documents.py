"""documents.pupil_records: an uploaded document (PDF, Word, Excel, PowerPoint, OpenDocument, CSV) that holds pupils'
identifiers or the names of pupils on the school roster: a class list, a mark book, a register.

rules/media/documents.py reads the text within a budget; this detector runs the same checks personal_data.pupil runs
on a post's text (Unique Pupil Numbers, Unique Learner Numbers and NHS numbers that pass their checks, from
rules/identifiers.py; roster names from the keyed hashes of rules/roster.py) over it. A table row is read as
"Forename Surname ..." and as "Surname, Forename, ...", since a class list's columns come in either order. Whatever
the reader could not read (over budget, encrypted, a scan without text, a legacy Office file) is an inspection error
on the verdict, never "nothing found". Evidence keeps counts, the identifier types and their last two characters.
"""
from __future__ import annotations

from .. import identifiers, roster
from ..media import documents
from ..model import Attachment, Submission
from .base import Detector, Hit, Unchecked, file_target

RULE = "documents.pupil_records"
CHUNK_LINES = 400  # lines scanned together (a roster name never spans two: each line ends in a break)
LIST_NAMES = 10  # this many roster names (or any checked identifier) make the document a record: severity high


class DocumentsDetector(Detector):
    id = "documents"
    rules = {RULE: "pupils' identifiers (UPN, ULN, NHS number, checks passed) or roster names in an uploaded PDF, "
                   "Word, Excel, PowerPoint, OpenDocument or CSV file"}
    messages = {
        "found": "This {format} file holds pupil records: {what} ({read}). Pupils' records must not leave the "
                 "school's systems.",
    }
    thresholds = {RULE: {"min_names": 1}}  # roster names a document needs to count (identifiers always count)

    def __init__(self, config, tuning: dict | None = None):
        super().__init__(config, tuning)
        self.min_names = max(1, int(self.tuning.get(RULE, {}).get("min_names", 1)))
        self.recognizers = identifiers.PUPIL
        roster.cached(config.data_dir)  # a damaged roster or a replaced key is a loud error at start

    def status(self) -> str:
        if roster.cached(self.config.data_dir) is None:
            return f"{RULE}: no roster imported, so documents are read for pupils' identifiers only, not their names"
        return ""

    def check_file(self, submission: Submission, att: Attachment, rules: set[str]):
        if RULE not in rules:
            return
        kind = documents.kind_of(att.data, att.name, att.content_type)
        if kind is None:
            return
        target = file_target(att.name)
        doc = documents.read(att.data, kind, deadline=submission.context.get("deadline"))  # the caller's budget
        for error in doc.errors:
            yield Unchecked(target, error)
        found = scan(doc, self.recognizers, roster.cached(self.config.data_dir))
        names, counts = found["names"], found["counts"]
        if not counts and names < self.min_names:
            return
        what = [f"{n} {_LABELS[k]}{'s' if n != 1 else ''}" for k, n in counts.items()]
        if names:
            what.append(f"{names} name{'s' if names != 1 else ''} on the school roster")
        read = f"{doc.units} {doc.unit} read"
        evidence = {"identifier": "pupil records in a document", "format": doc.kind, "types": sorted(counts),
                    "counts": counts, "last_two": sorted({e for v in found["endings"].values() for e in v})[:10],
                    "roster_names": names, "units_read": doc.units, "unit": doc.unit, "complete": not doc.errors}
        severity = "high" if counts or names >= LIST_NAMES else None
        yield Hit(RULE, self.message("found", format=doc.kind, what=" and ".join(what), read=read), evidence, target,
                  severity=severity)


_LABELS = {r.entity: r.label for r in identifiers.PUPIL}


def scan(doc: documents.DocumentText, recognizers, names: roster.Roster | None) -> dict:
    """{"counts": {entity: distinct values}, "endings": {entity: [their last two characters]}, "names": roster names
    found (distinct within each chunk of CHUNK_LINES lines)}. The values themselves are not returned."""
    seen: dict[str, set[str]] = {}
    endings: dict[str, set[str]] = {}
    total_names = 0
    pieces = [line + " |" for line in doc.lines]
    pieces += _row_texts(doc.rows, recognizers)
    least = min(r.min_digits for r in recognizers)
    for i in range(0, len(pieces), CHUNK_LINES):
        text = "\n".join(pieces[i:i + CHUNK_LINES])
        runs = [r for r in identifiers.digit_runs(text) if r[2] >= least]
        if runs:
            for recognizer in recognizers:
                for match in recognizer.analyze(text, runs):
                    seen.setdefault(match.entity, set()).add("".join(filter(str.isalnum, match.value)).upper())
                    endings.setdefault(match.entity, set()).add(match.last_two)
        if names is not None:
            total_names += names.names_in(text)
    return {"counts": {k: len(v) for k, v in seen.items()}, "endings": {k: sorted(v) for k, v in endings.items()},
            "names": total_names}


def _row_texts(rows, recognizers) -> list[str]:
    """Each row as "cells ... | cells, ... |" for the checks. A spreadsheet says what a column holds once, in its
    header ("ULN", "NHS Number"): a cell with digits under a header that names an identifier is read with the header
    before it, so the identifier's context word is beside it as in a sentence ("ULN 9276308686")."""
    words = tuple(w for r in recognizers for w in r.context)
    header: tuple[str, ...] = ()
    out = []
    for cells in rows:
        has_digits = any(ch.isdigit() for c in cells for ch in c)
        if not has_digits:
            lowered = [c.lower() for c in cells]
            if any(w in c for c in lowered for w in words):
                header = cells
        elif header:
            cells = tuple(f"{header[i]} {c}" if i < len(header) and header[i] and c and
                          any(ch.isdigit() for ch in c) else c for i, c in enumerate(cells))
        filled = [c for c in cells if c]
        out.append(f"{' '.join(filled)} | {', '.join(filled)} |")
    return out
