"""The monitoring log as CSV or JSON Lines, a row at a time, for the dashboard's exports.

CSV cells that a spreadsheet would read as a formula (starting with = + - @, or a tab or carriage return that some
spreadsheets skip first) are prefixed with a single quote, as OWASP's CSV injection advice says.
"""
from __future__ import annotations

import csv
import io
import json

COLUMNS = ("time", "id", "user", "device", "rule", "severity", "decision", "host", "path", "source", "message",
           "reason", "clauses", "evidence", "purged", "hash")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def record(row: dict) -> dict:
    """An event as exported: its public fields, in a fixed order."""
    return {name: row.get(name) for name in COLUMNS} | {"purged": bool(row.get("purged"))}


def csv_line(values) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow([safe_cell(v) for v in values])
    return buf.getvalue()


def csv_lines(rows):
    yield csv_line(COLUMNS)
    for row in rows:
        r = record(row)
        r["clauses"] = "; ".join(c.get("ref", "") for c in r["clauses"] or [])
        r["evidence"] = json.dumps(r["evidence"] or {}, ensure_ascii=False, sort_keys=True)
        r["purged"] = "yes" if r["purged"] else ""
        yield csv_line(r[name] for name in COLUMNS)


def jsonl_lines(rows):
    for row in rows:
        yield json.dumps(record(row), ensure_ascii=False) + "\n"
