// Who may ask the service worker for what, and which tab shows a post the proxy holds. Plain module, no browser
// globals.

/** Message names, in one place. `from` says who may send it: "content" (a content script in a tab), "page" (the
 * extension's own pages: popup, options, decide) or "worker" (the service worker, to a tab). */
export const MESSAGES = Object.freeze({
  "page-hello": "content", // {url} -> {watch}
  check: "content", // {url, method, fields, files} -> {ok, result} | {ok: false, error}
  strip: "content", // {file} -> {ok, file} | {ok: false, error}
  decision: "content+page", // {check_id | pending_id, choice, reason, url, title} -> {ok, queued}
  "contact-check": "content", // {url, action, name} -> {ok, result} | {ok: false, error}
  "contact-decision": "content", // {check_id, choice, reason, url, title} -> {ok, decision}
  status: "page", // {} -> what the popup shows
  "me-link": "page", // {} -> {ok, url}
  "settings-changed": "page", // {} -> {ok, status}
  "get-pending": "page", // {pending_id} -> {ok, pending}
  "show-pending": "worker", // to a tab: {pending, reasons} -> {shown}
  "pending-ended": "worker", // to a tab: {pending_id, state}
  notice: "worker", // to a tab: {message}
});

/** "content" for a content script in a tab, "page" for one of this extension's pages, or null for anything else
 * (another extension, a web page, a message with no sender). */
export function senderKind(sender, extensionId, extensionOrigin) {
  if (!sender || sender.id !== extensionId) return null;
  const url = String(sender.url ?? "");
  const origin = String(sender.origin ?? "");
  if (url.startsWith(`${extensionOrigin}/`) || origin === extensionOrigin) return "page";
  if (sender.tab && typeof sender.tab.id === "number" && /^https?:/.test(url)) return "content";
  return null;
}

/** Whether a message of this name may come from this kind of sender. */
export function allowed(name, kind) {
  const who = MESSAGES[name];
  if (!who || !kind) return false;
  return who.split("+").includes(kind);
}

/** The site part of a host, for matching a held upload to the tab that made it: "upload.facebook.com" and
 * "www.facebook.com" share "facebook.com"; "stmarys.sch.uk" style second levels are kept. */
export function siteOf(host) {
  const h = String(host).toLowerCase().replace(/\.$/, "");
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(h) || h.startsWith("[") || !h.includes(".")) return h;
  const labels = h.split(".");
  const second = labels[labels.length - 2];
  const keep = labels.length >= 3 && labels[labels.length - 1].length === 2 &&
    ["co", "ac", "gov", "org", "sch", "net", "com", "ltd", "plc", "me", "nhs", "police"].includes(second) ? 3 : 2;
  return labels.slice(-keep).join(".");
}

function hostOf(url) {
  try {
    const u = new URL(url);
    return u.host;
  } catch {
    return "";
  }
}

function hostnameOf(url) {
  try {
    return new URL(url).hostname;
  } catch {
    return "";
  }
}

/** The tab that should show a held post: same host and port first, then the same site; the active tab, then
 * the most recently used. `tabs`: [{id, url, active, lastAccessed}]. null when no tab matches. */
export function pickTab(pendingUrl, tabs) {
  const host = hostOf(pendingUrl);
  const site = siteOf(hostnameOf(pendingUrl));
  if (!host) return null;
  const scored = [];
  for (const tab of tabs ?? []) {
    if (typeof tab.id !== "number" || !tab.url) continue;
    let score = 0;
    if (hostOf(tab.url) === host) score = 2;
    else if (siteOf(hostnameOf(tab.url)) === site) score = 1;
    if (score) scored.push({ tab, score });
  }
  scored.sort((a, b) => b.score - a.score || Number(Boolean(b.tab.active)) - Number(Boolean(a.tab.active)) ||
    (b.tab.lastAccessed ?? 0) - (a.tab.lastAccessed ?? 0));
  return scored.length ? scored[0].tab.id : null;
}
