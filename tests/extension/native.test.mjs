import { test } from "node:test";
import assert from "node:assert/strict";
import { HOST, askHost, fromAnswer, withHost } from "../../extension/src/lib/native.js";
import { effective } from "../../extension/src/lib/settings.js";

const GOOD = { ok: true, serviceUrl: "http://127.0.0.1:9311", token: "t0ken-from-the-host-0123456789", version: "0.1.0" };

test("the host's answer gives the service address and token", () => {
  assert.deepEqual(fromAnswer(GOOD), { serviceUrl: "http://127.0.0.1:9311", token: GOOD.token });
});

for (const [bad, why] of [
  [null, /no answer/],
  [{ ok: false, error: "not PostGuard's extension" }, /refused: not PostGuard's extension/],
  [{ ...GOOD, serviceUrl: "http://evil.example:8765" }, /this computer/],
  [{ ...GOOD, token: "" }, /no token/],
  [{ ...GOOD, token: "has spaces in it" }, /token/],
]) {
  test(`an answer that is not a loopback service and a token is refused: ${JSON.stringify(bad)}`, () => {
    assert.throws(() => fromAnswer(bad), why);
  });
}

test("askHost asks PostGuard's host with hello, and a missing host is null with the reason", async () => {
  const asked = [];
  const got = await askHost(async (host, message) => { asked.push([host, message]); return GOOD; });
  assert.deepEqual(asked, [[HOST, { type: "hello" }]]);
  assert.equal(got.token, GOOD.token);
  const problems = [];
  const none = await askHost(async () => { throw new Error("Specified native messaging host not found."); },
    (p) => problems.push(p));
  assert.equal(none, null);
  assert.match(problems[0], /not found/);
});

test("an admin's managed values win over the host's; the host fills the token", () => {
  const host = fromAnswer(GOOD);
  const managed = withHost({ serviceUrl: "http://127.0.0.1:8765", pack: "st-mary-of-the-angels" }, host);
  assert.deepEqual(managed, { serviceUrl: "http://127.0.0.1:8765", pack: "st-mary-of-the-angels", token: GOOD.token });
  const cfg = effective(managed, { token: "typed-by-hand-123" });
  assert.equal(cfg.values.token, GOOD.token);
  assert.ok(cfg.configured && cfg.managed.includes("token"));
  assert.deepEqual(withHost({ pack: "x" }, null), { pack: "x" });
});
