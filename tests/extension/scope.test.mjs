import { test } from "node:test";
import assert from "node:assert/strict";
import {
  hostCovered, hostsFromPatterns, matchPatterns, normaliseHosts, notCovered, pageInScope, parseHostEntry, parsePac,
  parsePlatformsToml,
} from "../../extension/src/lib/scope.js";

test("a host entry is read with or without scheme, port and wildcard", () => {
  assert.deepEqual(parseHostEntry("WWW.Example.org."), { host: "www.example.org", port: "" });
  assert.deepEqual(parseHostEntry("http://127.0.0.1:8123/page"), { host: "127.0.0.1", port: "8123" });
  assert.deepEqual(parseHostEntry("*.wordpress.com"), { host: "wordpress.com", port: "" });
  assert.deepEqual(parseHostEntry("[::1]:9000"), { host: "[::1]", port: "9000" });
});

for (const bad of ["", "exa mple.org", "http://", "host:0", "host:99999", "-bad-.org", "a..b"]) {
  test(`a bad host entry is refused: ${JSON.stringify(bad)}`, () => {
    assert.throws(() => parseHostEntry(bad));
  });
}

test("a host covers itself and its subdomains, never a look-alike", () => {
  const hosts = ["facebook.com", "web.whatsapp.com"];
  assert.ok(hostCovered("facebook.com", "", hosts));
  assert.ok(hostCovered("upload.facebook.com", "", hosts));
  assert.ok(hostCovered("web.whatsapp.com", "", hosts));
  assert.ok(!hostCovered("notfacebook.com", "", hosts));
  assert.ok(!hostCovered("facebook.com.evil.example", "", hosts));
  assert.ok(!hostCovered("whatsapp.com", "", hosts));
});

test("an entry with a port covers that port only; an address covers no subdomains", () => {
  assert.ok(hostCovered("127.0.0.1", "8123", ["127.0.0.1:8123"]));
  assert.ok(!hostCovered("127.0.0.1", "8765", ["127.0.0.1:8123"]));
  assert.ok(hostCovered("127.0.0.1", "8765", ["127.0.0.1"]));
  assert.ok(!hostCovered("x.127.0.0.1", "", ["127.0.0.1"]));
});

test("only http and https pages are in scope", () => {
  const hosts = ["x.com"];
  assert.ok(pageInScope("https://x.com/compose/post", hosts));
  assert.ok(!pageInScope("ftp://x.com/", hosts));
  assert.ok(!pageInScope("chrome-extension://abc/x.com", hosts));
  assert.ok(!pageInScope("not a url", hosts));
  assert.ok(pageInScope("http://127.0.0.1:5000/", hosts, ["127.0.0.1:5000"]));
  assert.ok(!pageInScope("http://127.0.0.1:5001/", hosts, ["127.0.0.1:5000"]));
});

test("match patterns cover subdomains for names and the exact host for addresses", () => {
  assert.deepEqual(matchPatterns(["facebook.com", "127.0.0.1:8123", "localhost"], "https"),
    ["https://*.facebook.com/*", "https://127.0.0.1/*", "https://localhost/*"]);
  assert.deepEqual(hostsFromPatterns(matchPatterns(["a.org", "b.org"], "https")), ["a.org", "b.org"]);
});

test("the service's PAC file gives its host list", () => {
  const pac = `// PostGuard\nvar POSTGUARD_HOSTS = [\n    "1drv.ms",\n    "x.com",\n    "intranet.example.sch.uk"\n];\n` +
    "function FindProxyForURL(url, host) { return \"DIRECT\"; }";
  assert.deepEqual(parsePac(pac), ["1drv.ms", "intranet.example.sch.uk", "x.com"]);
  assert.throws(() => parsePac("function FindProxyForURL() {}"), /POSTGUARD_HOSTS/);
});

test("platforms.toml hosts are read across categories, comments ignored, duplicates once", () => {
  const toml = `# hosts = ["commented.example"]\n[categories.a]\nhosts = ["b.com", "a.com", # inline\n  "tumblr.com"]\n` +
    `keeps_metadata = false\n[categories.b]\ndescription = "x"\nhosts = ["tumblr.com"]\n`;
  assert.deepEqual(parsePlatformsToml(toml), ["a.com", "b.com", "tumblr.com"]);
});

test("hosts the manifest already covers need no extra registration", () => {
  assert.deepEqual(notCovered(["upload.facebook.com", "127.0.0.1:8123", "blog.example.org"], ["facebook.com"]),
    ["127.0.0.1:8123", "blog.example.org"]);
  assert.deepEqual(normaliseHosts(["A.org", "a.org", " "]), ["a.org"]);
});
