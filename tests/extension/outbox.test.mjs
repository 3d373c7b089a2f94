import { test } from "node:test";
import assert from "node:assert/strict";
import { MAX_ITEMS, due, enqueue, newKey } from "../../extension/src/lib/outbox.js";

test("decisions wait in order, the oldest dropped past the limit", () => {
  let list = [];
  for (let i = 0; i <= MAX_ITEMS; i++) list = enqueue(list, { check_id: `c${i}`, choice: "cancel" }, 1000 + i);
  assert.equal(list.length, MAX_ITEMS);
  assert.equal(list[0].body.check_id, "c1");
});

test("a check's decision is kept under an hour, a held post's ten minutes", () => {
  const now = 10 * 60 * 60 * 1000;
  const list = [
    { body: { check_id: "fresh" }, queuedAt: now - 50 * 60 * 1000 },
    { body: { check_id: "old" }, queuedAt: now - 56 * 60 * 1000 },
    { body: { pending_id: "held" }, queuedAt: now - 9 * 60 * 1000 },
    { body: { pending_id: "late" }, queuedAt: now - 11 * 60 * 1000 },
  ];
  assert.deepEqual(due(list, now).map((i) => i.body.check_id ?? i.body.pending_id), ["fresh", "held"]);
});

test("idempotency keys differ", () => {
  assert.notEqual(newKey(), newKey());
  assert.match(newKey(), /^ext-[0-9a-f]{32}$/);
});

test("a contact answer is queued for its own endpoint; older items stay decisions", () => {
  const list = enqueue(enqueue([], { check_id: "a", choice: "cancel" }, 1000), { check_id: "b", choice: "report" },
    2000, "contact");
  assert.deepEqual(list.map((i) => i.kind), ["decision", "contact"]);
});
