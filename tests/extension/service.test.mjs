import { test } from "node:test";
import assert from "node:assert/strict";
import { ServiceError, base64ToBytes, bytesToBase64, createClient, parseRemoved } from "../../extension/src/lib/service.js";

function fakeFetch(handler) {
  const calls = [];
  const fn = async (url, init) => {
    calls.push({ url, init });
    return handler(url, init);
  };
  fn.calls = calls;
  return fn;
}

const json = (status, body, headers = {}) => new Response(JSON.stringify(body), { status,
  headers: { "Content-Type": "application/json", ...headers } });

test("check posts JSON with the bearer token to /api/v1/check", async () => {
  const fetch = fakeFetch(() => json(200, { check_id: "c1", decision: "allow", findings: [], errors: [] }));
  const client = createClient({ baseUrl: "http://127.0.0.1:8765/", token: "tok-12345678", fetch });
  const result = await client.check({ url: "https://x.com/", fields: [["text", "hi"]], files: [] });
  assert.equal(result.check_id, "c1");
  const { url, init } = fetch.calls[0];
  assert.equal(url, "http://127.0.0.1:8765/api/v1/check");
  assert.equal(init.method, "POST");
  assert.equal(init.headers.Authorization, "Bearer tok-12345678");
  assert.equal(init.headers["Content-Type"], "application/json");
  assert.equal(init.credentials, "omit");
  assert.deepEqual(JSON.parse(init.body).fields, [["text", "hi"]]);
});

test("a service that is not running is 'unreachable', never an exception of another kind", async () => {
  const client = createClient({ baseUrl: "http://127.0.0.1:1", token: "t", fetch: async () => {
    throw new TypeError("Failed to fetch");
  } });
  await assert.rejects(client.health(), (e) => e instanceof ServiceError && e.kind === "unreachable");
});

test("a service that does not answer in time is 'timeout'", async () => {
  const client = createClient({ baseUrl: "http://127.0.0.1:1", token: "t", timeoutMs: 30,
    fetch: (url, init) => new Promise((_, reject) => init.signal.addEventListener("abort", () => reject(new Error("aborted")))) });
  await assert.rejects(client.health(), (e) => e.kind === "timeout");
});

for (const [status, kind] of [[401, "auth"], [403, "origin"], [421, "host"], [400, "invalid"], [404, "gone"],
  [409, "gone"], [500, "server"]]) {
  test(`HTTP ${status} is '${kind}' and keeps the service's words`, async () => {
    const client = createClient({ baseUrl: "http://127.0.0.1:8765", token: "t",
      fetch: async () => json(status, { error: "the service says why" }) });
    await assert.rejects(client.decision({ check_id: "x", choice: "cancel" }), (e) =>
      e.kind === kind && e.status === status && e.body.error === "the service says why");
  });
}

test("strip returns the cleaned bytes as base64 and what was removed", async () => {
  const bytes = new Uint8Array([0xff, 0xd8, 0xff, 0xe1, 0, 1, 2, 250]);
  const fetch = fakeFetch(() => new Response(bytes, { status: 200, headers: { "Content-Type": "image/jpeg",
    "X-PostGuard-Removed": "EXIF GPS, XMP%20exif%3AGPSLatitude" } }));
  const client = createClient({ baseUrl: "http://127.0.0.1:8765", token: "t", fetch });
  const out = await client.strip({ name: "a.jpg", type: "image/jpeg", data: "AAAA" });
  assert.deepEqual([...base64ToBytes(out.data)], [...bytes]);
  assert.deepEqual(out.removed, ["EXIF GPS", "XMP exif:GPSLatitude"]);
  assert.equal(out.type, "image/jpeg");
  assert.equal(fetch.calls[0].url, "http://127.0.0.1:8765/api/v1/strip");
});

test("a file that cannot be cleaned safely is 'cannot-clean' with the service's explanation", async () => {
  const client = createClient({ baseUrl: "http://127.0.0.1:8765", token: "t",
    fetch: async () => json(422, { error: "PostGuard cannot remove the location from a.heic safely" }) });
  await assert.rejects(client.strip({ name: "a.heic", type: "", data: "AAAA" }),
    (e) => e.kind === "cannot-clean" && /cannot remove/.test(e.message));
});

test("the record link is made absolute on the service", async () => {
  const client = createClient({ baseUrl: "http://127.0.0.1:8765", token: "t",
    fetch: async () => json(200, { url: "/me/abc.def" }) });
  assert.equal(await client.meLink(), "http://127.0.0.1:8765/me/abc.def");
});

test("the stream sends Last-Event-ID when it resumes", async () => {
  const fetch = fakeFetch(() => new Response("retry: 1000\n\n", { status: 200 }));
  const client = createClient({ baseUrl: "http://127.0.0.1:8765", token: "t", fetch });
  await client.stream("41");
  assert.equal(fetch.calls[0].init.headers["Last-Event-ID"], "41");
  await client.stream("");
  assert.equal(fetch.calls[1].init.headers["Last-Event-ID"], undefined);
});

test("base64 round-trips bytes of every value, and data: URLs are accepted", () => {
  const all = new Uint8Array(70000).map((_, i) => i % 256);
  assert.deepEqual(base64ToBytes(bytesToBase64(all)), all);
  assert.deepEqual([...base64ToBytes("data:image/png;base64,AQID")], [1, 2, 3]);
  assert.deepEqual(parseRemoved(""), []);
  assert.deepEqual(parseRemoved("%E0%A4%A"), ["%E0%A4%A"]);
});
