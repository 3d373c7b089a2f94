// A post the proxy holds, when no tab could show it: opened from the notification.
import { runtime } from "../platform.js";
import { createUi } from "../content/panel.js";
import { describeHeld } from "../lib/findings.js";
import { Choice } from "../lib/vocabulary.js";

const done = document.getElementById("done");
const pendingId = new URLSearchParams(location.search).get("pending_id") ?? "";

async function main() {
  const reply = await runtime.send({ type: "get-pending", pending_id: pendingId });
  if (!reply?.ok) {
    done.textContent = reply?.error?.message ?? "This post is no longer waiting.";
    return;
  }
  const { pending, reasons } = reply;
  const model = describeHeld(pending, reasons);
  const ui = createUi(document, { inline: true, mount: document.getElementById("mount") });
  const answer = await ui.ask(model);
  const { choice } = answer;
  ui.busy("Sending your answer…");
  const sent = await runtime.send({ type: "decision", pending_id: pendingId, choice, reason: answer.reason ?? "",
    url: pending.url, title: model.title });
  ui.close();
  done.textContent = !sent?.ok ? sent?.error?.message ?? "PostGuard could not pass on your answer." : {
    [Choice.FIX]: "PostGuard will remove the location and send your post. You can close this tab.",
    [Choice.CANCEL]: "Your post was not sent. You can close this tab.",
    [Choice.POST_ANYWAY]: "Your post is being sent. You can close this tab.",
  }[choice];
}

main();
