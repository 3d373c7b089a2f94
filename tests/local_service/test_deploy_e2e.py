"""Issue 17's Linux acceptance in one flow, with real parts and nobody clicking through the setup: postguard deploy's
Chromium policy file and native host manifest in Chromium's system folders, the packed extension force-installed from
a loopback update URL into a fresh profile, a real `postguard run` (proxy and service) started as the deployed
systemd unit starts it, the laptop's CA trusted by the profile's NSS database through the deployment's own trust-nss
script, and the PAC the ProxySettings policy names sending an in-scope site through the proxy. A photo with GPS
posted to that site arrives without its location and with the same pixels; then `postguard status` says every part
is in order and exits 0.

The site is a blog on wordpress.com (in the default pack's scope) served on loopback over HTTPS with its own
self-signed certificate. Chromium reaches it only through the proxy: --host-resolver-rules maps the name to
127.0.0.1, so without the PAC the browser would go DIRECT and refuse the site's certificate (only PostGuard's CA is
trusted in the profile), and the page's certificate is checked to be the one PostGuard's CA issued.

Chromium and the processes that play the laptop run in a private mount namespace (root, unshare) where staged
copies are bind-mounted over /etc/chromium (the policies), /opt (the native host's deployed path), /etc/hosts (the
proxy finds the site's name on 127.0.0.1), the system CA bundle (with the laptop's CA, as install.sh leaves it) and
certifi's bundle (the proxy checks the upstream's certificate against it; here it also holds the site's). Nothing
outside the namespace changes.
"""
from __future__ import annotations

import base64
import datetime
import email.parser
import email.policy
import http.server
import io
import json
import os
import select
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from local_service import deploy
from local_service.cli import main
from rules import load_config, media
from rules.record.store import open_store

from .test_deploy_chromium_policy import crx_id, free_port

Image = pytest.importorskip("PIL.Image")

ROOT = Path(__file__).resolve().parents[2]
EXT = ROOT / "extension"
CHROMIUM = Path("/usr/bin/chromium")
SITE = "staffroom-trips.wordpress.com"  # wordpress.com is in the default pack's scope (rules/platforms.toml)
SHEFFIELD, WHITBY = (53.3828472, -1.4566778), (54.4858, -0.6206)

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() or os.name != "posix" or os.geteuid() != 0 or not shutil.which("unshare")
    or not shutil.which("certutil"),
    reason="needs chromium, certutil (libnss3-tools), and root for a private mount namespace (the policies live in "
           "/etc/chromium)")


def gps_jpeg(lat: float, lon: float, size=(640, 480)) -> bytes:
    """A photo as a phone writes it: EXIF with a GPS position (generated, so the test needs no corpus)."""
    from tests.rules.test_location import gps_ifd, jpeg_with_gps
    return jpeg_with_gps(gps_ifd(lat, lon), size=size)


def pixels(data: bytes) -> tuple:
    with Image.open(io.BytesIO(data)) as im:
        return im.size, im.mode, im.tobytes()


def pillow_gps(data: bytes) -> dict:
    """The position in the EXIF GPS block as Pillow reads it (latitude and longitude, their refs; the version tag
    that removal leaves is not a position)."""
    with Image.open(io.BytesIO(data)) as im:
        return {k: v for k, v in im.getexif().get_ifd(0x8825).items() if k in (1, 2, 3, 4)}


def site_certificate(folder: Path) -> tuple[Path, Path]:
    """The blog's own certificate (self-signed, for its name): what the proxy checks the upstream against."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SITE)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(SITE)]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "site.pem", folder / "site.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Staff room trips (test blog)</title></head>
<body><h1>New post</h1>
<form id="composer" method="post" action="/wp-admin/upload" enctype="multipart/form-data">
  <label>Caption <input id="caption" name="caption"></label>
  <label>Photo <input id="photo" name="photo" type="file" accept="image/*"></label>
  <button id="post" type="submit">Post</button>
</form>
<script>
  // The blog's own script uploads a photo in the background (no file input, no form): only the proxy sees it.
  async function uploadByScript(b64, name) {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const body = new FormData();
    body.append("file", new File([bytes], name, { type: "image/jpeg" }));
    const r = await fetch("/wp-json/wp/v2/media", { method: "POST", body });
    return r.status;
  }
</script></body></html>
"""


class Blog:
    """The in-scope site on loopback over HTTPS: the composer page, and every POST it receives (files by name)."""

    def __init__(self, cert: Path, key: Path):
        self.received: list[tuple[str, dict]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self._send(200, "text/html; charset=utf-8", PAGE)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                    b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + body)
                files = {part.get_filename(): part.get_payload(decode=True)
                         for part in msg.iter_parts() if part.get_filename()}
                outer.received.append((self.path, files))
                self._send(200, "text/html; charset=utf-8", b"<!doctype html><title>Posted</title><p>Posted.")

            def _send(self, status, kind, data):
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, path: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for got, files in self.received:
                if got == path:
                    return files
            time.sleep(0.1)
        raise AssertionError(f"the blog never received {path}; it received {[p for p, _ in self.received]}")

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def packed_extension(tmp_path: Path) -> tuple[str, Path, str]:
    """The extension packed as a school would host it (chromium --pack-extension): its id, the .crx, its version."""
    src = tmp_path / "postguard-ext"
    src.mkdir()
    for name in ("manifest.json", "managed-schema.json", "src", "bundle", "icons"):
        (shutil.copytree if (EXT / name).is_dir() else shutil.copyfile)(EXT / name, src / name)
    subprocess.run([str(CHROMIUM), "--no-sandbox", "--headless", "--disable-gpu", f"--pack-extension={src}"],
                   check=True, capture_output=True, timeout=120, cwd=tmp_path)
    version = json.loads((src / "manifest.json").read_text())["version"]
    return crx_id(tmp_path / "postguard-ext.pem"), tmp_path / "postguard-ext.crx", version


def update_server(folder: Path, ext_id: str, crx: Path, version: str):
    """The school's update URL on loopback: an update manifest and the .crx. Returns (server, its URL)."""
    folder.mkdir()
    shutil.copyfile(crx, folder / "postguard.crx")
    port = free_port()
    (folder / "updates.xml").write_text(
        "<?xml version='1.0' encoding='UTF-8'?>\n<gupdate xmlns='http://www.google.com/update2/response' "
        f"protocol='2.0'>\n  <app appid='{ext_id}'>\n    <updatecheck codebase='http://127.0.0.1:{port}/"
        f"postguard.crx' version='{version}' />\n  </app>\n</gupdate>\n")

    class Files(http.server.SimpleHTTPRequestHandler):
        extensions_map = {".crx": "application/x-chrome-extension", ".xml": "text/xml"}

        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(folder), **kw)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Files)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{port}/updates.xml"


def wait_for_line(proc: subprocess.Popen, needle: str, timeout: float = 60) -> str:
    """The first line of `proc`'s stdout holding `needle` (postguard run prints its ports once it listens)."""
    deadline, seen = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline()
            seen.append(line)
            if needle in line:
                return line
    raise AssertionError(f"postguard run did not start: {''.join(seen)}{proc.stderr.read() if proc.poll() else ''}")


@pytest.fixture
def laptop(tmp_path):
    """Everything up to the browser: the deployment's files in place, postguard run running, the CA trusted."""
    ext_id, crx, version = packed_extension(tmp_path)
    updates, update_url = update_server(tmp_path / "updates", ext_id, crx, version)
    blog = Blog(*site_certificate(tmp_path))

    # postguard deploy from the school's config: the ports every laptop uses, the school's update URL.
    service_port, proxy_port = free_port(), free_port()
    school = tmp_path / "school.toml"
    school.write_text(f'[school]\nname = "Test School"\n[deploy]\nextension_id = "{ext_id}"\n'
                      f'update_url = "{update_url}"\nservice_port = {service_port}\nproxy_port = {proxy_port}\n')
    out = tmp_path / "out"
    assert main(["deploy", "--config", str(school), "--out", str(out)]) == 0

    # The laptop's config is the deployed one with this test's data folder; the CA is the account's own (ca_dir
    # empty), since the shared /var/lib/postguard/ca is outside the staging.
    conf = tmp_path / "laptop.toml"
    conf.write_text(f'data_dir = "{tmp_path / "data"}"\n' + (out / "linux/config.toml").read_text()
                    .replace(f'ca_dir = "{deploy.LINUX.ca_dir}"', ""))
    config = load_config(conf)
    home = tmp_path / "home"  # the teacher's HOME: its NSS database is what Chromium trusts
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "POSTGUARD_CONFIG": str(conf)}
    assert subprocess.run([sys.executable, "-m", "local_service.cli", "ca"], env=env, capture_output=True,
                          timeout=60).returncode == 0  # the laptop's CA (postguard run would make it too)
    cert = config.data_dir / "mitmproxy" / "mitmproxy-ca-cert.pem"
    # The deployment's trust-nss (the unit's ExecStartPre), with this account's CA in place of the shared one.
    trust_nss = tmp_path / "trust-nss"
    trust_nss.write_text((out / "linux/trust-nss").read_text().replace(f"{deploy.LINUX.ca_dir}/", f"{cert.parent}/"))
    subprocess.run(["sh", str(trust_nss)], env=env, check=True, capture_output=True, timeout=60)

    # The staged folders the namespace mounts.
    etc = tmp_path / "etc-chromium"
    shutil.copytree("/etc/chromium", etc)
    (etc / "policies/managed").mkdir(parents=True)
    shutil.copyfile(out / "linux/policies/chromium/postguard.json", etc / "policies/managed/postguard.json")
    # Test only, never deployed: DevTools (Playwright's way in) is off for policy-installed extensions by default.
    (etc / "policies/managed/test-devtools.json").write_text('{"DeveloperToolsAvailability": 1}')
    (etc / "native-messaging-hosts").mkdir()
    shutil.copyfile(out / f"linux/native-messaging/{deploy.HOST_NAME}.json",
                    etc / f"native-messaging-hosts/{deploy.HOST_NAME}.json")
    opt = tmp_path / "opt"
    (opt / "postguard").mkdir(parents=True)
    host = opt / "postguard/native-host"  # the deployed host's place; the program is this checkout's
    host.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m local_service.cli native-host --config "{conf}" "$@"\n')
    host.chmod(0o755)
    hosts = tmp_path / "hosts"
    hosts.write_text(Path("/etc/hosts").read_text() + f"\n127.0.0.1 {SITE}\n")
    bundle = tmp_path / "ca-certificates.crt"  # as install.sh's update-ca-certificates leaves it
    bundle.write_text(Path("/etc/ssl/certs/ca-certificates.crt").read_text() + cert.read_text())
    import certifi
    upstream_cas = tmp_path / "certifi.pem"
    upstream_cas.write_text(Path(certifi.where()).read_text() + (tmp_path / "site.pem").read_text())
    mounts = [(etc, "/etc/chromium"), (opt, "/opt"), (hosts, "/etc/hosts"),
              (bundle, "/etc/ssl/certs/ca-certificates.crt"), (upstream_cas, certifi.where())]
    ns = tmp_path / "in-namespace"
    ns.write_text("#!/bin/sh\nexec unshare --mount --propagation private sh -c '"
                  + " && ".join(f'mount --bind "{src}" "{dst}"' for src, dst in mounts)
                  + " && exec \"$@\"' in-namespace \"$@\"\n")
    ns.chmod(0o755)
    chromium = tmp_path / "chromium"
    chromium.write_text(f'#!/bin/sh\nexec "{ns}" "{CHROMIUM}" "$@"\n')
    chromium.chmod(0o755)

    # postguard run as the deployed unit runs it: POSTGUARD_CONFIG, then the deployment's run arguments.
    run = subprocess.Popen([str(ns), sys.executable, "-m", "local_service.cli", "run", "--service-port",
                            str(service_port), "--proxy-port", str(proxy_port)], env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_line(run, "PostGuard proxy on")
        yield {"ext_id": ext_id, "chromium": chromium, "ns": ns, "env": env, "config": config, "blog": blog,
               "profile": tmp_path / "profile", "cert": cert, "run": run}
    finally:
        if run.poll() is None:
            run.send_signal(signal.SIGTERM)
            try:
                run.wait(20)
            except subprocess.TimeoutExpired:
                run.kill()
                run.wait(5)
        blog.stop()
        updates.shutdown()
        updates.server_close()


def launch(pw, lp):
    return pw.chromium.launch_persistent_context(
        str(lp["profile"]), executable_path=str(lp["chromium"]), headless=True, env=lp["env"],
        # Playwright's defaults switch off extensions and the background networking that installs them
        ignore_default_args=["--disable-extensions", "--disable-component-extensions-with-background-pages",
                             "--disable-background-networking", "--disable-component-update"],
        # The blog's name is on 127.0.0.1 for Chromium too: a DIRECT connection would reach the blog itself, and
        # fail on its certificate; only the PAC's proxy makes the page load.
        args=["--no-sandbox", "--disable-gpu", "--no-first-run", f"--host-resolver-rules=MAP {SITE} 127.0.0.1"])


def test_a_deployed_linux_laptop_cleans_a_gps_photo_and_says_it_is_in_order(laptop):
    from playwright.sync_api import sync_playwright

    from tests.extension.test_browser import find_dialog, focused

    lp, ext_id = laptop, laptop["ext_id"]
    blog = lp["blog"]
    photo, background = gps_jpeg(*SHEFFIELD), gps_jpeg(*WHITBY, size=(800, 600))
    assert media.inspect(photo).real_coordinates and pillow_gps(photo)  # the test photos carry GPS
    with sync_playwright() as pw:
        # First start of a fresh profile: the policy installs the extension from the update URL.
        context = launch(pw, lp)
        installed = lp["profile"] / "Default" / "Extensions" / ext_id
        deadline = time.monotonic() + 90
        while not any(installed.glob("*/manifest.json")) and time.monotonic() < deadline:
            time.sleep(0.5)
        context.close()
        assert any(installed.glob("*/manifest.json")), "not force-installed from the update URL"
        # The next start, as the teacher's next login.
        context = launch(pw, lp)
        try:
            worker = next((w for w in context.service_workers if ext_id in w.url), None) or \
                context.wait_for_event("serviceworker", predicate=lambda w: ext_id in w.url, timeout=30000)
            deadline, status = time.monotonic() + 60, {}
            while not status.get("reachable") and time.monotonic() < deadline:
                status = worker.evaluate("chrome.storage.local.get('status')").get("status") or {}
                time.sleep(0.5)
            assert status.get("reachable") and status.get("configured"), status  # connected, no token typed

            page = context.new_page()
            response = page.goto(f"https://{SITE}:{blog.port}/", wait_until="load")
            # The page came through PostGuard's proxy (the PAC), under a certificate its CA issued (NSS trusts it).
            issuer = response.security_details()["issuer"]
            assert issuer == ca_common_name(lp["cert"]), response.security_details()
            time.sleep(0.5)  # the content script's hello to the worker

            # The teacher picks the photo. At default settings (the default pack: location.gps is "sanitise") with
            # the extension connected, the product asks in the page before anything is sent: its dialog opens on
            # the pick, "Remove location" focused, and the post cannot go until it is answered (a submit while it
            # is open only focuses it). So the one click of this flow is the extension's own "Remove location"
            # (Enter on the focused button), as a teacher would; the proxy's own "sanitise" is what cleans the
            # upload the blog's script sends below with no click at all.
            page.set_input_files("#photo", files=[{"name": "IMG_0042.jpg", "mimeType": "image/jpeg",
                                                  "buffer": photo}])
            assert find_dialog(page, timeout=20) is not None, "no PostGuard dialog after picking a photo with GPS"
            assert focused(page) == ("button", "Remove location")
            page.keyboard.press("Enter")
            deadline = time.monotonic() + 20
            while page.evaluate("document.getElementById('photo').files[0]?.size") == len(photo) and \
                    time.monotonic() < deadline:
                time.sleep(0.1)  # the cleaned copy replaces the picked file
            page.fill("#caption", "Year 6 at the museum")
            page.click("#post")
            posted = blog.wait_for("/wp-admin/upload")
            # The blog's own script uploads another GPS photo in the background: no dialog, no click.
            page.goto(f"https://{SITE}:{blog.port}/", wait_until="load")  # the form's answer replaced the page
            sent = page.evaluate("([b64, name]) => uploadByScript(b64, name)",
                                 [base64.b64encode(background).decode(), "IMG_0043.jpg"])
            scripted = blog.wait_for("/wp-json/wp/v2/media")
        finally:
            context.close()
    assert sent == 200

    for original, got in ((photo, posted["IMG_0042.jpg"]), (background, scripted["IMG_0043.jpg"])):
        assert media.inspect(got).real_coordinates == [], "the blog received a photo with its location"
        assert pillow_gps(got) == {}, pillow_gps(got)
        assert pixels(got) == pixels(original), "removing the location changed the picture"

    # postguard status, as the teacher would run it (same config, same HOME), while PostGuard runs.
    result = subprocess.run([str(lp["ns"]), sys.executable, "-m", "local_service.cli", "status"], env=lp["env"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    setup = result.stdout.split("this laptop's setup (postguard deploy):\n", 1)[1].splitlines()
    wanted = ["proxy certificate", "CA trusted by the system", "CA trusted by NSS (Chromium and Chrome on Linux)",
              "chromium: PAC in effect by policy", "chromium: extension installed by policy",
              "chromium: native host registered", "service running", "extension connected to the service"]
    lines = {what: line.strip() for what in [*wanted, "enrolled with a trust server"] for line in setup
             if line.strip().startswith(f"{what}: ")}
    for what in wanted:
        assert lines.get(what, "").startswith(f"{what}: yes ("), (what, result.stdout)
    assert lines["enrolled with a trust server"].startswith("enrolled with a trust server: not needed ("), \
        result.stdout
    assert not [ln for ln in setup if ": NO " in ln or ": cannot tell " in ln], result.stdout

    # The record: the extension's removal, then the proxy's, each once.
    lp["run"].send_signal(signal.SIGTERM)
    lp["run"].wait(30)
    # PostGuard stopped: the same laptop is no longer in order, and status says so in its exit too
    stopped = subprocess.run([str(lp["ns"]), sys.executable, "-m", "local_service.cli", "status"], env=lp["env"],
                             capture_output=True, text=True, timeout=120)
    assert stopped.returncode == 1 and "  service running: NO (" in stopped.stdout, stopped.stdout + stopped.stderr
    store = open_store(lp["config"])
    try:
        logged = [(e["rule"], e["decision"], e["source"]) for e in store.iter_all()]
    finally:
        store.close()
    assert logged.count(("location.gps", "sanitised", "extension")) == 1, logged
    assert logged.count(("location.gps", "sanitised", "proxy")) == 1, logged


def ca_common_name(cert: Path) -> str:
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    subject = x509.load_pem_x509_certificate(cert.read_bytes()).subject
    return subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
