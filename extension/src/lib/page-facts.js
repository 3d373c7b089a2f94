// What the content script reports from a page: which buttons post, which fields to send, which files are new.
// Plain module, no browser globals: the content script hands it plain descriptions of elements.

const POST_LABEL = /^(post|publish|save|share|tweet|reply|send|upload|submit|update|schedule|create post|add post)\b/i;
const NOT_POST = /\b(draft|settings|search|cancel|preferences|filter|sort)\b/i;
const SKIP_TYPES = new Set(["password", "hidden", "file", "submit", "button", "reset", "image", "checkbox", "radio",
  "range", "color"]);
const SKIP_AUTOCOMPLETE = /^(cc-|one-time-code|current-password|new-password)/;
export const MAX_FIELD = 20000; // characters of one field sent for checking
export const MAX_FILE = 40 * 1024 * 1024; // bytes: larger files are not checked here (the proxy still sees them)

/** Whether a button's visible label or accessible name reads like Post / Publish / Save. */
export function isPostLabel(label) {
  const text = String(label ?? "").replace(/\s+/g, " ").trim();
  if (!text || text.length > 40) return false;
  return POST_LABEL.test(text) && !NOT_POST.test(text);
}

/** [[name, value]] for /check from field descriptions {name, type, value, autocomplete, tag}: text the person typed,
 * never passwords, hidden tokens, card numbers or one-time codes. */
export function fieldsToSend(fields) {
  const out = [];
  for (const f of fields ?? []) {
    const type = String(f.type ?? "text").toLowerCase();
    if (SKIP_TYPES.has(type)) continue;
    if (SKIP_AUTOCOMPLETE.test(String(f.autocomplete ?? "").toLowerCase().replace(/^section-\S+\s+/, ""))) continue;
    const value = String(f.value ?? "");
    if (!value.trim()) continue;
    out.push([String(f.name || f.tag || "text"), value.length > MAX_FIELD ? value.slice(0, MAX_FIELD) : value]);
  }
  return out;
}

/** A file's identity while it sits in an input: enough to notice the person picked another one. */
export function fileKey(file) {
  return `${file.name}\u0000${file.size}\u0000${file.lastModified}\u0000${file.type}`;
}

/** Which of these files still need checking, given the keys already settled. */
export function unsettled(files, settledKeys) {
  return [...(files ?? [])].filter((f) => !settledKeys?.has(fileKey(f)));
}

/** Files too large to send for checking (they go ahead; the proxy inspects them if it runs). */
export function splitBySize(files, max = MAX_FILE) {
  const small = [];
  const large = [];
  for (const f of files ?? []) (f.size > max ? large : small).push(f);
  return { small, large };
}
