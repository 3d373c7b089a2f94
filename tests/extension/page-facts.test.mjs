import { test } from "node:test";
import assert from "node:assert/strict";
import { MAX_FIELD, fieldsToSend, fileKey, isPostLabel, splitBySize, unsettled } from "../../extension/src/lib/page-facts.js";

for (const label of ["Post", "Publish", "Save", "Save changes", "Share", "Tweet", "Reply", "Upload", "Send", "post now"]) {
  test(`"${label}" is a posting button`, () => assert.ok(isPostLabel(label)));
}
for (const label of ["Postcode", "Save draft", "Search", "Cancel", "Posters", "Publisher settings", "", "Share".repeat(10)]) {
  test(`"${label.slice(0, 20)}" is not a posting button`, () => assert.ok(!isPostLabel(label)));
}

test("only what the person typed is sent: no passwords, hidden tokens, card numbers or codes", () => {
  const fields = [
    { name: "email", type: "email", value: "j.smith@stmarys.sch.uk" },
    { name: "password", type: "password", value: "hunter2" },
    { name: "csrf", type: "hidden", value: "abc" },
    { name: "card", type: "text", autocomplete: "cc-number", value: "4111111111111111" },
    { name: "otp", type: "text", autocomplete: "section-a one-time-code", value: "123456" },
    { name: "message", type: "textarea", value: "Sports day!" },
    { name: "empty", type: "text", value: "   " },
    { name: "", type: "text", tag: "contenteditable", value: "From the editor" },
  ];
  assert.deepEqual(fieldsToSend(fields), [["email", "j.smith@stmarys.sch.uk"], ["message", "Sports day!"],
    ["contenteditable", "From the editor"]]);
  assert.equal(fieldsToSend([{ name: "long", value: "x".repeat(MAX_FIELD + 5) }])[0][1].length, MAX_FIELD);
});

test("a file picked again is recognised; another file is not", () => {
  const a = { name: "a.jpg", size: 10, lastModified: 1, type: "image/jpeg" };
  const b = { ...a, size: 11 };
  assert.deepEqual(unsettled([a, b], new Set([fileKey(a)])), [b]);
  assert.deepEqual(unsettled([a], undefined), [a]);
  assert.deepEqual(splitBySize([a, { ...a, size: 100 }], 50), { small: [a], large: [{ ...a, size: 100 }] });
});
