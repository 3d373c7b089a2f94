"""The proxy's certificate authority: made once per install, its private key readable by its owner only, and the
steps to make the laptop's browsers trust it (where it is trusted now, and taking that trust away again, are
local_service/install_state.py's: postguard status and postguard uninstall).

A laptop installed by the deployment scripts (postguard deploy) has one CA for every account on it, in
[deploy] ca_dir: the install script makes it as the administrator, trusts it in the machine's store and lets the
laptop's accounts read it; the proxy then uses it as it finds it."""
from __future__ import annotations

import os
import platform
import shutil
import stat
import subprocess
from pathlib import Path

BASENAME = "mitmproxy"
KEY_FILES = ("mitmproxy-ca.pem", "mitmproxy-ca.p12")  # these hold the private key


CERT_FILE = "mitmproxy-ca-cert.pem"
NSS_NICKNAME = "PostGuard"


def confdir(config) -> Path:
    shared = getattr(getattr(config, "deploy", None), "ca_dir", "")
    return Path(shared).expanduser() if shared else config.data_dir / "mitmproxy"


def shared(config) -> bool:
    """Whether this laptop's CA is the one the install script made for every account ([deploy] ca_dir)."""
    return bool(getattr(getattr(config, "deploy", None), "ca_dir", ""))


def ensure_ca(config) -> Path:
    """Create the CA if needed; tighten permissions on every file holding its key. Returns the public cert.
    A shared CA ([deploy] ca_dir) that another account (the administrator) made is used as it is."""
    from mitmproxy.certs import CertStore

    folder = confdir(config)
    if shared(config) and (folder / CERT_FILE).exists() and not _mine(folder):
        return folder / CERT_FILE
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not shared(config):
        os.chmod(folder, 0o700)
    CertStore.from_store(folder, BASENAME, 2048)
    protect(folder)
    return folder / CERT_FILE


def _mine(path: Path) -> bool:
    return os.name != "posix" or path.stat().st_uid == os.geteuid()


def protect(folder: Path) -> None:
    """The key files their owner's only; a shared CA's files belong to the administrator, who set who may read them."""
    for name in KEY_FILES:
        path = folder / name
        if path.exists() and _mine(path) and stat.S_IMODE(path.stat().st_mode) != 0o600:
            os.chmod(path, 0o600)


def key_readers(cert: Path) -> str:
    """Who can read the CA's private key beside `cert`, in words, from its file mode."""
    key = cert.with_name(KEY_FILES[0])
    try:
        mode = stat.S_IMODE(key.stat().st_mode)
    except OSError:
        return "not found"
    if os.name != "posix" or not mode & 0o077:
        return "its owner only"
    return "everyone on this laptop" if mode & 0o004 else "its owner and its group (this laptop's accounts)"


def instructions(cert: Path, pac_url: str) -> str:
    nss = Path.home() / ".pki" / "nssdb"
    return f"""PostGuard's proxy certificate: {cert}
(the private key beside it is readable by {key_readers(cert)}; never copy it off this laptop)

Make the browsers trust it (once per laptop):
  Debian/Ubuntu (system):   sudo cp {cert} /usr/local/share/ca-certificates/postguard.crt && sudo update-ca-certificates
  Chromium/Chrome on Linux: certutil -d sql:{nss} -A -t "C,," -n "PostGuard" -i {cert}
  Firefox (policy, all profiles): in policies.json  "Certificates": {{"Install": ["{cert}"]}}
  macOS:   sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain {cert}
  Windows: certutil -addstore -f Root {cert}
Or run `postguard ca --install` to do the steps this machine allows.

Then point the browser's automatic proxy configuration (PAC) at:
  {pac_url}
Only social networks, blogs, wikis, file sharing and webmail go through PostGuard; every other site is DIRECT.
"""


def install(cert: Path) -> list[str]:
    """Install where this machine lets us without a browser open; returns what was done."""
    done = []
    if platform.system() == "Linux" and os.geteuid() == 0 and Path("/usr/local/share/ca-certificates").is_dir() \
            and shutil.which("update-ca-certificates"):
        shutil.copyfile(cert, "/usr/local/share/ca-certificates/postguard.crt")
        subprocess.run(["update-ca-certificates"], check=True, capture_output=True)
        done.append("system trust store (update-ca-certificates)")
    nss = Path.home() / ".pki" / "nssdb"
    if shutil.which("certutil") and nss.is_dir():
        subprocess.run(["certutil", "-d", f"sql:{nss}", "-A", "-t", "C,,", "-n", NSS_NICKNAME, "-i", str(cert)],
                       check=True, capture_output=True)
        done.append(f"Chromium/Chrome NSS database ({nss})")
    return done

