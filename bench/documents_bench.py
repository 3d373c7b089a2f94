"""Benchmark documents.pupil_records: the cost per MB of reading and checking each document format.

For each format (PDF, DOCX, XLSX, PPTX, ODT, ODS, CSV) it makes a real-looking class list of the same pupils (names,
UPNs, classes; the generators of tests/rules/document_samples.py), imports those pupils as the roster, and times
`DocumentsDetector.check` on one upload (median of --repeat runs), apart: the reading (rules/media/documents.py) and
the checking (identifiers and roster names). Printed per format: the file's size, rows read, time, and time per MB
of file and per 1,000 rows of table. Every run must find the document (the script says FAIL if one is missed) and
read it without an error.

Also a hostile row: a zip bomb shaped like a Word file and a zip of 6,000 entries, which must be refused (an error
on the verdict) in a small fraction of the time a real document takes.

Usage: python bench/documents_bench.py [--rows N] [--repeat N]
"""
from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from measure import cpu_model, fmt_s, median_time, verdict  # noqa: E402

from rules import roster  # noqa: E402  (needs the repository root on sys.path)
from rules.config import parse_config  # noqa: E402
from rules.detectors.base import Unchecked  # noqa: E402
from rules.detectors.documents import RULE, DocumentsDetector, scan  # noqa: E402
from rules.media import documents  # noqa: E402
from rules.model import Attachment, Submission  # noqa: E402
from tests.rules import document_samples as S  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=2000, help="pupils in each class list (default 2000)")
    ap.add_argument("--repeat", type=int, default=5, help="runs per format; the median is printed (default 5)")
    args = ap.parse_args()
    rows = S.pupils(args.rows)
    print(f"documents_bench: {args.rows} pupils per document, median of {args.repeat} runs; "
          f"{cpu_model()}, Python {platform.python_version()}")
    makers = {
        "PDF": lambda: S.pdf(rows, pages=max(1, args.rows // 40)),
        "DOCX": lambda: S.docx(rows),
        "XLSX": lambda: S.xlsx(rows),
        "PPTX": lambda: S.pptx(rows),
        "ODT": lambda: S.odt(rows),
        "ODS": lambda: S.ods(rows),
        "CSV": lambda: S.csv_bytes(rows),
    }
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "roster.csv").write_text(S.roster_csv(rows), encoding="utf-8")
        config = parse_config({"data_dir": str(Path(tmp) / "data")})
        roster.import_csv(config, Path(tmp) / "roster.csv")
        detector = DocumentsDetector(config)
        names = roster.cached(config.data_dir)
        print(f"{'format':6} {'size':>10} {'rows':>6} {'read':>11} {'check':>11} {'total':>11} {'per MB':>11} "
              f"{'per 1k rows':>11}  found")
        for fmt, make in makers.items():
            data = make()
            kind = documents.kind_of(data, f"list.{fmt.lower()}")
            doc = documents.read(data, kind)
            read_s = median_time(lambda: documents.read(data, kind), args.repeat)
            check_s = median_time(lambda: scan(doc, detector.recognizers, names), args.repeat)
            sub = Submission(files=[Attachment(f"list.{fmt.lower()}", data)])
            total_s = median_time(lambda: list(detector.check(sub, {RULE})), args.repeat)
            out = list(detector.check(sub, {RULE}))
            hits = [h for h in out if not isinstance(h, Unchecked)]
            errors = [h.why for h in out if isinstance(h, Unchecked)]
            found = bool(hits) and not errors and hits[0].evidence["counts"].get("UPN") == args.rows
            ok = ok and found
            units = len(doc.rows) + len(doc.lines)
            mb = len(data) / 2**20
            print(f"{fmt:6} {len(data) / 1024:8.0f} KB {units:6} {fmt_s(read_s)} {fmt_s(check_s)} {fmt_s(total_s)} "
                  f"{fmt_s(total_s / mb)} {fmt_s(total_s / max(1, units) * 1000)}  "
                  f"{verdict(found)}{'' if not errors else ' ' + errors[0]}")
        for name, make in (("zip bomb (docx)", S.zip_bomb_docx), ("6,000 entries (xlsx)", S.many_entries_zip)):
            data = make()
            sub = Submission(files=[Attachment("hostile.docx", data)])
            t = median_time(lambda: list(detector.check(sub, {RULE})), args.repeat)
            refused = any(isinstance(h, Unchecked) for h in detector.check(sub, {RULE}))
            ok = ok and refused
            print(f"{name:22} {len(data) / 1024:8.0f} KB refused in {fmt_s(t)}  {verdict(refused)}")
    print(f"overall: {verdict(ok)}")


if __name__ == "__main__":
    main()
