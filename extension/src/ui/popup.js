// The toolbar popup: is protection on, the last warnings, and the person's own record page.
import { runtime } from "../platform.js";
import { formatRecent } from "../lib/findings.js";

const $ = (id) => document.getElementById(id);

function render(status) {
  const box = $("status");
  box.className = `status level-${status.headline.level}`;
  $("headline").textContent = status.headline.title;
  $("detail").textContent = status.headline.detail;
  const list = $("recent");
  list.replaceChildren();
  for (const entry of status.recent ?? []) {
    const r = formatRecent(entry);
    const li = document.createElement("li");
    const what = document.createElement("div");
    what.className = "what";
    what.textContent = r.title;
    const outcome = document.createElement("div");
    outcome.className = "outcome";
    outcome.textContent = r.outcome;
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = r.where ? `${r.when} · ${r.where}` : r.when;
    li.append(what, outcome, meta);
    list.append(li);
  }
  $("no-recent").hidden = Boolean(status.recent?.length);
  $("queued").hidden = !status.queued;
  $("queued").textContent = status.queued ?
    `${status.queued} decision${status.queued === 1 ? "" : "s"} will be sent to the log when PostGuard runs ` +
    "again." : "";
  $("me").disabled = !status.reachable;
}

async function load() {
  try {
    render(await runtime.send({ type: "status" }));
  } catch (e) {
    $("headline").textContent = "PostGuard could not start";
    $("detail").textContent = String(e?.message ?? e);
  }
}

$("me").addEventListener("click", async () => {
  $("me-error").hidden = true;
  const reply = await runtime.send({ type: "me-link" });
  if (reply?.ok) {
    window.close();
  } else {
    $("me-error").hidden = false;
    $("me-error").textContent = reply?.error?.message ?? "PostGuard could not open your record.";
  }
});
$("options").addEventListener("click", () => runtime.openOptionsPage());
load();
