// The extension's settings: what an admin pushes (chrome.storage.managed, described by managed-schema.json) wins
// over what a person typed on the options page (chrome.storage.local). Plain module, no browser globals.

import { normaliseHosts } from "./scope.js";

export const DEFAULTS = Object.freeze({
  serviceUrl: "http://127.0.0.1:8765",
  token: "",
  pack: "",
  extraHosts: Object.freeze([]),
});

export const KEYS = Object.freeze(Object.keys(DEFAULTS));
const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);
const TOKEN = /^[\x21-\x7e]{8,512}$/;

/** The service's base URL (scheme, loopback host, port; no path), or an Error saying what is wrong. */
export function parseServiceUrl(value) {
  let u;
  try {
    u = new URL(String(value ?? "").trim());
  } catch {
    throw new Error(`"${value}" is not a web address (example: http://127.0.0.1:8765)`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new Error(`the service address must start with http:// (not ${u.protocol})`);
  }
  if (!LOOPBACK.has(u.hostname) && !/^127(\.\d{1,3}){3}$/.test(u.hostname)) {
    throw new Error(`the service runs on this computer: use 127.0.0.1 or localhost, not ${u.hostname}`);
  }
  if (u.username || u.password || (u.pathname !== "/" && u.pathname !== "") || u.search || u.hash) {
    throw new Error("give only the address and port, for example http://127.0.0.1:8765");
  }
  return u.origin;
}

export function parseToken(value) {
  const token = String(value ?? "").trim();
  if (!token) return "";
  if (!TOKEN.test(token)) throw new Error("the token is 8 or more characters, without spaces");
  return token;
}

export function parsePack(value) {
  const pack = String(value ?? "").trim();
  if (pack.length > 100) throw new Error("the pack name is at most 100 characters");
  return pack;
}

/** Extra hosts as a list, or text with one host per line (commas also separate). */
export function parseExtraHosts(value) {
  const list = Array.isArray(value) ? value : String(value ?? "").split(/[\n,]+/);
  return normaliseHosts(list);
}

const PARSERS = { serviceUrl: parseServiceUrl, token: parseToken, pack: parsePack, extraHosts: parseExtraHosts };

/** Check values typed by hand: {values, errors: {key: message}}; only the keys given are checked. */
export function validate(input) {
  const values = {};
  const errors = {};
  for (const key of KEYS) {
    if (!(key in (input ?? {}))) continue;
    try {
      values[key] = PARSERS[key](input[key]);
    } catch (e) {
      errors[key] = e.message;
    }
  }
  return { values, errors };
}

/** The settings in force: each managed value that is valid wins; then the local value; then the default.
 * `managed` lists the keys the admin set (the options page shows them locked); `problems` the managed values that
 * were ignored because they are invalid (an admin's typo must not switch protection off silently). */
export function effective(managedStore, localStore) {
  const values = { ...DEFAULTS, extraHosts: [] };
  const managed = [];
  const problems = {};
  const local = validate(localStore ?? {});
  for (const key of KEYS) {
    if (key in local.values) values[key] = local.values[key];
  }
  const admin = validate(pick(managedStore ?? {}));
  for (const key of KEYS) {
    if (key in admin.values) {
      values[key] = admin.values[key];
      managed.push(key);
    } else if (key in admin.errors) {
      problems[key] = admin.errors[key];
    }
  }
  return { values, managed, problems, configured: Boolean(values.token) };
}

function pick(obj) {
  const out = {};
  for (const key of KEYS) if (obj[key] !== undefined && obj[key] !== null && obj[key] !== "") out[key] = obj[key];
  return out;
}
