import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { ENTRIES, SERVICE_PATTERNS, outputs, syncManifest } from "../../extension/tools/build.mjs";

const EXT = fileURLToPath(new URL("../../extension/", import.meta.url));

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

test("the generated manifest lists and bundles are up to date (run: cd extension && npm run build)", () => {
  for (const [rel, text] of Object.entries(outputs())) {
    assert.equal(readFileSync(join(EXT, rel), "utf8"), text, `${rel} is out of date`);
  }
});

test("only src/platform.js touches chrome.* or browser.*", () => {
  const offenders = files(join(EXT, "src")).filter((p) => p.endsWith(".js") && !p.endsWith("platform.js"))
    .filter((p) => /\b(chrome|browser)\s*\.\s*[a-z]/.test(readFileSync(p, "utf8").replace(/\/\/.*$/gm, "")));
  assert.deepEqual(offenders.map((p) => relative(EXT, p)), []);
});

test("the pure modules use no browser globals", () => {
  const globals = /\b(window|document|navigator|location|FileReader|DataTransfer|localStorage)\b/;
  for (const p of files(join(EXT, "src", "lib"))) {
    const code = readFileSync(p, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "")
      .replace(/"(\\.|[^"\\])*"|`(\\.|[^`\\])*`|'(\\.|[^'\\])*'/g, '""');
    assert.doesNotMatch(code, globals, relative(EXT, p));
  }
});

test("the manifest's scope comes from platforms.toml, over https only, plus the local service", () => {
  const manifest = { content_scripts: [{ matches: ["old"] }], host_permissions: ["old"], name: "kept" };
  const out = syncManifest(manifest, 'hosts = ["b.org", "a.org"]\n');
  assert.deepEqual(out.content_scripts[0].matches, ["https://*.a.org/*", "https://*.b.org/*"]);
  assert.deepEqual(out.host_permissions, ["https://*.a.org/*", "https://*.b.org/*", ...SERVICE_PATTERNS]);
  assert.equal(out.name, "kept");
  assert.deepEqual(manifest.host_permissions, ["old"]);
});

test("the bundles are classic scripts (no import or export left)", () => {
  for (const out of Object.keys(ENTRIES)) {
    const code = readFileSync(join(EXT, out), "utf8");
    assert.doesNotMatch(code, /^\s*(import|export)\b/m, out);
    assert.doesNotThrow(() => new Function(code), out);
  }
});
