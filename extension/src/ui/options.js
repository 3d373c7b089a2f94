// The options page: the settings a person (or IT, by hand) types; managed ones are shown locked.
import { permissions, runtime, storage } from "../platform.js";
import { KEYS, validate } from "../lib/settings.js";

const $ = (id) => document.getElementById(id);
const form = $("form");
let missing = [];

function fill(values, managed) {
  for (const key of KEYS) {
    const el = $(key);
    const value = values[key];
    el.value = Array.isArray(value) ? value.join("\n") : value ?? "";
    el.disabled = managed.includes(key);
    if (key === "token" && managed.includes(key)) {
      el.value = "";
      el.placeholder = "Set by your school's IT team";
    }
    const lockId = `${key}-locked`;
    if (managed.includes(key) && !$(lockId)) {
      const p = document.createElement("p");
      p.id = lockId;
      p.className = "locked";
      p.textContent = "Set by your school's IT team.";
      el.closest(".field").append(p);
      el.setAttribute("aria-describedby", `${el.getAttribute("aria-describedby")} ${lockId}`);
    }
  }
  $("managed-note").hidden = !managed.length;
}

function showStatus(status) {
  const result = $("result");
  if (!status?.configured) {
    result.className = "muted";
    result.textContent = "Not connected yet.";
  } else if (status.reachable) {
    result.className = "okay";
    result.textContent = `Connected. ${status.headline.title}.${status.health?.pack?.name ?
      ` Policy: ${status.health.pack.name}.` : ""}`;
    if (!new URLSearchParams(location.search).has("welcome")) $("welcome").hidden = true;
  } else {
    result.className = "error";
    result.textContent = status.headline.detail;
  }
  missing = status?.missingHosts ?? [];
  $("access").hidden = !missing.length;
  $("access-list").replaceChildren(...missing.map((m) => {
    const li = document.createElement("li");
    li.textContent = m.host;
    return li;
  }));
  for (const [key, message] of Object.entries(status?.problems ?? {})) {
    $(`${key}-error`).textContent = `Your IT team's setting is not valid and was ignored: ${message}`;
  }
}

async function load() {
  const origin = runtime.origin();
  $("origin-config").textContent = `[service]\nextension_origins = ["${origin}"]`;
  if (new URLSearchParams(location.search).has("welcome")) $("welcome").hidden = false;
  const [local, managedValues] = await Promise.all([storage.local.get("settings"), storage.managed()]);
  const status = await runtime.send({ type: "status" });
  const values = { ...status.settings, ...(local.settings ?? {}) };
  for (const key of status.managed) values[key] = managedValues[key];
  if (!status.configured && !(local.settings && local.settings.token)) $("welcome").hidden = false;
  fill(values, status.managed);
  showStatus(status);
  form.dataset.ready = "true";
}

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const status = await runtime.send({ type: "status" });
  const input = {};
  for (const key of KEYS) if (!status.managed.includes(key)) input[key] = $(key).value;
  const { values, errors } = validate(input);
  for (const key of KEYS) $(`${key}-error`).textContent = errors[key] ?? "";
  const firstBad = KEYS.find((k) => errors[k]);
  if (firstBad) {
    $(firstBad).focus();
    $("result").className = "error";
    $("result").textContent = "Please correct the highlighted setting.";
    return;
  }
  $("result").className = "muted";
  $("result").textContent = "Saving…";
  await storage.local.set({ settings: values });
  showStatus(await runtime.send({ type: "settings-changed" }));
});

$("show-token").addEventListener("click", (e) => {
  const shown = $("token").type === "text";
  $("token").type = shown ? "password" : "text";
  e.currentTarget.textContent = shown ? "Show" : "Hide";
  e.currentTarget.setAttribute("aria-pressed", String(!shown));
});

$("grant").addEventListener("click", async () => {
  const granted = await permissions.request(missing.flatMap((m) => m.patterns)).catch(() => false);
  if (granted) showStatus(await runtime.send({ type: "settings-changed" }));
});

load();
