"""Is this laptop set up as the school's deployment meant? In words, for `postguard status`: whether the proxy's CA
is trusted (by the system and by NSS or Firefox), the PAC is in effect and the extension installed by the browsers'
policies, the native host registered, and the service running. And `postguard uninstall`'s part that needs no
administrator: the CA out of this account's NSS database.

And two things only the record and the running service know: whether this laptop is enrolled with the trust server
(the enrolment `postguard enrol --status` reads, in the store), and whether the extension is connected (the service
saw its last authenticated call less than five minutes ago; the worker calls every minute while the browser runs).

Only files and commands are read (policy files, trust stores, certutil, the store's settings, the service's
/api/v1/health over loopback with this account's token); nothing here imports the proxy adapter
(local_service reaches it through composition.py only), so the CA's folder is worked out here by the same rule as
proxy_addon.ca.confdir, and a test keeps the two the same.
"""
from __future__ import annotations

import base64
import hashlib
import json
import platform
import plistlib
import shutil
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from rules import load_config
from rules.record.keys import TOKEN_FILE, read_secret
from rules.record.store import database_url, open_store

from .deploy_places import (FIREFOX_ID, HOST_NAME, LINUX_FIREFOX_POLICIES, LINUX_HOST_DIRS, LINUX_POLICY_DIRS,
                            MAC_HOST_DIRS, WIN_POLICY_KEYS)
from .forwarder import Forwarder, enrolment

CERT_FILE = "mitmproxy-ca-cert.pem"
NSS_NICKNAME = "PostGuard"  # proxy_addon.ca.NSS_NICKNAME, and the install scripts' trust-nss
SYSTEM_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# postguard status's exit: 0 every line yes (or in order without being one, "not needed"); 1 some line NO; 3 no NO,
# but some line "cannot tell" (this laptop could not check it: not known to be in order). 2 stays every command's
# usage or config error. Like a monitoring check's OK, CRITICAL and UNKNOWN: a deployment's script that wants the
# laptop verified tests for 0; one that only looks for a known fault tests for 1.
EXIT_IN_ORDER, EXIT_NOT_IN_ORDER, EXIT_CANNOT_TELL = 0, 1, 3


@dataclass
class Check:
    what: str
    ok: bool | None  # None: this machine cannot tell
    detail: str
    word: str | None = None  # instead of yes/NO: a state that is in order without being a yes ("not needed")

    def line(self) -> str:
        word = self.word or {True: "yes", False: "NO", None: "cannot tell"}[self.ok]
        return f"{self.what}: {word} ({self.detail})"


def ca_folder(config) -> Path:
    shared = config.deploy.ca_dir
    return Path(shared).expanduser() if shared else config.data_dir / "mitmproxy"


def pem_body(text: str) -> str:
    """The base64 of a PEM certificate, without armour or line breaks: what identifies it inside a bundle."""
    lines = [ln.strip() for ln in text.splitlines()]
    try:
        start = lines.index("-----BEGIN CERTIFICATE-----")
        end = lines.index("-----END CERTIFICATE-----", start)
    except ValueError:
        raise ValueError("not a PEM certificate") from None
    return "".join(lines[start + 1:end])


def _run(argv: list[str]):
    if not shutil.which(argv[0]):
        return None
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None


def nss_db() -> Path:
    return Path.home() / ".pki" / "nssdb"


class Inspector:
    """The checks, with the file system root and the NSS database as parameters so that tests can stage a laptop."""

    def __init__(self, config, root: Path = Path("/"), nss: Path | None = None, system: str | None = None):
        self.config, self.root = config, root
        self.nss = nss or nss_db()
        self.system = system or platform.system()
        self.service_url = f"http://127.0.0.1:{config.deploy.service_port}"
        self.pac_url = f"{self.service_url}/proxy.pac"

    def _at(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    # -- the CA ---------------------------------------------------------------------------------------------------

    def ca(self) -> list[Check]:
        cert = ca_folder(self.config) / CERT_FILE
        if not cert.exists():
            return [Check("proxy certificate", False, f"none at {cert} yet: postguard run, postguard ca or the "
                                                      "install script makes it")]
        body = pem_body(cert.read_text())
        checks = [Check("proxy certificate", True, str(cert))]
        if self.system == "Linux":
            bundle = self._at(str(SYSTEM_BUNDLE))
            try:
                found = body in "".join(bundle.read_text(errors="replace").split())
                checks.append(Check("CA trusted by the system", found, f"{SYSTEM_BUNDLE}"
                                    + ("" if found else ": run the install script, or postguard ca --install as root")))
            except OSError as exc:
                checks.append(Check("CA trusted by the system", None, f"{SYSTEM_BUNDLE}: {exc.strerror}"))
            checks.append(self._nss(body))
        elif self.system == "Darwin":
            r = _run(["security", "verify-cert", "-c", str(cert), "-p", "ssl"])
            checks.append(Check("CA trusted by the System keychain", None if r is None else r.returncode == 0,
                                "security verify-cert"))
        elif self.system == "Windows":
            r = _run(["certutil", "-verifystore", "Root", _sha1(cert)])
            checks.append(Check("CA trusted by the machine's Root store", None if r is None else r.returncode == 0,
                                "certutil -verifystore Root"))
        if self.system != "Linux" or self._present("firefox"):  # no Firefox on this machine: nothing to say
            checks.append(self._firefox(cert))
        return checks

    def _nss(self, body: str) -> Check:
        what = "CA trusted by NSS (Chromium and Chrome on Linux)"
        if not self.nss.is_dir():
            return Check(what, False, f"no NSS database at {self.nss} (the postguard unit adds it at login)")
        r = _run(["certutil", "-d", f"sql:{self.nss}", "-L", "-n", NSS_NICKNAME, "-a"])
        if r is None:
            return Check(what, None, "certutil is not installed (libnss3-tools)")
        found = r.returncode == 0 and body in "".join(r.stdout.split())
        return Check(what, found, f"{self.nss}, nickname {NSS_NICKNAME}")

    def _firefox(self, cert: Path) -> Check:
        what = "CA trusted by Firefox"
        policies = self._firefox_policies()
        if policies is None:
            return Check(what, False, "no PostGuard Firefox policies")
        certs = policies.get("Certificates", {})
        if certs.get("ImportEnterpriseRoots"):
            return Check(what, True, "policy: Firefox imports the system's roots")
        installs = [str(Path(p)) for p in certs.get("Install", [])]
        return Check(what, str(cert) in installs, f"policy Certificates.Install: {', '.join(installs) or 'none'}")

    def _firefox_policies(self) -> dict | None:
        if self.system != "Linux":
            return None
        path = self._at(LINUX_FIREFOX_POLICIES)
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return doc.get("policies") if isinstance(doc, dict) and isinstance(doc.get("policies"), dict) else None

    # -- the browsers' policies and the native host ---------------------------------------------------------------

    def chrome_policies(self) -> dict[str, dict]:
        """{browser: its merged machine policies} as this machine holds them."""
        out = {}
        if self.system == "Linux":
            for browser, folder in LINUX_POLICY_DIRS.items():
                if not self._present(browser):
                    continue
                merged = {}
                for f in sorted(self._at(folder).glob("*.json")):
                    try:
                        doc = json.loads(f.read_text())
                    except (OSError, ValueError):
                        continue
                    if isinstance(doc, dict):
                        merged.update(doc)
                out[browser] = merged
        elif self.system == "Darwin":
            for browser, domain in (("chrome", "com.google.Chrome"), ("edge", "com.microsoft.Edge")):
                try:
                    out[browser] = plistlib.loads(self._at(f"/Library/Managed Preferences/{domain}.plist")
                                                  .read_bytes())
                except (OSError, ValueError, plistlib.InvalidFileException):
                    out[browser] = {}
        elif self.system == "Windows":
            out = _windows_policies()
        return out

    def browsers(self) -> list[Check]:
        ext = self.config.deploy.extension_id
        checks = []
        for browser, policies in self.chrome_policies().items():
            proxy = policies.get("ProxySettings")
            if isinstance(proxy, str):  # the registry holds the dict policy as JSON text
                try:
                    proxy = json.loads(proxy)
                except ValueError:
                    proxy = None
            pac = isinstance(proxy, dict) and proxy.get("ProxyMode") == "pac_script" and \
                proxy.get("ProxyPacUrl") == self.pac_url
            checks.append(Check(f"{browser}: PAC in effect by policy", pac,
                                f"ProxySettings {json.dumps(proxy) if proxy else 'not set'}; expected pac_script "
                                f"{self.pac_url}"))
            forced = [e for e in policies.get("ExtensionInstallForcelist", []) if isinstance(e, str)]
            on = bool(ext) and any(e.split(";", 1)[0] == ext for e in forced)
            named = ext or "[deploy] extension_id (not set)"
            checks.append(Check(f"{browser}: extension installed by policy", on,
                                f"ExtensionInstallForcelist {'names' if on else 'does not name'} {named}"))
        if self.system == "Linux":
            for browser, folder in LINUX_HOST_DIRS.items():
                if self._present(browser):
                    checks.append(self._host(browser, self._at(folder) / f"{HOST_NAME}.json"))
        elif self.system == "Darwin":
            for browser, folder in MAC_HOST_DIRS.items():
                checks.append(self._host(browser, self._at(folder) / f"{HOST_NAME}.json"))
        return checks

    def _present(self, browser: str) -> bool:
        """Whether this Linux machine has the browser's system folder (a browser that is not installed is not
        reported), or PostGuard's policies for it."""
        folder = LINUX_FIREFOX_POLICIES if browser == "firefox" else LINUX_POLICY_DIRS[browser]
        return self._at(str(Path(folder).parents[1])).is_dir() or self._at(LINUX_HOST_DIRS[browser]).is_dir()

    def _host(self, browser: str, manifest: Path) -> Check:
        what = f"{browser}: native host registered"
        try:
            doc = json.loads(manifest.read_text())
        except (OSError, ValueError):
            return Check(what, False, f"no {manifest}")
        allowed = doc.get("allowed_extensions" if browser == "firefox" else "allowed_origins", [])
        want = FIREFOX_ID if browser == "firefox" else f"chrome-extension://{self.config.deploy.extension_id}/"
        program = Path(doc.get("path", ""))
        ok = want in allowed and program.is_absolute() and self._at(str(program)).exists()
        return Check(what, ok, f"{manifest} -> {program}" + ("" if want in allowed else f", not for {want}"))

    # -- the service ------------------------------------------------------------------------------------------------

    def service(self) -> Check:
        """Running when PostGuard's service answers with its PAC file (it needs no token)."""
        try:
            with urllib.request.urlopen(self.pac_url, timeout=3) as r:
                body = r.read(1 << 20).decode("utf-8", "replace")
                kind = r.headers.get("Content-Type", "")
        except OSError as exc:
            return Check("service running", False, f"nothing answers at {self.service_url} ({exc})")
        ok = "x-ns-proxy-autoconfig" in kind and "FindProxyForURL" in body
        return Check("service running", ok, f"{self.service_url} served its PAC file" if ok else
                     f"something else answers at {self.service_url}")

    def extension(self, running: Check) -> Check:
        """Connected when the running service saw the extension's last call less than five minutes ago (its
        /api/v1/health says; asked with this account's token and no Origin, so asking is not counted as a call)."""
        what = "extension connected to the service"
        if not running.ok:
            return Check(what, None, "the service is not running")
        req = urllib.request.Request(f"{self.service_url}/api/v1/health",
                                     headers={"Authorization": f"Bearer {read_secret(self.config, TOKEN_FILE)}"})
        try:
            with urllib.request.urlopen(req, timeout=3) as r:
                seen = json.loads(r.read(1 << 16)).get("extension")
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                return Check(what, None, "the service running there does not take this account's token (another "
                                         "account's PostGuard, or the token changed since it started)")
            return Check(what, None, f"{self.service_url}/api/v1/health answered HTTP {exc.code}")
        except (OSError, ValueError) as exc:
            return Check(what, None, f"{self.service_url}/api/v1/health did not answer ({exc})")
        if not isinstance(seen, dict):
            return Check(what, None, "the running service does not say (an older PostGuard)")
        ago = seen.get("seen_s_ago")
        if seen.get("connected"):
            return Check(what, True, f"its last call was {_ago(ago)} ago")
        return Check(what, False, ("never called the service since it started" if ago is None else
                                   f"its last call was {_ago(ago)} ago")
                     + ": is the browser open, and the extension installed and allowed to reach the native host?")

    def enrolment(self) -> Check:
        """Enrolled with the trust server, as `postguard enrol --status` reads it (the store's enrolment); when the
        deployment names no server, not being enrolled is in order."""
        what, server = "enrolled with a trust server", self.config.deploy.server_url
        url = database_url(self.config)
        if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
            enrolled, backlog = None, 0  # no record yet: status creates none
        else:
            try:
                store = open_store(self.config)
            except (SQLAlchemyError, OSError, ValueError) as exc:  # said, and the other checks go on
                return Check(what, None, f"the record could not be opened ({type(exc).__name__}: {exc})")
            try:
                enrolled = enrolment(store)
                backlog = Forwarder(self.config, store).backlog() if enrolled else 0
            finally:
                store.close()
        if enrolled is not None:
            return Check(what, True, f"{enrolled.server} as {enrolled.name} ({enrolled.device}), school "
                                     f"{enrolled.school}; {backlog} events waiting to be forwarded")
        if server:
            return Check(what, False, f"the deployment names {server}: postguard enrol {server} --secret SECRET")
        return Check(what, True, "the deployment names no trust server ([deploy] server_url): this laptop keeps its "
                                 "record itself", word="not needed")

    def installed(self) -> list[Check]:
        """What the deployment put in place (and its uninstall script takes away): the CA, the browsers' policies,
        the native host, the service."""
        browsers = self.browsers()
        if not browsers:
            browsers = [Check("browsers", False, "no Chrome, Chromium, Edge or Firefox system folders on this machine")]
        return [*self.ca(), *browsers, self.service()]

    def all(self) -> list[Check]:
        """Everything postguard status says: what is installed, then whether the extension is connected and the
        laptop enrolled."""
        installed = self.installed()
        return [*installed, self.extension(installed[-1]), self.enrolment()]


def exit_status(checks: list[Check]) -> int:
    """What `postguard status` exits with for these lines (EXIT_IN_ORDER, EXIT_NOT_IN_ORDER, EXIT_CANNOT_TELL)."""
    if any(c.ok is False for c in checks):
        return EXIT_NOT_IN_ORDER
    if any(c.ok is None for c in checks):
        return EXIT_CANNOT_TELL
    return EXIT_IN_ORDER


def _ago(seconds) -> str:
    seconds = int(seconds or 0)
    return f"{seconds} s" if seconds < 120 else f"{seconds // 60} min"


def _sha1(cert: Path) -> str:
    return hashlib.sha1(base64.b64decode(pem_body(cert.read_text()))).hexdigest()


def _windows_policies() -> dict[str, dict]:
    import winreg  # Windows only
    out = {}
    for browser, key in WIN_POLICY_KEYS.items():
        policies = {}
        try:
            with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, key) as k:
                policies["ProxySettings"] = winreg.QueryValueEx(k, "ProxySettings")[0]
        except OSError:
            pass
        try:
            with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, key + r"\ExtensionInstallForcelist") as k:
                policies["ExtensionInstallForcelist"] = [winreg.EnumValue(k, i)[1]
                                                         for i in range(winreg.QueryInfoKey(k)[1])]
        except OSError:
            pass
        out[browser] = policies
    return out


def remove_from_nss(nss: Path | None = None) -> list[str]:
    """Take PostGuard's CA out of this account's NSS database; returns what was done."""
    nss = nss or nss_db()
    if not (shutil.which("certutil") and nss.is_dir()):
        return []
    removed = 0
    while removed < 20 and subprocess.run(["certutil", "-d", f"sql:{nss}", "-D", "-n", NSS_NICKNAME],
                                          capture_output=True).returncode == 0:
        removed += 1  # one entry a call: an account may hold it more than once
    return [f"NSS database ({nss})"] if removed else []


def cmd_uninstall(args) -> int:
    """This account's part of uninstalling (its NSS database), then what is still in place, in words: the machine's
    part is the deployment's uninstall script (it needs an administrator)."""
    config = load_config(args.config)
    done = remove_from_nss()
    print("removed the CA from: " + (", ".join(done) if done else "nothing in this account"))
    left = [c for c in Inspector(config).installed() if c.ok and c.what != "proxy certificate"]
    for check in left:
        print(f"still in place: {check.line()}")
    if left:
        print("the deployment's uninstall script (uninstall.sh, uninstall.ps1) removes these, as an administrator")
    return 1 if left else 0


def add_parsers(sub, common) -> None:
    p = sub.add_parser("uninstall", parents=[common], help="take the CA out of this account's NSS database and say "
                                                           "what the deployment's uninstall script still has to remove")
    p.set_defaults(func=cmd_uninstall)
