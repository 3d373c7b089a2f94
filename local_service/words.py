"""Rules, decisions, evidence and audit entries in words, for reviewers (the dashboard, alert mail, CEF names).

Rule names come from here for the rules PostGuard ships, else from the detector's own one-line description
(rules.detectors), else the id itself; decisions from the vocabulary's Outcome words. Evidence and audit details are
turned into a sentence and a list of labelled fields, never shown as JSON.
"""
from __future__ import annotations

from rules.detectors import known_rules
from rules.vocabulary import Outcome

RULE_NAMES = {
    "location.gps": "Location (GPS) in a photo or video",
    "location.place": "Place name in a photo",
    "location.school_site": "Photo taken on the school site",
    "school_email.personal_account": "School e-mail used for a personal account",
    "wikipedia.edit": "Edit to Wikipedia or another wiki",
    "personal_data.pupil": "Pupils' personal data",
    "personal_data.staff": "Staff member's personal data",
    "personal_data.contact_details": "Personal contact details",
    "pupil.image": "Photo of pupils or the school",
    "contact.pupil": "Contact with a pupil",
    "documents.pupil_records": "Pupil records in a document",
    "school.identified": "School named on a personal profile",
    "inspection.error": "Post could not be checked",
    "retention.purge": "Old events removed (retention)",
    "device.silent": "Laptop gone silent",
    "outbox.dropped": "Laptop's outbox full: oldest events dropped",
    "ca.fallback": "Trust certificate expired: laptop back on its own CA",
    "integrity.chain_break": "Laptop's record changed before it was sent",
    "integrity.gap": "Events missing from a laptop's record",
    "integrity.dropped": "Events a laptop dropped (outbox full)",
    "integrity.replayed": "Laptop sent old event numbers again",
    "integrity.rewound": "Laptop restored from an older copy",
    "integrity.truncated": "Newest events removed before sending",
    "integrity.revoked": "Revoked laptop tried to send",
}

DECISION_WORDS = {
    Outcome.ALLOWED: "Allowed", Outcome.WARNED: "Warned", Outcome.OVERRIDDEN: "Posted anyway after a warning",
    Outcome.CANCELLED: "Cancelled by the person", Outcome.SANITISED: "Cleaned, then posted",
    Outcome.BLOCKED: "Blocked", Outcome.UNANSWERED: "Held, no answer in time",
    Outcome.INSPECTION_ERROR: "Could not be checked", Outcome.PURGED: "Removed after retention",
    Outcome.RECORDED: "Recorded only",
}

FIELD_LABELS = {
    "lat": "Latitude (about 1 km)", "lon": "Longitude (about 1 km)", "source": "Found in",
    "place": "Place", "nearest_town": "Nearest town", "town": "Nearest town", "site": "School site",
    "distance_m": "Distance from the site (m)", "on_site": "On the school site", "format": "File format",
    "file": "File", "field": "Form field", "kind": "What was found", "count": "How many", "events": "Events",
    "default_days": "Kept for (days)", "per_rule_days": "Kept per rule (days)", "as_of": "As of",
    "email": "E-mail address", "platform": "Platform", "wiki": "Wiki", "page": "Page", "action": "Action",
    "error": "Error", "detector": "Check", "reason": "Reason", "filters": "Filters", "rows": "Rows",
    "user": "Person", "id": "Event", "page_link": "Page", "changed": "Changed", "to": "To", "ok": "Succeeded",
    "since": "Since", "channel": "Channel", "school": "School", "device": "Laptop",
    "carriers": "Every place in the file holding it", "school_site": "Nearest school site",
    "identifier": "What was found", "last_two": "Last two characters", "types": "Kinds", "kinds": "Kinds",
    "places": "Place names", "addresses": "Addresses (masked)", "signal": "Signal", "score": "Score",
    "name": "Name", "country": "Country", "on_site": "On the site",
}

AUDIT_ACTIONS = {
    "login": "Signed in", "logout": "Signed out", "login_failed": "Wrong password",
    "login_refused": "Sign-in refused", "view_overview": "Viewed the overview", "view_events": "Viewed the events",
    "view_person": "Viewed a person's history", "view_event": "Viewed an event", "view_settings": "Viewed settings",
    "change_settings": "Changed settings", "export_csv": "Exported events (CSV)",
    "export_jsonl": "Exported events (JSON Lines)", "verify_log": "Verified the log", "purge": "Purged old events",
    "view_audit": "Viewed the audit log", "test_alert": "Sent a test alert", "search": "Searched the events",
}


def rule_name(rule: str) -> str:
    if rule in RULE_NAMES:
        return RULE_NAMES[rule]
    try:
        text = known_rules()[rule].rules[rule]
        return text[:1].upper() + text[1:]
    except KeyError:
        return rule


def decision_words(decision: str) -> str:
    return DECISION_WORDS.get(decision, (decision or "").replace("_", " ").capitalize())


def label(key: str) -> str:
    return FIELD_LABELS.get(key, key.replace("_", " ").capitalize())


def value_text(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None or value == "":
        return "—"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    if isinstance(value, dict):
        return "; ".join(f"{label(k)}: {value_text(v)}" for k, v in value.items()) or "—"
    if isinstance(value, (list, tuple)):
        return ", ".join(value_text(v) for v in value) or "—"
    return str(value)


def fields(detail: dict) -> list[tuple[str, str]]:
    """A dict (evidence, an audit entry's detail) as (label, text) pairs, nested values flattened into text."""
    return [(label(k), value_text(v)) for k, v in sorted((detail or {}).items())]


def _name(value) -> str:
    return str(value.get("name") or "") if isinstance(value, dict) else str(value or "")


def evidence_sentence(rule: str, evidence: dict) -> str:
    """What the evidence shows, in one sentence."""
    ev = evidence or {}
    if "lat" in ev and "lon" in ev:
        where = _name(ev.get("nearest_town") or ev.get("town") or ev.get("place"))
        text = f"The file held a location ({value_text(ev['lat'])}, {value_text(ev['lon'])}, rounded to about 1 km)"
        if where:
            text += f" near {where}"
        if ev.get("source"):
            text += f", in its {value_text(ev['source'])}"
        site = ev.get("school_site")
        if ev.get("on_site") is True or (isinstance(site, dict) and site.get("on_site") is True):
            text += f"; it is on the school site{' (' + _name(site) + ')' if _name(site) else ''}"
        return text + "."
    if isinstance(ev.get("places"), dict) and ev["places"]:
        return f"The file named a place: {', '.join(dict.fromkeys(str(v) for v in ev['places'].values()))}."
    if ev.get("identifier"):
        return f"Found: {ev['identifier']}{' (' + value_text(ev['count']) + ')' if ev.get('count') else ''}."
    if not ev:
        return "No further evidence was kept."
    return f"{rule_name(rule)}: {len(ev)} detail{'s' if len(ev) != 1 else ''} kept, listed below."


def audit_sentence(action: str, detail: dict) -> str:
    d = detail or {}
    text = AUDIT_ACTIONS.get(action, action.replace("_", " ").capitalize())
    if d.get("user"):
        text += f" ({d['user']})"
    if "rows" in d:
        text += f": {d['rows']} row{'s' if d['rows'] != 1 else ''}"
    return text
