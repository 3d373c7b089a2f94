import { test } from "node:test";
import assert from "node:assert/strict";
import {
  checkReason, clausesOf, describe, evidenceFacts, formatRecent, needsPanel, protectionStatus, pushRecent,
  recentEntry, removableFiles, removedNotice,
} from "../../extension/src/lib/findings.js";

const CLAUSE = { ref: "St Mary of the Angels: 6.9", text: "Photographs ... must not be published on personal web space." };
const GPS = {
  rule: "location.gps", severity: "high", action: "sanitise", target: "file:IMG_0042.jpg",
  message: "This photo records the exact place it was taken near Sheffield, United Kingdom.",
  policy: [CLAUSE],
  evidence: { lat: 53.38, lon: -1.46, source: "EXIF GPS", format: "JPEG",
    nearest_town: { name: "Sheffield", country: "United Kingdom", distance_km: 0.6 },
    school_site: { name: "Main site", distance_m: 5, on_site: true } },
};
const RESULT = { check_id: "c1", decision: "sanitise", findings: [GPS], errors: [],
  override_reasons: ["Official school account", "Parental consent on file"] };

test("a GPS finding reads as a photo that shows where it was taken, with the place and the clause", () => {
  const m = describe(RESULT);
  assert.equal(m.title, "This photo shows where it was taken");
  assert.equal(m.items[0].file, "IMG_0042.jpg");
  assert.equal(m.items[0].message, GPS.message);
  assert.deepEqual(m.items[0].facts.map((f) => f.label), ["Where", "School", "Stored in"]);
  assert.equal(m.items[0].facts[0].value, "In Sheffield, United Kingdom");
  assert.equal(m.items[0].facts[1].value, "On the school site (Main site)");
  assert.deepEqual(m.clauses, [CLAUSE]);
  assert.equal(m.canRemove, true);
  assert.equal(m.canOverride, true);
  assert.deepEqual(m.reasons, RESULT.override_reasons);
});

test("two photos are counted, and a video is called a video", () => {
  const two = { ...RESULT, findings: [GPS, { ...GPS, target: "file:b.jpg" }] };
  assert.equal(describe(two).title, "2 photos show where they were taken");
  const video = { ...RESULT, findings: [{ ...GPS, evidence: { ...GPS.evidence, format: "MOV" } }] };
  assert.equal(describe(video).title, "This video shows where it was taken");
});

test("a blocked post offers no Post anyway", () => {
  const m = describe({ ...RESULT, decision: "block", findings: [{ ...GPS, action: "block" }] });
  assert.equal(m.canOverride, false);
  assert.match(m.blockedNote, /does not allow/);
});

test("findings the pack only logs show nothing", () => {
  assert.equal(needsPanel({ decision: "allow", findings: [{ ...GPS, action: "log" }] }), false);
  assert.equal(needsPanel({ decision: "allow", findings: [] }), false);
  assert.equal(needsPanel(null), false);
  assert.equal(needsPanel(RESULT), true);
});

test("only location findings on files can be removed", () => {
  assert.deepEqual(removableFiles([GPS, { ...GPS, rule: "pupil.name", target: "field:message" },
    { ...GPS, rule: "location.place", target: "file:IMG_0042.jpg" }]), ["IMG_0042.jpg"]);
  const text = describe({ decision: "warn", findings: [{ rule: "email.school", severity: "medium", action: "warn",
    target: "field:email", message: "This is your school address.", policy: [], evidence: {} }] }, { kind: "post" });
  assert.equal(text.canRemove, false);
  assert.equal(text.title, "This post may go against your school's policy");
});

test("a held post says it is waiting, for how long, and where it was going", () => {
  const m = describe(RESULT, { kind: "held", host: "x.com", secondsLeft: 118 });
  assert.match(m.lead, /holding your post to x\.com/);
  assert.match(m.lead, /2 minutes/);
});

test("evidence far from school names the distance; place names are listed", () => {
  assert.deepEqual(evidenceFacts({ nearest_town: { name: "Leeds", country: "United Kingdom", distance_km: 3.24 },
    school_site: { name: "Main", distance_m: 2400, on_site: false } }),
  [{ label: "Where", value: "Near Leeds, United Kingdom (about 3.2 km away)" },
    { label: "School", value: "2.4 km from Main" }]);
  assert.deepEqual(evidenceFacts({ places: { "IPTC City": "Whitby", "XMP City": "Whitby" } }),
    [{ label: "Place named", value: "Whitby" }]);
  assert.deepEqual(evidenceFacts(null), []);
});

test("clauses are listed once each", () => {
  assert.deepEqual(clausesOf([GPS, GPS, { ...GPS, policy: [{ ref: "x", text: "" }] }]), [CLAUSE]);
});

test("a reason is a few words, tidied", () => {
  assert.equal(checkReason("  Parent   consent\n on file "), "Parent consent on file");
  assert.throws(() => checkReason(" a "), /reason/);
  assert.throws(() => checkReason("x".repeat(301)), /300/);
});

test("the removal notice names the file", () => {
  assert.equal(removedNotice(["a.jpg"]), "Location removed from a.jpg. The picture itself is unchanged.");
  assert.match(removedNotice(["a.jpg", "b.jpg"]), /2 files/);
});

test("protection is on only with the service and the proxy; a stopped service lets the person carry on", () => {
  const health = { pack: { id: "default", name: "Default" }, proxy: true };
  assert.equal(protectionStatus({ configured: true, reachable: true, health }).level, "on");
  assert.equal(protectionStatus({ configured: true, reachable: true, health: { ...health, proxy: false } }).level,
    "partial");
  const off = protectionStatus({ configured: true, reachable: false, error: "Not running." });
  assert.equal(off.level, "off");
  assert.match(off.detail, /carry on/);
  assert.equal(protectionStatus({ configured: true, reachable: false, errorKind: "auth" }).title,
    "PostGuard cannot connect");
  assert.equal(protectionStatus({ configured: false }).level, "setup");
  assert.match(protectionStatus({ configured: true, reachable: true, health, expectedPack: "mill-lane-primary" })
    .detail, /expects the policy "mill-lane-primary"/);
  assert.doesNotMatch(protectionStatus({ configured: true, reachable: true, health, expectedPack: "default" }).detail,
    /expects/);
});

test("recent warnings keep the newest ten, with the reason only for Post anyway", () => {
  let list = [];
  for (let i = 0; i < 12; i++) list = pushRecent(list, recentEntry({ title: `t${i}`, host: "x.com", choice: "fix", reason: "r" }));
  assert.equal(list.length, 10);
  assert.equal(list[0].title, "t11");
  assert.equal(list[0].reason, "");
  const now = new Date(2025, 4, 1, 10, 30);
  const e = formatRecent(recentEntry({ title: "t", host: "x.com", choice: "post_anyway", reason: "Consent",
    time: new Date(2025, 4, 1, 9, 5).toISOString() }), now);
  assert.deepEqual(e, { when: "Today 09:05", where: "x.com", title: "t", outcome: "Posted anyway (Consent)" });
  assert.equal(formatRecent(recentEntry({ title: "t", choice: "cancel", time: new Date(2025, 3, 2, 9, 5).toISOString() }),
    now).when, "2 Apr 09:05");
});

test("a held post's dialog names the site and offers the pack's reasons", async () => {
  const { describeHeld } = await import("../../extension/src/lib/findings.js");
  const finding = { rule: "location.gps", severity: "high", message: "This photo records where it was taken.",
    policy: [{ ref: "6.9", text: "Images must not..." }], evidence: {}, action: "warn", target: "file:a.jpg" };
  const model = describeHeld({ url: "https://www.facebook.com/upload", seconds_left: 30,
    summary: { decision: "warn", findings: [finding] } }, ["Official school account"]);
  const noUrl = describeHeld({ url: "", summary: {} }, []);
  assert.equal(typeof model, "object");
  assert.match(JSON.stringify(model), /www\.facebook\.com/);
  assert.doesNotMatch(JSON.stringify(noUrl), /facebook/);
});

test("a school photo says why, one reason a line, and offers no Remove", () => {
  const PUPIL = {
    rule: "pupil.image", severity: "high", action: "warn", target: "file:IMG_7.jpg",
    message: "This picture looks like a school photo: it matches a photo in the school's photo library.",
    policy: [CLAUSE],
    evidence: { score: 1.5, signals: [
      { signal: "library", match: "yes", distance: 12, variant: "full", window: "full", source: "Shared drive",
        added: "2026-09-01", weight: 1.0 },
      { signal: "faces", count: 14, group: true, weight: 0.5 }] },
  };
  const m = describe({ check_id: "c2", decision: "warn", findings: [PUPIL], errors: [], override_reasons: [] });
  assert.equal(m.title, "This photo looks like a school photo");
  assert.deepEqual(m.items[0].facts, [
    { label: "Why", value: "Matches a photo in the school's photo library (Shared drive)" },
    { label: "Why", value: "Shows a group of 14 people" }]);
  assert.equal(m.canRemove, false);
  assert.deepEqual(evidenceFacts({ signals: [{ signal: "camera", match: "model", model: "iPad (9th generation)" },
    { signal: "unknown" }, null] }), [{ label: "Why", value: "Taken on the kind of device the school uses (iPad (9th generation))" }]);
});

// issue 14: a school photo that also carries GPS: the stronger rule leads, and "Remove location" is not the answer
const PUPIL = {
  rule: "pupil.image", severity: "medium", action: "warn", target: "file:IMG_0042.jpg",
  message: "This picture looks like a school photo: it matches a photo in the school's photo library.",
  policy: [{ ref: "6.9", text: "Photographs ... of pupils ... must not be published on personal web space." }],
  evidence: { signals: [{ signal: "library", match: "yes" }] },
};

test("a pupil photo with a location: the pupil photo leads and Cancel, not Remove location, is the main answer", () => {
  for (const findings of [[GPS, PUPIL], [PUPIL, GPS]]) {
    const m = describe({ ...RESULT, decision: "warn", findings });
    assert.equal(m.title, "This photo looks like a school photo");
    assert.equal(m.items[0].rule, "pupil.image");
    assert.equal(m.items[0].message, PUPIL.message);
    assert.equal(m.canRemove, false, "Remove location would send the pupil photo as if it were fixed");
    assert.deepEqual(m.removable, []);
    assert.deepEqual(m.removeAnyway, ["IMG_0042.jpg"], "the pack still removes the location if it goes");
    assert.equal(m.clauses[0].ref, "6.9");
    assert.equal(m.canOverride, true);
  }
});

test("the pack's action ranks before severity: a high GPS finding only sanitised does not lead a warning", () => {
  const m = describe({ ...RESULT, decision: "warn", findings: [GPS, { ...PUPIL, severity: "low" }] });
  assert.equal(m.items[0].rule, "pupil.image");
  const place = { ...GPS, rule: "location.place", action: "warn", severity: "medium" };
  const m2 = describe({ ...RESULT, decision: "warn", findings: [place, { ...PUPIL, severity: "medium" }] });
  assert.equal(m2.items[0].rule, "pupil.image", "equal action and severity: what Remove location cannot fix leads");
});

test("location alone still offers Remove location", () => {
  const m = describe({ ...RESULT, findings: [GPS, { ...GPS, rule: "location.place", action: "warn" }] });
  assert.equal(m.canRemove, true);
  assert.deepEqual(m.removeAnyway, []);
});
