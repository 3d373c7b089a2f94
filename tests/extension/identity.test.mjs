import { test } from "node:test";
import assert from "node:assert/strict";
import { profileEmail, reportIdentity } from "../../extension/src/lib/identity.js";

test("the profile's address, lower case; nothing where the browser has no call or nobody is signed in", async () => {
  const asked = [];
  const chrome = async (options) => { asked.push(options); return { email: " A.Teacher@StMary.sch.uk ", id: "1" }; };
  assert.equal(await profileEmail(chrome), "a.teacher@stmary.sch.uk");
  assert.deepEqual(asked, [{ accountStatus: "ANY" }]);
  assert.equal(await profileEmail(null), ""); // Firefox
  assert.equal(await profileEmail(async () => ({ email: "", id: "" })), ""); // not signed in
  assert.equal(await profileEmail(async () => ({ email: "not an address" })), "");
  assert.equal(await profileEmail(async () => { throw new Error("no permission"); }), "");
});

test("the address is told once a session, again when it changes, and not at all when there is none", async () => {
  let told = "";
  const sent = [];
  const deps = (email) => ({
    getProfileUserInfo: async () => ({ email }),
    send: async (e) => { sent.push(e); return { kept: true, email: e }; },
    remembered: async () => told,
    remember: async (e) => { told = e; },
  });
  assert.deepEqual(await reportIdentity(deps("amy@stmary.sch.uk")), { kept: true, email: "amy@stmary.sch.uk" });
  assert.equal(await reportIdentity(deps("amy@stmary.sch.uk")), null);
  await reportIdentity(deps("ben@stmary.sch.uk"));
  assert.equal(await reportIdentity(deps("")), null);
  assert.deepEqual(sent, ["amy@stmary.sch.uk", "ben@stmary.sch.uk"]);
});

test("a failed send is not remembered, so the next refresh tells it again", async () => {
  let told = "";
  const deps = {
    getProfileUserInfo: async () => ({ email: "amy@stmary.sch.uk" }),
    send: async () => { throw new Error("service down"); },
    remembered: async () => told,
    remember: async (e) => { told = e; },
  };
  await assert.rejects(reportIdentity(deps), /service down/);
  assert.equal(told, "");
});
