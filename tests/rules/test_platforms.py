"""Scope: only the sites where staff post go through the proxy; the rest is DIRECT and never decrypted."""
import json
import re
import subprocess
import shutil
from pathlib import Path

import pytest

from rules import load_pack
from rules.platforms import host_regexes, in_scope, pac


def test_registry_covers_the_kinds_of_site_the_policies_name():
    hosts = load_pack("default").hosts
    for host in ("www.facebook.com", "upload.twitter.com", "en.m.wikipedia.org", "www.wikidata.org",
                 "commons.wikimedia.org", "myblog.wordpress.com", "www.youtube.com", "mail.google.com"):
        assert in_scope(host, hosts), host
    for host in ("www.barclays.co.uk", "www.nhs.uk", "classroom.google.com", "evilfacebook.com"):
        assert not in_scope(host, hosts), host


@pytest.mark.parametrize("host", ["idmsa.apple.com", "starwars.wikia.org", "www.wikifunctions.org"])
def test_apples_sign_in_widget_and_the_fandom_and_wikifunctions_wikis_are_in_scope(host):
    """Issue 18: in the proxy's scope (the default pack's hosts) and in the extension's generated manifest."""
    assert in_scope(host, load_pack("default").hosts)
    manifest = json.loads((Path(__file__).parents[2] / "extension" / "manifest.json").read_text())
    domain = ".".join(host.split(".")[-3 if host.startswith("idmsa") else -2:])
    assert f"https://*.{domain}/*" in manifest["host_permissions"]
    assert f"https://*.{domain}/*" in manifest["content_scripts"][0]["matches"]


def test_pack_scope_include_and_exclude(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('[pack]\nid="p"\nname="P"\nextends="default"\n[scope]\ninclude=["forum.example.org"]\n'
                    'exclude=["linkedin.com"]\n')
    hosts = load_pack(str(path)).hosts
    assert in_scope("forum.example.org", hosts) and not in_scope("www.linkedin.com", hosts)


def test_allow_hosts_patterns_match_host_and_port():
    patterns = [re.compile(p) for p in host_regexes(["facebook.com"])]
    assert any(p.match("www.facebook.com:443") for p in patterns)
    assert not any(p.match("notfacebook.com:443") for p in patterns)


def test_pac_sends_out_of_scope_hosts_direct():
    node = shutil.which("node")
    if not node:
        pytest.skip("node not installed")
    script = pac(["facebook.com", "wikipedia.org"], "127.0.0.1:8766") + """
function dnsDomainIs(host, domain) { return host.length >= domain.length &&
  host.substring(host.length - domain.length) === domain; }
const cases = {"www.facebook.com": "PROXY 127.0.0.1:8766", "facebook.com": "PROXY 127.0.0.1:8766",
  "en.wikipedia.org": "PROXY 127.0.0.1:8766", "www.barclays.co.uk": "DIRECT", "evilfacebook.com": "DIRECT"};
for (const [host, want] of Object.entries(cases)) {
  const got = FindProxyForURL("https://" + host + "/", host);
  if (got !== want) { console.error(host, got); process.exit(1); }
}
"""
    result = subprocess.run([node, "-e", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
