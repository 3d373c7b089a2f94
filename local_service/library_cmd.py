"""`postguard library ...`: the school photo library, kept as perceptual hashes only."""
from __future__ import annotations

import json
import os
import sys

from rules import load_config
from rules.images.library import Library, LibraryError

from .progress import Progress


def _library(args) -> Library:
    return Library.for_config(load_config(args.config))


def cmd_add(args) -> int:
    library = _library(args)
    missing = [p for p in args.paths if not os.path.exists(p)]
    if missing:
        for p in missing:
            print(f"postguard: {p}: no such file or folder", file=sys.stderr)
        print("postguard: nothing added", file=sys.stderr)
        return 2
    progress = Progress()

    def show(done: int, total: int) -> None:
        if done % 10 == 0 or done == total:
            progress.show(f"hashed {done}/{total} files")

    try:
        summary = library.add_paths(args.paths, args.source, show)
    except LibraryError as exc:
        print(f"postguard: {exc}", file=sys.stderr)
        return 2
    progress.clear()
    for error in summary.errors:
        print(f"postguard: could not read {error}", file=sys.stderr)
    print(f"added {summary.added} photos; {summary.duplicates} already in the library; {summary.low_quality} too "
          f"flat or dark to recognise (not added); {summary.unreadable} unreadable; {summary.skipped} not pictures")
    print(f"library: {library.stats()['photos']} photos in {library.path}")
    return 0 if not summary.unreadable else 1


def cmd_export(args) -> int:
    n = _library(args).export(args.file)
    print(f"exported {n} photos' hashes to {args.file} (no pictures or file names)")
    return 0


def cmd_import(args) -> int:
    try:
        summary = _library(args).import_(args.file, args.source)
    except LibraryError as exc:
        print(f"postguard: {exc}", file=sys.stderr)
        return 2
    print(f"imported {summary.added} photos; {summary.duplicates} already in the library")
    return 0


def cmd_status(args) -> int:
    library = _library(args)
    print(json.dumps({"path": str(library.path), **library.stats()}, indent=2))
    return 0


def cmd_remove(args) -> int:
    n = _library(args).remove_source(args.source)
    print(f"removed {n} photos with source {args.source!r}")
    return 0


def add_parsers(sub, common) -> None:
    p = sub.add_parser("library", parents=[common], help="the school photo library, kept as perceptual hashes only")
    lsub = p.add_subparsers(metavar="ACTION")
    a = lsub.add_parser("add", parents=[common], help="hash the school's photos (folders recurse); keeps no "
                                                     "picture, thumbnail or file name")
    a.add_argument("paths", nargs="+", metavar="PATH")
    a.add_argument("--source", default="school photos", help="a label for where these came from, e.g. 'Shared "
                                                            "drive 2025-26' (shown in evidence)")
    a.set_defaults(func=cmd_add)
    e = lsub.add_parser("export", parents=[common], help="write the hashes to a file for other laptops")
    e.add_argument("file", metavar="FILE.jsonl.gz")
    e.set_defaults(func=cmd_export)
    i = lsub.add_parser("import", parents=[common], help="add the hashes from an export")
    i.add_argument("file", metavar="FILE.jsonl.gz")
    i.add_argument("--source", help="relabel the imported photos")
    i.set_defaults(func=cmd_import)
    s = lsub.add_parser("status", parents=[common], help="how many photos, from which sources")
    s.set_defaults(func=cmd_status)
    r = lsub.add_parser("remove", parents=[common], help="remove the photos added with a source label")
    r.add_argument("--source", required=True)
    r.set_defaults(func=cmd_remove)
