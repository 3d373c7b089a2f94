"""The proxy's certificate authority: made once per install, its private key readable by its owner only, and the
steps to make the laptop's browsers trust it; where it is trusted now (postguard status) and taking that trust away
again (postguard uninstall).

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
LINUX_ANCHOR = Path("/usr/local/share/ca-certificates/postguard.crt")
LINUX_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


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


def instructions(cert: Path, pac_url: str) -> str:
    nss = Path.home() / ".pki" / "nssdb"
    return f"""PostGuard's proxy certificate: {cert}
(the private key beside it is readable by you only; never copy it off this laptop)

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


# -- where the CA is trusted now, and taking it away -------------------------------------------------------------------

def pem_body(text: str) -> str:
    """The base64 of a PEM certificate, without armour or line breaks: what identifies it inside a bundle."""
    lines = [ln.strip() for ln in text.splitlines()]
    try:
        start = lines.index("-----BEGIN CERTIFICATE-----")
        end = lines.index("-----END CERTIFICATE-----", start)
    except ValueError:
        raise ValueError("not a PEM certificate") from None
    return "".join(lines[start + 1:end])


def nss_db() -> Path:
    return Path.home() / ".pki" / "nssdb"


def trust_report(cert: Path, system_bundle: Path = LINUX_BUNDLE,
                 nss: Path | None = None) -> list[tuple[str, bool | None, str]]:
    """(where, trusted, how it was told) for the OS store and for NSS (Chromium on Linux, Firefox's own store);
    trusted is None when this machine cannot tell."""
    body = pem_body(cert.read_text())
    out = []
    system = platform.system()
    if system == "Linux":
        try:
            bundle = system_bundle.read_text(errors="replace")
            found = body in "".join(ln.strip() for ln in bundle.splitlines())
            out.append(("the system's trusted CAs", found, str(system_bundle)))
        except OSError as exc:
            out.append(("the system's trusted CAs", None, f"{system_bundle}: {exc.strerror}"))
    elif system == "Darwin":
        r = _run(["security", "verify-cert", "-c", str(cert), "-p", "ssl"])
        out.append(("the System keychain", None if r is None else r.returncode == 0, "security verify-cert"))
    elif system == "Windows":
        r = _run(["certutil", "-verifystore", "Root", _sha1(cert)])
        out.append(("the machine's Root store", None if r is None else r.returncode == 0, "certutil -verifystore Root"))
    nss = nss or nss_db()
    if not nss.is_dir():
        out.append(("NSS (Chromium on Linux)", False, f"no NSS database at {nss}"))
    else:
        r = _run(["certutil", "-d", f"sql:{nss}", "-L", "-n", NSS_NICKNAME, "-a"])
        if r is None:
            out.append(("NSS (Chromium on Linux)", None, "certutil is not installed (libnss3-tools)"))
        else:
            found = r.returncode == 0 and body in "".join(r.stdout.split())
            out.append(("NSS (Chromium on Linux)", found, f"{nss}, nickname {NSS_NICKNAME}"))
    return out


def _sha1(cert: Path) -> str:
    import base64
    import hashlib
    return hashlib.sha1(base64.b64decode(pem_body(cert.read_text()))).hexdigest()


def _run(argv: list[str]):
    if not shutil.which(argv[0]):
        return None
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None


def uninstall(nss: Path | None = None) -> list[str]:
    """Take PostGuard's CA out of every store this account can change; returns what was done."""
    done = []
    if platform.system() == "Linux" and os.geteuid() == 0 and LINUX_ANCHOR.exists():
        LINUX_ANCHOR.unlink()
        if shutil.which("update-ca-certificates"):
            subprocess.run(["update-ca-certificates", "--fresh"], check=True, capture_output=True)
        done.append("system trust store (update-ca-certificates)")
    nss = nss or nss_db()
    if shutil.which("certutil") and nss.is_dir():
        removed = 0
        while removed < 20 and subprocess.run(["certutil", "-d", f"sql:{nss}", "-D", "-n", NSS_NICKNAME],
                                              capture_output=True).returncode == 0:
            removed += 1  # one entry a call: an old install may have added it more than once
        if removed:
            done.append(f"NSS database ({nss})")
    return done
