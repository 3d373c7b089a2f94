"""Offline audit of HAR 1.2 captures (browsers' dev tools, mitmproxy's export) with the addon's own extraction."""
from __future__ import annotations

import base64
import json
from urllib.parse import urlencode, urlsplit

from rules import Engine
from rules.platforms import get_hosts, in_scope

from .extract import ExtractError, extract, saves_on_get

BODY_METHODS = ("POST", "PUT", "PATCH")
NOT_CHECKED = "not_checked"  # an entry's decision when there was nothing in the capture to check: never "allow"
NO_BODY = "no request body in the capture (export the HAR with content)"


def entry_request(entry) -> tuple[str, str, list[tuple[str, str]], bytes]:
    """An entry's method, URL, headers and body, read as HAR 1.2 says they are; ValueError naming the first part
    that is not (a capture is input like any other: a list where an object belongs is an unreadable entry, not a
    crash)."""
    req = _object(_object(entry, "entry").get("request"), "request")
    method, url = _string(req, "method", "request", "GET"), _string(req, "url", "request", "")
    headers = []
    for i, h in enumerate(_list(req.get("headers", []), "request.headers")):
        h = _object(h, f"request.headers[{i}]")
        name, value = _string(h, "name", f"request.headers[{i}]"), _string(h, "value", f"request.headers[{i}]")
        if name.lower() not in ("content-encoding", "content-length") and not name.startswith(":"):
            headers.append((name, value))
    post = _object(req.get("postData") or {}, "request.postData")
    mime = _string(post, "mimeType", "request.postData", "")
    text, encoding = post.get("text"), post.get("encoding")
    if not isinstance(text, (str, type(None))) or not isinstance(encoding, (str, type(None))):
        raise ValueError("request.postData: text and encoding must be strings")
    body = b""
    if text is not None:
        body = _text_bytes(text, encoding, mime)
    elif post.get("params"):
        params = [_object(p, f"request.postData.params[{i}]")
                  for i, p in enumerate(_list(post["params"], "request.postData.params"))]
        body = urlencode([(_string(p, "name", "request.postData.params"),
                           _string(p, "value", "request.postData.params", "")) for p in params]).encode()
    if mime and not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", mime))
    return method, url, headers, body


def _object(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"{where} is not an object")
    return value


def _list(value, where: str) -> list:
    if not isinstance(value, list):
        raise ValueError(f"{where} is not a list")
    return value


_REQUIRED = object()


def _string(obj: dict, key: str, where: str, default=_REQUIRED) -> str:
    value = obj.get(key, default)
    if value is _REQUIRED:
        raise ValueError(f"{where} has no {key}")
    if not isinstance(value, str):
        raise ValueError(f"{where}.{key} is not a string")
    return value


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
            entries = _list(har["log"]["entries"], "log.entries")
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            raise ValueError(f"{path}: not a HAR 1.2 file ({type(exc).__name__}: {exc})") from None
    for i, entry in enumerate(entries):
        result = {"entry": i, "method": None, "url": None, "findings": [], "decision": "allow", "error": None,
                  "note": None}
        try:
            method, url, headers, body = entry_request(entry)
        except (KeyError, TypeError, ValueError) as exc:
            result["error"], result["decision"] = f"unreadable entry: {exc}", NOT_CHECKED
            yield result
            continue
        result["method"], result["url"] = method, url
        try:
            is_signin = method.upper() == "GET" and "?" in url and (in_scope(urlsplit(url).hostname or "",
                                                                              get_hosts()) or saves_on_get(url))
            if method.upper() in BODY_METHODS and not body:
                result["decision"], result["note"] = NOT_CHECKED, NO_BODY
            elif (method.upper() in BODY_METHODS and body) or is_signin:
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
        except Exception as exc:  # as in the live addon: a bug, or input nobody foresaw, is this entry's error
            result["error"] = f"inspection failed: {type(exc).__name__}: {exc}"
        if result["error"] and not result["findings"]:
            result["decision"] = NOT_CHECKED  # something could not be checked and nothing was found: never "allow"
        yield result
