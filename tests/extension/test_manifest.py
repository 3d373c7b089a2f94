"""The manifest: one file for Chrome, Edge and Firefox, the fewest permissions, and a scope generated from
rules/platforms.toml (regenerate with `cd extension && npm run build`)."""
import json
import subprocess

from rules.platforms import scope_hosts

from .conftest import EXT, ROOT, require_node

MANIFEST = json.loads((EXT / "manifest.json").read_text())
SERVICE = ["http://127.0.0.1/*", "http://localhost/*"]


def test_content_scripts_cover_exactly_the_platform_registry():
    expected = [f"https://*.{h}/*" for h in scope_hosts()]
    assert MANIFEST["content_scripts"][0]["matches"] == expected, \
        "manifest.json is out of step with rules/platforms.toml: cd extension && npm run build"


def test_host_access_is_the_registry_over_https_and_the_local_service():
    assert MANIFEST["host_permissions"] == MANIFEST["content_scripts"][0]["matches"] + SERVICE
    assert all(p.startswith("https://*.") for p in MANIFEST["host_permissions"][:-len(SERVICE)])


def test_permissions_are_the_few_that_work():
    # nativeMessaging: the service's address and token from PostGuard's native host (src/lib/native.js), no pasting;
    # identity, identity.email: the school e-mail the browser is signed in with, for attribution (src/lib/identity.js)
    assert sorted(MANIFEST["permissions"]) == ["alarms", "identity", "identity.email", "nativeMessaging",
                                               "notifications", "scripting", "storage"]
    everything = json.dumps(MANIFEST)
    for broad in ("<all_urls>", "\"tabs\"", "webRequest", "cookies", "history", "\"*://*/*\""):
        assert broad not in everything
    assert MANIFEST["optional_host_permissions"] == ["https://*/*", "http://*/*"]  # asked for only on request


def test_one_manifest_for_chromium_and_firefox():
    assert MANIFEST["manifest_version"] == 3
    bg = MANIFEST["background"]
    assert bg["service_worker"] == "bundle/background.js" and bg["scripts"] == ["bundle/background.js"]
    assert "type" not in bg  # a classic script: Firefox's event page and Chrome's worker load the same file
    assert MANIFEST["browser_specific_settings"]["gecko"]["id"]


def test_every_file_the_manifest_names_exists():
    names = [*MANIFEST["icons"].values(), *MANIFEST["action"]["default_icon"].values(),
             MANIFEST["action"]["default_popup"], MANIFEST["options_ui"]["page"], MANIFEST["background"]["service_worker"],
             *MANIFEST["content_scripts"][0]["js"], MANIFEST["storage"]["managed_schema"], "src/ui/decide.html"]
    missing = [n for n in names if not (EXT / n).is_file()]
    assert missing == []


def test_managed_schema_describes_every_setting():
    node = require_node()
    keys = json.loads(subprocess.run(
        [node, "--input-type=module", "-e",
         "import { KEYS } from './extension/src/lib/settings.js'; console.log(JSON.stringify(KEYS));"],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout)
    schema = json.loads((EXT / "managed-schema.json").read_text())
    assert schema["type"] == "object"
    assert sorted(schema["properties"]) == sorted(keys)
    for name, prop in schema["properties"].items():
        assert prop.get("title") and prop.get("description") and prop.get("type") in ("string", "array"), name
