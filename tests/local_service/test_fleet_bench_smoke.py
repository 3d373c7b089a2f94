"""bench/fleet_bench.py in its quickest mode still runs end to end: laptops enrol, sign and upload over HTTP to a real
`postguard server run` on a real PostgreSQL, the server stores every event with no integrity problem, and the
dashboard pages load logged in. Nothing about speed is asserted (benchmarks report, they do not fail tests)."""
import subprocess
import sys
from pathlib import Path

import pytest

from tests import pgserver

pytestmark = pytest.mark.skipif(not pgserver.available(), reason="needs Debian's postgresql package (initdb)")
ROOT = Path(__file__).resolve().parents[2]


def test_the_fleet_bench_runs_in_its_quick_mode():
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "fleet_bench.py"), "--quick"], capture_output=True,
                         text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]  # 1: an error status or integrity event
    out = run.stdout
    assert "SIMULATION WRONG" not in out
    assert "0 errors and" in out and "uploads/s held" in out
    for page in ("overview  /admin/", "list      page 2 (cursor)", "list      a device", "person    /admin/people/"):
        assert page in out, out
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
