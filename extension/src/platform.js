// The one module that touches chrome.* / browser.*: everything else imports these small wrappers, so the logic can
// run under Node's test runner and the browser differences live in one place. Each call looks the API up when it
// runs, so a content script (which has only runtime and storage) can import the whole module.

const api = () => globalThis.browser ?? globalThis.chrome;

export function available() {
  return Boolean(api()?.runtime?.id);
}

// -- runtime ------------------------------------------------------------------------------------------------------

export const runtime = {
  id: () => api().runtime.id,
  origin: () => api().runtime.getURL("").replace(/\/$/, ""),
  url: (path) => api().runtime.getURL(path),
  manifest: () => api().runtime.getManifest(),
  /** Send a message to the service worker; resolves with its answer (rejects when nobody answers). */
  send: (message) => api().runtime.sendMessage(message),
  /** handler(message, sender) returns a value or a promise; its result is the answer. One listener per caller. */
  onMessage(handler) {
    api().runtime.onMessage.addListener((message, sender, sendResponse) => {
      let result;
      try {
        result = handler(message, sender);
      } catch (e) {
        sendResponse({ ok: false, error: { kind: "internal", message: String(e?.message ?? e) } });
        return false;
      }
      if (result === undefined) return false;
      Promise.resolve(result).then(sendResponse, (e) =>
        sendResponse({ ok: false, error: { kind: "internal", message: String(e?.message ?? e) } }));
      return true; // the answer comes later
    });
  },
  onInstalled: (fn) => api().runtime.onInstalled.addListener(fn),
  onStartup: (fn) => api().runtime.onStartup.addListener(fn),
  openOptionsPage: () => api().runtime.openOptionsPage(),
};

// -- native messaging (PostGuard's host, registered by the school's deployment) ------------------------------------

export const native = {
  /** One message to a native host; resolves with its answer, rejects when the host is not installed or refuses. */
  send: (host, message) => api().runtime.sendNativeMessage(host, message),
};

// -- identity (Chrome: the profile's signed-in account; Firefox has none) --------------------------------------------

export const identity = {
  /** chrome.identity.getProfileUserInfo where the browser has it, else null. */
  getProfileUserInfo: () => {
    const call = api()?.identity?.getProfileUserInfo;
    return typeof call === "function" ? (options) => call.call(api().identity, options) : null;
  },
};

// -- storage ------------------------------------------------------------------------------------------------------

export const storage = {
  local: {
    get: (keys) => api().storage.local.get(keys),
    set: (items) => api().storage.local.set(items),
    remove: (keys) => api().storage.local.remove(keys),
  },
  /** In memory for the browser session; falls back to local storage where session storage is missing. */
  session: {
    get: (keys) => (api().storage.session ?? api().storage.local).get(keys),
    set: (items) => (api().storage.session ?? api().storage.local).set(items),
  },
  /** What an admin pushed (Google Admin, Intune, Firefox policies.json); {} when there is no policy. */
  async managed() {
    try {
      return (await api().storage.managed?.get(null)) ?? {};
    } catch {
      return {}; // Firefox without a managed storage manifest rejects; no policy is the same as an empty one
    }
  },
  onChanged: (fn) => api().storage.onChanged.addListener((changes, area) => fn(changes, area)),
};

// -- tabs, scripts, alarms, notifications, permissions, toolbar ---------------------------------------------------

export const tabs = {
  query: (info) => api().tabs.query(info),
  send: (tabId, message, frameId = 0) => api().tabs.sendMessage(tabId, message, { frameId }),
  create: (props) => api().tabs.create(props),
  onRemoved: (fn) => api().tabs.onRemoved.addListener(fn),
};

export const scripting = {
  registered: () => api().scripting.getRegisteredContentScripts(),
  register: (scripts) => api().scripting.registerContentScripts(scripts),
  unregister: (ids) => api().scripting.unregisterContentScripts({ ids }),
};

export const alarms = {
  create: (name, info) => api().alarms.create(name, info),
  onAlarm: (fn) => api().alarms.onAlarm.addListener(fn),
};

export const notifications = {
  /** Chrome shows up to two buttons; Firefox shows none, so a click on the notification itself must also work. */
  async create(id, { title, message, buttons = [] }) {
    const options = { type: "basic", iconUrl: api().runtime.getURL("icons/icon-128.png"), title, message,
      priority: 2 };
    if (buttons.length) {
      try {
        return await api().notifications.create(id, { ...options, requireInteraction: true,
          buttons: buttons.map((b) => ({ title: b })) });
      } catch {
        // Firefox: no buttons, no requireInteraction; the click opens the page that asks instead
      }
    }
    return api().notifications.create(id, options);
  },
  clear: (id) => api().notifications.clear(id),
  onClicked: (fn) => api().notifications.onClicked.addListener(fn),
  onButtonClicked: (fn) => api().notifications.onButtonClicked?.addListener(fn),
};

export const permissions = {
  contains: (origins) => api().permissions.contains({ origins }),
  request: (origins) => api().permissions.request({ origins }),
};

export const toolbar = {
  setBadge(text, colour = "#b45309") {
    const action = api().action ?? api().browserAction;
    action.setBadgeText({ text });
    if (text) action.setBadgeBackgroundColor({ color: colour });
  },
  setTitle: (title) => (api().action ?? api().browserAction).setTitle({ title }),
};
