"""Benchmark PostGuard's location detection (`rules.media.inspect`) against ExifTool.

What it measures, in one run:

1. Corpus throughput. For every data file of the metadata corpus, the median time (over --repeat runs) of
   `media.inspect(data)` with the bytes already in memory, and of read-from-disk + inspect. Reported per file,
   with p95, total and files/s. ExifTool is timed as `exiftool -fast -json -n FILE...` over all the same files in
   ONE process (its best case: perl starts once), best of 3; its per-file cost is total / files.
2. Pixel-count independence. Two JPEGs (1 MP and 50 MP) with the same EXIF GPS IFD are generated with Pillow;
   inspect is timed on each (median of 200), and ExifTool on each single file (median of 5).
3. A header with machine facts (CPU count, Python, Pillow and ExifTool versions).

Targets (printed as PASS/FAIL; the script always exits 0, because benchmarks must not fail CI on noisy machines):
- throughput PostGuard (read + inspect) / ExifTool (single process) >= 20
- PostGuard median inspect time per image file < 1 ms (images: manifest `format` is not a video or a sidecar)
- inspect time on the 50 MP JPEG / inspect time on the 1 MP JPEG < 2 (cost does not grow with pixel count)

Usage: python bench/location_bench.py [--corpus DIR] [--repeat N]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from measure import cpu_model, fmt_s, median_time, verdict  # noqa: E402

from rules import media  # noqa: E402  (needs the repository root on sys.path)

# The corpus beside the checkout, or the folder POSTGUARD_CORPUS names (as for the tests).
DEFAULT_CORPUS = Path(os.environ.get("POSTGUARD_CORPUS") or REPO_ROOT.parent / "shared" / "corpus" / "metadata")
NOT_DATA = {"manifest.jsonl", "exiftool_raw.jsonl", "sources.tsv", "README.md"}
VIDEO_FORMATS = {"MP4", "MOV", "3GP", "M4V"}
SIDECAR_FORMATS = {"XMP"}
NON_IMAGE_SUFFIXES = {".mp4", ".mov", ".3gp", ".m4v", ".xmp", ".xml"}
EXIFTOOL_ARGS = ["exiftool", "-fast", "-json", "-n"]

TARGET_RATIO = 20.0
TARGET_IMAGE_MEDIAN_S = 1e-3
TARGET_PIXEL_RATIO = 2.0
PIXEL_REPEAT = 200
EXIFTOOL_CORPUS_REPEAT = 3
EXIFTOOL_SINGLE_REPEAT = 5
SLOW_FACTOR = 5  # a file is "unusually slow" when its inspect median is this many times the corpus median

# Same GPS IFD in both synthetic JPEGs: 54°34'12.5" N, 1°19'7.3" W.
GPS_IFD = {1: "N", 2: (54.0, 34.0, 12.5), 3: "W", 4: (1.0, 19.0, 7.3)}
EXPECTED_LAT, EXPECTED_LON = 54 + 34 / 60 + 12.5 / 3600, -(1 + 19 / 60 + 7.3 / 3600)
SIZES = {"1 MP": (1000, 1000), "50 MP": (8660, 5774)}


@dataclass
class FileTiming:
    rel: str
    kind: str  # "image", "video" or "sidecar"
    size: int
    inspect_s: float  # median, bytes in memory
    read_inspect_s: float  # median, read from disk + inspect
    coordinates: int


# ---------------------------------------------------------------- helpers


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def run_exiftool(paths: list[Path]) -> tuple[float, list[dict]]:
    start = time.perf_counter()
    proc = subprocess.run(EXIFTOOL_ARGS + [str(p) for p in paths], capture_output=True)
    elapsed = time.perf_counter() - start
    try:
        records = json.loads(proc.stdout or b"[]")
    except json.JSONDecodeError:
        records = []
    return elapsed, records


def exiftool_version() -> str:
    try:
        return subprocess.run(["exiftool", "-ver"], capture_output=True, text=True).stdout.strip() or "?"
    except FileNotFoundError:
        return "not installed"


def has_exiftool_gps(record: dict) -> bool:
    return "GPSLatitude" in record and "GPSLongitude" in record


# ---------------------------------------------------------------- 3. header

def print_header(corpus: Path, repeat: int) -> None:
    try:
        import PIL
        pillow = PIL.__version__
    except ImportError:
        pillow = "not installed"
    print("PostGuard location benchmark")
    print("=" * 78)
    print(f"machine   : {platform.machine()} {platform.system()} {platform.release()}, cpu_count={os.cpu_count()}"
          f" ({cpu_model()})")
    print(f"python    : {platform.python_implementation()} {platform.python_version()} ({sys.executable})")
    print(f"pillow    : {pillow}")
    print(f"exiftool  : {exiftool_version()}  (command: {' '.join(EXIFTOOL_ARGS)})")
    print(f"corpus    : {corpus}")
    print(f"repeat    : {repeat} per file (median); timer time.perf_counter; disk reads hit the OS page cache")
    print()


# ---------------------------------------------------------------- 1. corpus

def corpus_files(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.rglob("*") if p.is_file() and p.name not in NOT_DATA)


def load_formats(corpus: Path) -> dict[str, str]:
    manifest = corpus / "manifest.jsonl"
    if not manifest.exists():
        return {}
    rows = (json.loads(line) for line in manifest.read_text().splitlines() if line.strip())
    return {row["file"]: row.get("format") or "" for row in rows}


def kind_of(rel: str, formats: dict[str, str]) -> str:
    fmt = formats.get(rel)
    if fmt is None:  # not in the manifest: judge by extension
        suffix = Path(rel).suffix.lower()
        if suffix in (".xmp", ".xml"):
            return "sidecar"
        return "video" if suffix in NON_IMAGE_SUFFIXES or not suffix else "image"
    if fmt in VIDEO_FORMATS:
        return "video"
    return "sidecar" if fmt in SIDECAR_FORMATS else "image"


def time_file(path: Path, rel: str, kind: str, repeat: int) -> FileTiming:
    data = path.read_bytes()
    report = media.inspect(data)  # warm-up (imports, caches)
    inspect_s = median_time(lambda: media.inspect(data), repeat)
    read_inspect_s = median_time(lambda: media.inspect(path.read_bytes()), repeat)
    return FileTiming(rel, kind, len(data), inspect_s, read_inspect_s, len(report.real_coordinates))


def bench_corpus(corpus: Path, repeat: int) -> None:
    files = corpus_files(corpus)
    if not files:
        print(f"ERROR: no data files under {corpus} (set POSTGUARD_CORPUS or pass --corpus)")
        return
    formats = load_formats(corpus)
    timings = [time_file(p, p.relative_to(corpus).as_posix(), kind_of(p.relative_to(corpus).as_posix(), formats),
                         repeat) for p in files]
    print_file_table(timings)
    pg_total = print_postguard_summary(timings)
    et_total, et_found = bench_exiftool_corpus(files)
    print_corpus_targets(timings, pg_total, et_total, et_found)
    print_slow_files(timings)


def print_file_table(timings: list[FileTiming]) -> None:
    print("1. Location detection over the corpus: per-file medians")
    print("-" * 78)
    print(f"{'file':<44} {'kind':<7} {'size':>9} {'inspect':>11} {'read+insp':>11} {'gps':>3}")
    for t in timings:
        print(f"{t.rel[:44]:<44} {t.kind:<7} {t.size:>9} {fmt_s(t.inspect_s)} {fmt_s(t.read_inspect_s)}"
              f" {t.coordinates:>3}")
    print()


def summary_line(label: str, values: list[float]) -> str:
    total = sum(values)
    rate = len(values) / total if total else float("inf")
    return (f"{label:<24} median {fmt_s(statistics.median(values))}  p95 {fmt_s(percentile(values, 95))}"
            f"  total {fmt_s(total)}  {rate:10.0f} files/s")


def print_postguard_summary(timings: list[FileTiming]) -> float:
    print(f"PostGuard over {len(timings)} files ({sum(t.size for t in timings) / 1e6:.1f} MB):")
    print("  " + summary_line("inspect (in memory)", [t.inspect_s for t in timings]))
    print("  " + summary_line("read + inspect", [t.read_inspect_s for t in timings]))
    for kind in ("image", "video", "sidecar"):
        subset = [t.inspect_s for t in timings if t.kind == kind]
        if subset:
            print("  " + summary_line(f"inspect, {kind}s ({len(subset)})", subset))
    print()
    return sum(t.read_inspect_s for t in timings)


def bench_exiftool_corpus(files: list[Path]) -> tuple[float | None, int]:
    runs = []
    records: list[dict] = []
    try:
        for _ in range(EXIFTOOL_CORPUS_REPEAT):
            elapsed, records = run_exiftool(files)
            runs.append(elapsed)
    except FileNotFoundError:
        print("ExifTool: not installed, skipped\n")
        return None, 0
    best = min(runs)
    print(f"ExifTool ({' '.join(EXIFTOOL_ARGS)} over all {len(files)} files in one process, best of "
          f"{EXIFTOOL_CORPUS_REPEAT}):")
    print(f"  runs {', '.join(fmt_s(r).strip() for r in runs)}; best total {fmt_s(best).strip()}, "
          f"per file {fmt_s(best / len(files)).strip()}, {len(files) / best:.0f} files/s")
    found = sum(has_exiftool_gps(r) for r in records)
    print(f"  ({len(records)} JSON records)")
    print()
    return best, found


def print_corpus_targets(timings: list[FileTiming], pg_total: float, et_total: float | None, et_found: int) -> None:
    n = len(timings)
    pg_found = sum(t.coordinates > 0 for t in timings)
    print(f"files with a real coordinate: PostGuard {pg_found}/{n}"
          + (f", ExifTool -fast {et_found}/{n}" if et_total else "")
          + "  (sanity check only; accuracy is measured elsewhere)")
    if et_total:
        ratio = (n / pg_total) / (n / et_total)
        print(f"throughput ratio PostGuard (read + inspect) / ExifTool: {ratio:.1f}x")
        print(f"target: throughput ratio >= {TARGET_RATIO:.0f}x ... {ratio:.1f}x  {verdict(ratio >= TARGET_RATIO)}")
    else:
        print(f"target: throughput ratio >= {TARGET_RATIO:.0f}x ... not measured (no ExifTool)  FAIL")
    images = [t.inspect_s for t in timings if t.kind == "image"]
    med = statistics.median(images) if images else float("nan")
    print(f"target: PostGuard median inspect per image file < {TARGET_IMAGE_MEDIAN_S * 1e3:.0f} ms ... "
          f"{fmt_s(med).strip()} over {len(images)} images  {verdict(med < TARGET_IMAGE_MEDIAN_S)}")
    print()


def print_slow_files(timings: list[FileTiming]) -> None:
    med = statistics.median(t.inspect_s for t in timings)
    slow = sorted((t for t in timings if t.inspect_s > SLOW_FACTOR * med), key=lambda t: -t.inspect_s)
    if not slow:
        print(f"no file is more than {SLOW_FACTOR}x the corpus median inspect time ({fmt_s(med).strip()})\n")
        return
    print(f"unusually slow files (inspect > {SLOW_FACTOR}x the corpus median of {fmt_s(med).strip()}):")
    for t in slow:
        print(f"  {t.rel:<50} {t.kind:<7} {t.size:>9} B  {fmt_s(t.inspect_s).strip()}")
    print()


# ---------------------------------------------------------------- 2. pixel count

def make_pixels(width: int, height: int):
    """Random-ish content that compresses like a photo: coarse noise upscaled (numpy), else a gradient."""
    from PIL import Image
    try:
        import numpy as np
    except ImportError:
        return Image.linear_gradient("L").resize((width, height)).convert("RGB")
    rng = np.random.default_rng(20240501)
    coarse = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    return Image.fromarray(coarse).resize((width, height), Image.BILINEAR)


def write_jpeg(path: Path, width: int, height: int) -> None:
    from PIL import Image
    exif = Image.Exif()
    exif[0x010F] = "PostGuard bench"  # Make
    exif[0x0110] = "synthetic"  # Model
    exif.get_ifd(0x8825).update(GPS_IFD)
    make_pixels(width, height).save(path, "JPEG", quality=85, exif=exif)


def found_expected_gps(data: bytes) -> bool:
    return any(abs(c.lat - EXPECTED_LAT) < 1e-6 and abs(c.lon - EXPECTED_LON) < 1e-6
               for c in media.inspect(data).real_coordinates)


def bench_pixels() -> None:
    print("2. Pixel-count independence: same EXIF GPS IFD, 1 MP vs 50 MP JPEG (quality 85)")
    print("-" * 78)
    with tempfile.TemporaryDirectory(prefix="pg-bench-") as tmp:
        results = {label: bench_one_jpeg(Path(tmp) / f"{label.replace(' ', '')}.jpg", *size)
                   for label, size in SIZES.items()}
    small, large = results["1 MP"], results["50 MP"]
    mem_ratio = large[0] / small[0]
    disk_ratio = large[1] / small[1]
    print(f"ratio 50 MP / 1 MP: inspect {mem_ratio:.2f}x, read + inspect {disk_ratio:.2f}x "
          f"(the read grows with file size; inspect should not)")
    print(f"target: inspect 50 MP / 1 MP < {TARGET_PIXEL_RATIO:.0f} ... {mem_ratio:.2f}x  "
          f"{verdict(mem_ratio < TARGET_PIXEL_RATIO)}")
    if not (small[3] and large[3]):
        print("target: GPS found in both synthetic JPEGs ... FAIL (see ERROR above)")
    print()


def bench_one_jpeg(path: Path, width: int, height: int) -> tuple[float, float, float | None, bool]:
    start = time.perf_counter()
    write_jpeg(path, width, height)
    generated = time.perf_counter() - start
    data = path.read_bytes()
    found = found_expected_gps(data)
    inspect_s = median_time(lambda: media.inspect(data), PIXEL_REPEAT)
    read_inspect_s = median_time(lambda: media.inspect(path.read_bytes()), PIXEL_REPEAT)
    try:
        exiftool_s = median_time(lambda: run_exiftool([path]), EXIFTOOL_SINGLE_REPEAT)
    except FileNotFoundError:
        exiftool_s = None
    label = f"{width}x{height} ({width * height / 1e6:.1f} MP, {len(data) / 1e6:.1f} MB, made in {generated:.1f} s)"
    print(label)
    if not found:
        print(f"  ERROR: media.inspect did not find the coordinate {EXPECTED_LAT:.6f}, {EXPECTED_LON:.6f} in this "
              f"file; timings below are for a file without detected GPS")
    print(f"  inspect (in memory) {fmt_s(inspect_s)}   read + inspect {fmt_s(read_inspect_s)}   "
          f"(median of {PIXEL_REPEAT}); GPS found: {'yes' if found else 'NO'}")
    if exiftool_s is not None:
        print(f"  exiftool single file {fmt_s(exiftool_s)}  (median of {EXIFTOOL_SINGLE_REPEAT}, incl. perl startup)")
    return inspect_s, read_inspect_s, exiftool_s, found


# ---------------------------------------------------------------- main

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS,
                        help=f"metadata corpus directory (default: {DEFAULT_CORPUS})")
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per corpus file; the median is kept")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    repeat = max(1, args.repeat)
    print_header(args.corpus, repeat)
    bench_corpus(args.corpus, repeat)
    bench_pixels()
    print("(targets are informational: this benchmark always exits 0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
