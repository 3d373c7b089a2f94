"""postguard deploy: every artefact parses, names Chrome's, Edge's and Firefox's published policies with their value
types, and the Linux install and uninstall scripts put every file in place and take every one away again."""
from __future__ import annotations

import base64
import datetime as dt
import json
import os
import plistlib
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from local_service import deploy
from local_service.about import version
from local_service.cli import main
from rules import load_config

ROOT = Path(__file__).resolve().parents[2]
EXT_ID = "abcdefghijklmnopabcdefghijklmnop"

# Chrome's and Edge's policies PostGuard sets, with the value type each has in Chrome's policy templates
# (components/policy/resources/templates/policy_definitions: ExtensionInstallForcelist list, ProxySettings dict,
# NativeMessagingAllowlist list) and Edge's published list (the same names and types).
CHROME_POLICY_TYPES = {"ExtensionInstallForcelist": list, "ProxySettings": dict, "NativeMessagingAllowlist": list}
PROXY_SETTINGS_KEYS = {"ProxyMode": str, "ProxyPacUrl": str, "ProxyPacMandatory": bool, "ProxyServer": str,
                       "ProxyBypassList": str, "ProxyServerMode": int}
PROXY_MODES = {"direct", "auto_detect", "pac_script", "fixed_servers", "system"}

# The part of Firefox's policy schema (mozilla/policy-templates, policies-schema.json, JSON Schema draft 7) for the
# policies PostGuard sets, written out here with additionalProperties false, so a misspelt key fails.
_STRINGS = {"type": "array", "items": {"type": "string"}}
FIREFOX_SCHEMA = {
    "type": "object", "required": ["policies"], "additionalProperties": False,
    "properties": {"policies": {"type": "object", "additionalProperties": False, "properties": {
        "3rdparty": {"type": "object", "additionalProperties": False, "properties": {
            "Extensions": {"type": "object", "patternProperties": {"^.*$": {"type": ["object", "array"]}}}}},
        "Certificates": {"type": "object", "additionalProperties": False, "properties": {
            "ImportEnterpriseRoots": {"type": "boolean"}, "Install": _STRINGS}},
        "Proxy": {"type": "object", "additionalProperties": False, "properties": {
            "Mode": {"type": "string", "enum": ["none", "system", "manual", "autoDetect", "autoConfig"]},
            "Locked": {"type": "boolean"}, "AutoConfigURL": {"type": "string", "format": "uri"},
            "Passthrough": {"type": "string"}}},
        "ExtensionSettings": {"type": "object", "patternProperties": {"^(?!\\*$).*$": {
            "type": "object", "additionalProperties": False, "properties": {
                "installation_mode": {"type": "string",
                                      "enum": ["allowed", "blocked", "force_installed", "normal_installed"]},
                "install_url": {"type": "string"}, "updates_disabled": {"type": "boolean"},
                "private_browsing": {"type": "boolean"}}}}},
    }}}}


def _root_cert(path: Path) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Trust Root")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert.public_bytes(serialization.Encoding.DER)


def _school(tmp_path: Path, extra: str = "", root: bool = False) -> Path:
    conf = tmp_path / "school.toml"
    deploy_table = f'[deploy]\nextension_id = "{EXT_ID}"\nservice_port = 9123\nproxy_port = 9124\n'
    if root:
        deploy_table += 'ca_cert = "root.pem"\n'
    conf.write_text('[school]\nname = "St Mary of the Angels"\npack = "st-mary-of-the-angels"\n\n'
                    + deploy_table + extra)
    return conf


@pytest.fixture
def built(tmp_path):
    der = _root_cert(tmp_path / "root.pem")
    conf = _school(tmp_path, extra='firefox_install_url = "https://example.org/postguard.xpi"\n', root=True)
    out = tmp_path / "out"
    assert main(["deploy", "--config", str(conf), "--out", str(out)]) == 0
    return out, der


def test_every_platform_has_its_readme_and_artefacts(built):
    out, _ = built
    for rel in ("README.md", "windows/README.md", "macos/README.md", "linux/README.md", "windows/policies.reg",
                "windows/admx/postguard.admx", "windows/intune/install.ps1", "windows/intune/uninstall.ps1",
                "windows/intune/detect.ps1", "windows/intune/firefox/policies.json", "macos/postguard.mobileconfig",
                f"macos/{deploy.AGENT_LABEL}.plist", "macos/build-pkg.sh", "linux/postguard.service",
                "linux/policies/chrome/postguard.json", "linux/policies/firefox/policies.json"):
        assert (out / rel).is_file(), rel
    leftover = [p for p in out.rglob("*") if p.is_file() and "@@{" in p.read_bytes().decode("utf-8", "replace")]
    assert not leftover


def test_chrome_linux_policies_use_published_names_and_types(built):
    out, _ = built
    for browser in ("chrome", "chromium", "edge"):
        doc = json.loads((out / f"linux/policies/{browser}/postguard.json").read_text())
        assert set(doc) == {*CHROME_POLICY_TYPES, "3rdparty"}
        for name, kind in CHROME_POLICY_TYPES.items():
            assert isinstance(doc[name], kind), name
        assert doc["ExtensionInstallForcelist"] == [f"{EXT_ID};https://clients2.google.com/service/update2/crx"]
        proxy = doc["ProxySettings"]
        assert set(proxy) <= set(PROXY_SETTINGS_KEYS)
        assert all(isinstance(proxy[k], PROXY_SETTINGS_KEYS[k]) for k in proxy)
        assert proxy["ProxyMode"] in PROXY_MODES and proxy["ProxyMode"] == "pac_script"
        assert proxy["ProxyPacUrl"] == "http://127.0.0.1:9123/proxy.pac"
        settings = doc["3rdparty"]["extensions"][EXT_ID]
        assert settings == {"serviceUrl": "http://127.0.0.1:9123", "pack": "st-mary-of-the-angels"}


def test_extension_settings_are_in_the_managed_schema(built):
    out, _ = built
    schema = json.loads((ROOT / "extension" / "managed-schema.json").read_text())
    doc = json.loads((out / "linux/policies/chrome/postguard.json").read_text())
    for key, value in doc["3rdparty"]["extensions"][EXT_ID].items():
        assert key in schema["properties"]
        assert schema["properties"][key]["type"] == "string" and isinstance(value, str)
    assert "token" not in doc["3rdparty"]["extensions"][EXT_ID]  # the native host gives it


def test_firefox_policies_validate_against_firefox_schema(built):
    out, _ = built
    gecko = json.loads((ROOT / "extension" / "manifest.json").read_text())["browser_specific_settings"]["gecko"]["id"]
    assert gecko == deploy.FIREFOX_ID
    for rel in ("linux/policies/firefox/policies.json", "windows/intune/firefox/policies.json"):
        doc = json.loads((out / rel).read_text())
        jsonschema.validate(doc, FIREFOX_SCHEMA)
        p = doc["policies"]
        assert p["Proxy"] == {"Mode": "autoConfig", "AutoConfigURL": "http://127.0.0.1:9123/proxy.pac", "Locked": True}
        assert p["ExtensionSettings"][gecko] == {"installation_mode": "force_installed",
                                                 "install_url": "https://example.org/postguard.xpi"}
    linux = json.loads((out / "linux/policies/firefox/policies.json").read_text())["policies"]
    assert linux["Certificates"] == {"Install": [deploy.LINUX.cert]}  # Linux has no enterprise roots to import
    windows = json.loads((out / "windows/intune/firefox/policies.json").read_text())["policies"]
    assert windows["Certificates"] == {"ImportEnterpriseRoots": True}


def test_firefox_schema_catches_a_misspelt_policy():
    bad = {"policies": {"Proxy": {"Mode": "autoconfig", "AutoConfigURL": "http://127.0.0.1:1/proxy.pac"}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, FIREFOX_SCHEMA)


def test_no_firefox_install_url_no_forced_extension(tmp_path):
    out = tmp_path / "out"
    assert main(["deploy", "--config", str(_school(tmp_path)), "--out", str(out)]) == 0
    doc = json.loads((out / "linux/policies/firefox/policies.json").read_text())
    jsonschema.validate(doc, FIREFOX_SCHEMA)
    assert "ExtensionSettings" not in doc["policies"]
    assert not (out / "linux/postguard-root.pem").exists()


def _reg_lines(raw: bytes) -> list[str]:
    assert raw[:2] == b"\xff\xfe", "a .reg file is UTF-16LE with a BOM"
    text = raw[2:].decode("utf-16-le")
    assert "\n" not in text.replace("\r\n", "")  # CRLF line ends only
    lines = text.split("\r\n")
    assert lines[0] == "Windows Registry Editor Version 5.00"
    return lines


REG_KEY = re.compile(r"^\[(-?)HKEY_LOCAL_MACHINE\\(SOFTWARE\\[^\]]+)\]$")
REG_VALUE = re.compile(r'^(@|"(?:[^"\\]|\\.)*")=(-|"((?:[^"\\]|\\.)*)")$')


def _reg_parse(raw: bytes) -> dict:
    """{(key, deleted): {value name: value or None when deleted}} from a .reg file, checking every line's form."""
    keys, current = {}, None
    for line in _reg_lines(raw)[1:]:
        if not line:
            continue
        m = REG_KEY.match(line)
        if m:
            current = (m.group(2), m.group(1) == "-")
            keys.setdefault(current, {})
            continue
        v = REG_VALUE.match(line)
        assert v and current and not current[1], f"not a .reg line: {line!r}"
        name = v.group(1) if v.group(1) == "@" else re.sub(r"\\(.)", r"\1", v.group(1)[1:-1])
        keys[current][name] = None if v.group(2) == "-" else re.sub(r"\\(.)", r"\1", v.group(3))
    return keys


def test_reg_sets_chrome_and_edge_policies_and_the_native_host(built):
    out, _ = built
    keys = _reg_parse((out / "windows/policies.reg").read_bytes())
    for root in (r"SOFTWARE\Policies\Google\Chrome", r"SOFTWARE\Policies\Microsoft\Edge"):
        assert keys[(root + r"\ExtensionInstallForcelist", False)] == {
            "1": f"{EXT_ID};https://clients2.google.com/service/update2/crx"}
        assert keys[(root + r"\NativeMessagingAllowlist", False)] == {"1": deploy.HOST_NAME}
        proxy = json.loads(keys[(root, False)]["ProxySettings"])  # a dict policy is a JSON string in the registry
        assert proxy["ProxyMode"] == "pac_script" and proxy["ProxyPacUrl"] == "http://127.0.0.1:9123/proxy.pac"
        assert keys[(root + rf"\3rdparty\extensions\{EXT_ID}\policy", False)]["serviceUrl"] == "http://127.0.0.1:9123"
    for host_key in deploy.WIN_HOST_KEYS.values():
        manifest = keys[(host_key + "\\" + deploy.HOST_NAME, False)]["@"]
        assert manifest.startswith(deploy.WINDOWS.bundle + "\\native-messaging\\")
    assert (out / "windows/intune/native-messaging" / manifest.rsplit("\\", 1)[1]).is_file()


def test_reg_remove_takes_away_every_key_it_set(built):
    out, _ = built
    added = _reg_parse((out / "windows/policies.reg").read_bytes())
    removed = _reg_parse((out / "windows/policies-remove.reg").read_bytes())
    deleted = {k for k, gone in removed if gone}
    for (key, _), values in added.items():
        if key in deploy.WIN_POLICY_KEYS.values():  # the browsers' policy key holds others' values too
            assert removed[(key, False)] == {name: None for name in values}
        else:
            assert any(key == d or key.startswith(d + "\\") for d in deleted), key


def test_admx_and_adml_parse_and_every_reference_resolves(built):
    out, _ = built
    ns = {"p": "http://schemas.microsoft.com/GroupPolicy/2006/07/PolicyDefinitions"}
    admx = ET.parse(out / "windows/admx/postguard.admx").getroot()
    adml = ET.parse(out / "windows/admx/en-US/postguard.adml").getroot()
    strings = {s.get("id") for s in adml.iterfind(".//p:stringTable/p:string", ns)}
    presentations = {p.get("id"): p for p in adml.iterfind(".//p:presentationTable/p:presentation", ns)}
    refs = re.findall(r"\$\(string\.([^)]+)\)", (out / "windows/admx/postguard.admx").read_text())
    assert refs and set(refs) <= strings
    categories = {c.get("name") for c in admx.iterfind(".//p:categories/p:category", ns)}
    supported = {d.get("name") for d in admx.iterfind(".//p:supportedOn/p:definitions/p:definition", ns)}
    policies = list(admx.iterfind(".//p:policies/p:policy", ns))
    assert len(policies) == 8
    for policy in policies:
        assert policy.find("p:parentCategory", ns).get("ref") in categories
        assert policy.find("p:supportedOn", ns).get("ref") in supported
        assert policy.get("key").startswith("SOFTWARE\\Policies\\")
        pres = policy.get("presentation")
        if pres:
            ids = {e.get("id") for e in policy.find("p:elements", ns)}
            boxes = {b.get("refId") for b in presentations[re.match(r"\$\(presentation\.(.+)\)", pres).group(1)]}
            assert ids == boxes
        else:
            assert policy.find("p:enabledValue/p:string", ns).text


def test_mobileconfig_is_a_profile_with_the_right_payloads(built):
    out, der = built
    profile = plistlib.loads((out / "macos/postguard.mobileconfig").read_bytes())
    assert profile["PayloadType"] == "Configuration" and profile["PayloadScope"] == "System"
    payloads = {p["PayloadType"]: p for p in profile["PayloadContent"]}
    assert set(payloads) == {"com.apple.security.root", "com.google.Chrome", "com.microsoft.Edge",
                             f"com.google.Chrome.extensions.{EXT_ID}", f"com.microsoft.Edge.extensions.{EXT_ID}",
                             "org.mozilla.firefox", "com.apple.servicemanagement"}
    uuids = [profile["PayloadUUID"], *(p["PayloadUUID"] for p in profile["PayloadContent"])]
    assert len(set(uuids)) == len(uuids)
    for p in profile["PayloadContent"]:
        assert {"PayloadIdentifier", "PayloadUUID", "PayloadVersion", "PayloadDisplayName"} <= set(p)
    assert payloads["com.apple.security.root"]["PayloadContent"] == der
    chrome = payloads["com.google.Chrome"]
    for name, kind in CHROME_POLICY_TYPES.items():
        assert isinstance(chrome[name], kind)
    assert chrome["ProxySettings"]["ProxyPacUrl"] == "http://127.0.0.1:9123/proxy.pac"
    assert payloads[f"com.google.Chrome.extensions.{EXT_ID}"]["serviceUrl"] == "http://127.0.0.1:9123"
    firefox = payloads["org.mozilla.firefox"]
    assert firefox["EnterprisePoliciesEnabled"] is True
    jsonschema.validate({"policies": {k: v for k, v in firefox.items()
                                      if not k.startswith("Payload") and k != "EnterprisePoliciesEnabled"}},
                        FIREFOX_SCHEMA)
    rule = payloads["com.apple.servicemanagement"]["Rules"][0]
    agent = plistlib.loads((out / f"macos/{deploy.AGENT_LABEL}.plist").read_bytes())
    assert rule["RuleType"] == "Label" and rule["RuleValue"] == agent["Label"] == deploy.AGENT_LABEL
    assert agent["ProgramArguments"] == [deploy.MACOS.binary, "run", "--service-port", "9123", "--proxy-port", "9124"]
    assert agent["EnvironmentVariables"]["POSTGUARD_CONFIG"] == deploy.MACOS.config and agent["RunAtLoad"]


def test_profile_without_a_root_has_no_root_payload(tmp_path):
    out = tmp_path / "out"
    assert main(["deploy", "--config", str(_school(tmp_path)), "--out", str(out)]) == 0
    profile = plistlib.loads((out / "macos/postguard.mobileconfig").read_bytes())
    assert "com.apple.security.root" not in {p["PayloadType"] for p in profile["PayloadContent"]}


def test_native_hosts_are_for_the_extension_only(built):
    out, _ = built
    for plat in ("linux", "macos", "windows/intune"):
        chrome = json.loads((out / plat / "native-messaging" / f"{deploy.HOST_NAME}.json").read_text())
        firefox = json.loads((out / plat / "native-messaging" / f"{deploy.HOST_NAME}.firefox.json").read_text())
        assert re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)*", chrome["name"])
        assert chrome["type"] == firefox["type"] == "stdio"
        assert chrome["allowed_origins"] == [f"chrome-extension://{EXT_ID}/"] and "allowed_extensions" not in chrome
        assert firefox["allowed_extensions"] == [deploy.FIREFOX_ID] and "allowed_origins" not in firefox
    assert json.loads((out / "linux/native-messaging" / f"{deploy.HOST_NAME}.json").read_text())["path"] == \
        deploy.LINUX.native_host


def test_machine_configs_load_with_the_shared_ca(built, tmp_path):
    out, _ = built
    for plat, place in (("linux", deploy.LINUX), ("macos", deploy.MACOS), ("windows/intune", deploy.WINDOWS)):
        config = load_config(out / plat / "config.toml")
        assert config.deploy.ca_dir == place.ca_dir
        assert config.deploy.extension_id == EXT_ID and config.school.name == "St Mary of the Angels"


@pytest.mark.parametrize("source", ["", '[deploy]\nca_dir = "/old"\nextension_id = "' + EXT_ID + '"\n[proxy]\n'
                                        'inspection_budget_s = 4.0\n'])
def test_machine_config_sets_ca_dir_once(tmp_path, source):
    conf = tmp_path / "c.toml"
    conf.write_text(source)
    dep = deploy.Deployment.__new__(deploy.Deployment)
    dep.config = load_config(conf)
    text = dep.machine_config(deploy.LINUX)
    (tmp_path / "m.toml").write_text(text)
    config = load_config(tmp_path / "m.toml")  # a duplicate key would not parse
    assert config.deploy.ca_dir == deploy.LINUX.ca_dir
    if source:
        assert config.proxy.inspection_budget_s == 4.0


def test_deploy_needs_the_extension_id(tmp_path, capsys):
    conf = tmp_path / "school.toml"
    conf.write_text('[school]\nname = "X"\n')
    assert main(["deploy", "--config", str(conf), "--out", str(tmp_path / "o")]) == 2
    assert "deploy.extension_id" in capsys.readouterr().err


def test_a_bad_extension_id_is_refused_by_the_config(tmp_path, capsys):
    conf = tmp_path / "school.toml"
    conf.write_text('[deploy]\nextension_id = "not-an-id"\n')
    assert main(["deploy", "--config", str(conf), "--out", str(tmp_path / "o")]) == 2
    assert "deploy.extension_id" in capsys.readouterr().err


def test_deploy_refuses_a_folder_that_is_not_empty(tmp_path, capsys):
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "keep.txt").write_text("x")
    assert main(["deploy", "--config", str(_school(tmp_path)), "--out", str(tmp_path / "o")]) == 2
    assert (tmp_path / "o" / "keep.txt").read_text() == "x"


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_systemd_unit_verifies(built, tmp_path):
    out, _ = built
    prefix = tmp_path / "opt"
    prefix.mkdir()
    for name in ("postguard", "trust-nss"):
        (prefix / name).write_text("#!/bin/sh\n")
        (prefix / name).chmod(0o755)
    unit = (out / "linux/postguard.service").read_text()
    assert f"ExecStart={deploy.LINUX.binary} run --service-port 9123 --proxy-port 9124" in unit
    # systemd-analyze checks that the programs exist: point the unit at stand-ins; nothing else changes.
    (tmp_path / "postguard.service").write_text(unit.replace(deploy.LINUX.bundle, str(prefix)))
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    r = subprocess.run(["systemd-analyze", "verify", "--user", str(tmp_path / "postguard.service")],
                       capture_output=True, text=True, env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)})
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr


def test_shell_scripts_parse(built):
    out, _ = built
    scripts = ["linux/install.sh", "linux/uninstall.sh", "linux/trust-nss", "linux/native-host",
               "macos/build-pkg.sh", "macos/uninstall.sh", "macos/scripts/postinstall", "macos/native-host"]
    for rel in scripts:
        assert os.access(out / rel, os.X_OK), rel
        r = subprocess.run(["sh", "-n", str(out / rel)], capture_output=True, text=True)
        assert r.returncode == 0, (rel, r.stderr)


def test_powershell_scripts_name_the_places_and_use_crlf(built):
    out, _ = built
    for name in ("install.ps1", "uninstall.ps1", "detect.ps1"):
        raw = (out / "windows/intune" / name).read_bytes()
        assert b"\n" not in raw.replace(b"\r\n", b"")
        text = raw.decode()
        assert deploy.WINDOWS.bundle in text and deploy.WINDOWS.ca_dir in text
        if shutil.which("pwsh"):
            r = subprocess.run(["pwsh", "-NoProfile", "-Command",
                                f"$null = [ScriptBlock]::Create((Get-Content -Raw '{out / 'windows/intune' / name}'))"],
                               capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
    assert "Cert:\\LocalMachine\\Root" in (out / "windows/intune/install.ps1").read_text()
    assert f"'postguard {version()}'" in (out / "windows/intune/detect.ps1").read_text()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="install.sh runs as root")
def test_linux_install_then_uninstall_leaves_nothing(built, tmp_path):
    out, _ = built
    bundle = out / "linux" / "postguard"
    bundle.mkdir()
    (bundle / "postguard").write_text("#!/bin/sh\necho postguard 0.1.0\n")
    (bundle / "postguard").chmod(0o755)
    staging = tmp_path / "root"
    staging.mkdir()
    env = {**os.environ, "POSTGUARD_ROOT": str(staging)}
    r = subprocess.run(["sh", str(out / "linux/install.sh")], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    for path in ("/opt/postguard/postguard", "/opt/postguard/native-host", "/etc/postguard/config.toml",
                 "/etc/opt/chrome/policies/managed/postguard.json", "/etc/chromium/policies/managed/postguard.json",
                 "/etc/firefox/policies/policies.json",
                 f"/etc/opt/chrome/native-messaging-hosts/{deploy.HOST_NAME}.json",
                 f"/usr/lib/mozilla/native-messaging-hosts/{deploy.HOST_NAME}.json",
                 "/etc/systemd/user/postguard.service"):
        assert (staging / path.lstrip("/")).is_file(), path
    r = subprocess.run(["sh", str(out / "linux/uninstall.sh")], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    left = [p for p in staging.rglob("*") if p.is_file()]
    assert not left
