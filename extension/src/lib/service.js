// The local service's API (/api/v1 on loopback), as the service worker calls it. `fetch` is passed in, so Node's
// tests drive it with a fake. Every failure is a ServiceError whose `kind` says what the caller should do.

export const API = "/api/v1";

/** kind: "unreachable" (not running: carry on, never block), "auth" (token refused), "origin" (this extension is not
 * in the service's extension_origins), "host", "invalid" (400: a bug or bad input), "gone" (404/409: the check or
 * hold ended), "cannot-clean" (422 from /strip), "timeout", "aborted" (the caller stopped it), "server" (5xx or a bad
 * answer). */
export class ServiceError extends Error {
  constructor(kind, message, { status = 0, body = null } = {}) {
    super(message);
    this.name = "ServiceError";
    this.kind = kind;
    this.status = status;
    this.body = body;
  }

  toJSON() {
    return { kind: this.kind, message: this.message, status: this.status, body: this.body };
  }
}

export function errorFor(status, body, baseUrl) {
  const said = body && typeof body.error === "string" ? body.error : "";
  switch (status) {
    case 401:
      return new ServiceError("auth", "The PostGuard service did not accept this browser's token. " +
        "Check the token in PostGuard's options, or ask your IT team.", { status, body });
    case 403:
      return new ServiceError("origin", "The PostGuard service does not accept requests from this extension yet: " +
        "its address must be added to the service's extension_origins.", { status, body });
    case 421:
      return new ServiceError("host", `The service at ${baseUrl} refused the host name: use 127.0.0.1.`,
        { status, body });
    case 404:
    case 409:
      return new ServiceError("gone", said || "This check has ended.", { status, body });
    case 422:
      return new ServiceError("cannot-clean", said || "PostGuard cannot clean this file safely.", { status, body });
    default:
      if (status >= 400 && status < 500) {
        return new ServiceError("invalid", said || `The service refused the request (${status}).`, { status, body });
      }
      return new ServiceError("server", said || `The service had a problem (${status}).`, { status, body });
  }
}

/** A client for one service address and token. `timeoutMs` bounds each call (the stream has none). */
export function createClient({ baseUrl, token, fetch: fetchImpl, timeoutMs = 8000 }) {
  const base = String(baseUrl).replace(/\/+$/, "");

  async function call(method, path, { json, headers = {}, timeout = timeoutMs, raw = false, signal } = {}) {
    const controller = new AbortController();
    const timer = timeout ? setTimeout(() => controller.abort(new Error("timeout")), timeout) : null;
    if (signal) signal.addEventListener("abort", () => controller.abort(signal.reason), { once: true });
    const init = { method, headers: { Authorization: `Bearer ${token}`, ...headers }, signal: controller.signal,
      cache: "no-store", credentials: "omit" };
    if (json !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(json);
    }
    let response;
    try {
      response = await fetchImpl(`${base}${path}`, init);
    } catch (e) {
      if (timer) clearTimeout(timer);
      if (signal?.aborted) throw new ServiceError("aborted", "The request was stopped.");
      if (controller.signal.aborted) {
        throw new ServiceError("timeout", "The PostGuard service took too long to answer.");
      }
      throw new ServiceError("unreachable", `PostGuard's service is not running on this computer (${base}).`);
    }
    if (raw && response.ok) {
      if (timer) clearTimeout(timer);
      return response;
    }
    let body = null;
    try {
      const text = await response.text();
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    } finally {
      if (timer) clearTimeout(timer);
    }
    if (!response.ok) throw errorFor(response.status, body, base);
    if (body === null || typeof body !== "object") {
      throw new ServiceError("server", "The service's answer was not the JSON expected.", { status: response.status });
    }
    return body;
  }

  return {
    base,
    health: (opts) => call("GET", `${API}/health`, opts),
    /** The school e-mail the browser is signed in with -> {kept, email?, why?} (lib/identity.js). */
    identity: (email, opts) => call("POST", `${API}/identity`, { json: { email }, ...opts }),
    /** {pixels, why}: whether a photo's pixels can change the verdict (if not, its metadata is enough). */
    photoNeeds: (opts) => call("GET", `${API}/photos/needs`, opts),
    /** {url, method, fields: [[name, value]], files: [{name, type, data}]} -> the verdict with check_id. */
    check: (submission, opts) => call("POST", `${API}/check`, { json: submission, ...opts }),
    /** {name, type, data} -> {name, type, data (base64), removed: [..]} */
    async strip(file, opts) {
      const response = await call("POST", `${API}/strip`, { json: file, raw: true, timeout: 30000, ...opts });
      const bytes = new Uint8Array(await response.arrayBuffer());
      return {
        name: file.name,
        type: response.headers.get("Content-Type") || file.type || "application/octet-stream",
        data: bytesToBase64(bytes),
        size: bytes.length,
        removed: parseRemoved(response.headers.get("X-PostGuard-Removed")),
      };
    },
    decision: (body, opts) => call("POST", `${API}/decision`, { json: body, ...opts }),
    /** {url, action: "friend"|"follow"|"message", name} -> the contact.pupil verdict with check_id and reasons. */
    contactCheck: (body, opts) => call("POST", `${API}/contact/check`, { json: body, ...opts }),
    /** {check_id, choice: "cancel"|"report"|"not_pupil", reason, url, idempotency_key} -> {ok, decision}. */
    contactDecision: (body, opts) => call("POST", `${API}/contact/decision`, { json: body, ...opts }),
    pending: (opts) => call("GET", `${API}/pending`, opts),
    meLink: async (opts) => {
      const body = await call("POST", `${API}/me-link`, { json: {}, ...opts });
      return new URL(body.url, `${base}/`).href;
    },
    /** The in-scope hosts as the PAC file lists them (it needs no token). */
    async pac(opts) {
      const response = await call("GET", "/proxy.pac", { raw: true, ...opts });
      return response.text();
    },
    /** The open event stream's Response (the caller reads and parses it); no timeout. */
    stream: (lastEventId, opts = {}) => call("GET", `${API}/stream`, {
      raw: true, timeout: 0,
      headers: { Accept: "text/event-stream", ...(lastEventId ? { "Last-Event-ID": String(lastEventId) } : {}) },
      ...opts,
    }),
  };
}

/** X-PostGuard-Removed: comma-separated, each part percent-encoded. */
export function parseRemoved(header) {
  if (!header) return [];
  return header.split(",").map((s) => {
    try {
      return decodeURIComponent(s.trim());
    } catch {
      return s.trim();
    }
  }).filter(Boolean);
}

const CHUNK = 0x8000;

export function bytesToBase64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += CHUNK) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + CHUNK));
  }
  return btoa(binary);
}

/** Base64 (or a data: URL) to bytes. */
export function base64ToBytes(text) {
  const s = String(text);
  const data = s.startsWith("data:") ? s.slice(s.indexOf(",") + 1) : s;
  const binary = atob(data);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}
