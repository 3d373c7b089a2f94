// What the person reads: a check's findings, a held post, the protection status and recent warnings, in plain
// words. Plain module, no browser globals.

import { Action, Choice, Decision, Severity } from "./vocabulary.js";

const VIDEO_FORMATS = new Set(["MP4", "MOV", "3GP"]);
const SEVERITY_ORDER = Object.values(Severity);
export const REMOVABLE_RULES = new Set(["location.gps", "location.place"]);
export const REASON_LENGTH = Object.freeze({ min: 3, max: 300 });

export const CHOICE_TEXT = Object.freeze({
  [Choice.FIX]: "Location removed",
  [Choice.CANCEL]: "Cancelled: nothing was posted",
  [Choice.POST_ANYWAY]: "Posted anyway",
});

/** The file name a finding is about ("file:photo.jpg" -> "photo.jpg"), or "". */
export function targetFile(finding) {
  const t = String(finding?.target ?? "");
  return t.startsWith("file:") ? t.slice(5) : "";
}

/** Findings the person is asked about: anything the pack does not merely log. */
export function shownFindings(result) {
  if (!result || result.decision === Decision.ALLOW) return [];
  return (result.findings ?? []).filter((f) => f.action !== Action.LOG && f.action !== Action.OFF);
}

/** Whether a check result needs the person's attention. */
export function needsPanel(result) {
  return shownFindings(result).length > 0;
}

/** The names of the files whose findings /strip can remove. */
export function removableFiles(findings) {
  const names = [];
  for (const f of findings) {
    const name = targetFile(f);
    if (name && REMOVABLE_RULES.has(f.rule) && !names.includes(name)) names.push(name);
  }
  return names;
}

function isVideo(f) {
  return VIDEO_FORMATS.has(String(f?.evidence?.format ?? "").toUpperCase());
}

function noun(findings) {
  const files = removableFiles(findings);
  const video = findings.some(isVideo);
  const one = video ? "video" : "photo";
  return { count: files.length, one, many: video ? "videos" : "photos" };
}

/** A short title for the dialog. */
export function titleFor(findings, kind = "file") {
  const top = strongest(findings);
  const n = noun(findings);
  if (top && top.rule === "location.gps") {
    return n.count > 1 ? `${n.count} ${n.many} show where they were taken` : `This ${n.one} shows where it was taken`;
  }
  if (top && top.rule === "pupil.image") {
    return n.count > 1 ? `${n.count} ${n.many} look like school photos` : `This ${n.one} looks like a school photo`;
  }
  if (top && top.rule === "location.school_site") {
    return n.count > 1 ? `${n.count} ${n.many} were taken on the school site` :
      `This ${n.one} was taken on the school site`;
  }
  if (top && top.rule === "location.place") {
    return n.count > 1 ? `${n.count} ${n.many} name the place they were taken` :
      `This ${n.one} names the place it was taken`;
  }
  return kind === "held" ? "PostGuard is holding this post" : "This post may go against your school's policy";
}

const ACTION_ORDER = [Action.OFF, Action.LOG, Action.SANITISE, Action.WARN, Action.BLOCK];

/** How strongly a finding asks for the person's attention: the pack's action (block, warn, then sanitise), then its
 * severity, then a finding "Remove location" cannot fix before one it can (issue 14: a school photo that also
 * carries GPS leads with the school photo, not with "Remove location"). */
export function weight(f) {
  return [ACTION_ORDER.indexOf(f?.action ?? Action.WARN), SEVERITY_ORDER.indexOf(f?.severity),
    REMOVABLE_RULES.has(f?.rule) ? 0 : 1];
}

function heavier(a, b) {
  const wa = weight(a);
  const wb = weight(b);
  for (let i = 0; i < wa.length; i++) if (wa[i] !== wb[i]) return wa[i] > wb[i];
  return false;
}

/** The finding that leads the dialog (the first of equals). */
export function strongest(findings) {
  let best = null;
  for (const f of findings) {
    if (!best || heavier(f, best)) best = f;
  }
  return best;
}

/** The findings, the one that leads first and the rest by weight (stable for equals). */
export function byWeight(findings) {
  return [...findings].map((f, i) => [f, i]).sort(([a, i], [b, j]) => (heavier(a, b) ? -1 : heavier(b, a) ? 1 :
    i - j)).map(([f]) => f);
}

/** Facts from a finding's evidence as label/value pairs ({label: "Where", value: "Sheffield, United Kingdom"}). */
export function evidenceFacts(evidence) {
  const out = [];
  if (!evidence || typeof evidence !== "object") return out;
  const town = evidence.nearest_town;
  if (town && town.name) {
    const where = town.country ? `${town.name}, ${town.country}` : town.name;
    out.push({ label: "Where", value: Number(town.distance_km) <= 1 ? `In ${where}` :
      `Near ${where} (about ${formatKm(town.distance_km)} away)` });
  }
  const site = evidence.school_site;
  if (site && site.name) {
    if (site.on_site) out.push({ label: "School", value: `On the school site (${site.name})` });
    else if (Number.isFinite(site.distance_m) && site.distance_m < 5000) {
      out.push({ label: "School", value: `${formatMetres(site.distance_m)} from ${site.name}` });
    }
  }
  const places = evidence.places && typeof evidence.places === "object" ?
    [...new Set(Object.values(evidence.places).map(String))] : [];
  if (places.length) out.push({ label: "Place named", value: places.slice(0, 3).join(", ") });
  if (evidence.source) out.push({ label: "Stored in", value: `The file's ${evidence.source} data` });
  for (const signal of Array.isArray(evidence.signals) ? evidence.signals : []) {
    const why = signal && WHY[signal.signal];
    if (why) out.push({ label: "Why", value: why(signal) });
  }
  return out;
}

// pupil.image's reasons, one line each, in the words of docs/pupil-images.md.
const WHY = {
  library: (s) => `${s.match === "yes" ? "Matches" : "Looks like"} a photo in the school's photo library` +
    (s.source ? ` (${s.source})` : ""),
  camera: (s) => s.match === "serial" ? `Taken on a school camera (${s.model || s.make})` :
    `Taken on the kind of device the school uses (${s.model})`,
  site: (s) => `Taken on the school site (${s.site})`,
  trip: (s) => s.match === "place" ? `Taken at the place of a school trip (${s.trip})` :
    `Taken during a school trip (${s.trip})`,
  badge: () => "Shows the school badge",
  faces: (s) => s.group ? `Shows a group of ${s.count} people` : "Shows people",
};

function formatWait(seconds) {
  const s = Math.round(Number(seconds));
  return s >= 90 ? `${Math.round(s / 60)} minutes` : `${s} seconds`;
}

function formatKm(km) {
  const n = Number(km);
  return n < 10 ? `${n.toFixed(1)} km` : `${Math.round(n)} km`;
}

function formatMetres(m) {
  return m < 1000 ? `${Math.round(m)} metres` : `${(m / 1000).toFixed(1)} km`;
}

/** Each clause once, in the order the findings quote them. */
export function clausesOf(findings) {
  const seen = new Set();
  const out = [];
  for (const f of findings) {
    for (const c of f.policy ?? []) {
      const key = `${c.ref}\u0000${c.text}`;
      if (!seen.has(key) && c.text) {
        seen.add(key);
        out.push({ ref: String(c.ref ?? ""), text: String(c.text) });
      }
    }
  }
  return out;
}

/** The dialog for a post the proxy holds (an entry of /pending or the stream), in the tab or on its own page. */
export function describeHeld(pending, reasons) {
  let host = "";
  try {
    host = new URL(pending.url).host;
  } catch {
    // no page address: the dialog names no site
  }
  const summary = pending.summary ?? {};
  return describe({ decision: summary.decision, findings: summary.findings ?? [] },
    { kind: "held", host, reasons, secondsLeft: pending.seconds_left });
}

/** Everything the dialog shows for a check (kind "file" or "post") or a post the proxy holds (kind "held").
 * `reasons` are the pack's override reasons; `decision` "block" means Post anyway is not offered. */
export function describe(result, { kind = "file", host = "", reasons = null, secondsLeft = null } = {}) {
  const findings = byWeight(shownFindings(result));
  const files = removableFiles(findings);
  // "Remove location" is offered only when it settles everything found: beside a school photo (or anything else it
  // cannot remove) it would send the rest as if it were fixed. The location then still goes when the pack says it
  // must (action "sanitise"), whatever the person answers to the rest.
  const onlyRemovable = findings.every((f) => REMOVABLE_RULES.has(f.rule));
  const removeAnyway = onlyRemovable ? [] :
    removableFiles(findings.filter((f) => f.action === Action.SANITISE));
  const items = findings.map((f) => ({
    file: targetFile(f),
    message: String(f.message || "PostGuard found something your school's policy covers."),
    facts: evidenceFacts(f.evidence),
    rule: f.rule,
  }));
  const blocked = result?.decision === Decision.BLOCK;
  let lead;
  if (kind === "held") {
    const wait = Number(secondsLeft) > 0 ? ` It waits about ${formatWait(secondsLeft)} for your answer.` : "";
    lead = `PostGuard is holding your post${host ? ` to ${host}` : ""} until you decide.${wait}`;
  } else if (files.length && onlyRemovable) {
    lead = "PostGuard can remove the location and keep the picture exactly as it is.";
  } else if (removeAnyway.length) {
    lead = "Please check this before it goes out. If you post it, PostGuard removes the location first.";
  } else {
    lead = "Please check the post before it goes out.";
  }
  return {
    kind,
    title: titleFor(findings, kind),
    lead,
    items,
    clauses: clausesOf(findings),
    removable: onlyRemovable ? files : [],
    canRemove: onlyRemovable && files.length > 0,
    removeAnyway,
    canOverride: !blocked,
    reasons: Array.isArray(reasons ?? result?.override_reasons) ? [...(reasons ?? result.override_reasons)] : [],
    blockedNote: blocked ? "Your school's policy does not allow this to be posted as it is." : "",
  };
}

/** A reason typed or chosen for Post anyway, tidied; or an Error saying what is missing. */
export function checkReason(text) {
  const reason = String(text ?? "").split(/\s+/).filter(Boolean).join(" ");
  if (reason.length < REASON_LENGTH.min) throw new Error("Please give a short reason (a few words).");
  if (reason.length > REASON_LENGTH.max) {
    throw new Error(`Please keep the reason under ${REASON_LENGTH.max} characters.`);
  }
  return reason;
}

/** The toast after Remove location. */
export function removedNotice(names) {
  if (!names.length) return "";
  const list = names.length === 1 ? names[0] : `${names.length} files`;
  return `Location removed from ${list}. The picture itself is unchanged.`;
}

export const UNREACHABLE_NOTICE = "PostGuard is not running on this computer, so this was not checked. " +
  "Your post has gone ahead as normal. Tell your IT team if this keeps happening.";
export const NOT_SET_UP_NOTICE = "PostGuard is not set up in this browser yet, so this was not checked. " +
  "Your post has gone ahead as normal. Open PostGuard's options, or ask your IT team.";

/** The popup's headline from what the service worker knows. */
export function protectionStatus({ configured, reachable, health, error, errorKind, expectedPack } = {}) {
  if (!configured) {
    return { level: "setup", title: "PostGuard is not set up yet",
      detail: "Add the service address and token in Settings, or ask your IT team." };
  }
  if (!reachable) {
    const refused = ["auth", "origin", "host"].includes(errorKind);
    return { level: "off", title: refused ? "PostGuard cannot connect" : "PostGuard is not running",
      detail: `${error ? `${error} ` : ""}You can carry on: nothing is blocked, but posts are not checked until ` +
        "it runs again. Tell your IT team if this lasts." };
  }
  const pack = health?.pack?.name ? `Policy: ${health.pack.name}.` : "";
  const mismatch = expectedPack && health?.pack && expectedPack !== health.pack.id &&
    expectedPack !== health.pack.name ?
    ` Your school expects the policy "${expectedPack}"; tell your IT team.` : "";
  if (health?.proxy) {
    return { level: "on", title: "Protection is on", detail: `${pack}${mismatch}`.trim() };
  }
  return { level: "partial", title: "Protection is on in this browser",
    detail: `${pack} The proxy that checks other apps is not running.${mismatch}`.trim() };
}

/** A line for the popup's recent warnings. */
export function recentEntry({ title, host, choice, reason = "", time }) {
  return { title: String(title), host: String(host ?? ""), choice, reason: choice === Choice.POST_ANYWAY ? reason : "",
    time: time ?? new Date().toISOString() };
}

export function pushRecent(list, entry, max = 10) {
  return [entry, ...(list ?? [])].slice(0, max);
}

export function formatRecent(entry, now = new Date()) {
  const t = new Date(entry.time);
  const sameDay = t.toDateString() === now.toDateString();
  const hhmm = `${String(t.getHours()).padStart(2, "0")}:${String(t.getMinutes()).padStart(2, "0")}`;
  const when = sameDay ? `Today ${hhmm}` : `${t.getDate()} ${MONTHS[t.getMonth()]} ${hhmm}`;
  const what = CHOICE_TEXT[entry.choice] ?? "Shown";
  return { when, where: entry.host, title: entry.title,
    outcome: entry.reason ? `${what} (${entry.reason})` : what };
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
