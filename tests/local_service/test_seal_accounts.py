"""Issue 14's acceptance, with a real second account: IT sets the record up (as root here), the staff account then
owns the data folder and writes the record, and rewrites it with everything the project offers; `postguard log
verify`, run by IT with the verification key the staff account cannot read, catches every rewrite."""
import fcntl
import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STAFF = "pgstaff"
TAMPER = Path(__file__).with_name("staff_tamper.py")
RUNUSER = shutil.which("runuser") or "runuser"

pytestmark = pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0 or not shutil.which("useradd")
                                or not shutil.which("runuser"),
                                reason="needs root, useradd and runuser to act as a second account")


def staff_account() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(STAFF)
    except KeyError:
        subprocess.run([shutil.which("useradd"), "--no-create-home", "--shell", "/usr/sbin/nologin", STAFF], check=True)
        return pwd.getpwnam(STAFF)


def _probe(exe: str) -> bool:
    return subprocess.run([RUNUSER, "-u", STAFF, "--", exe, "-c", "import rules.record.store"],
                          env=staff_env(), capture_output=True, cwd="/").returncode == 0


def staff_python() -> list[str]:
    """An interpreter the staff account can run, with this project and its packages on the path (the venv's own
    interpreter may live in root's home, which no other account may enter)."""
    for exe in (os.path.realpath(sys.executable), f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"):
        if _probe(exe):
            return [exe]
    pytest.skip("no interpreter the second account can run with this project's packages (the project or its venv "
                "lies in a folder that account cannot enter)")


@pytest.fixture(scope="module", autouse=True)
def _reachable():
    """A clone made in a folder only root may enter (mktemp -d, root's home) is out of the staff account's reach:
    for these tests only, the folders above the project, its packages and its interpreter get traverse-only
    permission (o+x: enter, not list), each put back as it was afterwards. Nothing is made readable that was not."""
    if os.geteuid() != 0:
        yield
        return
    # another test run on this machine (a second clone's CI) changes and puts back the same folders (root's home,
    # the interpreter's): one at a time, or one run's putting back would take the other's access away mid-test
    with open("/tmp/postguard-test-reachable.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if _probe(os.path.realpath(sys.executable)):
            yield
            return
        changed: dict[Path, int] = {}
        try:
            for start in (ROOT, Path(sysconfig.get_paths()["purelib"]), Path(os.path.realpath(sys.executable)).parent,
                          Path(sysconfig.get_paths()["stdlib"])):
                for folder in [start, *start.parents]:
                    mode = folder.stat().st_mode
                    if folder not in changed and not mode & 0o001:
                        changed[folder] = mode & 0o7777
                        folder.chmod(changed[folder] | 0o001)
            yield
        finally:
            for folder, mode in changed.items():
                folder.chmod(mode)


def staff_env() -> dict:
    return {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "LANG": "C.UTF-8",
            "PYTHONPATH": os.pathsep.join([str(ROOT), sysconfig.get_paths()["purelib"]])}


@pytest.fixture
def laptop():
    """A data folder the staff account owns, a key folder only root can enter, and a config naming both."""
    user = staff_account()
    top = Path(tempfile.mkdtemp(prefix="postguard-accounts-", dir="/tmp"))
    top.chmod(0o755)
    data, keys = top / "data", top / "it-only"
    data.mkdir(mode=0o700)
    keys.mkdir(mode=0o700)
    config = top / "config.toml"
    config.write_text(f'data_dir = "{data}"\n\n[service]\nverify_key = "{keys / "verify_key"}"\n')
    config.chmod(0o644)
    # IT sets the record up: the store is created, sealing begins, the first key goes to IT's folder only.
    assert postguard("log", "verify", "--config", str(config)).returncode == 0
    assert (keys / "verify_key").exists()
    for path in [data, *data.rglob("*")]:
        os.chown(path, user.pw_uid, user.pw_gid)
    yield config
    shutil.rmtree(top, ignore_errors=True)


def postguard(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "local_service.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def as_staff(config: Path, mode: str) -> str:
    run = subprocess.run([RUNUSER, "-u", STAFF, "--", *staff_python(), str(TAMPER), str(config), mode],
                         env=staff_env(), capture_output=True, text=True, cwd="/", timeout=120)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def test_the_staff_account_cannot_read_the_verification_key(laptop):
    assert as_staff(laptop, "read-key") == "denied"


def test_the_staff_accounts_own_events_verify(laptop):
    as_staff(laptop, "append")
    as_staff(laptop, "append")
    run = postguard("log", "verify", "--config", str(laptop))
    assert run.returncode == 0 and "12 events, chain intact (sealed rows checked" in run.stdout, run.stdout


@pytest.mark.parametrize("attack", ["edit", "truncate", "replace"])
def test_a_rewrite_by_the_staff_account_is_caught(laptop, attack):
    as_staff(laptop, "append")
    as_staff(laptop, "append")
    as_staff(laptop, attack)
    run = postguard("log", "verify", "--config", str(laptop))
    assert run.returncode == 1 and "BROKEN" in run.stdout, run.stdout
