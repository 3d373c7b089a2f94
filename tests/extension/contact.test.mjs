import { test } from "node:test";
import assert from "node:assert/strict";
import { cleanName, contactAction, describeContact, nameSelectors, pickName } from "../../extension/src/lib/contact.js";

test("friend, follow and message buttons are contact actions, as each platform labels them", () => {
  const cases = [
    ["Add friend", "friend", ""], ["Add Friend", "friend", ""], ["Confirm request", "friend", ""],
    ["Confirm", "friend", ""], ["Accept", "friend", ""], ["Add Jamie Smith as a friend", "friend", "Jamie Smith"],
    ["Follow", "follow", ""], ["Follow back", "follow", ""], ["Follow @jamiesmith07", "follow", "@jamiesmith07"],
    ["Message", "message", ""], ["Message Jamie", "message", "Jamie"], ["  Message\n", "message", ""],
  ];
  for (const [label, action, who] of cases) {
    assert.deepEqual(contactAction(label), { action, who }, label);
  }
});

test("buttons that undo, list or only look are not contact actions", () => {
  for (const label of ["Following", "Unfollow", "Followers", "Friends", "Cancel request", "Remove friend",
    "Requested", "Send", "Post", "Send message", "Messages", "Add to story", "Block", "Report", "",
    "Follow ".repeat(30)]) {
    assert.equal(contactAction(label), null, label);
  }
});

test("the name comes from the card, then the profile, then the label, cleaned", () => {
  assert.equal(pickName({ label: "", card: "", profile: "Jamie Smith" }), "Jamie Smith");
  assert.equal(pickName({ label: "@jamiesmith07", profile: "Jamie Smith" }), "Jamie Smith");
  assert.equal(pickName({ label: "@jamie_smith07", profile: "" }), "jamie_smith07");
  assert.equal(pickName({ label: "", card: "Chloé O'Brien", profile: "Page Owner" }), "Chloé O'Brien");
  assert.equal(pickName({ label: "", card: "12345", profile: "" }), "", "no letters: nothing to check");
  assert.equal(cleanName("Jamie Smith's profile"), "Jamie Smith");
  assert.equal(cleanName("Jamie Smith · Follow"), "Jamie Smith");
  assert.equal(cleanName("x".repeat(400)).length, 255);
});

test("each platform's profile name has its own place, others the generic one", () => {
  assert.equal(nameSelectors("www.facebook.com")[0], "[role='main'] h1");
  assert.ok(nameSelectors("www.instagram.com").some((s) => s.includes("header")));
  assert.ok(nameSelectors("x.com")[0].includes("UserName"));
  assert.ok(nameSelectors("www.tiktok.com")[0].includes("user-subtitle"));
  assert.deepEqual(nameSelectors("example.org"), ["[role='main'] h1", "main h1", "h1"]);
});

test("the contact dialog leads with Cancel, then Report to the DSL and Not a pupil, each asking a reason", () => {
  const result = { check_id: "c", decision: "warn", reasons: ["Someone else with the same name"], findings: [{
    rule: "contact.pupil", severity: "high", action: "warn", target: "contact",
    message: "This person's name matches a pupil on your school's roster.",
    policy: [{ ref: "6.6", text: "Staff members must decline ‘friend requests’ from pupils ..." }] }] };
  const m = describeContact(result, "friend");
  assert.equal(m.title, "This may be one of your pupils");
  assert.deepEqual(m.buttons.map((b) => [b.choice, b.text, Boolean(b.primary)]), [
    ["cancel", "Cancel", true], ["report", "Report to the DSL", false], ["not_pupil", "Not a pupil", false]]);
  assert.equal(m.buttons[0].step, undefined, "Cancel ends it at once");
  assert.deepEqual(m.buttons[2].step.reasons, ["Someone else with the same name"]);
  assert.ok(m.buttons[1].step.reasons.length > 0);
  assert.deepEqual(m.clauses, [{ ref: "6.6",
    text: "Staff members must decline ‘friend requests’ from pupils ..." }]);
  assert.equal(m.canRemove, false);
  assert.match(m.lead, /^Befriending a pupil/);
});
