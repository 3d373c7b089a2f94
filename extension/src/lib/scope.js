// Which pages PostGuard watches: host lists, match patterns, and the scope the local service publishes.
// Plain module, no browser globals: the service worker, the build script and Node's tests all use it.

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
const NAME = /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

/** A host list entry ("example.org", "127.0.0.1:8123", "http://localhost:3000/", "*.example.org") as
 * {host, port}; port is "" when the entry covers every port. Throws Error naming the bad entry. */
export function parseHostEntry(entry) {
  let text = String(entry ?? "").trim().toLowerCase();
  const original = text;
  text = text.replace(/^[a-z][a-z0-9+.-]*:\/\//, "").replace(/[/?#].*$/, "").replace(/^\*?\./, "");
  let host = text;
  let port = "";
  const v6 = text.match(/^\[([0-9a-f:]+)\](?::(\d+))?$/);
  if (v6) {
    host = `[${v6[1]}]`;
    port = v6[2] ?? "";
  } else {
    const m = text.match(/^([^:]+)(?::(\d+))?$/);
    if (!m) throw new Error(`"${original}" is not a host name (example: www.example.org or 127.0.0.1:8123)`);
    host = m[1].replace(/\.$/, "");
    port = m[2] ?? "";
  }
  if (!v6 && !(IPV4.test(host) || NAME.test(host))) {
    throw new Error(`"${original}" is not a host name (example: www.example.org or 127.0.0.1:8123)`);
  }
  if (port && !(Number(port) > 0 && Number(port) < 65536)) throw new Error(`"${original}" has a bad port`);
  return { host, port };
}

/** Entries as canonical strings ("host" or "host:port"), without duplicates; throws on the first bad one. */
export function normaliseHosts(entries) {
  const out = [];
  for (const entry of entries ?? []) {
    if (!String(entry).trim()) continue;
    const { host, port } = parseHostEntry(entry);
    const text = port ? `${host}:${port}` : host;
    if (!out.includes(text)) out.push(text);
  }
  return out;
}

/** Whether a page's hostname (and port, "" for the scheme's default) is covered: an entry covers its own host and
 * its subdomains; an entry with a port covers only that port. */
export function hostCovered(hostname, port, entries) {
  const name = String(hostname).toLowerCase().replace(/\.$/, "");
  for (const entry of entries ?? []) {
    let parsed;
    try {
      parsed = parseHostEntry(entry);
    } catch {
      continue;
    }
    if (parsed.port && parsed.port !== String(port ?? "")) continue;
    if (name === parsed.host || (!isIp(parsed.host) && name.endsWith(`.${parsed.host}`))) return true;
  }
  return false;
}

/** Whether PostGuard watches this page: http(s) only, in the packs' scope or the admin's extra hosts. */
export function pageInScope(url, scopeHosts, extraHosts = []) {
  let u;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") return false;
  return hostCovered(u.hostname, u.port, scopeHosts) || hostCovered(u.hostname, u.port, extraHosts);
}

export function isIp(host) {
  return IPV4.test(host) || host.startsWith("[");
}

/** Match patterns for host entries: "*://*.host/*" (the host and its subdomains) or "*://host/*" for addresses
 * and localhost. Ports are left out (a pattern without a port covers every port); the service worker checks
 * them. `scheme` "*" means http and https. */
export function matchPatterns(entries, scheme = "*") {
  const out = [];
  for (const entry of entries) {
    const { host } = parseHostEntry(entry);
    const pattern = isIp(host) || !host.includes(".") ? `${scheme}://${host}/*` : `${scheme}://*.${host}/*`;
    if (!out.includes(pattern)) out.push(pattern);
  }
  return out;
}

/** The hosts back from match patterns made by matchPatterns(). */
export function hostsFromPatterns(patterns) {
  const out = [];
  for (const p of patterns ?? []) {
    const m = String(p).match(/^[*a-z]+:\/\/(\*\.)?([^/]+)\/\*$/);
    if (m && !out.includes(m[2])) out.push(m[2]);
  }
  return out;
}

/** The in-scope hosts a PAC file from the service lists (its POSTGUARD_HOSTS array). */
export function parsePac(text) {
  const m = String(text).match(/POSTGUARD_HOSTS\s*=\s*\[([\s\S]*?)\]/);
  if (!m) throw new Error("the PAC file has no POSTGUARD_HOSTS list");
  return normaliseHosts([...m[1].matchAll(/"([^"]+)"/g)].map((x) => x[1])).sort();
}

/** The hosts of rules/platforms.toml: every `hosts = [...]` array, deduplicated and sorted. Enough TOML for that
 * file (strings in arrays, comments); the Python test checks the result equals rules.platforms.scope_hosts(). */
export function parsePlatformsToml(text) {
  const hosts = new Set();
  const noComments = String(text).split("\n").map((line) => line.replace(/(^|\s)#.*$/, "")).join("\n");
  for (const m of noComments.matchAll(/^\s*hosts\s*=\s*\[([\s\S]*?)\]/gm)) {
    for (const s of m[1].matchAll(/"([^"]+)"/g)) hosts.add(s[1].trim().toLowerCase().replace(/^\./, ""));
  }
  return [...hosts].sort();
}

/** Hosts in `wanted` that the static manifest patterns do not already cover (they need a dynamic registration). */
export function notCovered(wanted, staticHosts) {
  return normaliseHosts(wanted).filter((entry) => {
    const { host } = parseHostEntry(entry);
    return !hostCovered(host, "", staticHosts);
  });
}
