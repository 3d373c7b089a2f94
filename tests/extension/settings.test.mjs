import { test } from "node:test";
import assert from "node:assert/strict";
import { DEFAULTS, effective, parseExtraHosts, parseServiceUrl, parseToken, validate } from "../../extension/src/lib/settings.js";

test("the service address is a loopback origin", () => {
  assert.equal(parseServiceUrl("http://127.0.0.1:8765/"), "http://127.0.0.1:8765");
  assert.equal(parseServiceUrl(" http://localhost:9000 "), "http://localhost:9000");
  assert.equal(parseServiceUrl("http://[::1]:8765"), "http://[::1]:8765");
});

for (const [bad, why] of [
  ["http://127.0.0.1.evil.example:8765", /this computer/],
  ["http://10.0.0.5:8765", /this computer/],
  ["https://postguard.example.org", /this computer/],
  ["http://127.0.0.1:8765/api/v1", /only the address/],
  ["http://user:pw@127.0.0.1:8765", /only the address/],
  ["file:///etc/passwd", /http/],
  ["127.0.0.1:8765", /http|web address/],
]) {
  test(`a service address that is not this computer's service is refused: ${bad}`, () => {
    assert.throws(() => parseServiceUrl(bad), why);
  });
}

test("a token has no spaces and at least 8 characters; empty means not set", () => {
  assert.equal(parseToken("  abcdefgh12 "), "abcdefgh12");
  assert.equal(parseToken(""), "");
  assert.throws(() => parseToken("short"));
  assert.throws(() => parseToken("has a space in it"));
});

test("extra hosts are read from text, one per line", () => {
  assert.deepEqual(parseExtraHosts("blog.example.org\n127.0.0.1:8123, localhost\n\n"),
    ["blog.example.org", "127.0.0.1:8123", "localhost"]);
  assert.throws(() => parseExtraHosts("good.org\nnot a host"), /not a host/);
});

test("validate reports each bad key and keeps the good ones", () => {
  const { values, errors } = validate({ serviceUrl: "http://example.org", token: "abcdefgh", pack: "x" });
  assert.deepEqual(values, { token: "abcdefgh", pack: "x" });
  assert.deepEqual(Object.keys(errors), ["serviceUrl"]);
});

test("with nothing set, the defaults apply and the extension is not configured", () => {
  const e = effective({}, {});
  assert.deepEqual(e.values, { ...DEFAULTS, extraHosts: [] });
  assert.equal(e.configured, false);
  assert.deepEqual(e.managed, []);
});

test("a managed value wins over the person's, key by key", () => {
  const e = effective({ token: "admin-token-123" },
    { serviceUrl: "http://127.0.0.1:9000", token: "my-own-token", extraHosts: ["a.org"] });
  assert.equal(e.values.token, "admin-token-123");
  assert.equal(e.values.serviceUrl, "http://127.0.0.1:9000");
  assert.deepEqual(e.values.extraHosts, ["a.org"]);
  assert.deepEqual(e.managed, ["token"]);
  assert.equal(e.configured, true);
});

test("an invalid managed value is ignored and reported, not silently applied", () => {
  const e = effective({ serviceUrl: "http://10.1.1.1:8765", token: "" }, { token: "my-own-token" });
  assert.equal(e.values.serviceUrl, DEFAULTS.serviceUrl);
  assert.equal(e.values.token, "my-own-token");
  assert.match(e.problems.serviceUrl, /this computer/);
  assert.deepEqual(e.managed, []);
});
