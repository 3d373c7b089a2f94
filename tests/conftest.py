import json
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("POSTGUARD_SHARED", ROOT.parent / "shared"))
CORPUS = SHARED / "corpus" / "metadata"
POLICIES = SHARED / "policies"


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


def require_tool(name: str) -> str:
    """CI installs every tool the tests need; locally, a missing one skips with the reason."""
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{name} is not installed, but CI must install it (.ci/run)")
    pytest.skip(f"{name} not installed")


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not (CORPUS / "manifest.jsonl").exists():
        if os.environ.get("CI"):
            pytest.fail(f"the metadata corpus is missing at {CORPUS}")
        pytest.skip("metadata corpus not found")
    return CORPUS


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
