"""Acceptance (issue 17, one CA per trust): real Chromium whose trust store holds only the trust's root (an NSS
database under a fresh HOME, as MDM would install it) browses through the real proxy, which signs with the
intermediate a laptop was issued at enrolment by the trust server. An in-scope host loads; an out-of-scope host,
which the proxy is made to intercept here (by default PostGuard passes it through untouched), is refused by Chromium
with a certificate error: the intermediate's name constraints hold even if a laptop's key is misused."""
from __future__ import annotations

import os
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from local_service import trust_ca
from tests.local_service.test_trust_ca_proxy import leaf_through, start_proxy
from tests.local_service.test_trust_ca_wiring import server  # noqa: F401  (the fixture)
from tests.local_service.test_trust_server import Laptop
from tests.proxy_addon.conftest import Upstream

CHROMIUM = Path("/usr/bin/chromium")
IN_SCOPE, OUT_OF_SCOPE = "www.facebook.com", "www.example-bank.co.uk"

MISSING = [what for what, there in (("chromium", CHROMIUM.exists()), ("libnss3-tools", shutil.which("certutil")))
           if not there]
if MISSING and os.environ.get("CI"):  # make test installs both (TEST_APT_PACKAGES): a skip there would hide a gap
    raise RuntimeError(f"the acceptance test needs {', '.join(MISSING)}, which make test installs")
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"not installed: {', '.join(MISSING)} (apt-get install)")


def nss_trusting_only(home: Path, root_pem: bytes) -> None:
    """A new NSS database in HOME (Chromium's on Linux) with the trust's root as its one added anchor."""
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True)
    (home / "root.pem").write_bytes(root_pem)
    subprocess.run(["certutil", "-N", "-d", f"sql:{db}", "--empty-password"], check=True, capture_output=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{db}", "-t", "C,,", "-n", "trust", "-i", str(home / "root.pem")],
                   check=True, capture_output=True)
    listed = subprocess.run(["certutil", "-L", "-d", f"sql:{db}"], check=True, capture_output=True, text=True)
    assert [line.split()[0] for line in listed.stdout.splitlines()[4:] if line.strip()] == ["trust"]


def test_chromium_trusting_only_the_root_accepts_scope_and_refuses_the_rest(server, tmp_path):  # noqa: F811
    from playwright.sync_api import Error, sync_playwright

    app, svc, net = server
    laptop = Laptop(tmp_path, "laptop", net)
    laptop.enrol()
    root = trust_ca.load_root(svc.config.data_dir)[1]
    home = tmp_path / "home"
    nss_trusting_only(home, root)
    upstream = Upstream(tmp_path)
    # scope "all": the out-of-scope host is intercepted too, so the proxy signs a leaf for it with the intermediate
    proxy = start_proxy(tmp_path, trust_ca.laptop_ca(laptop.config.data_dir), upstream.port, scope="all")
    env = {k: v for k, v in os.environ.items() if k not in ("SSLKEYLOGFILE",)} | {"HOME": str(home)}
    try:
        # The same leaves, checked by OpenSSL first: the out-of-scope one breaks the permitted subtrees.
        assert leaf_through(proxy.port, IN_SCOPE, root)
        with pytest.raises(ssl.SSLCertVerificationError, match="permitted subtree violation"):
            leaf_through(proxy.port, OUT_OF_SCOPE, root)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, env=env,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                      "--disable-component-update", "--no-first-run",
                      f"--proxy-server=http://127.0.0.1:{proxy.port}", "--proxy-bypass-list=<-loopback>",
                      f"--host-resolver-rules=MAP {IN_SCOPE} 127.0.0.1, MAP {OUT_OF_SCOPE} 127.0.0.1"])
            try:
                page = browser.new_page()
                response = page.goto(f"https://{IN_SCOPE}/feed", timeout=20000)
                loaded = (response.status, page.content())
                with pytest.raises(Error) as refused:
                    page.goto(f"https://{OUT_OF_SCOPE}/login", timeout=20000)
            finally:
                browser.close()
    finally:
        proxy.stop()
        proxy.store.close()
        upstream.stop()
    assert loaded[0] == 200 and '{"ok":true}' in loaded[1]
    assert ("GET", "/feed") in [(m, p) for m, p, _, _ in upstream.received]
    # Chromium's word for a chain that breaks a name constraint (not ERR_CERT_AUTHORITY_INVALID: the root is
    # trusted, as the in-scope load shows)
    assert "net::ERR_CERT_INVALID" in str(refused.value), refused.value
    assert ("GET", "/login") not in [(m, p) for m, p, _, _ in upstream.received]  # nothing reached the "bank"
