// The service worker: the only part that talks to the local service and decides. One onMessage router; every
// message's sender is checked first. State lives in chrome.storage (the worker may be stopped at any moment):
//   local:   settings (typed on the options page), status (last /health), scope (the service's host list),
//            reasons (the pack's override reasons), recent (the last warnings), outbox (decisions not yet sent)
//   session: shown (held posts already put in front of the person), stream (the last event id seen)

import { alarms, identity, native, notifications, permissions, runtime, scripting, storage, tabs, toolbar } from "../platform.js";
import { describe, protectionStatus, pushRecent, recentEntry } from "../lib/findings.js";
import { due, enqueue, newKey } from "../lib/outbox.js";
import { allowed, pickTab, senderKind } from "../lib/routing.js";
import {
  hostsFromPatterns, isIp, matchPatterns, notCovered, pageInScope, parseHostEntry, parsePac,
} from "../lib/scope.js";
import { ServiceError, createClient } from "../lib/service.js";
import { Choice } from "../lib/vocabulary.js";
import { effective } from "../lib/settings.js";
import { reportIdentity } from "../lib/identity.js";
import { askHost, withHost } from "../lib/native.js";
import { createSseParser, jsonData, readStream } from "../lib/sse.js";

const TICK = "postguard-tick";
const DYNAMIC_SCRIPT = "postguard-extra-hosts";
const SCOPE_MAX_AGE_MS = 60 * 60 * 1000;
const HEALTH_MAX_AGE_MS = 60 * 1000;

// -- settings, the client, and what the worker knows --------------------------------------------------------------

const NATIVE_RETRY_MS = 5 * 60 * 1000;

/** The service's address and token from PostGuard's native host (a deployed laptop: nothing to paste), asked once a
 * browser session and kept in session storage (the worker may stop); no host is asked again after 5 minutes. */
async function hostSettings() {
  const { nativeHost } = await storage.session.get("nativeHost");
  if (nativeHost && (nativeHost.values || Date.now() - nativeHost.at < NATIVE_RETRY_MS)) return nativeHost.values ?? null;
  const values = await askHost(native.send);
  await storage.session.set({ nativeHost: { values, at: Date.now() } });
  return values;
}

async function settings() {
  const [managed, local, host] = await Promise.all([storage.managed(), storage.local.get("settings"), hostSettings()]);
  return effective(withHost(managed, host), local.settings ?? {});
}

function clientFor(cfg, timeoutMs = 8000) {
  return createClient({ baseUrl: cfg.values.serviceUrl, token: cfg.values.token, timeoutMs,
    fetch: (url, init) => fetch(url, init) });
}

async function getLocal(key, fallback) {
  return (await storage.local.get(key))[key] ?? fallback;
}

/** Record whether the service answered; the toolbar badge follows. */
async function noteStatus(patch) {
  const before = await getLocal("status", {});
  const status = { ...before, ...patch, checkedAt: Date.now() };
  if (patch.reachable) {
    delete status.error;
    delete status.errorKind;
  }
  await storage.local.set({ status });
  if (status.reachable) {
    toolbar.setBadge("");
    toolbar.setTitle("PostGuard: protection is on");
  } else {
    toolbar.setBadge("!");
    toolbar.setTitle(status.configured === false ? "PostGuard is not set up yet: posts are not being checked" :
      "PostGuard cannot reach its service: posts are not being checked");
  }
  return status;
}

async function noteError(e) {
  if (e.kind === "auth") await storage.session.set({ nativeHost: null }); // a rotated token: ask the host again
  if (["unreachable", "timeout", "auth", "origin", "host"].includes(e.kind)) {
    await noteStatus({ reachable: false, configured: true, error: e.message, errorKind: e.kind });
  }
}

/** The built-in scope: the hosts in the manifest (generated from rules/platforms.toml). */
function manifestHosts() {
  return hostsFromPatterns(runtime.manifest().content_scripts?.[0]?.matches ?? []);
}

async function scopeHosts() {
  const scope = await getLocal("scope", null);
  return scope?.hosts?.length ? scope.hosts : manifestHosts();
}

async function watches(url) {
  const cfg = await settings();
  return pageInScope(url, await scopeHosts(), cfg.values.extraHosts);
}

// -- keeping up to date -----------------------------------------------------------------------------------------

// The refresh under way in this worker, so the alarm, a settings change and a page's hello share one.
let refreshing = null;

/** Health, then (when it answers) the scope, the override reasons, unsent decisions, held posts and the stream. */
function refresh({ force = false } = {}) {
  if (refreshing && !force) return refreshing;
  const run = (refreshing ?? Promise.resolve()).catch(() => {}).then(() => refreshNow({ force }));
  refreshing = run.finally(() => {
    if (refreshing === wrapped) refreshing = null;
  });
  const wrapped = refreshing;
  return run;
}

async function refreshNow({ force }) {
  const cfg = await settings();
  if (!cfg.configured) {
    await noteStatus({ reachable: false, configured: false, error: "" });
    await syncScripts(cfg);
    return;
  }
  const client = clientFor(cfg, 4000);
  let health;
  try {
    health = await client.health();
  } catch (e) {
    if (!(e instanceof ServiceError)) throw e;
    await noteError(e);
    await syncScripts(cfg);
    return;
  }
  const before = await getLocal("status", {});
  let pixels = true; // an older service, or no answer: photos are sent whole, as before
  let previews = false; // whether the service takes a downscaled copy as a photo's pixels (then slices still go)
  try {
    const needs = await client.photoNeeds();
    pixels = needs.pixels !== false;
    previews = needs.previews === true;
  } catch {
    // asked again on the next refresh
  }
  await noteStatus({ reachable: true, configured: true, health, pixels, previews });
  try {
    await reportIdentity({
      getProfileUserInfo: identity.getProfileUserInfo(),
      send: (email) => client.identity(email),
      remembered: async () => (await storage.session.get("identityTold")).identityTold ?? "",
      remember: (email) => storage.session.set({ identityTold: email }),
    });
  } catch {
    // told on the next refresh
  }
  const scope = await getLocal("scope", null);
  if (force || !scope || scope.packId !== health.pack?.id || Date.now() - scope.fetchedAt > SCOPE_MAX_AGE_MS ||
      before.health?.pack?.id !== health.pack?.id) {
    try {
      const hosts = parsePac(await client.pac());
      await storage.local.set({ scope: { hosts, packId: health.pack?.id, fetchedAt: Date.now() } });
    } catch (e) {
      console.warn("PostGuard: could not read the scope from the service:", e.message);
    }
  }
  if (force || !(await getLocal("reasons", null)) || before.health?.pack?.id !== health.pack?.id) {
    try { // an empty check logs nothing and tells the pack's override reasons (and warms the engine up)
      const empty = await client.check({ url: "", fields: [], files: [] });
      await storage.local.set({ reasons: empty.override_reasons ?? [] });
    } catch {
      // asked again on the next refresh
    }
  }
  await syncScripts(cfg);
  await flushOutbox(client);
  await pollPending(client);
  ensureStream();
}

/** Content scripts for hosts outside the manifest's list (the admin's extra hosts, a pack's includes), where the
 * extension has host access. Registered scripts persist; they are replaced only when the list changes. */
async function syncScripts(cfg) {
  const wanted = notCovered([...(await scopeHosts()), ...cfg.values.extraHosts], manifestHosts());
  const matches = [];
  for (const entry of wanted) {
    const { host } = parseHostEntry(entry);
    for (const scheme of ["https", "http"]) {
      const [pattern] = matchPatterns([host], scheme);
      if (!matches.includes(pattern) && await permissions.contains([pattern]).catch(() => false)) matches.push(pattern);
    }
  }
  const current = (await scripting.registered()).find((s) => s.id === DYNAMIC_SCRIPT);
  const same = current && current.runAt === "document_start" &&
    JSON.stringify([...current.matches].sort()) === JSON.stringify([...matches].sort());
  if (same || (!current && !matches.length)) return;
  if (current) await scripting.unregister([DYNAMIC_SCRIPT]);
  if (matches.length) {
    await scripting.register([{ id: DYNAMIC_SCRIPT, matches, js: ["bundle/content.js"], runAt: "document_start",
      persistAcrossSessions: true }]);
  }
}

/** Hosts the extension should watch but has no access to (the options page offers to grant it). */
async function missingHosts(cfg) {
  const wanted = notCovered([...(await scopeHosts()), ...cfg.values.extraHosts], manifestHosts());
  const missing = [];
  for (const entry of wanted) {
    const { host } = parseHostEntry(entry);
    const patterns = ["https", "http"].map((s) => matchPatterns([host], s)[0]);
    const any = await Promise.all(patterns.map((p) => permissions.contains([p]).catch(() => false)));
    if (!any.some(Boolean)) missing.push({ host: entry, patterns: isIp(host) ? [patterns[1]] : patterns });
  }
  return missing;
}

// -- decisions ----------------------------------------------------------------------------------------------------

async function sendDecision(body) {
  const cfg = await settings();
  if (!cfg.configured) {
    await storage.local.set({ outbox: enqueue(await getLocal("outbox", []), body) });
    return { ok: true, queued: true };
  }
  try {
    const answer = await clientFor(cfg, 5000).decision(body);
    return { ok: true, decision: answer.decision };
  } catch (e) {
    if (!(e instanceof ServiceError)) throw e;
    if (["unreachable", "timeout", "server"].includes(e.kind)) {
      await noteError(e);
      await storage.local.set({ outbox: enqueue(await getLocal("outbox", []), body) });
      return { ok: true, queued: true };
    }
    return { ok: false, error: e.toJSON() };
  }
}

async function flushOutbox(client) {
  const items = due(await getLocal("outbox", []));
  if (!items.length) {
    await storage.local.remove("outbox");
    return;
  }
  const left = [];
  for (const item of items) {
    try {
      await (item.kind === "contact" ? client.contactDecision(item.body) : client.decision(item.body));
    } catch (e) {
      if (e instanceof ServiceError && ["unreachable", "timeout", "server"].includes(e.kind)) left.push(item);
      else console.warn("PostGuard: a saved decision was refused:", e.message);
    }
  }
  await storage.local.set({ outbox: left });
}

async function onDecision(msg, kind) {
  const choice = msg.choice;
  if (!Object.values(Choice).includes(choice)) {
    return { ok: false, error: { kind: "invalid", message: "unknown choice" } };
  }
  const body = { choice, url: String(msg.url ?? ""), idempotency_key: newKey() };
  if (msg.pending_id) body.pending_id = String(msg.pending_id);
  else body.check_id = String(msg.check_id ?? "");
  if (choice === Choice.POST_ANYWAY) body.reason = String(msg.reason ?? "");
  let host = "";
  try {
    host = new URL(body.url).host;
  } catch {
    // no page address: the entry shows no site
  }
  if (msg.title) {
    await storage.local.set({ recent: pushRecent(await getLocal("recent", []),
      recentEntry({ title: msg.title, host, choice, reason: body.reason })) });
  }
  const reply = await sendDecision(body);
  if (body.pending_id) await forgetPending(body.pending_id, kind === "content" ? "answered-here" : "answered");
  return reply;
}

// -- posts the proxy holds -----------------------------------------------------------------------------------------

let showing = Promise.resolve(); // one at a time, so the stream and a poll never show the same post twice

function showPending(pending) {
  showing = showing.then(() => showPendingNow(pending)).catch((e) => console.warn("PostGuard:", e));
  return showing;
}

async function showPendingNow(pending) {
  if (!pending?.pending_id || pending.state !== "pending") return;
  const shown = (await storage.session.get("shown")).shown ?? {};
  if (shown[pending.pending_id]) return;
  const reasons = await getLocal("reasons", []);
  let where = null;
  const tabId = pickTab(pending.url, await tabs.query({}));
  if (tabId !== null) {
    try {
      const reply = await tabs.send(tabId, { type: "show-pending", pending, reasons });
      if (reply?.shown) where = { tabId };
    } catch {
      // no content script in that tab (a page PostGuard does not watch, or still loading)
    }
  }
  if (!where) {
    const summary = pending.summary ?? {};
    const model = describe({ decision: summary.decision, findings: summary.findings ?? [] },
      { kind: "held", reasons });
    let host = "";
    try {
      host = new URL(pending.url).host;
    } catch {
      // no page address
    }
    await notifications.create(`pending:${pending.pending_id}`, {
      title: `PostGuard is holding your post${host ? ` to ${host}` : ""}`,
      message: `${model.items[0]?.message ?? model.title} Choose what to do.`,
      buttons: ["Cancel the post", "Decide…"],
    });
    where = { notification: true };
  }
  const now = Date.now();
  for (const [id, v] of Object.entries(shown)) if (now - v.at > 30 * 60 * 1000) delete shown[id];
  shown[pending.pending_id] = { ...where, at: now };
  await storage.session.set({ shown });
}

async function forgetPending(pendingId, state) {
  const shown = (await storage.session.get("shown")).shown ?? {};
  const where = shown[pendingId];
  if (!where || where.done) return;
  shown[pendingId] = { ...where, done: true };
  await storage.session.set({ shown });
  if (where.notification) await notifications.clear(`pending:${pendingId}`).catch(() => {});
  if (where.tabId !== undefined && state !== "answered-here") {
    await tabs.send(where.tabId, { type: "pending-ended", pending_id: pendingId, state }).catch(() => {});
  }
}

async function pollPending(client) {
  try {
    const { pending } = await client.pending();
    for (const p of pending ?? []) await showPending(p);
  } catch (e) {
    if (e instanceof ServiceError) await noteError(e);
  }
}

async function showNotice(notice) {
  const tabId = notice.url ? pickTab(notice.url, await tabs.query({})) : null;
  if (tabId !== null) {
    const reply = await tabs.send(tabId, { type: "notice", message: notice.message, tone: "ok" }).catch(() => null);
    if (reply?.shown) return;
  }
  await notifications.create(`notice:${Date.now()}`, { title: "PostGuard", message: String(notice.message) });
}

// The open /stream connection of this worker: a handle, not state (it ends with the worker; the alarm reopens it).
let stream = null;

function ensureStream() {
  if (stream) return;
  stream = (async () => {
    const cfg = await settings();
    if (!cfg.configured) return false;
    const saved = (await storage.session.get("stream")).stream ?? {};
    const response = await clientFor(cfg).stream(saved.lastEventId);
    const parser = createSseParser((message) => {
      storage.session.set({ stream: { lastEventId: message.id } });
      const data = jsonData(message);
      if (!data) return;
      if (message.event === "pending") showPending(data);
      else if (message.event === "decided") forgetPending(data.pending_id, "decided");
      else if (message.event === "expired") forgetPending(data.pending_id, "expired");
      else if (message.event === "notice") showNotice(data).catch(() => {});
    });
    await readStream(response, parser);
    return true; // the service ended the stream on time: open the next one
  })().catch((e) => {
    if (e instanceof ServiceError) noteError(e);
    return false;
  }).then((again) => {
    stream = null;
    if (again) setTimeout(ensureStream, 500);
  });
}

// -- messages -------------------------------------------------------------------------------------------------------

async function onCheck(msg) {
  const cfg = await settings();
  if (!cfg.configured) return { ok: false, error: { kind: "setup", message: "PostGuard is not set up." } };
  try {
    const result = await clientFor(cfg).check({ url: String(msg.url ?? ""), method: String(msg.method ?? "POST"),
      fields: Array.isArray(msg.fields) ? msg.fields : [], files: Array.isArray(msg.files) ? msg.files : [] });
    const status = await getLocal("status", {});
    if (!status.reachable) refresh().catch(() => {});
    if (result.override_reasons) storage.local.set({ reasons: result.override_reasons });
    return { ok: true, result };
  } catch (e) {
    if (!(e instanceof ServiceError)) throw e;
    await noteError(e);
    return { ok: false, error: e.toJSON() };
  }
}

const CONTACT_ACTIONS = new Set(["friend", "follow", "message"]);
const CONTACT_CHOICES = new Set(["cancel", "report", "not_pupil"]);

/** A friend/follow/message action: the service answers from the roster's keyed hashes (the roster stays there). */
async function onContactCheck(msg, pageUrl) {
  const cfg = await settings();
  if (!cfg.configured) return { ok: false, error: { kind: "setup", message: "PostGuard is not set up." } };
  if (!CONTACT_ACTIONS.has(msg.action) || typeof msg.name !== "string" || !msg.name.trim()) {
    return { ok: false, error: { kind: "invalid", message: "a contact check needs an action and a name" } };
  }
  try {
    const result = await clientFor(cfg, 5000).contactCheck({ url: pageUrl, action: msg.action,
      name: msg.name.slice(0, 255) });
    return { ok: true, result };
  } catch (e) {
    if (!(e instanceof ServiceError)) throw e;
    await noteError(e);
    return { ok: false, error: e.toJSON() };
  }
}

async function onContactDecision(msg, pageUrl) {
  if (!CONTACT_CHOICES.has(msg.choice)) return { ok: false, error: { kind: "invalid", message: "unknown choice" } };
  const cfg = await settings();
  const body = { check_id: String(msg.check_id ?? ""), choice: msg.choice, url: pageUrl, idempotency_key: newKey() };
  if (msg.reason) body.reason = String(msg.reason);
  let host = "";
  try {
    host = new URL(pageUrl).host;
  } catch {
    // no page address
  }
  const shown = { cancel: Choice.CANCEL, report: Choice.CANCEL, not_pupil: Choice.POST_ANYWAY }[msg.choice];
  await storage.local.set({ recent: pushRecent(await getLocal("recent", []), recentEntry({
    title: msg.choice === "report" ? "Reported to the DSL: contact from a pupil" : String(msg.title ?? "Contact"),
    host, choice: shown, reason: msg.choice === "not_pupil" ? body.reason : "" })) });
  try {
    const answer = await clientFor(cfg, 5000).contactDecision(body);
    return { ok: true, decision: answer.decision };
  } catch (e) {
    if (!(e instanceof ServiceError)) throw e;
    await noteError(e);
    if (["unreachable", "timeout", "server"].includes(e.kind)) { // sent again later: a report is never lost
      await storage.local.set({ outbox: enqueue(await getLocal("outbox", []), body, Date.now(), "contact") });
      return { ok: true, queued: true };
    }
    return { ok: false, error: e.toJSON() };
  }
}

async function onStrip(msg) {
  const cfg = await settings();
  if (!cfg.configured) return { ok: false, error: { kind: "setup", message: "PostGuard is not set up." } };
  try {
    return { ok: true, file: await clientFor(cfg, 30000).strip(msg.file) };
  } catch (e) {
    if (!(e instanceof ServiceError)) throw e;
    await noteError(e);
    return { ok: false, error: e.toJSON() };
  }
}

async function onStatus() {
  await refresh();
  const cfg = await settings();
  const status = await getLocal("status", {});
  return {
    ok: true,
    configured: cfg.configured,
    reachable: Boolean(status.reachable),
    health: status.health ?? null,
    headline: protectionStatus({ configured: cfg.configured, reachable: status.reachable, health: status.health,
      error: status.error, errorKind: status.errorKind, expectedPack: cfg.values.pack }),
    recent: await getLocal("recent", []),
    queued: (await getLocal("outbox", [])).length,
    settings: { ...cfg.values, token: cfg.values.token ? "set" : "" },
    managed: cfg.managed,
    problems: cfg.problems,
    missingHosts: await missingHosts(cfg),
    origin: runtime.origin(),
  };
}

async function onMeLink() {
  const cfg = await settings();
  if (!cfg.configured) return { ok: false, error: { kind: "setup", message: "PostGuard is not set up." } };
  try {
    const url = await clientFor(cfg, 4000).meLink();
    await tabs.create({ url });
    return { ok: true, url };
  } catch (e) {
    if (!(e instanceof ServiceError)) throw e;
    await noteError(e);
    return { ok: false, error: e.toJSON() };
  }
}

async function onGetPending(msg) {
  const cfg = await settings();
  try {
    const { pending } = await clientFor(cfg, 4000).pending();
    const found = (pending ?? []).find((p) => p.pending_id === msg.pending_id);
    return found ? { ok: true, pending: found, reasons: await getLocal("reasons", []) } :
      { ok: false, error: { kind: "gone", message: "This post is no longer waiting: it was answered or timed out." } };
  } catch (e) {
    if (!(e instanceof ServiceError)) throw e;
    return { ok: false, error: e.toJSON() };
  }
}

runtime.onMessage((msg, sender) => {
  const kind = senderKind(sender, runtime.id(), runtime.origin());
  if (!msg || typeof msg.type !== "string" || !allowed(msg.type, kind)) return undefined;
  const pageUrl = sender.url ?? "";
  switch (msg.type) {
    case "page-hello":
      return watches(pageUrl).then((watch) => {
        if (watch) {
          getLocal("status", {}).then((s) => {
            if (!s.checkedAt || Date.now() - s.checkedAt > HEALTH_MAX_AGE_MS) refresh().catch(() => {});
            else ensureStream();
          });
        }
        // slices: a big photo may be checked by its metadata, read by slices, when its pixels cannot matter to the
        // service, or when they can and the service takes a downscaled copy as them (`previews`: send one)
        return getLocal("status", {}).then((s) => ({ watch,
          slices: s.reachable === true && (s.pixels === false || s.previews === true),
          previews: s.reachable === true && s.pixels !== false && s.previews === true }));
      });
    case "check":
    case "strip":
    case "decision":
      if (kind === "content") {
        // only a page PostGuard watches may send its posts to the service
        return watches(pageUrl).then((ok) => (!ok ? { ok: false, error: { kind: "scope", message: "not in scope" } } :
          msg.type === "check" ? onCheck(msg) : msg.type === "strip" ? onStrip(msg) : onDecision(msg, kind)));
      }
      return onDecision(msg, kind);
    case "contact-check":
    case "contact-decision":
      return watches(pageUrl).then((ok) => (!ok ? { ok: false, error: { kind: "scope", message: "not in scope" } } :
        msg.type === "contact-check" ? onContactCheck(msg, pageUrl) : onContactDecision(msg, pageUrl)));
    case "status":
      return onStatus();
    case "me-link":
      return onMeLink();
    case "settings-changed":
      return refresh({ force: true }).then(onStatus);
    case "get-pending":
      return onGetPending(msg);
    default:
      return undefined;
  }
});

// -- lifecycle ------------------------------------------------------------------------------------------------------

notifications.onClicked((id) => {
  if (id.startsWith("pending:")) {
    tabs.create({ url: runtime.url(`src/ui/decide.html?pending_id=${encodeURIComponent(id.slice(8))}`) });
  }
  notifications.clear(id).catch(() => {});
});

notifications.onButtonClicked((id, index) => {
  if (!id.startsWith("pending:")) return;
  const pendingId = id.slice(8);
  if (index === 0) {
    onDecision({ pending_id: pendingId, choice: Choice.CANCEL, title: "A post PostGuard held" }, "page");
  } else {
    tabs.create({ url: runtime.url(`src/ui/decide.html?pending_id=${encodeURIComponent(pendingId)}`) });
  }
  notifications.clear(id).catch(() => {});
});

alarms.onAlarm((alarm) => {
  if (alarm.name === TICK) refresh().catch((e) => console.warn("PostGuard:", e));
});

storage.onChanged((changes, area) => {
  if (area === "managed" || (area === "local" && changes.settings)) refresh({ force: true }).catch(() => {});
});

runtime.onInstalled(async ({ reason }) => {
  alarms.create(TICK, { periodInMinutes: 1 });
  await refresh({ force: true }).catch(() => {});
  if (reason === "install" && !(await settings()).configured) runtime.openOptionsPage();
});

runtime.onStartup(() => {
  alarms.create(TICK, { periodInMinutes: 1 });
  refresh().catch(() => {});
});
