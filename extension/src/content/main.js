// The content script: notices what the person is about to post (files picked, dropped or pasted; a form sent; a
// Post/Publish/Save button pressed), holds that one event back, asks the service worker, and shows the dialog when
// there is something to decide. It never decides on its own and never blocks the page when PostGuard cannot
// answer: the held event is released as it was, with a notice.

import { runtime } from "../platform.js";
import {
  NOT_SET_UP_NOTICE, UNREACHABLE_NOTICE, describe, describeHeld, needsPanel, removedNotice,
} from "../lib/findings.js";
import { CARD, CARD_NAME, contactAction, describeContact, nameSelectors, pickName } from "../lib/contact.js";
import { fieldsToSend, fileKey, isPostLabel, splitBySize } from "../lib/page-facts.js";
import { Choice } from "../lib/vocabulary.js";
import { readFile, readForCheck, setInputFiles, toFile, transferOf } from "./files.js";
import { createUi } from "./panel.js";

const ASK_TIMEOUT_MS = 12000; // the worker's own calls time out sooner; this covers a worker that never answers
const REPORT_TIMEOUT_MS = 2500;

const ui = createUi(document);
const ours = new WeakSet(); // events this script dispatched: they pass
const bypass = new WeakSet(); // a form whose next submit this script started
const settled = new WeakMap(); // <input type=file> -> keys of the files already checked and answered
const jobs = new WeakMap(); // <input type=file> -> the check under way for its current files
let lastFailNotice = 0;
// Whether the worker watches this page: unknown (null) until it answers the hello. The listeners are on from the
// script's first moment, so a post sent before that answer is held and checked, never missed (issue 14: a post
// sent a second after the browser started went unchecked while the hello was still on its way).
let watched = null;
let helloDone = null; // resolves with `watched` once known
let slices = false; // the worker's word: big photos may be checked by their metadata alone
let previews = false; // ... with a downscaled copy for their pixels (the school's photo library, badge, faces)
let reviewing = 0; // checks under way (a file picked a moment ago may still be checking when Post is pressed)
let idleWaiters = [];

function track(promise) {
  reviewing++;
  return promise.finally(() => {
    reviewing--;
    if (!reviewing) for (const resolve of idleWaiters.splice(0)) resolve();
  });
}

function idle() {
  return reviewing ? new Promise((resolve) => idleWaiters.push(resolve)) : Promise.resolve();
}

/** A message to the service worker; a worker that is gone or silent reads as "unreachable" (fail open). */
async function ask(message, timeout = ASK_TIMEOUT_MS) {
  let timer;
  try {
    return await Promise.race([
      runtime.send(message),
      new Promise((resolve) => {
        timer = setTimeout(() => resolve({ ok: false, error: { kind: "timeout",
          message: "PostGuard took too long to answer." } }), timeout);
      }),
    ]) ?? { ok: false, error: { kind: "unreachable", message: "no answer" } };
  } catch (e) {
    return { ok: false, error: { kind: "unreachable", message: String(e?.message ?? e) } };
  } finally {
    clearTimeout(timer);
  }
}

function release(target, event) {
  ours.add(event);
  target.dispatchEvent(event);
  return event;
}

function failNotice(error) {
  const now = Date.now();
  if (now - lastFailNotice < 30000) return;
  lastFailNotice = now;
  let text = UNREACHABLE_NOTICE;
  if (error?.kind === "setup") text = NOT_SET_UP_NOTICE;
  else if (error?.kind === "auth" || error?.kind === "origin") {
    text = `PostGuard could not check this: ${error.message} Your post has gone ahead as normal.`;
  }
  ui.toast(text, { tone: "warn", ms: 12000 });
}

// -- the check, the dialog and the answer ---------------------------------------------------------------------

/** Check files and fields; resolve with {go: false} (cancelled) or {go: true, files} where `files` is the same list
 * with any cleaned file in its place. */
async function review({ files = [], fields = [], url = location.href, kind = "file" }) {
  const { small } = splitBySize(files);
  if (!small.length && !fields.length) return { go: true, files };
  if (!(await helloDone)) return { go: true, files }; // a page the worker does not watch: released as it was
  let payload;
  try {
    payload = await Promise.all(small.map((f) => readForCheck(f, slices, previews)));
  } catch {
    return { go: true, files }; // a file the browser cannot read is not ours to stop
  }
  const reply = await ask({ type: "check", url, method: "POST", fields, files: payload });
  if (!reply?.ok) {
    failNotice(reply?.error);
    return { go: true, files };
  }
  const result = reply.result;
  if (!needsPanel(result)) return { go: true, files };
  return decide(result, { files, small, payload, url, kind });
}

async function report(result, choice, ctx, model, reason = "") {
  await ask({ type: "decision", check_id: result.check_id, choice, reason, url: ctx.url, title: model.title },
    REPORT_TIMEOUT_MS);
}

async function decide(result, ctx) {
  const model = describe(result, { kind: fieldsOnly(ctx) ? "post" : "file" });
  let answer = await ui.ask(model);
  for (;;) {
    if (answer.choice === Choice.CANCEL) {
      ui.busy("Cancelling…");
      await report(result, Choice.CANCEL, ctx, model);
      ui.close();
      ui.toast("Cancelled. Nothing was posted.", { tone: "info", ms: 5000 });
      return { go: false };
    }
    if (answer.choice === Choice.POST_ANYWAY) {
      let files = ctx.files;
      if (model.removeAnyway?.length) { // the pack removes the location whatever is decided about the rest
        ui.busy("Removing the location…");
        try {
          files = await stripFiles(ctx, model.removeAnyway);
        } catch (e) {
          answer = await ui.retry({ ...model, canOverride: false }, e.message);
          continue;
        }
      }
      ui.busy("Posting…");
      await report(result, Choice.POST_ANYWAY, ctx, model, answer.reason);
      ui.close();
      return { go: true, files };
    }
    if (answer.choice === Choice.FIX) {
      ui.busy("Removing the location…");
      try {
        const files = await stripFiles(ctx, model.removable);
        await report(result, Choice.FIX, ctx, model);
        ui.close();
        ui.toast(removedNotice(model.removable), { tone: "ok", ms: 8000 });
        return { go: true, files };
      } catch (e) {
        answer = await ui.retry({ ...model, canRemove: false }, e.message);
        continue;
      }
    }
    return { go: true, files: ctx.files }; // an unknown answer: never trap the person's post
  }
}

function fieldsOnly(ctx) {
  return !ctx.small.length;
}

/** The files with each one named in `names` replaced by the service's cleaned copy; throws with the service's
 * words when a file cannot be cleaned safely. */
async function stripFiles(ctx, names) {
  const out = [...ctx.files];
  for (let i = 0; i < ctx.small.length; i++) {
    const file = ctx.small[i];
    if (!names.includes(file.name)) continue;
    const whole = ctx.payload[i].partial ? await readFile(file) : ctx.payload[i]; // strip needs the whole file
    const reply = await ask({ type: "strip", file: whole }, 40000);
    if (!reply?.ok) {
      throw new Error(reply?.error?.kind === "unreachable" ?
        "PostGuard stopped running, so the location could not be removed. Cancel, or post anyway." :
        reply?.error?.message ?? "The location could not be removed.");
    }
    out[out.indexOf(file)] = toFile(reply.file, file);
  }
  return out;
}

function markSettled(input, files) {
  const keys = settled.get(input) ?? new Set();
  for (const f of files) keys.add(fileKey(f));
  settled.set(input, keys);
}

function isSettled(input, files) {
  const keys = settled.get(input);
  return Boolean(keys) && files.every((f) => keys.has(fileKey(f)));
}

// -- what the person does -------------------------------------------------------------------------------------

function isFileInput(el) {
  return el instanceof HTMLInputElement && el.type === "file";
}

/** input and change on <input type=file>: both held until the check is answered, then sent again in order. */
function onFileEvent(e) {
  const input = e.target;
  if (!isFileInput(input) || ours.has(e)) return;
  const files = [...(input.files ?? [])];
  if (!files.length || isSettled(input, files)) return;
  e.stopImmediatePropagation();
  const key = files.map(fileKey).join("\n");
  const running = jobs.get(input);
  if (running && running.key === key) {
    running.events.add(e.type);
    return;
  }
  const job = { key, events: new Set([e.type]) };
  jobs.set(input, job);
  track(review({ files, kind: "file" })).then((out) => {
    if (jobs.get(input) !== job) return; // the person picked other files meanwhile
    jobs.delete(input);
    if (!out.go) {
      input.value = "";
      return;
    }
    if (out.files.some((f, i) => f !== files[i])) setInputFiles(input, out.files);
    markSettled(input, out.files);
    for (const type of ["input", "change"]) {
      if (job.events.has(type)) release(input, new Event(type, { bubbles: true, composed: type === "input" }));
    }
  });
}

function onDrop(e) {
  if (ours.has(e) || isFileInput(e.target)) return; // a drop on a file input arrives as its change event
  const files = [...(e.dataTransfer?.files ?? [])];
  if (!files.length) return;
  e.preventDefault();
  e.stopImmediatePropagation();
  const target = e.target;
  const init = { bubbles: true, cancelable: true, composed: true, clientX: e.clientX, clientY: e.clientY,
    screenX: e.screenX, screenY: e.screenY };
  track(review({ files, kind: "file" })).then((out) => {
    if (!out.go || !target.isConnected) return;
    release(target, new DragEvent("drop", { ...init, dataTransfer: transferOf(out.files) }));
  });
}

function onPaste(e) {
  if (ours.has(e)) return;
  const files = [...(e.clipboardData?.files ?? [])];
  if (!files.length) return;
  e.preventDefault();
  e.stopImmediatePropagation();
  const target = e.target;
  const text = e.clipboardData.getData("text/plain");
  track(review({ files, kind: "file" })).then((out) => {
    if (!out.go || !target.isConnected) return;
    const dt = transferOf(out.files);
    if (text) dt.setData("text/plain", text);
    release(target, new ClipboardEvent("paste", { bubbles: true, cancelable: true, composed: true,
      clipboardData: dt }));
  });
}

/** Text fields and editable areas inside `root`, described for fieldsToSend(). */
function describeFields(root, form = null) {
  const out = [];
  const elements = form ? [...form.elements] : [...root.querySelectorAll("input, textarea, select")];
  for (const el of elements) {
    const field = el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement ||
      el instanceof HTMLSelectElement;
    if (!field || el.disabled) continue;
    out.push({ name: el.name || el.id || el.tagName.toLowerCase(), type: el.type, value: el.value,
      autocomplete: el.getAttribute("autocomplete") ?? "", tag: el.tagName.toLowerCase() });
  }
  for (const el of root.querySelectorAll("[contenteditable=''], [contenteditable='true'], [role='textbox']")) {
    if (el.closest("[contenteditable='false']")) continue;
    out.push({ name: el.getAttribute("aria-label") || el.id || "text", type: "text", value: el.innerText,
      tag: "contenteditable" });
  }
  return out;
}

/** Files in the file inputs under `root` not yet checked: [{input, file}]. */
function newFilesIn(inputs) {
  const out = [];
  for (const input of inputs) {
    const files = [...(input.files ?? [])];
    const keys = settled.get(input);
    for (const file of files) if (!keys?.has(fileKey(file))) out.push({ input, file });
  }
  return out;
}

/** Put cleaned files back in their inputs (same order as newFilesIn gave them). */
function putBack(pairs, files) {
  const byInput = new Map();
  pairs.forEach(({ input }, i) => {
    if (files[i] !== pairs[i].file) byInput.set(input, true);
  });
  for (const input of byInput.keys()) {
    const current = [...input.files].map((f) => {
      const i = pairs.findIndex((p) => p.input === input && p.file === f);
      return i === -1 ? f : files[i];
    });
    setInputFiles(input, current);
  }
  for (const { input } of pairs) markSettled(input, [...input.files]);
}

function onSubmit(e) {
  const form = e.target;
  if (!(form instanceof HTMLFormElement) || bypass.has(form)) return;
  if (ui.isOpen()) {
    e.preventDefault();
    e.stopImmediatePropagation();
    ui.focus();
    return;
  }
  if (reviewing) { // a file in it is still being checked: send the form again once that is answered
    e.preventDefault();
    e.stopImmediatePropagation();
    const again = e.submitter;
    idle().then(() => {
      if (form.isConnected && !ui.isOpen()) form.requestSubmit(again && again.form === form ? again : undefined);
    });
    return;
  }
  const fields = fieldsToSend(describeFields(form, form));
  const pairs = newFilesIn([...form.elements].filter(isFileInput));
  if (!fields.length && !pairs.length) return;
  e.preventDefault();
  e.stopImmediatePropagation();
  const submitter = e.submitter;
  const files = pairs.map((p) => p.file);
  const url = form.action || location.href;
  track(review({ files, fields, url, kind: files.length ? "file" : "post" })).then((out) => {
    if (!out.go || !form.isConnected) return;
    putBack(pairs, out.files);
    bypass.add(form);
    try {
      form.requestSubmit(submitter && submitter.form === form ? submitter : undefined);
    } finally {
      bypass.delete(form);
    }
  });
}

/** The part of the page a JavaScript Post button belongs to: the nearest ancestor holding something typed. */
function composerOf(button) {
  let el = button.parentElement;
  for (let depth = 0; el && depth < 8; depth++, el = el.parentElement) {
    if (el.querySelector("textarea, [contenteditable=''], [contenteditable='true'], [role='textbox'], " +
      "input[type=file], input:not([type]), input[type=text]")) return el;
    if (el.matches("form, [role='dialog'], dialog, article")) return el;
  }
  return button.parentElement ?? document.body;
}

// -- contact with pupils: friend, follow and message buttons ----------------------------------------------------

function textOf(el) {
  return el ? (el.innerText || el.textContent || "").trim() : "";
}

/** The name in the person's card around the button (a suggestion, a search result), when it sits in one. */
function cardName(button) {
  const card = button.closest(CARD);
  if (!card || card === document.body) return "";
  for (const el of card.querySelectorAll(CARD_NAME)) {
    if (el.contains(button) || button.contains(el)) continue;
    const text = textOf(el);
    if (/\p{L}/u.test(text) && !contactAction(text)) return text;
  }
  return "";
}

/** The name the profile page shows (the platform's own place for it; see lib/contact.js). */
function profileName() {
  for (const selector of nameSelectors(location.hostname)) {
    const el = document.querySelector(selector);
    if (el && !ui.isOurs(el) && textOf(el)) return textOf(el);
  }
  return "";
}

/** Ask about a contact action; true when it may go ahead (nothing found, "Not a pupil", or PostGuard cannot ask). */
async function contactReview(action, name) {
  if (!(await helloDone)) return true;
  const reply = await ask({ type: "contact-check", url: location.href, action, name }, 8000);
  if (!reply?.ok) {
    failNotice(reply?.error);
    return true;
  }
  const result = reply.result;
  if (!needsPanel(result)) return true;
  const model = describeContact(result, action);
  const answer = await ui.ask(model);
  ui.busy(answer.choice === "report" ? "Recording your report…" : "One moment…");
  const sent = await ask({ type: "contact-decision", check_id: result.check_id, choice: answer.choice,
    reason: answer.reason ?? "", url: location.href, title: model.title }, REPORT_TIMEOUT_MS);
  ui.close();
  if (answer.choice === "not_pupil") return true;
  if (answer.choice === "report") {
    ui.toast(sent?.ok ? "Reported to your school's DSL. Nothing was sent to this person." :
      "PostGuard could not record your report. Nothing was sent to this person; please tell your DSL in person.",
    { tone: sent?.ok ? "ok" : "warn", ms: 10000 });
  } else {
    ui.toast("Cancelled. Nothing was sent to this person.", { tone: "info", ms: 5000 });
  }
  return false;
}

function onContact(e, button, hit) {
  if (ui.isOpen()) {
    e.preventDefault();
    e.stopImmediatePropagation();
    ui.focus();
    return;
  }
  const name = pickName({ label: hit.who, card: cardName(button), profile: profileName() });
  if (!name) return; // nobody named on the page: nothing to check
  e.preventDefault();
  e.stopImmediatePropagation();
  const init = { bubbles: true, cancelable: true, composed: true, clientX: e.clientX, clientY: e.clientY,
    screenX: e.screenX, screenY: e.screenY, detail: e.detail, button: e.button };
  track(contactReview(hit.action, name)).then((go) => {
    if (go && button.isConnected) release(button, new MouseEvent("click", init));
  });
}

function onClick(e) {
  if (ours.has(e) || ui.isOurs(e.target) || !(e.target instanceof Element)) return;
  if (watched === false) return;
  const button = e.target.closest("button, [role='button'], input[type='submit'], input[type='button']");
  if (!button) return;
  const hit = contactAction(button.getAttribute("aria-label")) ?? contactAction(button.innerText) ??
    contactAction(button.value);
  if (hit) {
    onContact(e, button, hit);
    return;
  }
  const label = button.innerText || button.value || button.getAttribute("aria-label") || button.title || "";
  if (!isPostLabel(label)) return;
  if (button.form && (button.type === "submit" || button.type === "image")) return; // its submit event follows
  if (ui.isOpen()) {
    e.preventDefault();
    e.stopImmediatePropagation();
    ui.focus();
    return;
  }
  const init = { bubbles: true, cancelable: true, composed: true, clientX: e.clientX, clientY: e.clientY,
    screenX: e.screenX, screenY: e.screenY, detail: e.detail, button: e.button };
  if (reviewing) { // press it again once the file picked a moment ago is answered
    e.preventDefault();
    e.stopImmediatePropagation();
    idle().then(() => {
      if (button.isConnected && !ui.isOpen()) button.dispatchEvent(new MouseEvent("click", init));
    });
    return;
  }
  const composer = composerOf(button);
  const fields = fieldsToSend(describeFields(composer));
  const pairs = newFilesIn([...composer.querySelectorAll("input[type=file]")]);
  if (!fields.length && !pairs.length) return;
  e.preventDefault();
  e.stopImmediatePropagation();
  const files = pairs.map((p) => p.file);
  track(review({ files, fields, kind: files.length ? "file" : "post" })).then((out) => {
    if (!out.go || !button.isConnected) return;
    putBack(pairs, out.files);
    release(button, new MouseEvent("click", init));
  });
}

// -- posts the proxy holds, and notices -----------------------------------------------------------------------

const heldShown = new Map(); // pending_id -> the dialog's model, while it is shown or waiting to be

function showHeld(pending, reasons) {
  const model = describeHeld(pending, reasons);
  model.stillWanted = () => heldShown.has(pending.pending_id);
  heldShown.set(pending.pending_id, model);
  ui.ask(model).then(async (answer) => {
    if (answer.choice === "ended" || !heldShown.has(pending.pending_id)) return;
    heldShown.delete(pending.pending_id);
    ui.busy("Sending your answer…");
    const reply = await ask({ type: "decision", pending_id: pending.pending_id, choice: answer.choice, reason: answer.reason ?? "",
      url: pending.url, title: model.title });
    ui.close();
    if (!reply?.ok) {
      ui.toast(reply?.error?.message ?? "PostGuard could not pass on your answer.", { tone: "warn" });
    } else {
      ui.toast({ [Choice.FIX]: "PostGuard will remove the location and send your post.",
        [Choice.CANCEL]: "Your post was not sent.", [Choice.POST_ANYWAY]: "Your post is being sent." }[answer.choice],
      { tone: "ok" });
    }
  });
}

function endHeld(pendingId, state) {
  const model = heldShown.get(pendingId);
  if (!model) return;
  heldShown.delete(pendingId);
  if (!ui.dismiss(model, { choice: "ended" })) return; // still queued: it will not be shown
  ui.toast(state === "expired" ? "PostGuard stopped waiting for an answer about your post; your school's policy " +
    "decided what happened to it." : "Your post was answered in another window.", { tone: "info" });
}

function onWorkerMessage(message, sender) {
  if (!message || sender?.id !== runtime.id() || sender.tab) return undefined;
  if (message.type === "show-pending") {
    if (!heldShown.has(message.pending?.pending_id)) showHeld(message.pending, message.reasons ?? []);
    return { shown: true };
  }
  if (message.type === "pending-ended") {
    endHeld(message.pending_id, message.state);
    return { ok: true };
  }
  if (message.type === "notice") {
    ui.toast(String(message.message ?? ""), { tone: message.tone === "warn" ? "warn" : "ok" });
    return { shown: true };
  }
  return undefined;
}

// -- start ----------------------------------------------------------------------------------------------------

function start() {
  runtime.onMessage(onWorkerMessage);
  // Listening first, asking second: whatever is sent before the worker answers waits for its answer.
  for (const [type, fn] of [["input", onFileEvent], ["change", onFileEvent], ["drop", onDrop], ["paste", onPaste],
    ["submit", onSubmit], ["click", onClick]]) {
    window.addEventListener(type, (e) => {
      if (watched !== false) fn(e);
    }, true);
  }
  helloDone = ask({ type: "page-hello", url: location.href }, 8000).then((reply) => {
    // A worker still starting (the browser just opened) may not answer in time: then each check asks it again,
    // and the worker, which checks the page's scope itself, answers or refuses it.
    watched = reply?.ok === false ? null : Boolean(reply?.watch);
    slices = reply?.slices === true;
    previews = reply?.previews === true;
    return watched !== false;
  });
}

if (!globalThis.__postguardContent) {
  globalThis.__postguardContent = true;
  start();
}
