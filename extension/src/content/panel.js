// The in-page dialog and notices, in a closed Shadow DOM root so the page can neither read nor restyle them.
// Keyboard first: focus moves in, Tab cycles inside, Escape is Cancel; role="alertdialog" with a label and a
// description for screen readers. No chrome.* here: the same module renders the extension's decide page.

import { checkReason } from "../lib/findings.js";
import { Choice } from "../lib/vocabulary.js";

const HOST_TAG = "postguard-ui";
const SVG = "http://www.w3.org/2000/svg";

const CSS = `
:host { all: initial; }
* { box-sizing: border-box; }
.layer { position: fixed; inset: 0; pointer-events: none; font: 15px/1.5 system-ui, -apple-system, "Segoe UI",
  Roboto, "Helvetica Neue", Arial, sans-serif; color: #1f2937; -webkit-font-smoothing: antialiased; }
.backdrop { position: fixed; inset: 0; background: rgba(15, 23, 42, .38); display: flex; align-items: center;
  justify-content: center; padding: 16px; pointer-events: auto; }
.inline .backdrop { position: static; background: none; padding: 0; display: block; }
.dialog:focus { outline: none; }
.dialog { width: min(480px, 100%); max-height: calc(100vh - 32px); overflow: auto; background: #fff;
  border-radius: 14px; box-shadow: 0 24px 60px rgba(15, 23, 42, .28), 0 2px 6px rgba(15, 23, 42, .12);
  padding: 20px 24px 22px; border-top: 5px solid #d97706; }
.inline .dialog { box-shadow: 0 1px 3px rgba(15, 23, 42, .15); margin: 0 auto; }
.brand { display: flex; align-items: center; gap: 8px; color: #155e75; font-weight: 650; font-size: 13px;
  letter-spacing: .02em; margin-bottom: 10px; }
.brand svg { width: 20px; height: 20px; flex: none; }
.tag { margin-left: auto; background: #fef3c7; color: #92400e; border-radius: 999px; padding: 2px 10px;
  font-size: 12px; font-weight: 600; }
h2 { font-size: 20px; line-height: 1.3; margin: 0 0 8px; color: #0f172a; font-weight: 700; }
p { margin: 0 0 10px; }
.lead { color: #374151; }
.items { list-style: none; margin: 12px 0; padding: 0; }
.item { background: #f8fafc; border: 1px solid #e2e8f0; border-radius: 10px; padding: 10px 12px; margin-bottom: 8px; }
.file { font-weight: 650; color: #0f172a; overflow-wrap: anywhere; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 6px 0 0; font-size: 14px; }
dt { color: #64748b; }
dd { margin: 0; color: #1f2937; }
.policy { margin: 14px 0 4px; }
h3 { font-size: 14px; color: #334155; margin: 0 0 6px; font-weight: 650; }
blockquote { margin: 0 0 8px; padding: 8px 12px; border-left: 4px solid #94a3b8; background: #f1f5f9;
  border-radius: 0 8px 8px 0; font-size: 14px; color: #1e293b; }
cite { display: block; font-style: normal; font-size: 12.5px; color: #64748b; margin-top: 4px; }
details { font-size: 14px; margin-bottom: 6px; }
summary { cursor: pointer; color: #155e75; font-weight: 600; padding: 2px 0; border-radius: 4px; }
details blockquote { margin-top: 8px; }
.note { min-height: 0; font-size: 14px; color: #155e75; margin: 6px 0 0; }
.note.error { color: #b91c1c; }
.note:empty { display: none; }
.blocked { color: #b91c1c; font-weight: 600; font-size: 14px; }
.actions { display: flex; flex-wrap: wrap; gap: 10px; margin-top: 18px; align-items: center; }
button { font: inherit; font-weight: 600; font-size: 15px; border-radius: 9px; padding: 9px 16px; cursor: pointer;
  border: 1px solid #cbd5e1; background: #fff; color: #0f172a; min-height: 40px; }
button:hover { background: #f1f5f9; }
button.primary { background: #155e75; border-color: #155e75; color: #fff; }
button.primary:hover { background: #164e63; }
button.quiet { margin-left: auto; border-color: transparent; color: #475569; text-decoration: underline;
  text-underline-offset: 3px; padding: 9px 8px; }
button.quiet:hover { background: #f8fafc; color: #0f172a; }
button:disabled { opacity: .55; cursor: default; }
button:focus-visible, input:focus-visible, summary:focus-visible, .choice input:focus-visible + span {
  outline: 3px solid #2563eb; outline-offset: 2px; }
fieldset { border: 0; margin: 8px 0 0; padding: 0; }
legend { font-weight: 600; margin-bottom: 8px; padding: 0; }
.choice { display: flex; align-items: center; gap: 10px; border: 1px solid #e2e8f0; border-radius: 9px;
  padding: 8px 12px; margin-bottom: 6px; cursor: pointer; }
.choice:hover { background: #f8fafc; }
.choice input { margin: 0; width: 18px; height: 18px; accent-color: #155e75; flex: none; }
input[type=text] { font: inherit; width: 100%; border: 1px solid #94a3b8; border-radius: 8px; padding: 8px 10px;
  margin-top: 6px; color: #0f172a; }
.small { font-size: 13px; color: #64748b; }
.toasts { position: fixed; right: 16px; bottom: 16px; display: flex; flex-direction: column; gap: 8px;
  max-width: min(420px, calc(100vw - 32px)); pointer-events: none; }
.toast { pointer-events: auto; display: flex; gap: 10px; align-items: flex-start; background: #fff;
  border: 1px solid #e2e8f0; border-left: 5px solid #155e75; border-radius: 10px; padding: 12px 12px 12px 14px;
  box-shadow: 0 10px 30px rgba(15, 23, 42, .18); font-size: 14px; }
.toast.warn { border-left-color: #d97706; }
.toast.ok { border-left-color: #15803d; }
.toast svg { width: 20px; height: 20px; flex: none; margin-top: 1px; }
.toast p { margin: 0; flex: 1; }
.toast button { min-height: 0; padding: 2px 8px; font-size: 13px; border-color: transparent; color: #475569; }
@media (prefers-color-scheme: dark) {
  .dialog, .toast { background: #111827; color: #e5e7eb; }
  h2, .file, dd, button, input[type=text] { color: #f9fafb; }
  .lead { color: #d1d5db; }
  .item, blockquote, button, .choice, input[type=text] { background: #1f2937; border-color: #374151; }
  button:hover, .choice:hover { background: #273244; }
  button.primary { background: #0e7490; border-color: #0e7490; }
  button.quiet { background: transparent; color: #cbd5e1; }
  blockquote, dd { color: #e5e7eb; }
  .toast { border-color: #374151; }
}
`;

/** h("p", {class: "x"}, "text", child...): an element in `doc`, text children as text nodes (never HTML). */
function h(doc, tag, props = {}, ...children) {
  const el = doc.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === false || v === null || v === undefined) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

function icon(doc, kind) {
  const svg = doc.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = doc.createElementNS(SVG, "path");
  const shapes = {
    shield: ["M12 2.5 4 5.6v6.1c0 4.9 3.4 8.8 8 9.8 4.6-1 8-4.9 8-9.8V5.6L12 2.5Z", "#155e75"],
    ok: ["M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20Zm-1.2 14.2-4-4 1.4-1.4 2.6 2.6 5.6-5.6 1.4 1.4-7 7Z", "#15803d"],
    info: ["M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20Zm1 15h-2v-6h2v6Zm0-8h-2V7h2v2Z", "#155e75"],
    warn: ["M12 2 1 21h22L12 2Zm1 15h-2v-2h2v2Zm0-4h-2V9h2v4Z", "#d97706"],
  };
  const [d, fill] = shapes[kind] ?? shapes.info;
  path.setAttribute("d", d);
  path.setAttribute("fill", fill);
  svg.append(path);
  if (kind === "shield") {
    const tick = doc.createElementNS(SVG, "path");
    tick.setAttribute("d", "m8.2 12.2 2.6 2.6 5-5");
    tick.setAttribute("fill", "none");
    tick.setAttribute("stroke", "#fff");
    tick.setAttribute("stroke-width", "2");
    tick.setAttribute("stroke-linecap", "round");
    tick.setAttribute("stroke-linejoin", "round");
    svg.append(tick);
  }
  return svg;
}

const FOCUSABLE = "button:not([disabled]), input:not([disabled]), summary, [tabindex]:not([tabindex='-1'])";

/** The UI for one document. `inline` renders the dialog in `mount` (the decide page) instead of over the page. */
export function createUi(doc = document, { inline = false, mount = null } = {}) {
  let host = null;
  let root = null;
  let layer = null;
  let toasts = null;
  let dialog = null; // {el, resolve, returnFocus, step}
  const uid = Math.random().toString(36).slice(2, 8);

  function ensureRoot() {
    if (root && host.isConnected) return;
    host = doc.createElement(HOST_TAG);
    if (!inline) {
      for (const [k, v] of [["position", "fixed"], ["inset", "0"], ["z-index", "2147483647"], ["display", "block"],
        ["pointer-events", "none"], ["width", "auto"], ["height", "auto"]]) host.style.setProperty(k, v, "important");
    }
    root = host.attachShadow({ mode: "closed" });
    root.append(h(doc, "style", { text: CSS }));
    layer = h(doc, "div", { class: inline ? "layer inline" : "layer" });
    toasts = h(doc, "div", { class: "toasts", role: "status", "aria-live": "polite" });
    if (inline) layer.style.position = "static";
    layer.append(toasts);
    root.append(layer);
    (mount ?? doc.documentElement).append(host);
  }

  function maybeRemoveHost() {
    if (host && !inline && !dialog && toasts && !toasts.childElementCount) {
      host.remove();
      host = root = layer = toasts = null;
    }
  }

  // -- the dialog --------------------------------------------------------------------------------------------------

  /** What Tab visits, in order: like the browser's own order, a radio group is one stop (its checked radio, or
   * its first when none is checked). */
  function focusables() {
    if (!dialog) return [];
    const items = [...dialog.el.querySelectorAll(FOCUSABLE)].filter((e) => e.getClientRects().length);
    return items.filter((e) => {
      if (e.type !== "radio") return true;
      const group = items.filter((r) => r.type === "radio" && r.name === e.name);
      return e.checked || (!group.some((r) => r.checked) && group[0] === e);
    });
  }

  function onKey(e) {
    e.stopPropagation(); // the page's own shortcuts must not fire while someone types a reason
    if (!dialog) return;
    if (e.type !== "keydown") return;
    if (e.key === "Escape") {
      e.preventDefault();
      if (!dialog.busy) finish({ choice: Choice.CANCEL });
      return;
    }
    if (e.key === "Tab") {
      const items = focusables();
      if (!items.length) return;
      const active = root.activeElement;
      const i = items.indexOf(active);
      const next = e.shiftKey ? (i <= 0 ? items.length - 1 : i - 1) : (i === -1 || i === items.length - 1 ? 0 : i + 1);
      e.preventDefault();
      items[next].focus();
    }
  }

  function onFocusOut() {
    // a page that grabs focus while the dialog is open gets it taken back (aria-modal keeps it in the dialog)
    setTimeout(() => {
      if (dialog && !inline && doc.activeElement !== host) focusables()[0]?.focus();
    }, 0);
  }

  function finish(answer) {
    if (!dialog) return;
    const { resolve } = dialog;
    dialog.resolve = null;
    resolve?.(answer);
  }

  function close() {
    if (!dialog) return;
    const { wrapper, returnFocus } = dialog;
    wrapper.remove();
    dialog = null;
    const next = waiters.shift();
    if (next) {
      handoverFocus = returnFocus;
      next();
      if (dialog) return;
    }
    if (returnFocus && returnFocus.isConnected && typeof returnFocus.focus === "function") {
      try {
        returnFocus.focus({ preventScroll: true });
      } catch {
        // the page's element refused focus: nothing to restore
      }
    }
    maybeRemoveHost();
  }

  let waiters = []; // ask() calls waiting for the dialog on screen to close
  let handoverFocus = null; // where focus goes back to when a queued dialog follows another

  /** Show the model (see findings.describe) and resolve with {choice: one of Choice, reason}.
   * The dialog stays open (busy) until close(); a second ask() waits for that, so two questions never mix. */
  function ask(model) {
    if (dialog) return new Promise((resolve) => waiters.push(resolve)).then(() => ask(model));
    if (model.stillWanted && !model.stillWanted()) {
      const next = waiters.shift(); // a queued question that no longer matters (a held post answered elsewhere)
      if (next) next();
      return Promise.resolve({ choice: "ended" });
    }
    return new Promise((resolve) => {
      ensureRoot();
      const wrapper = h(doc, "div", { class: "backdrop" });
      const el = h(doc, "div", { class: "dialog", role: "alertdialog", "aria-modal": inline ? null : "true",
        tabindex: "-1", "aria-labelledby": `pg-title-${uid}`, "aria-describedby": `pg-desc-${uid}` });
      for (const t of ["keydown", "keyup", "keypress", "input", "beforeinput"]) el.addEventListener(t, onKey);
      el.addEventListener("focusout", onFocusOut);
      wrapper.append(el);
      layer.insertBefore(wrapper, toasts);
      const active = doc.activeElement;
      dialog = { wrapper, el, resolve, returnFocus: active === host || !active ? handoverFocus : active, busy: false,
        model };
      handoverFocus = null;
      render(model, "");
    });
  }

  /** The open dialog again, with an error line (for example: the file cannot be cleaned safely); the next answer. */
  function retry(model, error) {
    if (!dialog) return ask(model);
    return new Promise((resolve) => {
      dialog.resolve = resolve;
      render(model, error);
    });
  }

  function render(model, error) {
    const el = dialog.el;
    dialog.model = model;
    dialog.busy = false;
    el.replaceChildren();
    const held = model.kind === "held";
    el.append(h(doc, "div", { class: "brand" }, icon(doc, "shield"), "PostGuard",
      h(doc, "span", { class: "tag", text: held ? "Waiting for you" :
        model.kind === "contact" ? "Check before contacting" : "Check before posting" })));
    el.append(h(doc, "h2", { id: `pg-title-${uid}`, text: model.title }));
    const first = model.items[0];
    el.append(h(doc, "div", { id: `pg-desc-${uid}` },
      first ? h(doc, "p", { class: "lead", text: first.message }) : null,
      h(doc, "p", { class: "lead", text: model.lead })));
    const items = h(doc, "ul", { class: "items" });
    for (const item of model.items) {
      if (!item.file && !item.facts.length && item === first) continue;
      const facts = h(doc, "dl");
      for (const f of item.facts) facts.append(h(doc, "dt", { text: f.label }), h(doc, "dd", { text: f.value }));
      items.append(h(doc, "li", { class: "item" },
        item.file ? h(doc, "div", { class: "file", text: item.file }) : null,
        item !== first ? h(doc, "div", { text: item.message }) : null,
        item.facts.length ? facts : null));
    }
    if (items.childElementCount) el.append(items);
    if (model.clauses.length) {
      const [c, ...more] = model.clauses;
      // PostGuard's own guidance, shown where the school's policy has no clause, is never passed off as the policy.
      const guidance = String(c.ref || "").startsWith("PostGuard guidance");
      const policy = h(doc, "section", { class: "policy", "aria-label": guidance ? "PostGuard's guidance" :
        "Your school's policy" },
        h(doc, "h3", { text: guidance ? "PostGuard's guidance (your school's policy has no clause on this)" :
          "Your school's policy says" }),
        h(doc, "blockquote", {}, `“${c.text}”`, c.ref ? h(doc, "cite", { text: c.ref }) : null));
      if (more.length) {
        const det = h(doc, "details", {}, h(doc, "summary", {
          text: `${more.length} more ${more.length === 1 ? "clause" : "clauses"}` }));
        for (const m of more) det.append(h(doc, "blockquote", {}, `“${m.text}”`, h(doc, "cite", { text: m.ref })));
        policy.append(det);
      }
      el.append(policy);
    }
    if (model.blockedNote) el.append(h(doc, "p", { class: "blocked", text: model.blockedNote }));
    dialog.note = h(doc, "p", { class: error ? "note error" : "note", role: error ? "alert" : null, text: error });
    el.append(dialog.note);
    const actions = h(doc, "div", { class: "actions" });
    if (model.buttons) { // a dialog with its own answers (contact.pupil): each one ends it, or asks a reason first
      for (const b of model.buttons) {
        actions.append(h(doc, "button", { type: "button", class: b.primary ? "primary" : "", "data-choice": b.choice,
          text: b.text, onclick: () => (b.step ? renderReason(model, b) : finish({ choice: b.choice })) }));
      }
      el.append(actions);
      actions.querySelector("button").focus({ preventScroll: true });
      return;
    }
    if (model.canRemove) {
      actions.append(h(doc, "button", { type: "button", class: "primary", "data-choice": Choice.FIX,
        text: held ? "Remove location and post" : "Remove location", onclick: () => finish({ choice: Choice.FIX }) }));
    }
    actions.append(h(doc, "button", { type: "button", class: model.canRemove ? "" : "primary",
      "data-choice": Choice.CANCEL, text: "Cancel", onclick: () => finish({ choice: Choice.CANCEL }) }));
    if (model.canOverride) {
      actions.append(h(doc, "button", { type: "button", class: "quiet", "data-choice": Choice.POST_ANYWAY,
        text: "Post anyway", onclick: () => renderReason(model) }));
    }
    el.append(actions);
    actions.querySelector("button").focus({ preventScroll: true });
  }

  /** The reason step: Post anyway's, or a model button's own (`button.step`: title, lead, confirm, reasons). */
  function renderReason(model, button = null) {
    const step = button?.step ?? { title: "Why does this need to go out as it is?", confirm: "Post anyway",
      lead: "Your reason is kept with this decision in your school's PostGuard log. Choose one or write your own." };
    const reasons = button ? step.reasons ?? [] : model.reasons;
    const choice = button ? button.choice : Choice.POST_ANYWAY;
    const el = dialog.el;
    el.replaceChildren();
    el.append(h(doc, "div", { class: "brand" }, icon(doc, "shield"), "PostGuard",
      h(doc, "span", { class: "tag", text: button ? button.text : "Post anyway" })));
    el.append(h(doc, "h2", { id: `pg-title-${uid}`, text: step.title }));
    el.append(h(doc, "div", { id: `pg-desc-${uid}` }, h(doc, "p", { class: "lead", text: step.lead })));
    const name = `pg-reason-${uid}`;
    const other = h(doc, "input", { type: "text", maxlength: "300", "aria-label": "Your reason",
      placeholder: step.placeholder ?? "A few words, for example: shared with the parent's consent" });
    const fieldset = h(doc, "fieldset", {}, h(doc, "legend", { text: "Reason" }));
    const radios = [];
    for (const reason of reasons) {
      const r = h(doc, "input", { type: "radio", name, value: reason });
      radios.push(r);
      fieldset.append(h(doc, "label", { class: "choice" }, r, h(doc, "span", { text: reason })));
    }
    const otherRadio = h(doc, "input", { type: "radio", name, value: "" });
    radios.push(otherRadio);
    fieldset.append(h(doc, "label", { class: "choice" }, otherRadio,
      h(doc, "span", { text: reasons.length ? "Another reason" : "My reason" })));
    const otherWrap = h(doc, "div", {}, other);
    fieldset.append(otherWrap);
    el.append(fieldset);
    const note = h(doc, "p", { class: "note error", role: "alert" });
    dialog.note = note;
    el.append(note);
    const confirm = h(doc, "button", { type: "button", class: "primary", "data-choice": "confirm",
      text: step.confirm });
    const back = h(doc, "button", { type: "button", text: "Back", onclick: () => render(model, "") });
    el.append(h(doc, "div", { class: "actions" }, confirm, back));

    const chosen = () => radios.find((r) => r.checked);
    const sync = () => {
      otherWrap.hidden = chosen() !== otherRadio && reasons.length > 0;
    };
    for (const r of radios) r.addEventListener("change", () => {
      sync();
      note.textContent = "";
      if (r === otherRadio) other.focus();
    });
    other.addEventListener("input", () => {
      otherRadio.checked = true;
      note.textContent = "";
    });
    other.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        confirm.click();
      }
    });
    confirm.addEventListener("click", () => {
      const pick = chosen();
      const text = !pick ? "" : pick === otherRadio ? other.value : pick.value;
      try {
        finish({ choice, reason: checkReason(text) });
      } catch (e) {
        note.textContent = e.message;
        (pick === otherRadio || !reasons.length ? other : radios[0]).focus();
      }
    });
    if (!reasons.length) otherRadio.checked = true;
    sync();
    (reasons.length ? radios[0] : other).focus({ preventScroll: true });
  }

  /** Keep the dialog open, buttons disabled, with a progress line (for example while the location is removed). */
  function busy(text) {
    if (!dialog) return;
    dialog.busy = true;
    for (const b of dialog.el.querySelectorAll("button")) b.disabled = true;
    dialog.note.className = "note";
    dialog.note.removeAttribute("role");
    dialog.note.textContent = text;
    dialog.el.setAttribute("aria-busy", "true");
    dialog.el.focus?.();
  }

  // -- notices -----------------------------------------------------------------------------------------------------

  /** A short notice in the corner (role=status); tone "ok", "info" or "warn". */
  function toast(text, { tone = "info", ms = 9000 } = {}) {
    ensureRoot();
    const item = h(doc, "div", { class: `toast ${tone}` }, icon(doc, tone), h(doc, "p", { text }));
    const dismiss = h(doc, "button", { type: "button", "aria-label": "Dismiss this notice", text: "Dismiss",
      onclick: () => remove() });
    item.append(dismiss);
    toasts.append(item);
    const timer = setTimeout(() => remove(), ms);
    function remove() {
      clearTimeout(timer);
      item.remove();
      maybeRemoveHost();
    }
    return remove;
  }

  /** Close the open dialog if it shows this model, answering its question with `answer`. */
  function dismiss(model, answer) {
    if (!dialog || dialog.model !== model) return false;
    finish(answer);
    close();
    return true;
  }

  return {
    ask,
    retry,
    dismiss,
    busy,
    close,
    toast,
    isOpen: () => Boolean(dialog),
    focus: () => focusables()[0]?.focus(),
    /** The element the page sees for all of this UI (events from inside the closed root come from it). */
    isOurs: (node) => Boolean(host) && node === host,
  };
}
