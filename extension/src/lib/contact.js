// Contact with pupils (contact.pupil): which buttons make contact (friend, follow, message), and who with, from what
// the content script reads off the page. Plain module, no browser globals: the content script hands it the button's
// label and the texts it found; the service answers from the roster (the extension never holds it).

const FRIEND = new RegExp("^(?:add(?: as)? friends?|send friend request|confirm(?: (?:friend )?request)?|" +
  "accept(?: (?:friend )?request)?|add (?<who>.{2,60}?) as (?:a )?friend)$", "i");
const FOLLOW = /^(?:follow(?: back)?)(?: (?<who>@?[^\s].{0,60}))?$/i;
const MESSAGE = /^(?:message|send (?:a )?message to|dm)(?: (?<who>@?[^\s].{0,60}))?$/i;
const NOT_CONTACT =
  /\b(?:following|followers|unfollow|friends list|requested|remove|cancel|delete|block|mute|report)\b/i;
export const MAX_NAME = 255; // what the service accepts

/** {action: "friend"|"follow"|"message", who: the name in the label or ""} for a contact button's label, or null. */
export function contactAction(label) {
  const text = clean(label);
  if (!text || text.length > 80 || NOT_CONTACT.test(text)) return null;
  for (const [action, re] of [["friend", FRIEND], ["follow", FOLLOW], ["message", MESSAGE]]) {
    const m = re.exec(text);
    if (m) return { action, who: clean(m.groups?.who ?? "") };
  }
  return null;
}

function clean(text) {
  return String(text ?? "").replace(/[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g, "")
    .replace(/\s+/g, " ").trim();
}

// Where each platform shows the person a profile page is about: the display name first, then the handle. Selectors
// are tried in order; the first non-empty text wins. (Saved copies of these pages: tests/extension/fixtures/.)
export const PROFILE_NAME = Object.freeze({
  "facebook.com": ["[role='main'] h1", "h1"],
  "instagram.com": ["header section [data-testid='user-full-name']", "header section span[dir='auto']",
    "header section h1", "header section h2", "header h2"],
  "x.com": ["[data-testid='UserName'] span", "[data-testid='UserName']"],
  "twitter.com": ["[data-testid='UserName'] span", "[data-testid='UserName']"],
  "tiktok.com": ["[data-e2e='user-subtitle']", "[data-e2e='user-title']", "h1"],
  "linkedin.com": ["main h1", "h1"],
  "*": ["[role='main'] h1", "main h1", "h1"],
});

// A person's card in a list (suggestions, search results, followers): the name is inside the card.
export const CARD = "[data-testid='UserCell'], [role='listitem'], li, article";
export const CARD_NAME = "[data-testid='user-full-name'], a[role='link'] span, h2, h3, h4, strong, a";

/** The selectors for a host: its platform's, else the generic ones. */
export function nameSelectors(host) {
  const h = String(host ?? "").toLowerCase().replace(/^www\.|^m\.|^mobile\./, "");
  for (const [site, selectors] of Object.entries(PROFILE_NAME)) {
    if (site !== "*" && (h === site || h.endsWith(`.${site}`))) return selectors;
  }
  return PROFILE_NAME["*"];
}

/** A shown name made ready to send: badges and handles' "@" kept out, "'s profile" and "(Verified)" dropped. */
export function cleanName(text) {
  let t = clean(text).replace(/\s*[·•|]\s*.*$/, "");
  t = t.replace(/'s (?:profile|page)$/i, "").replace(/\b(?:verified(?: account)?|profile picture)\b/gi, "").trim();
  t = t.replace(/^@/, "");
  return t.length > MAX_NAME ? t.slice(0, MAX_NAME) : t;
}

/** The name to check: the person's card around the button (a suggestion list), else the profile page's display
 * name, else the name or @handle in the button's own label ("Follow @jamie_smith": a handle often runs the
 * words together, so a shown name is better). */
export function pickName({ label = "", card = "", profile = "" } = {}) {
  for (const candidate of [card, profile, label]) {
    const name = cleanName(candidate);
    if (/\p{L}/u.test(name)) return name;
  }
  return "";
}

/** The dialog for a contact check's answer (see panel.js): Cancel first, Report to the DSL, Not a pupil. */
export function describeContact(result, action) {
  const finding = (result?.findings ?? []).find((f) => f.rule === "contact.pupil") ?? {};
  const clauses = [];
  for (const c of finding.policy ?? []) if (c?.text) clauses.push({ ref: String(c.ref ?? ""), text: String(c.text) });
  const doing = { friend: "Befriending", follow: "Following", message: "Messaging" }[action] ?? "Contacting";
  return {
    kind: "contact",
    title: "This may be one of your pupils",
    lead: `${doing} a pupil from a personal account goes against your school's policy. If this is a pupil who ` +
      "contacted you, you can report it to your school's DSL (designated safeguarding lead).",
    items: [{ file: "", message: String(finding.message || "This person's name matches a pupil on your school's " +
      "roster."), facts: [], rule: "contact.pupil" }],
    clauses,
    removable: [],
    canRemove: false,
    canOverride: false,
    reasons: [],
    blockedNote: "",
    buttons: [
      { choice: "cancel", text: "Cancel", primary: true },
      { choice: "report", text: "Report to the DSL", step: {
        title: "What should the DSL know?",
        lead: "PostGuard records this for your school's DSL, with what you write here. Nothing is sent to the person.",
        confirm: "Report to the DSL",
        placeholder: "A few words, for example: they asked to be my friend",
        reasons: ["They sent me a friend request", "They messaged me", "They follow me"],
      } },
      { choice: "not_pupil", text: "Not a pupil", step: {
        title: "Who is this person?",
        lead: "Your answer is kept with this decision in your school's PostGuard log.",
        confirm: "Continue",
        placeholder: "A few words, for example: my neighbour, not a pupil at any school",
        reasons: Array.isArray(result?.reasons) ? result.reasons.map(String) : [],
      } },
    ],
  };
}
