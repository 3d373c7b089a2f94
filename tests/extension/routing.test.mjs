import { test } from "node:test";
import assert from "node:assert/strict";
import { MESSAGES, allowed, pickTab, senderKind, siteOf } from "../../extension/src/lib/routing.js";

const ID = "abcdefghijklmnopabcdefghijklmnop";
const ORIGIN = `chrome-extension://${ID}`;

test("the extension's own pages and its content scripts are told apart; anyone else is nobody", () => {
  assert.equal(senderKind({ id: ID, url: `${ORIGIN}/src/ui/popup.html` }, ID, ORIGIN), "page");
  assert.equal(senderKind({ id: ID, url: `${ORIGIN}/src/ui/options.html`, tab: { id: 3 } }, ID, ORIGIN), "page");
  assert.equal(senderKind({ id: ID, url: "https://x.com/home", tab: { id: 4 } }, ID, ORIGIN), "content");
  assert.equal(senderKind({ id: "another-extension", url: "https://x.com/", tab: { id: 4 } }, ID, ORIGIN), null);
  assert.equal(senderKind({ id: ID, url: "https://x.com/" }, ID, ORIGIN), null); // no tab: not a content script
  assert.equal(senderKind({ id: ID, url: "file:///tmp/x.html", tab: { id: 1 } }, ID, ORIGIN), null);
  assert.equal(senderKind(undefined, ID, ORIGIN), null);
});

test("a content script cannot ask for privileged answers; pages cannot check posts", () => {
  assert.ok(allowed("check", "content"));
  assert.ok(!allowed("check", "page"));
  assert.ok(!allowed("me-link", "content"));
  assert.ok(!allowed("settings-changed", "content"));
  assert.ok(allowed("decision", "page") && allowed("decision", "content"));
  assert.ok(!allowed("show-pending", "content"));
  assert.ok(!allowed("no-such-message", "page"));
  assert.ok(!allowed("status", null));
  assert.ok(Object.keys(MESSAGES).length >= 10);
});

test("a held upload goes to the tab on the same host first, then the same site, the active one first", () => {
  const tabs = [
    { id: 1, url: "https://www.facebook.com/groups/x", active: false, lastAccessed: 50 },
    { id: 2, url: "https://m.facebook.com/", active: true, lastAccessed: 10 },
    { id: 3, url: "https://upload.facebook.com/", active: false, lastAccessed: 1 },
    { id: 4, url: "https://x.com/", active: true, lastAccessed: 99 },
  ];
  assert.equal(pickTab("https://upload.facebook.com/ajax/upload", tabs), 3);
  assert.equal(pickTab("https://graph.facebook.com/me/photos", tabs), 2);
  assert.equal(pickTab("https://x.com/i/api/graphql", tabs), 4);
  assert.equal(pickTab("https://www.instagram.com/create", tabs), null);
  assert.equal(pickTab("not a url", tabs), null);
  assert.equal(pickTab("http://127.0.0.1:8123/upload", [{ id: 9, url: "http://127.0.0.1:8123/" },
    { id: 8, url: "http://127.0.0.1:8765/admin/" }]), 9);
});

test("a site keeps the second level of co.uk and sch.uk style names", () => {
  assert.equal(siteOf("upload.facebook.com"), "facebook.com");
  assert.equal(siteOf("www.stmarys.sch.uk"), "stmarys.sch.uk");
  assert.equal(siteOf("nextdoor.co.uk"), "nextdoor.co.uk");
  assert.equal(siteOf("127.0.0.1"), "127.0.0.1");
  assert.equal(siteOf("localhost"), "localhost");
});

test("only a content script may ask about a contact or answer one", () => {
  for (const name of ["contact-check", "contact-decision"]) {
    assert.ok(allowed(name, "content"), name);
    assert.ok(!allowed(name, "page"), name);
    assert.ok(!allowed(name, null), name);
  }
});
