// Decisions that could not reach the service yet (it stopped, or the computer went to sleep): kept in storage and
// sent again later with the same idempotency key, so the service logs each decision once. Plain module.

export const MAX_ITEMS = 200;
export const MAX_AGE_MS = 55 * 60 * 1000; // the service forgets a check after an hour

/** The list with `body` added (oldest dropped past MAX_ITEMS). `kind` names the endpoint it goes to: "decision"
 * (/decision) or "contact" (/contact/decision: a contact answered in the page, a report to the DSL among them). */
export function enqueue(list, body, now = Date.now(), kind = "decision") {
  return [...(list ?? []), { body, queuedAt: now, tries: 0, kind }].slice(-MAX_ITEMS);
}

/** Items still worth sending: a held post's answer only while the proxy may wait, a check's within the hour. */
export function due(list, now = Date.now()) {
  return (list ?? []).filter((item) => now - item.queuedAt < (item.body.pending_id ? 10 * 60 * 1000 : MAX_AGE_MS));
}

/** A fresh idempotency key for one decision. */
export function newKey(random = Math.random) {
  let s = "";
  for (let i = 0; i < 4; i++) s += Math.floor(random() * 0x100000000).toString(16).padStart(8, "0");
  return `ext-${s}`;
}
