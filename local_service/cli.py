"""The `postguard` command: set up, scan files offline, remove location data."""
from __future__ import annotations

import argparse
import json
import mmap
import os
import sys
from pathlib import Path

from rules import Attachment, ConfigError, Engine, PackError, Submission, load_config
from rules.config import default_path, template, write_private
from rules.media import StripError, formats, inspect, sniff
from rules.record.keys import TOKEN_FILE, secret_file

from . import commands, deploy, install_state, library_cmd, native_host, server_cmd
from .about import version
from .commands import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, UsageError, engine_for, with_proxy
from .progress import Progress

EXIT_NOT_CHECKED = 2  # scan: a file could not be read or checked (and nothing was found elsewhere)
NOT_CHECKED = "not_checked"  # scan's decision for a file it could not read or fully check: never "allow"
SCAN_EXIT_CODES = ("exit status: 0 every file was checked and nothing was found; 1 something was found (in any "
                   "file); 2 nothing was found but a file could not be read or checked (its line has an \"error\" "
                   "and the decision \"not_checked\"), or the command was used wrongly")
MMAP_OVER = 8 << 20  # read larger files through mmap: only their metadata pages are touched


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.func(args)
    except (ConfigError, PackError, UsageError) as exc:
        print(f"postguard: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="postguard", description="Keep school social media policy before posting.")
    parser.add_argument("--version", action="version", version=f"postguard {version()}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE", help=f"config file (default: {default_path()})")
    sub = parser.add_subparsers(metavar="COMMAND")

    p = sub.add_parser("init", parents=[common], help="write a commented config file and create the data folder")
    p.add_argument("--force", action="store_true", help="overwrite an existing config file")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("scan", parents=[common], help="check files offline (folders recurse); JSON Lines on stdout",
                       description="Check files offline (folders recurse); JSON Lines on stdout.",
                       epilog=SCAN_EXIT_CODES)
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--format", choices=("jsonl", "text"), default="jsonl", help="output format (default: jsonl)")
    p.add_argument("--pack", help="policy pack name or file (default: the config's school.pack)")
    p.set_defaults(func=cmd_scan)

    p = sub.add_parser("strip", parents=[common], help="remove location data from a file without re-encoding it")
    p.add_argument("input", metavar="IN")
    p.add_argument("-o", "--output", metavar="OUT", help="where to write (default: IN with .noloc before the "
                                                          "extension; '-' for stdout)")
    p.set_defaults(func=cmd_strip)

    p = sub.add_parser("scan-har", parents=[common], help="audit a HAR capture offline with the proxy's extraction")
    p.add_argument("har", metavar="FILE.har")
    p.add_argument("--pack", help="policy pack name or file (default: the config's school.pack)")
    net = p.add_mutually_exclusive_group()
    net.add_argument("--on-school-network", dest="on_school_network", action="store_true", default=None,
                     help="treat the capture as made on the school network")
    net.add_argument("--off-school-network", dest="on_school_network", action="store_false",
                     help="treat the capture as made elsewhere")
    p.set_defaults(func=cmd_scan_har)

    commands.add_parsers(sub, common)
    library_cmd.add_parsers(sub, common)
    server_cmd.add_parsers(sub, common)
    deploy.add_parsers(sub, common)
    native_host.add_parsers(sub, common)
    install_state.add_parsers(sub, common)
    return parser


def cmd_init(args) -> int:
    path = Path(args.config) if args.config else default_path()
    if path.exists() and not args.force:
        raise UsageError(f"{path} already exists (use --force to overwrite)")
    text = template()
    write_private(path, text)
    config = load_config(path)
    config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = secret_file(config, TOKEN_FILE)
    print(f"wrote {path}\ndata folder: {config.data_dir}\nextension token: {token} (readable by you only)\n"
          "Edit the [school] table, then run 'postguard scan' or 'postguard run'.")
    return EXIT_OK


def read_file(path: Path):
    """The file's bytes; large files are memory-mapped so that reading headers does not read the whole file."""
    size = path.stat().st_size
    if size == 0:
        raise ValueError("empty file")
    if size < MMAP_OVER:
        return path.read_bytes()
    with open(path, "rb") as f:
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)


def iter_files(paths: list[str]):
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for name in sorted(files):
                    yield Path(root) / name
        else:
            yield p


def scan_one(engine: Engine, path: Path) -> dict:
    """One file's JSON line. A file that could not be read, or whose check failed anywhere, has an "error" and is
    never "allow": its decision is "not_checked" unless something was found."""
    result = {"path": str(path), "format": None, "findings": [], "decision": NOT_CHECKED, "error": None}
    try:
        data = read_file(path)
    except (OSError, ValueError) as exc:
        result["error"] = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return result
    result["format"] = sniff(data)
    verdict = engine.evaluate(Submission(url=path.resolve().as_uri(), method="SCAN",
                                         files=[Attachment(path.name, data)]))
    result["findings"] = [_public(f.to_dict()) for f in verdict.findings]
    result["decision"] = verdict.decision
    if verdict.errors:
        result["error"] = "; ".join(verdict.errors)
    elif result["format"] is None and path.suffix.lower() in formats.MEDIA_SUFFIXES:
        result["error"] = f"not a recognised image or video file despite its {path.suffix} name"
    if result["error"] and result["decision"] == "allow":
        result["decision"] = NOT_CHECKED
    return result


def _public(finding: dict) -> dict:
    finding.pop("target", None)
    return finding


def cmd_scan(args) -> int:
    engine = engine_for(args)
    files = list(iter_files(args.paths))
    progress = Progress()
    progress.on &= len(files) > 1
    found = unchecked = False
    for i, path in enumerate(files, 1):
        progress.show(f"[{i}/{len(files)}] {str(path)[-60:]}")
        result = scan_one(engine, path)
        found |= bool(result["findings"])
        unchecked |= bool(result["error"])
        if args.format == "jsonl":
            print(json.dumps(result, ensure_ascii=False), flush=True)
        else:
            progress.clear()
            print(_text(result), flush=True)
    progress.clear(f"scanned {len(files)} files")
    if found:
        return EXIT_FINDINGS
    return EXIT_NOT_CHECKED if unchecked else EXIT_OK


def _text(result: dict) -> str:
    if result["error"] and not result["findings"]:
        return f"{result['path']}: could not check: {result['error']}"
    if not result["findings"]:
        return f"{result['path']}: nothing found"
    lines = [f"{result['path']}: {result['decision'].upper()}"]
    for f in result["findings"]:
        lines.append(f"  {f['rule']} ({f['severity']}): {f['message']}")
        for c in f["policy"]:
            lines.append(f"    policy {c['ref']}: \"{c['text']}\"")
    return "\n".join(lines)


def cmd_scan_har(args) -> int:
    try:
        return with_proxy("scan-har")(args)
    except OSError as exc:
        raise UsageError(f"{args.har}: {exc.strerror}") from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def cmd_strip(args) -> int:
    engine = engine_for(args)
    src = Path(args.input)
    try:
        data = bytes(read_file(src))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{src}: {exc.strerror if isinstance(exc, OSError) and exc.strerror else exc}") from None
    fmt = sniff(data)
    if fmt is None or formats.BY_NAME[fmt].kind == formats.DOCUMENT:  # documents are read, never rewritten
        print(f"postguard: {src}: not a recognised image or video file; nothing written", file=sys.stderr)
        return EXIT_USAGE
    problems = inspect(data).warnings
    if problems:
        print(f"postguard: {src}: cannot read this file's metadata safely ({'; '.join(problems)}); nothing written",
              file=sys.stderr)
        return EXIT_USAGE
    rules = {"location.gps", "location.place"}
    try:
        cleaned, removed = engine.sanitise(Attachment(src.name, data), rules)
    except StripError as exc:
        print(f"postguard: {src}: {exc}; nothing written", file=sys.stderr)
        return EXIT_FINDINGS
    if not removed:
        print(f"{src}: no location data found; nothing to remove", file=sys.stderr)
        if args.output in (None,):
            return EXIT_OK
    out = args.output or str(src.with_name(f"{src.stem}.noloc{src.suffix}"))
    if out == "-":
        sys.stdout.buffer.write(cleaned.data)
        sys.stdout.buffer.flush()
    else:
        Path(out).write_bytes(cleaned.data)
    if removed:
        print(f"{src}: removed {', '.join(removed)} -> {out}", file=sys.stderr)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
