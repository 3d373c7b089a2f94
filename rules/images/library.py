"""The school photo library, as perceptual hashes only: a posted copy of a school photo can be recognised, but no
picture, thumbnail or file name is on the disk.

One SQLite file in `config.data_dir` (0600): `photos` (when added, a source label, the PDQ quality) and `hashes`
(the photo's window and rotation hashes, see phash.library_hashes). Lookups load the hashes into memory once and
reload when the file changes (another process ran `postguard library add`). The index is faiss's exact binary
index where faiss is installed, numpy otherwise: both compare every stored hash, so nothing is missed.
"""
from __future__ import annotations

import gzip
import itertools
import json
import os
import sqlite3
import threading
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from . import phash

LIBRARY_FILE = "photo-library.sqlite"
EXPORT_FORMAT = "postguard-photo-library"
EXPORT_VERSION = 1
# Picture files `add` reads when walking folders; anything else (documents, videos, sidecars) is skipped quietly.
PICTURE_SUFFIXES = frozenset(".jpg .jpeg .jpe .png .webp .gif .bmp .tif .tiff .heic .heif .avif".split())
RELOAD_CHECK_S = 2.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS photos (
    id INTEGER PRIMARY KEY,
    added TEXT NOT NULL,
    source TEXT NOT NULL,
    quality INTEGER NOT NULL,
    key BLOB NOT NULL UNIQUE  -- the full-frame hash: the same photo added twice is one photo
);
CREATE TABLE IF NOT EXISTS hashes (
    photo INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
    variant TEXT NOT NULL,
    hash BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_hashes_photo ON hashes(photo);
"""


class LibraryError(ValueError):
    """A library or export file that cannot be used: the message names the file."""


@dataclass(frozen=True)
class Match:
    distance: int
    query_variant: str  # how the upload was looked at: "full", "flip", "trimmed", "unturned+5.0", ...
    library_variant: str  # which stored window matched: "full", "crop90-mc", "rot+2.5", ...
    photo: int
    source: str
    added: str

    def to_evidence(self) -> dict:
        return {"distance": self.distance, "variant": self.query_variant, "window": self.library_variant,
                "source": self.source, "added": self.added[:10]}


@dataclass
class AddSummary:
    added: int = 0
    duplicates: int = 0
    low_quality: int = 0
    unreadable: int = 0
    skipped: int = 0  # files that are not pictures
    errors: list[str] = field(default_factory=list)

    def count(self, status: str) -> None:
        """Count one photo by what `Library._store` said of it."""
        if status == "added":
            self.added += 1
        elif status == "duplicate":
            self.duplicates += 1
        else:
            self.low_quality += 1


class Library:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._index: _Index | None = None
        self._stamp: tuple | None = None
        self._checked = 0.0

    @classmethod
    def for_config(cls, config) -> "Library":
        return cls(Path(config.data_dir) / LIBRARY_FILE)

    # ------------------------------------------------------------------------------------------------ storing

    @contextmanager
    def _db(self, create: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection, closed on leaving (sqlite3's own `with` only commits); `create` makes the file (0600)."""
        if create and not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        with closing(sqlite3.connect(self.path, timeout=30)) as db:
            db.execute("PRAGMA foreign_keys = ON")
            if create:
                db.executescript(SCHEMA)
            yield db

    def add_image(self, data: bytes, source: str, db: sqlite3.Connection | None = None) -> str:
        """Hash one picture into the library: 'added', 'duplicate' or 'low-quality'; raises phash.ImageError."""
        hashes = phash.library_hashes(phash.decode(data))
        return self._store(hashes.hashes, hashes.variants, hashes.quality, source, _now(), db)

    def _store(self, hashes: np.ndarray, variants: list[str], quality: int, source: str, added: str,
               db: sqlite3.Connection | None) -> str:
        if quality < phash.MIN_QUALITY:
            return "low-quality"  # a flat or dark picture hashes to noise: it would match nothing, or anything
        if db is None:
            with self._db(create=True) as db:
                return self._store(hashes, variants, quality, source, added, db)
        with db:
            cur = db.execute("INSERT OR IGNORE INTO photos (added, source, quality, key) VALUES (?, ?, ?, ?)",
                             (added, source, quality, hashes[0].tobytes()))
            if not cur.rowcount:
                return "duplicate"
            db.executemany("INSERT INTO hashes (photo, variant, hash) VALUES (?, ?, ?)",
                           [(cur.lastrowid, v, h.tobytes()) for v, h in zip(variants, hashes)])
        return "added"

    def add_paths(self, paths: Iterable[str | os.PathLike], source: str,
                  progress: Callable[[int, int], None] | None = None) -> AddSummary:
        """Hash every picture under `paths` (folders recursed). Unreadable files are counted and named, never fatal."""
        files = list(_pictures(paths))
        summary = AddSummary()
        with self._db(create=True) as db:
            for n, p in enumerate(files):
                if progress:
                    progress(n, len(files))
                if p.suffix.lower() not in PICTURE_SUFFIXES:
                    summary.skipped += 1
                    continue
                try:
                    status = self.add_image(p.read_bytes(), source, db)
                except (OSError, phash.ImageError) as exc:
                    summary.unreadable += 1
                    summary.errors.append(f"{p}: {getattr(exc, 'strerror', None) or exc}")
                    continue
                summary.count(status)
        if progress:
            progress(len(files), len(files))
        return summary

    def stats(self) -> dict:
        if not self.path.exists():
            return {"photos": 0, "hashes": 0, "sources": {}}
        try:
            with self._db() as db:
                sources = dict(db.execute("SELECT source, count(*) FROM photos GROUP BY source ORDER BY source"))
                hashes = db.execute("SELECT count(*) FROM hashes").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise LibraryError(f"{self.path}: {exc}") from None
        return {"photos": sum(sources.values()), "hashes": hashes, "sources": sources}

    def remove_source(self, source: str) -> int:
        if not self.path.exists():
            return 0
        with self._db() as db, db:
            return db.execute("DELETE FROM photos WHERE source = ?", (source,)).rowcount

    # ------------------------------------------------------------------------------------- moving between laptops

    def export(self, path: str | os.PathLike) -> int:
        """Write every photo's hashes to a gzip JSON Lines file (hashes, variants, quality, time added, source)."""
        n = 0
        with self._db(create=True) as db, gzip.open(path, "wt", encoding="utf-8") as out:
            out.write(json.dumps({"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "hash": "pdq"}) + "\n")
            rows = db.execute("SELECT p.id, p.added, p.source, p.quality, h.variant, h.hash FROM photos p "
                              "JOIN hashes h ON h.photo = p.id ORDER BY p.id, h.rowid")
            for (_, added, source, quality), group in itertools.groupby(rows, key=lambda r: r[:4]):
                group = list(group)
                out.write(json.dumps({"added": added, "source": source, "quality": quality,
                                      "variants": [r[4] for r in group],
                                      "hashes": [r[5].hex() for r in group]}) + "\n")
                n += 1
        return n

    def import_(self, path: str | os.PathLike, source: str | None = None) -> AddSummary:
        """Add the photos in an export made by `export`; the same photo already here is skipped."""
        summary = AddSummary()
        try:
            with self._db(create=True) as db, gzip.open(path, "rt", encoding="utf-8") as f:
                head = json.loads(f.readline() or "{}")
                if head.get("format") != EXPORT_FORMAT or head.get("version") != EXPORT_VERSION:
                    raise LibraryError(f"{path}: not a PostGuard photo library export")
                for line_no, line in enumerate(f, start=2):
                    try:
                        row = json.loads(line)
                        hashes = np.frombuffer(b"".join(bytes.fromhex(h) for h in row["hashes"]), np.uint8)
                        hashes = hashes.reshape(-1, phash.HASH_BYTES)
                        if len(hashes) != len(row["variants"]) or not len(hashes):
                            raise ValueError("hashes and variants differ in number")
                        status = self._store(hashes, [str(v) for v in row["variants"]], int(row["quality"]),
                                             source or str(row["source"]), str(row["added"]), db)
                    except (KeyError, TypeError, ValueError) as exc:
                        raise LibraryError(f"{path}: line {line_no}: {exc}") from None
                    summary.count(status)
        except (OSError, EOFError, json.JSONDecodeError) as exc:
            raise LibraryError(f"{path}: {exc}") from None
        return summary

    # ------------------------------------------------------------------------------------------------- looking up

    def lookup(self, query: phash.Hashes, max_distance: int) -> Match | None:
        """The closest stored photo within `max_distance`, or None. The upload's upright, trimmed and unturned
        views are compared with every stored window; its turned and mirrored views with whole photos only."""
        index = self._current()
        if index is None:
            return None
        wide = np.array([phash.against_windows(v) for v in query.variants])
        best: tuple[int, int, int] | None = None  # (distance, query row, library row)
        for rows, whole in ((np.flatnonzero(wide), False), (np.flatnonzero(~wide), True)):
            if not len(rows):
                continue
            dist, where = index.nearest(query.hashes[rows], whole)
            i = int(np.argmin(dist))
            if best is None or dist[i] < best[0]:
                best = (int(dist[i]), int(rows[i]), int(where[i]))
        if best is None or best[0] > max_distance:
            return None
        distance, q, row = best
        photo = int(index.photos[row])
        source, added = self._photo(photo)
        return Match(distance, query.variants[q], index.names[index.variants[row]], photo, source, added)

    def __len__(self) -> int:
        """How many photos lookups search (0 when there is no library: callers skip decoding then)."""
        index = self._current()
        return 0 if index is None else len(index.whole)

    def _photo(self, pid: int) -> tuple[str, str]:
        with self._db() as db:
            row = db.execute("SELECT source, added FROM photos WHERE id = ?", (pid,)).fetchone()
        return row or ("", "")

    def _current(self) -> "_Index | None":
        now = time.monotonic()
        with self._lock:
            if self._index is not None and now - self._checked < RELOAD_CHECK_S:
                return self._index
            self._checked = now
            stamp = _stamp(self.path)
            if stamp != self._stamp:
                self._index = self._load() if stamp else None
                self._stamp = stamp
            return self._index

    def _load(self) -> "_Index | None":
        """Read the hashes in batches into preallocated arrays: 100,000 photos are 3.8 million rows, and a list of
        row tuples would need gigabytes on the way."""
        try:
            with self._db() as db:
                n = db.execute("SELECT count(*) FROM hashes").fetchone()[0]
                if not n:
                    return None
                hashes = np.empty((n, phash.HASH_BYTES), np.uint8)
                photos = np.empty(n, np.int64)
                variants = np.empty(n, np.int16)
                codes: dict[str, int] = {}
                cur = db.execute("SELECT photo, variant, hash FROM hashes ORDER BY photo, rowid")
                at = 0
                while rows := cur.fetchmany(50_000):
                    rows = rows[:n - at]  # rows added since the count wait for the next reload
                    k = len(rows)
                    photos[at:at + k] = [r[0] for r in rows]
                    variants[at:at + k] = [codes.setdefault(r[1], len(codes)) for r in rows]
                    hashes[at:at + k] = np.frombuffer(b"".join(r[2] for r in rows), np.uint8).reshape(k, -1)
                    at += k
                    if at == n:
                        break
        except (sqlite3.DatabaseError, ValueError) as exc:
            raise LibraryError(f"{self.path}: {exc}") from None
        hashes, photos, variants = hashes[:at], photos[:at], variants[:at]
        names = list(codes)
        whole = np.flatnonzero(variants == codes["full"]) if "full" in codes else np.empty(0, np.int64)
        return _Index(hashes, photos, variants, names, whole)


class _Index:
    """The library in memory. With faiss the hashes live in its index only (one copy: 122 MB for 100,000
    photos); without it, in a numpy array."""

    def __init__(self, hashes: np.ndarray, photos: np.ndarray, variants: np.ndarray, names: list[str],
                 whole: np.ndarray):
        self.photos, self.variants, self.names, self.whole = photos, variants, names, whole
        self.fast = _faiss_index(hashes)
        self.fast_whole = _faiss_index(hashes[whole]) if self.fast is not None else None
        self.hashes = None if self.fast is not None else hashes
        self.whole_hashes = None if self.fast is not None else hashes[whole]

    def nearest(self, queries: np.ndarray, whole: bool) -> tuple[np.ndarray, np.ndarray]:
        """Each query's smallest distance to every stored hash (or to whole photos only), and that hash's row."""
        if whole:
            dist, where = _nearest(queries, self.whole_hashes, self.fast_whole)
            return dist, self.whole[where]
        return _nearest(queries, self.hashes, self.fast)


def _nearest(queries: np.ndarray, hashes: np.ndarray, fast) -> tuple[np.ndarray, np.ndarray]:
    """For each query, the smallest Hamming distance to `hashes` and where it is."""
    if fast is not None:
        dist, where = fast.search(np.ascontiguousarray(queries), 1)
        return dist[:, 0], where[:, 0]
    best_d = np.full(len(queries), 1 << 16, np.int64)
    best_i = np.zeros(len(queries), np.int64)
    for start in range(0, len(hashes), 1 << 16):  # chunks keep the (queries x chunk) table small
        d = phash.distances(queries, hashes[start:start + (1 << 16)])
        i = d.argmin(axis=1)
        di = d[np.arange(len(queries)), i]
        better = di < best_d
        best_d[better], best_i[better] = di[better], i[better] + start
    return best_d, best_i


def _faiss_index(hashes: np.ndarray):
    try:
        import faiss
    except ImportError:
        return None
    faiss.omp_set_num_threads(1)  # one upload's few views: threads only wait on each other (measured 60x slower
    index = faiss.IndexBinaryFlat(phash.HASH_BYTES * 8)  # on a busy two-core laptop), and the proxy has its own
    index.add(np.ascontiguousarray(hashes))
    return index


def _stamp(path: Path) -> tuple | None:
    try:
        st = [path.stat()]
    except FileNotFoundError:
        return None
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        st.append(wal.stat())
    return tuple((s.st_mtime_ns, s.st_size) for s in st)


def _pictures(paths: Iterable[str | os.PathLike]):
    for p in map(Path, paths):
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if not name.startswith("."):
                        yield Path(root) / name
        else:
            yield p


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
