// The service's address and token from PostGuard's native messaging host (`postguard native-host`, registered by
// the school's deployment for this extension only), so nobody pastes a token. Plain module, no browser globals:
// the caller passes `send(host, message)` (platform.js wraps runtime.sendNativeMessage).

import { parseServiceUrl, parseToken } from "./settings.js";

export const HOST = "school.postguard.host"; // local_service/deploy.py HOST_NAME

/** {serviceUrl, token} from the host's answer, or an Error saying what is wrong with it. A host that answers with
 * anything but a loopback address and a well-formed token is not trusted. */
export function fromAnswer(answer) {
  if (!answer || typeof answer !== "object") throw new Error("the native host gave no answer");
  if (answer.ok !== true) throw new Error(`the native host refused: ${String(answer.error ?? "no reason given")}`);
  const serviceUrl = parseServiceUrl(answer.serviceUrl);
  const token = parseToken(answer.token);
  if (!token) throw new Error("the native host gave no token");
  return { serviceUrl, token };
}

/** Ask the host once; resolves {serviceUrl, token}, or null when there is no host (not deployed, or refused), with
 * the reason in `onProblem`. Never throws: the options page's values still work without a host. */
export async function askHost(send, onProblem = () => {}) {
  try {
    return fromAnswer(await send(HOST, { type: "hello" }));
  } catch (e) {
    onProblem(String(e?.message ?? e));
    return null;
  }
}

/** The managed store with the host's values under it: an admin's managed serviceUrl or token wins; the host fills
 * only what the admin did not set. The result goes to settings.effective() as its managed store, so the options page
 * shows these values as set by the school. */
export function withHost(managed, host) {
  const out = { ...(managed ?? {}) };
  if (!host) return out;
  for (const key of ["serviceUrl", "token"]) {
    if (out[key] === undefined || out[key] === null || out[key] === "") out[key] = host[key];
  }
  return out;
}
