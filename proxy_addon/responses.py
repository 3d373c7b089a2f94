"""What PostGuard answers instead of the site, and what it tells the person: a page for a person, JSON for a
page's script. Every sentence the proxy shows is here."""
from __future__ import annotations

import html
import json
from typing import NamedTuple


class Refusal(NamedTuple):
    title: str
    what_to_do: str
    status: int = 403


BLOCKED = Refusal("This post was blocked by your school's social media policy",
                  "Remove what is described above, or post through the school's official account.")
SIGN_IN = Refusal("PostGuard stopped this sign-in",
                  "Sign in to personal accounts with a personal email address, not your school account.")
SIGN_IN_EXPIRED = Refusal("This sign-in warning has expired",
                          "Go back and start the sign-in again; PostGuard will ask again.", 410)
CANNOT_CLEAN = Refusal("PostGuard could not remove the location from this file safely",
                       "Save the photo without location (turn off location in the camera app) and try again.")
CANCELLED = Refusal("You cancelled this post", "Nothing was sent. Change the post and try again if you wish.", 409)
WAITING = Refusal("This post is waiting for your decision",
                  "Open the page again and answer PostGuard's question, or ask your IT team.")
FAIL_CLOSED = b"PostGuard could not inspect this post and the school's policy says not to send it."


def removed(what: list[str]) -> str:
    """The notice after the proxy cleaned a post on its way out."""
    return f"PostGuard removed {'; '.join(what)} before it was sent."


def wants_json(headers) -> bool:
    accept = headers.get("Accept", "")
    mode = headers.get("Sec-Fetch-Mode", "")
    return mode in ("cors", "same-origin", "no-cors") or ("json" in accept and "html" not in accept) or \
        headers.get("X-Requested-With", "") == "XMLHttpRequest"


def _findings_html(findings: list[dict]) -> str:
    items = []
    for f in findings:
        clauses = "".join(f"<blockquote><strong>{html.escape(c['ref'])}</strong> {html.escape(c['text'])}"
                          "</blockquote>" for c in f["policy"])
        items.append(f"<li><p>{html.escape(f['message'])}</p>{clauses}</li>")
    return f"<ul>{''.join(items)}</ul>"


STYLE = """body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem;color:#1d2433}
h1{font-size:1.4rem}blockquote{margin:.5rem 0;padding:.5rem 1rem;border-left:4px solid #3d5a99;background:#f3f5fa}
.do{padding:1rem;background:#eef7ee;border:1px solid #9c9}.err{color:#a31515;font-weight:600}
fieldset{border:1px solid #ccd;padding:.5rem 1rem}label{display:block;margin:.25rem 0}"""


def sign_in_hold(headers, findings: list[dict], token: str, reasons: list[str], continue_path: str,
                 error: str = "") -> tuple[int, bytes, dict]:
    """A warned sign-in: what was found, the clause, and a way on (continue with a reason) or back."""
    title = "PostGuard asks before this sign-in"
    if wants_json(headers):
        body = {"error": title, "postguard": True, "decision": "warn", "continue": {"path": continue_path,
                "token": token, "reason": "required"}, "reasons": reasons,
                "findings": [{"rule": f["rule"], "message": f["message"], "policy": f["policy"]} for f in findings]}
        return 403, json.dumps(body).encode(), {"Content-Type": "application/json", "Cache-Control": "no-store"}
    options = "".join(f'<label><input type="radio" name="reason" value="{html.escape(r)}"> {html.escape(r)}</label>'
                      for r in reasons)
    problem = f'<p class="err" role="alert">{html.escape(error)}</p>' if error else ""
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><style>{STYLE}</style></head>
<body><main><h1>{html.escape(title)}</h1>{_findings_html(findings)}
<p class="do"><strong>What to do instead:</strong> {html.escape(SIGN_IN.what_to_do)}</p>
<p>Go back (your browser's Back button) to sign in another way, or continue if this account is meant for it.
Your answer is kept in your own PostGuard record.</p>{problem}
<form method="post" action="{html.escape(continue_path)}">
<input type="hidden" name="token" value="{html.escape(token)}">
<fieldset><legend>Why continue?</legend>{options}
<label>Other reason: <input type="text" name="other" maxlength="300"></label></fieldset>
<p><button type="submit">Continue to sign in</button></p></form></main></body></html>"""
    return 200, page.encode(), {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}


def refusal(headers, why: Refusal, findings: list[dict]) -> tuple[int, bytes, dict]:
    """(status, body, headers) explaining what was found, the policy clause, and what to do instead."""
    title, what_to_do, status = why
    if wants_json(headers):
        body = {"error": title, "postguard": True, "what_to_do": what_to_do,
                "findings": [{"rule": f["rule"], "message": f["message"], "policy": f["policy"]} for f in findings]}
        return status, json.dumps(body).encode(), {"Content-Type": "application/json", "Cache-Control": "no-store"}
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><style>{STYLE}</style></head>
<body><main><h1>{html.escape(title)}</h1><p>PostGuard stopped this post before it left your laptop.</p>
{_findings_html(findings)}<p class="do"><strong>What to do instead:</strong> {html.escape(what_to_do)}</p>
<p><small>Your post has not been sent. Nothing was lost: go back to the page to change it.</small></p></main>
</body></html>"""
    return status, page.encode(), {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}
