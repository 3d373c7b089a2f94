import json
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The real-file corpus is not in the project (115 files under their authors' licences): it is read from beside the
# checkout, `../shared/corpus/metadata`, or from the folder POSTGUARD_CORPUS names (POSTGUARD_SHARED names the whole
# shared folder, as before). Tests that need it skip, with this reason, when it is absent, also under CI.
SHARED = Path(os.environ.get("POSTGUARD_SHARED") or ROOT.parent / "shared")
CORPUS = Path(os.environ.get("POSTGUARD_CORPUS") or SHARED / "corpus" / "metadata")
CORPUS_MISSING = f"metadata corpus not found at {CORPUS}; set POSTGUARD_CORPUS"
POLICIES = ROOT / "rules" / "policies"  # the five school policies the packs quote, shipped with the project
# The folders a user's PostGuard lives in; every test gets its own (see user_folders below).
USER_FOLDERS = {"HOME": "home", "XDG_CONFIG_HOME": "config", "XDG_DATA_HOME": "data", "XDG_STATE_HOME": "state"}


def manifest() -> list[dict]:
    path = CORPUS / "manifest.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def expected_location(entry: dict) -> tuple[float, float] | None:
    """The corpus README's rule: real GPS (or GPS only in telemetry), not placeholders; gt_caveat files count."""
    if entry["has_gps"] and not entry["zero_coords"] and not entry["coords_out_of_range"]:
        return entry["lat"], entry["lon"]
    if entry.get("ee_has_gps") and entry.get("ee_first_coords"):
        return tuple(entry["ee_first_coords"])
    if entry.get("gt_caveat"):
        return None, None  # the GPS bytes are there; ExifTool recorded no value to compare with
    return None


def corpus_cases(entries: list) -> list:
    """Parameters for a test per corpus file; without the corpus, one case that skips with the reason (rather than
    pytest's "got empty parameter set")."""
    return entries or [pytest.param(None, id="no-corpus", marks=pytest.mark.skip(reason=CORPUS_MISSING))]


def require_tool(name: str) -> str:
    """CI installs every tool the tests need; locally, a missing one skips with the reason."""
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{name} is not installed, but CI must install it (.ci/run)")
    pytest.skip(f"{name} not installed")


def require_corpus() -> Path:
    """The metadata corpus, or a skip with the reason (under CI too: a clone from the public repository has none)."""
    if not (CORPUS / "manifest.jsonl").exists():
        pytest.skip(CORPUS_MISSING)
    return CORPUS


@pytest.fixture(scope="session")
def corpus() -> Path:
    return require_corpus()


def _point_user_folders_at(mp: pytest.MonkeyPatch, base: Path, cache: Path) -> None:
    for var, name in USER_FOLDERS.items():
        (base / name).mkdir(parents=True, exist_ok=True)
        mp.setenv(var, str(base / name))
    mp.setenv("XDG_CACHE_HOME", str(cache))
    mp.delenv("POSTGUARD_CONFIG", raising=False)


@pytest.fixture(scope="session", autouse=True)
def _no_user_folders_in_session(tmp_path_factory):
    """Session and module fixtures (built before any test's own folders) see no user's folders either."""
    base = tmp_path_factory.mktemp("user")
    with pytest.MonkeyPatch.context() as mp:
        _point_user_folders_at(mp, base, base / "cache")
        yield base / "cache"


@pytest.fixture(autouse=True)
def user_folders(tmp_path_factory, monkeypatch, _no_user_folders_in_session) -> Path:
    """No user's config, roster or photo library leaks in: HOME and the XDG folders platformdirs reads point at a
    folder of this test's own, and POSTGUARD_CONFIG is unset. Subprocesses inherit it (os.environ is patched). The
    cache (derived data only: the town index takes 2 s to build) is shared by the session's tests."""
    base = tmp_path_factory.mktemp("user")
    _point_user_folders_at(monkeypatch, base, _no_user_folders_in_session)
    return base


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL server on loopback (Debian's postgresql, installed by .ci/run)."""
    from tests import pgserver

    if not pgserver.available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed, but CI must install it (.ci/run)")
        pytest.skip("PostgreSQL not installed")
    server = pgserver.PgServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """The same store tests against the embedded SQLite file and a real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'events.sqlite3'}"
    server = request.getfixturevalue("pg_server")
    return server.fresh_database(f"t_{abs(hash(request.node.nodeid)) % 10**9}")
