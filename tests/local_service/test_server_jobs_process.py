"""`postguard server run` keeps its background jobs out of gunicorn's arbiter: a thread running in the arbiter while
it forks a worker leaves that worker with whatever lock the thread held (imports, logging, the store) held for good,
and the worker hangs on its first request (an enrolment timed out so in CI). The arbiter runs one thread; the jobs
run in a process of their own, which ends when the server is killed."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _children(pid: int) -> set[int]:
    out = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        out |= {int(c) for c in (task / "children").read_text().split()}
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def _until(ask, bound_s: float = 30) -> bool:
    deadline = time.monotonic() + bound_s  # a bound, not a timing
    while not ask() and time.monotonic() < deadline:
        time.sleep(0.1)
    return ask()


def test_the_arbiter_has_no_thread_and_the_jobs_end_with_it(tmp_path):
    conf = tmp_path / "server.toml"
    conf.write_text(f'data_dir = "{tmp_path / "srv"}"\n')
    proc = subprocess.Popen([sys.executable, "-m", "local_service.cli", "server", "run", "--config", str(conf),
                             "--database", f"sqlite:///{tmp_path / 'srv.sqlite3'}", "--port", "0", "--workers",
                             "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            start_new_session=True)
    try:
        assert proc.stdout.readline().startswith("serving on http://127.0.0.1:")
        jobs: set[int] = set()

        def started() -> bool:
            jobs.clear()
            jobs.update(c for c in _children(proc.pid) if "multiprocessing" in _cmdline(c)
                        and "resource_tracker" not in _cmdline(c))
            return len(_children(proc.pid)) >= 3 and len(jobs) == 1  # two workers and the jobs
        assert _until(started), [_cmdline(c) for c in _children(proc.pid)]
        assert len(list(Path(f"/proc/{proc.pid}/task").iterdir())) == 1  # the arbiter: its main thread only
        (job,) = jobs
        os.kill(proc.pid, signal.SIGKILL)  # the arbiter alone, as an OOM killer would
        proc.wait()
        assert _until(lambda: not _cmdline(job) or Path(f"/proc/{job}/status").read_text().count("zombie")), \
            "the jobs process outlived its server"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
