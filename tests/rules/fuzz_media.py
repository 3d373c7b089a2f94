"""Mutation fuzzing of the metadata walkers and strip: the checks the test run makes on a bounded number of mutants
(tests/rules/test_fuzz_media.py, through Hypothesis) and `make fuzz` makes for as long as it is asked.

A mutant is a real file (the corpus, or files built here when there is none) with bits flipped, a cut, bytes put in
or taken out, or a 2- or 4-byte number overwritten with a forged count, length or offset. For each one:
- crash: `media.inspect` raised, or `media.strip` raised anything but StripError;
- hang: inspect (or strip) took longer than HANG_S;
- damaged: strip returned a file that is larger, that changed a byte outside the patches it reported, or whose
  pixels (where Pillow decodes the original) differ or no longer decode.
A file PostGuard cannot read is allowed to be refused (StripError, errors on the report); it is never allowed to
be damaged.

    python -m tests.rules.fuzz_media --minutes 10       # what `make fuzz` runs; prints the figures
"""
from __future__ import annotations

import argparse
import io
import os
import random
import resource
import struct
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from rules import media
from rules.media import StripError

HANG_S = 2.0
DECODED = {"JPEG", "PNG", "GIF", "WEBP", "TIFF"}
NOT_DATA = {"manifest.jsonl", "exiftool_raw.jsonl", "sources.tsv", "README.md"}
FORGED = (0, 1, 0x7F, 0xFF, 0x100, 0x7FFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0xFFFFFFFF)


@dataclass
class Tally:
    mutants: int = 0
    crashes: list[str] = field(default_factory=list)
    hangs: list[str] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)
    stripped: int = 0
    refused: int = 0
    slowest_s: float = 0.0


def seeds(corpus: Path | None) -> dict[str, bytes]:
    """Real files when the corpus is there (up to 2 MB each: the walkers read headers), else built ones."""
    if corpus is not None and corpus.is_dir():
        found = {p.relative_to(corpus).as_posix(): p.read_bytes()[:2 << 20]
                 for p in sorted(corpus.rglob("*")) if p.is_file() and p.name not in NOT_DATA}
        if found:
            return found
    from tests.rules.test_location import SHEFFIELD, gps_ifd, jpeg_with_gps
    return {f"built.{fmt.lower()}": jpeg_with_gps(gps_ifd(*SHEFFIELD), fmt=fmt) for fmt in ("JPEG", "PNG", "WEBP")}


def mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(5)
        if not out:
            break
        at = rng.randrange(len(out))
        if kind == 0:  # flip bits
            out[at] ^= 1 << rng.randrange(8)
        elif kind == 1:  # cut
            del out[at:]
        elif kind == 2:  # put bytes in
            out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif kind == 3:  # take bytes out
            del out[at:at + rng.randint(1, 64)]
        else:  # a forged count, length or offset
            width, order = rng.choice((2, 4)), rng.choice("<>")
            if at + width <= len(out):
                value = rng.choice(FORGED + (len(out), len(out) + 1, rng.randrange(1 << (8 * width))))
                struct.pack_into(order + ("H" if width == 2 else "I"), out, at, value % (1 << (8 * width)))
    return bytes(out)


def pixels(data: bytes):
    from PIL import Image
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return im.mode, im.size, im.tobytes()


def check(name: str, data: bytes, tally: Tally) -> None:
    """One mutant through inspect and strip, tallied."""
    tally.mutants += 1
    started = time.perf_counter()
    try:
        report = media.inspect(data)
    except Exception as exc:  # inspect must never raise
        tally.crashes.append(f"{name}: inspect: {type(exc).__name__}: {exc}")
        return
    took = time.perf_counter() - started
    tally.slowest_s = max(tally.slowest_s, took)
    if took > HANG_S:
        tally.hangs.append(f"{name}: inspect took {took:.1f} s")
    if not report.patches:
        return
    started = time.perf_counter()
    try:
        out = media.strip(data, report)
    except StripError:
        tally.refused += 1
        return
    except Exception as exc:
        tally.crashes.append(f"{name}: strip: {type(exc).__name__}: {exc}")
        return
    if time.perf_counter() - started > HANG_S:
        tally.hangs.append(f"{name}: strip took {time.perf_counter() - started:.1f} s")
    tally.stripped += 1
    why = damage(data, out, report)
    if why:
        tally.damaged.append(f"{name}: {why}")


def damage(data: bytes, out: bytes, report) -> str:
    """Why the cleaned file is damaged, or ""."""
    if len(out) > len(data):
        return f"strip made the file larger ({len(data)} -> {len(out)} bytes)"
    if len(out) == len(data):
        inside = bytearray(len(data))
        for p in report.patches:
            inside[p.start:p.end] = b"\1" * (p.end - p.start)
        stray = next((i for i, (a, b) in enumerate(zip(data, out)) if a != b and not inside[i]), None)
        if stray is not None:
            return f"byte {stray} changed outside the reported patches"
    if report.format in DECODED:
        try:
            before = pixels(data)
        except Exception:
            return ""  # the mutant does not decode: nothing to compare
        try:
            if pixels(out) != before:
                return "the pixels changed"
        except Exception as exc:
            return f"the cleaned file no longer decodes ({type(exc).__name__})"
    return ""


def run(corpus: Path | None, seconds: float, seed: int) -> Tally:
    rng = random.Random(seed)
    files = seeds(corpus)
    names = sorted(files)
    tally = Tally()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        name = rng.choice(names)
        check(name, mutate(files[name], rng), tally)
    return tally


def main(argv: list[str] | None = None) -> int:
    from tests.conftest import CORPUS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args(argv)
    started = time.monotonic()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:  # libtiff (in Pillow) writes every read error of a mutant to stderr
        os.dup2(devnull.fileno(), 2)
        try:
            tally = run(args.corpus, args.minutes * 60, args.seed)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"mutants {tally.mutants} in {time.monotonic() - started:.0f} s (seed {args.seed}, corpus "
          f"{args.corpus if args.corpus.is_dir() else 'absent: built files'})")
    print(f"crashes {len(tally.crashes)}, hangs (> {HANG_S:.0f} s) {len(tally.hangs)}, damaged outputs "
          f"{len(tally.damaged)}; stripped {tally.stripped}, refused {tally.refused}; slowest inspect "
          f"{tally.slowest_s * 1000:.0f} ms; peak memory {peak_mb:.0f} MB")
    for line in (tally.crashes + tally.hangs + tally.damaged)[:40]:
        print("  " + line)
    return 1 if tally.crashes or tally.hangs or tally.damaged else 0


if __name__ == "__main__":
    sys.exit(main())
