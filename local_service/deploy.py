"""`postguard deploy --config school.toml --out DIR`: everything a school's IT needs to put PostGuard on every laptop,
made from the school's config, with a README per platform.

    windows/  Chrome and Edge policies (.reg, and a PostGuard ADMX/ADML), the native messaging host, Firefox's
              policies.json, an Intune Win32-app script set (install, uninstall, detection)
    macos/    a .mobileconfig (root CA, Chrome/Edge managed preferences with the PAC, the extension's settings,
              Firefox, the managed login item), the LaunchAgent, the pkg's scripts and build-pkg.sh
    linux/    the systemd user unit, Chrome/Chromium/Edge/Firefox policy files for their system folders, the native
              host manifests, install.sh and uninstall.sh (system store and NSS)

The structured files (JSON, plist, .reg, ADMX) are built here as data; the scripts and READMEs are templates in
deploy_templates/ with @@{name} fields (PowerShell and sh use $ themselves). Every policy name is Chrome's, Edge's or
Firefox's published one; tests/local_service/test_deploy.py parses every file and checks names and value types.
"""
from __future__ import annotations

import base64
import json
import plistlib
import re
import shutil
import string
import uuid
from importlib import resources
from pathlib import Path
from xml.sax.saxutils import escape

from rules import load_config, load_pack
from rules.config import Config

from .about import version
from .commands import UsageError
from .deploy_places import (AGENT_LABEL, FIREFOX_ID, HOST_NAME, LINUX, LINUX_FIREFOX_POLICIES,  # noqa: F401
                            LINUX_HOST_DIRS, LINUX_POLICY_DIRS, MAC_HOST_DIRS, MACOS, PROFILE_ID, UUID_NS,
                            WIN_HOST_KEYS, WIN_POLICY_KEYS, WINDOWS, Place)  # (re-exported: the tests name them here)

class Deployment:
    """What the school's config says every laptop gets; each method is one artefact's content."""

    def __init__(self, config: Config, version: str):
        d = config.deploy
        if not d.extension_id:
            raise UsageError(f"{config.path or 'config'}: deploy.extension_id: postguard deploy needs the extension's "
                             "id (the Chrome Web Store's, or of the school's own packed .crx)")
        self.config, self.version = config, version
        self.extension_id, self.update_url = d.extension_id, d.update_url
        self.service_url = f"http://127.0.0.1:{d.service_port}"
        self.pac_url = f"{self.service_url}/proxy.pac"
        self.run_args = ["run", "--service-port", str(d.service_port), "--proxy-port", str(d.proxy_port)]
        self.pack = load_pack(config.school.pack or "default").id
        self.root_pem = self._root_pem(config)

    @staticmethod
    def _root_pem(config: Config) -> str | None:
        if not config.deploy.ca_cert:
            return None
        base = config.path.parent if config.path else Path.cwd()
        path = base / Path(config.deploy.ca_cert).expanduser()
        try:
            text = path.read_text()
        except (OSError, UnicodeError) as exc:
            raise UsageError(f"{config.path or 'config'}: deploy.ca_cert: cannot read {path}: {exc}") from None
        if "-----BEGIN CERTIFICATE-----" not in text:
            raise UsageError(f"{config.path or 'config'}: deploy.ca_cert: {path} is not a PEM certificate")
        return text

    # -- Chrome and Edge ------------------------------------------------------------------------------------------

    def chrome_policies(self) -> dict:
        """Chrome's and Edge's machine policies (the same names in both)."""
        return {
            "ExtensionInstallForcelist": [f"{self.extension_id};{self.update_url}"],
            "ProxySettings": {"ProxyMode": "pac_script", "ProxyPacUrl": self.pac_url, "ProxyPacMandatory": False},
            "NativeMessagingAllowlist": [HOST_NAME],
        }

    def extension_settings(self) -> dict:
        """The extension's managed settings (extension/managed-schema.json). No token: the native host gives it."""
        return {"serviceUrl": self.service_url, "pack": self.pack}

    def linux_chrome_json(self) -> dict:
        return {**self.chrome_policies(),
                "3rdparty": {"extensions": {self.extension_id: self.extension_settings()}}}

    def native_host_manifest(self, path: str, firefox: bool = False) -> dict:
        manifest = {"name": HOST_NAME, "description": "PostGuard: the local service's address and token",
                    "path": path, "type": "stdio"}
        if firefox:
            manifest["allowed_extensions"] = [FIREFOX_ID]
        else:
            manifest["allowed_origins"] = [f"chrome-extension://{self.extension_id}/"]
        return manifest

    # -- Firefox --------------------------------------------------------------------------------------------------

    def firefox_policies(self, certificates: dict) -> dict:
        policies = {"Proxy": {"Mode": "autoConfig", "AutoConfigURL": self.pac_url, "Locked": True},
                    "Certificates": certificates,
                    "3rdparty": {"Extensions": {FIREFOX_ID: self.extension_settings()}}}
        install = self.config.deploy.firefox_install_url
        if install:
            policies["ExtensionSettings"] = {FIREFOX_ID: {"installation_mode": "force_installed",
                                                          "install_url": install}}
        return {"policies": policies}

    # -- Windows --------------------------------------------------------------------------------------------------

    def reg(self, remove: bool = False) -> bytes:
        """A .reg file (regedit's format 5: UTF-16LE with a BOM, CRLF) setting, or removing, every key PostGuard
        adds to HKLM."""
        lines = ["Windows Registry Editor Version 5.00", ""]
        hklm = "HKEY_LOCAL_MACHINE\\"
        for browser, key in WIN_POLICY_KEYS.items():
            policies = self.chrome_policies()
            for name in ("ExtensionInstallForcelist", "NativeMessagingAllowlist"):
                # Lists are subkeys with values "1", "2"...: a school with its own list merges PostGuard's entry in.
                lines += [f"[{'-' if remove else ''}{hklm}{key}\\{name}]"]
                if not remove:
                    lines += [f"{_reg_str(str(i))}={_reg_str(v)}" for i, v in enumerate(policies[name], 1)]
                lines.append("")
            proxy = "-" if remove else _reg_str(json.dumps(policies["ProxySettings"]))  # a dict policy: JSON text
            lines += [f"[{hklm}{key}]", f"{_reg_str('ProxySettings')}={proxy}", ""]
            ext = f"{hklm}{key}\\3rdparty\\extensions\\{self.extension_id}"
            if remove:
                lines += [f"[-{ext}]", ""]
            else:
                lines += [f"[{ext}\\policy]", *(f"{_reg_str(k)}={_reg_str(v)}"
                                                for k, v in self.extension_settings().items()), ""]
        for browser, key in WIN_HOST_KEYS.items():
            suffix = ".firefox" if browser == "firefox" else ""
            manifest = f"{WINDOWS.bundle}\\native-messaging\\{HOST_NAME}{suffix}.json"
            if remove:
                lines += [f"[-{hklm}{key}\\{HOST_NAME}]", ""]
            else:
                lines += [f"[{hklm}{key}\\{HOST_NAME}]", f"@={_reg_str(manifest)}", ""]
        return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-16-le")

    def admx(self) -> tuple[str, str]:
        """A PostGuard ADMX and its en-US ADML: the same settings as the .reg, for Group Policy or Intune's
        imported administrative templates."""
        policies, strings, presentations = [], {"PostGuard": "PostGuard"}, []
        for browser, key in WIN_POLICY_KEYS.items():
            title = {"chrome": "Google Chrome", "edge": "Microsoft Edge"}[browser]
            cat = f"PostGuard_{browser}"
            strings[cat] = title
            strings[f"SUPPORTED_{browser}"] = f"{title} (any version with Manifest V3 extensions)"
            p = f"{browser}_"
            strings.update({
                f"{p}ForceInstall": f"Force-install the PostGuard extension in {title}",
                f"{p}ForceInstall_Explain": f"Adds '{self.extension_id};{self.update_url}' to "
                                            "ExtensionInstallForcelist.",
                f"{p}ProxySettings": f"Send in-scope sites through PostGuard's proxy (PAC) in {title}",
                f"{p}ProxySettings_Explain": "Sets ProxySettings to pac_script with PostGuard's PAC file on this "
                                             "computer.",
                f"{p}NativeHost": f"Allow PostGuard's native messaging host in {title}",
                f"{p}NativeHost_Explain": f"Adds {HOST_NAME} to NativeMessagingAllowlist.",
                f"{p}ExtensionSettings": f"PostGuard extension settings in {title}",
                f"{p}ExtensionSettings_Explain": "The extension's managed settings (3rdparty policy): the local "
                                                 "service's address and the policy pack.",
            })
            head = (f'      <parentCategory ref="{cat}"/>\n      <supportedOn ref="SUPPORTED_{browser}"/>\n')
            forced = self.chrome_policies()["ExtensionInstallForcelist"][0]
            policies.append(
                f'    <policy name="{p}ForceInstall" class="Machine" displayName="$(string.{p}ForceInstall)" '
                f'explainText="$(string.{p}ForceInstall_Explain)" key="{key}\\ExtensionInstallForcelist" '
                f'valueName="1">\n{head}'
                f'      <enabledValue><string>{escape(forced)}</string></enabledValue>\n'
                f'      <disabledValue><delete/></disabledValue>\n    </policy>')
            policies.append(
                f'    <policy name="{p}ProxySettings" class="Machine" displayName="$(string.{p}ProxySettings)" '
                f'explainText="$(string.{p}ProxySettings_Explain)" key="{key}" valueName="ProxySettings">\n{head}'
                f'      <enabledValue><string>{escape(json.dumps(self.chrome_policies()["ProxySettings"]))}'
                f'</string></enabledValue>\n      <disabledValue><delete/></disabledValue>\n    </policy>')
            policies.append(
                f'    <policy name="{p}NativeHost" class="Machine" displayName="$(string.{p}NativeHost)" '
                f'explainText="$(string.{p}NativeHost_Explain)" key="{key}\\NativeMessagingAllowlist" '
                f'valueName="1">\n{head}'
                f'      <enabledValue><string>{HOST_NAME}</string></enabledValue>\n'
                f'      <disabledValue><delete/></disabledValue>\n    </policy>')
            policies.append(
                f'    <policy name="{p}ExtensionSettings" class="Machine" '
                f'displayName="$(string.{p}ExtensionSettings)" explainText="$(string.{p}ExtensionSettings_Explain)" '
                f'presentation="$(presentation.ExtensionSettings)" '
                f'key="{key}\\3rdparty\\extensions\\{self.extension_id}\\policy">\n{head}'
                '      <elements>\n        <text id="serviceUrl" valueName="serviceUrl" required="true"/>\n'
                '        <text id="pack" valueName="pack"/>\n      </elements>\n    </policy>')
        categories = ['    <category name="PostGuard" displayName="$(string.PostGuard)"/>'] + [
            f'    <category name="PostGuard_{b}" displayName="$(string.PostGuard_{b})">'
            f'<parentCategory ref="PostGuard"/></category>' for b in WIN_POLICY_KEYS]
        supported = "\n".join(f'      <definition name="SUPPORTED_{b}" displayName="$(string.SUPPORTED_{b})"/>'
                              for b in WIN_POLICY_KEYS)
        admx = f"""<?xml version="1.0" encoding="utf-8"?>
<policyDefinitions xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" \
revision="1.0" schemaVersion="1.0" xmlns="http://schemas.microsoft.com/GroupPolicy/2006/07/PolicyDefinitions">
  <policyNamespaces>
    <target prefix="postguard" namespace="PostGuard.Policies.PostGuard"/>
  </policyNamespaces>
  <resources minRequiredRevision="1.0"/>
  <supportedOn>
    <definitions>
{supported}
    </definitions>
  </supportedOn>
  <categories>
{chr(10).join(categories)}
  </categories>
  <policies>
{chr(10).join(policies)}
  </policies>
</policyDefinitions>
"""
        presentations.append(
            '      <presentation id="ExtensionSettings">\n'
            f'        <textBox refId="serviceUrl"><label>Service address</label>'
            f'<defaultValue>{escape(self.service_url)}</defaultValue></textBox>\n'
            f'        <textBox refId="pack"><label>Policy pack</label>'
            f'<defaultValue>{escape(self.pack)}</defaultValue></textBox>\n      </presentation>')
        table = "\n".join(f'      <string id="{k}">{escape(v)}</string>' for k, v in strings.items())
        adml = f"""<?xml version="1.0" encoding="utf-8"?>
<policyDefinitionResources xmlns:xsd="http://www.w3.org/2001/XMLSchema" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" revision="1.0" schemaVersion="1.0" \
xmlns="http://schemas.microsoft.com/GroupPolicy/2006/07/PolicyDefinitions">
  <displayName>PostGuard</displayName>
  <description>PostGuard's browser settings for Google Chrome and Microsoft Edge</description>
  <resources>
    <stringTable>
{table}
    </stringTable>
    <presentationTable>
{chr(10).join(presentations)}
    </presentationTable>
  </resources>
</policyDefinitionResources>
"""
        return admx, adml

    # -- macOS ----------------------------------------------------------------------------------------------------

    def mobileconfig(self) -> bytes:
        """One configuration profile: the root CA (when the school gives one), Chrome's and Edge's policies and the
        extension's settings, Firefox's policies, and the managed login item for the LaunchAgent."""
        payloads = []
        if self.root_pem:
            der = base64.b64decode("".join(_pem_lines(self.root_pem)))
            payloads.append(self._payload("com.apple.security.root", "PostGuard root CA",
                                          {"PayloadContent": der, "PayloadCertificateFileName": "postguard-root.cer"}))
        for domain, name in (("com.google.Chrome", "Google Chrome"), ("com.microsoft.Edge", "Microsoft Edge")):
            payloads.append(self._payload(domain, f"{name}: PostGuard", self.chrome_policies()))
            payloads.append(self._payload(f"{domain}.extensions.{self.extension_id}",
                                          f"{name}: PostGuard extension settings", self.extension_settings()))
        firefox = self.firefox_policies({"ImportEnterpriseRoots": True})["policies"]
        payloads.append(self._payload("org.mozilla.firefox", "Firefox: PostGuard",
                                      {"EnterprisePoliciesEnabled": True, **firefox}))
        payloads.append(self._payload("com.apple.servicemanagement", "PostGuard runs at login",
                                      {"Rules": [{"RuleType": "Label", "RuleValue": AGENT_LABEL,
                                                  "Comment": "PostGuard's proxy and local service"}]}))
        profile = {"PayloadType": "Configuration", "PayloadVersion": 1, "PayloadScope": "System",
                   "PayloadIdentifier": PROFILE_ID, "PayloadUUID": self._uuid(PROFILE_ID),
                   "PayloadDisplayName": "PostGuard", "PayloadOrganization": self.config.school.name or "PostGuard",
                   "PayloadDescription": "PostGuard's browser policies, its extension, its proxy (PAC) and its root "
                                         "certificate.",
                   "PayloadRemovalDisallowed": True, "PayloadContent": payloads}
        return plistlib.dumps(profile)

    def _payload(self, payload_type: str, name: str, content: dict) -> dict:
        ident = f"{PROFILE_ID}.{payload_type}"
        return {"PayloadType": payload_type, "PayloadVersion": 1, "PayloadIdentifier": ident,
                "PayloadUUID": self._uuid(ident), "PayloadDisplayName": name, **content}

    def _uuid(self, name: str) -> str:
        return str(uuid.uuid5(UUID_NS, f"{self.extension_id}/{name}")).upper()

    def launch_agent(self) -> bytes:
        return plistlib.dumps({
            "Label": AGENT_LABEL, "ProgramArguments": [MACOS.binary, *self.run_args],
            "EnvironmentVariables": {"POSTGUARD_CONFIG": MACOS.config},
            "RunAtLoad": True, "KeepAlive": {"SuccessfulExit": False}, "ProcessType": "Background",
            "StandardErrorPath": "/tmp/postguard-agent.log"})

    # -- the machine config each laptop reads -----------------------------------------------------------------------

    def machine_config(self, place: Place) -> str:
        """The school's config file as the admin wrote it, with [deploy] ca_dir set to the platform's shared CA."""
        text = self.config.path.read_text(encoding="utf-8") if self.config.path else ""
        line = f"ca_dir = {json.dumps(place.ca_dir)}  # written by postguard deploy: the laptop's CA, for every account"
        lines = text.splitlines()
        start = next((i for i, ln in enumerate(lines) if re.fullmatch(r"\s*\[\s*deploy\s*\]\s*(#.*)?", ln)), None)
        if start is None:
            return text.rstrip("\n") + ("\n\n" if text.strip() else "") + f"[deploy]\n{line}\n"
        end = next((i for i in range(start + 1, len(lines)) if re.match(r"\s*\[", lines[i])), len(lines))
        body = [ln for ln in lines[start + 1:end] if not re.match(r"\s*ca_dir\s*=", ln)]
        return "\n".join([*lines[:start + 1], line, *body, *lines[end:]]) + "\n"

    def fields(self, place: Place) -> dict:
        return {"version": self.version, "extension_id": self.extension_id, "update_url": self.update_url,
                "pac_url": self.pac_url, "service_url": self.service_url, "host_name": HOST_NAME,
                "firefox_id": FIREFOX_ID, "agent_label": AGENT_LABEL, "school": self.config.school.name or "the school",
                "bundle": place.bundle, "binary": place.binary, "config": place.config, "ca_dir": place.ca_dir,
                "cert": place.cert, "native_host": place.native_host, "run_args": " ".join(self.run_args),
                "server_url": self.config.deploy.server_url, "pack": self.pack,
                "root_ca": "yes" if self.root_pem else "no"}


def _pem_lines(pem: str) -> list[str]:
    lines = [ln.strip() for ln in pem.splitlines()]
    start = lines.index("-----BEGIN CERTIFICATE-----")
    return lines[start + 1:lines.index("-----END CERTIFICATE-----", start)]


def _reg_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Fields(string.Template):
    delimiter = "@@"  # PowerShell and sh use $; @@ appears in neither


def _template(name: str, fields: dict) -> str:
    text = resources.files("local_service").joinpath("deploy_templates", name).read_text(encoding="utf-8")
    return _Fields(text).substitute(fields)


class Writer:
    def __init__(self, out: Path):
        self.out, self.written = out, []

    def write(self, rel: str, content: str | bytes, executable: bool = False) -> None:
        path = self.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.encode("utf-8")
        path.write_bytes(content)
        path.chmod(0o755 if executable else 0o644)
        self.written.append(rel)

    def json(self, rel: str, value) -> None:
        self.write(rel, json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def build(config: Config, out: Path, version: str) -> list[str]:
    """Write every artefact under out; returns the paths written, relative to it."""
    dep = Deployment(config, version)
    w = Writer(out)
    _copy_logos(config, out)
    w.write("README.md", _template("README.md", dep.fields(LINUX)))

    # Windows
    f = dep.fields(WINDOWS)
    w.write("windows/README.md", _template("windows/README.md", f))
    w.write("windows/policies.reg", dep.reg())
    w.write("windows/policies-remove.reg", dep.reg(remove=True))
    admx, adml = dep.admx()
    w.write("windows/admx/postguard.admx", admx)
    w.write("windows/admx/en-US/postguard.adml", adml)
    w.write("windows/intune/config.toml", dep.machine_config(WINDOWS))
    w.json(f"windows/intune/native-messaging/{HOST_NAME}.json", dep.native_host_manifest(WINDOWS.native_host))
    w.json(f"windows/intune/native-messaging/{HOST_NAME}.firefox.json",
           dep.native_host_manifest(WINDOWS.native_host, firefox=True))
    w.write("windows/intune/native-host.cmd", _template("windows/native-host.cmd", f).replace("\n", "\r\n"))
    w.json("windows/intune/firefox/policies.json", dep.firefox_policies({"ImportEnterpriseRoots": True}))
    shutil.copyfile(out / "windows/policies.reg", out / "windows/intune/policies.reg")
    shutil.copyfile(out / "windows/policies-remove.reg", out / "windows/intune/policies-remove.reg")
    for script in ("install.ps1", "uninstall.ps1", "detect.ps1"):
        w.write(f"windows/intune/{script}", _template(f"windows/{script}", f).replace("\n", "\r\n"))

    # macOS
    f = dep.fields(MACOS)
    w.write("macos/README.md", _template("macos/README.md", f))
    w.write("macos/postguard.mobileconfig", dep.mobileconfig())
    w.write(f"macos/{AGENT_LABEL}.plist", dep.launch_agent())
    w.write("macos/config.toml", dep.machine_config(MACOS))
    w.json(f"macos/native-messaging/{HOST_NAME}.json", dep.native_host_manifest(MACOS.native_host))
    w.json(f"macos/native-messaging/{HOST_NAME}.firefox.json",
           dep.native_host_manifest(MACOS.native_host, firefox=True))
    w.write("macos/native-host", _template("unix/native-host", f), executable=True)
    w.write("macos/scripts/postinstall", _template("macos/postinstall", f), executable=True)
    w.write("macos/uninstall.sh", _template("macos/uninstall.sh", f), executable=True)
    w.write("macos/build-pkg.sh", _template("macos/build-pkg.sh", f), executable=True)

    # Linux
    f = {**dep.fields(LINUX), **_linux_dirs()}
    w.write("linux/README.md", _template("linux/README.md", f))
    w.write("linux/postguard.service", _template("linux/postguard.service", f))
    w.write("linux/trust-nss", _template("linux/trust-nss", f), executable=True)
    w.write("linux/native-host", _template("unix/native-host", f), executable=True)
    w.write("linux/config.toml", dep.machine_config(LINUX))
    for browser in LINUX_POLICY_DIRS:
        w.json(f"linux/policies/{browser}/postguard.json", dep.linux_chrome_json())
    w.json("linux/policies/firefox/policies.json", dep.firefox_policies({"Install": [LINUX.cert]}))
    w.json(f"linux/native-messaging/{HOST_NAME}.json", dep.native_host_manifest(LINUX.native_host))
    w.json(f"linux/native-messaging/{HOST_NAME}.firefox.json",
           dep.native_host_manifest(LINUX.native_host, firefox=True))
    w.write("linux/install.sh", _template("linux/install.sh", f), executable=True)
    w.write("linux/uninstall.sh", _template("linux/uninstall.sh", f), executable=True)
    if dep.root_pem:
        for plat in ("windows/intune", "macos", "linux"):
            w.write(f"{plat}/postguard-root.pem", dep.root_pem)
    return w.written


def _linux_dirs() -> dict:
    return {"chrome_policies": LINUX_POLICY_DIRS["chrome"], "chromium_policies": LINUX_POLICY_DIRS["chromium"],
            "edge_policies": LINUX_POLICY_DIRS["edge"], "firefox_policies": LINUX_FIREFOX_POLICIES,
            "chrome_hosts": LINUX_HOST_DIRS["chrome"], "chromium_hosts": LINUX_HOST_DIRS["chromium"],
            "edge_hosts": LINUX_HOST_DIRS["edge"], "firefox_hosts": LINUX_HOST_DIRS["firefox"]}


def _copy_logos(config: Config, out: Path) -> None:
    """The badge files the config names, beside each platform's copy of the config (they are relative to it)."""
    base = config.path.parent if config.path else None
    for logo in config.school.logos:
        try:
            rel = logo.resolve().relative_to(base.resolve()) if base else None
        except ValueError:
            rel = None
        if rel is None:
            raise UsageError(f"{config.path}: school.logos: {logo} is outside the config's folder; put it beside the "
                             "config so the laptops' copy finds it")
        for plat in ("windows/intune", "macos", "linux"):
            (out / plat / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(logo, out / plat / rel)


def cmd_deploy(args) -> int:
    config = load_config(args.config)
    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not args.force:
        raise UsageError(f"{out} is not empty (use --force to write over it)")
    written = build(config, out, version())
    print(f"wrote {len(written)} files in {out}: windows/, macos/, linux/ (each with a README.md)")
    return 0


def add_parsers(sub, common) -> None:
    p = sub.add_parser("deploy", parents=[common], help="write the policies, profiles and install scripts that put "
                                                        "PostGuard on every school laptop (Windows, macOS, Linux)")
    p.add_argument("--out", required=True, metavar="DIR", help="where to write them")
    p.add_argument("--force", action="store_true", help="write into a folder that is not empty")
    p.set_defaults(func=cmd_deploy)
