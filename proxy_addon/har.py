"""Offline audit of HAR 1.2 captures (browsers' dev tools, mitmproxy's export) with the addon's own extraction."""
from __future__ import annotations

import base64
import json
from urllib.parse import urlencode, urlsplit

from rules import Engine
from rules.platforms import get_hosts, in_scope

from .extract import ExtractError, extract

BODY_METHODS = ("POST", "PUT", "PATCH")
NOT_CHECKED = "not_checked"  # an entry's decision when there was nothing in the capture to check: never "allow"
NO_BODY = "no request body in the capture (export the HAR with content)"


def entry_request(entry: dict) -> tuple[str, str, list[tuple[str, str]], bytes]:
    req = entry["request"]
    headers = [(h["name"], h["value"]) for h in req.get("headers", [])
               if h.get("name", "").lower() not in ("content-encoding", "content-length") and
               not h.get("name", "").startswith(":")]
    post = req.get("postData") or {}
    body = b""
    if post.get("text") is not None:
        body = _text_bytes(post["text"], post.get("encoding"), post.get("mimeType", ""))
    elif post.get("params"):
        body = urlencode([(p["name"], p.get("value", "")) for p in post["params"]]).encode()
    if post.get("mimeType") and not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", post["mimeType"]))
    return req.get("method", "GET"), req.get("url", ""), headers, body


def _text_bytes(text: str, encoding: str | None, mime: str) -> bytes:
    """HAR keeps bodies as text. Binary bodies are base64 when the exporter says so; otherwise exporters (mitmproxy
    among them) map bytes to code points 0-255, which latin-1 turns back into the same bytes."""
    if encoding == "base64":
        return base64.b64decode(text)
    binary = mime.lower().startswith(("image/", "video/", "application/octet-stream", "multipart/"))
    if binary:
        try:
            return text.encode("latin-1")
        except UnicodeEncodeError:
            pass
    return text.encode("utf-8", "surrogateescape")


def scan_har(path: str, engine: Engine, context: dict | None = None):
    """Yield one result per entry: {"entry", "method", "url", "findings", "decision", "error", "note"}. A POST, PUT or
    PATCH whose body the capture does not hold is "not_checked", with a note saying so, never a plain "allow"."""
    with open(path, "rb") as f:
        try:
            har = json.load(f)
            entries = har["log"]["entries"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a HAR 1.2 file ({exc})") from None
    for i, entry in enumerate(entries):
        result = {"entry": i, "method": None, "url": None, "findings": [], "decision": "allow", "error": None,
                  "note": None}
        try:
            method, url, headers, body = entry_request(entry)
        except (KeyError, TypeError, ValueError) as exc:
            result["error"] = f"unreadable entry: {exc}"
            yield result
            continue
        result["method"], result["url"] = method, url
        is_signin = method.upper() == "GET" and "?" in url and in_scope(urlsplit(url).hostname or "", get_hosts())
        if method.upper() in BODY_METHODS and not body:
            result["decision"], result["note"] = NOT_CHECKED, NO_BODY
        elif (method.upper() in BODY_METHODS and body) or is_signin:
            try:
                ex = extract(method, url, headers, body)
                ex.submission.context.update(context or {})
                verdict = engine.evaluate(ex.submission)
                result["findings"] = [{k: v for k, v in f.to_dict().items() if k != "target"}
                                      for f in verdict.findings]
                result["decision"] = verdict.decision
                if verdict.errors:
                    result["error"] = "; ".join(verdict.errors)
            except ExtractError as exc:
                result["error"] = f"inspection error: {exc}"
        yield result
