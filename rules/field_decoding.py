"""How a client writes a value into a request's fields, undone: pure functions, no configuration, no I/O.

- field names in any spelling ("user[email]", "emailAddress") reduced to words, to match a list of words;
- JSON held inside a field (a form's data={...}, GraphQL variables, Instagram's signed_body) opened into dotted names;
- a value's encodings undone, up to three deep: percent, JSON escape, base64/base64url, TikTok's XOR-hex;
- a JWT (an ID token) read for its claims, without verifying it; a URL's host, also from Google's storagerelay.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from functools import lru_cache
from typing import Iterable, Iterator, NamedTuple
from urllib.parse import unquote, urlsplit

MAX_SCAN = 64 << 10  # characters: longer values are searched as they are, not decoded
MAX_NESTED = 256 << 10  # characters: longer values are not parsed as JSON
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.(eyJ[A-Za-z0-9_-]{4,})\.[A-Za-z0-9_-]*")
# Any compact JWS (header.payload.signature, base64url): a header or payload serialised with a space or a newline
# first does not start "eyJ" ("eyAi", "ewog"); the header must still decode to a JSON object naming its "alg".
JWS = re.compile(r"(?<![A-Za-z0-9_.-])([A-Za-z0-9_-]{8,})\.([A-Za-z0-9_-]{8,})\.([A-Za-z0-9_-]*)(?![A-Za-z0-9_.-])")
MAX_TOKENS = 4  # JWTs read from one value
BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{12,}={0,2}")
HEX = re.compile(r"(?:[0-9A-Fa-f]{2}){4,}")
ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})")
NESTED_PREFIX = re.compile(r"[\w.]{0,24}")  # Instagram's signed_body=SIGNATURE.{...}


# -- field names, and JSON held inside a field ----------------------------------------------------------------------

@lru_cache(maxsize=4096)
def normal_name(name: str) -> str:
    """"user[email]" -> "user_email", "emailAddress" -> "email_address", "session[username_or_email]" -> ..."""
    snake = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return "_".join(re.findall(r"[a-z0-9]+", snake.lower()))


def named(name: str, words: Iterable[str]) -> bool:
    norm = f"_{normal_name(name)}_"
    return any(f"_{w}_" in norm for w in words)


class Leaf(NamedTuple):
    name: str
    value: str
    how: str = "plain"  # how a nested JSON text wrote it: "json_escape" when the @ was \u0040


def leaves(fields: Iterable[tuple[str, str]], depth: int = 0) -> Iterator[Leaf]:
    """The fields, with JSON held inside a field (a form's data={...}, GraphQL variables) opened into dotted names
    first, so the most precise name reports an address."""
    for name, value in fields:
        doc = _nested_json(value) if depth < 3 else None
        if doc is not None:
            how = "json_escape" if "\\u0040" in value.lower() else "plain"
            for leaf in leaves(_flatten(doc, name), depth + 1):
                yield leaf._replace(how=how if leaf.how == "plain" else leaf.how)
        yield Leaf(name, value)


def _nested_json(value: str):
    start = min((i for i in (value.find("{"), value.find("[")) if i >= 0), default=-1)
    if start < 0 or len(value) > MAX_NESTED or not NESTED_PREFIX.fullmatch(value[:start].strip()):
        return None
    try:
        doc = json.loads(value[start:])
    except ValueError:
        return None
    return doc if isinstance(doc, (dict, list)) else None


def _flatten(node, prefix: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _flatten(v, f"{prefix}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _flatten(v, f"{prefix}.{i}")
    elif isinstance(node, str):
        yield prefix, node


# -- a value's encodings --------------------------------------------------------------------------------------------

def _percent(text: str) -> str | None:
    return unquote(text) if "%" in text else None


def _json_escape(text: str) -> str | None:
    return ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text) if "\\u" in text else None


def _base64(text: str) -> str | None:
    """Every base64 run in the text that decodes to readable UTF-8 (the address, or a JSON blob holding it)."""
    found = []
    for run in BASE64_RUN.findall(text):
        raw = run.rstrip("=")
        try:
            data = base64.b64decode(raw + "=" * (-len(raw) % 4), altchars=b"-_" if re.search("[-_]", raw) else None)
            decoded = data.decode("utf-8")
        except (binascii.Error, ValueError):
            continue
        if _readable(decoded):
            found.append(decoded)
    return "\n".join(found) or None


def _xor5_hex(text: str) -> str | None:
    """TikTok's mix_mode=1: each byte XOR 5, as two hex digits."""
    if not HEX.fullmatch(text):
        return None
    decoded = "".join(chr(b ^ 5) for b in bytes.fromhex(text))
    return decoded if _readable(decoded) else None


def _readable(text: str) -> bool:
    return all(c.isprintable() or c in "\t\r\n" for c in text)


DECODERS = (("percent", _percent), ("json_escape", _json_escape), ("base64", _base64), ("xor5_hex", _xor5_hex))


def decodings(text: str, depth: int = 0) -> Iterator[tuple[str, str]]:
    """What the text says once each encoding is undone, up to three encodings deep, with how it was encoded."""
    for label, decode in DECODERS:
        out = decode(text)
        if out and out != text:
            yield out, label
            if depth < 2:
                yield from ((deeper, f"{label}+{how}") for deeper, how in decodings(out, depth + 1))


# -- ID tokens and URLs ---------------------------------------------------------------------------------------------

def jwt_claims(token: str) -> dict:
    """A JWT's payload (an ID token's claims), not verified; {} when the text is not one. An HTTP "Bearer " prefix
    is allowed."""
    text = token.strip()
    if text[:7].lower() == "bearer ":
        text = text[7:].lstrip()
    m = JWS.fullmatch(text) if len(text) <= MAX_SCAN else None
    return _claims(m) if m else {}


def jwt_claims_in(text: str) -> list[dict]:
    """The claims of every JWT inside a text (a callback URL's `#id_token=...`, a header value, a form field),
    percent-encoding undone first; at most MAX_TOKENS, and only in the first MAX_SCAN characters."""
    if "." not in text:
        return []
    text = text[:MAX_SCAN]
    if "%" in text:
        text = unquote(text)
    found = []
    for m in JWS.finditer(text):
        claims = _claims(m)
        if claims:
            found.append(claims)
            if len(found) >= MAX_TOKENS:
                break
    return found


def is_jwt(text: str) -> bool:
    return bool(jwt_claims(text)) or bool(JWT.fullmatch(text.strip()))


def _claims(m: re.Match) -> dict:
    header = _b64url_json(m.group(1))
    if not isinstance(header, dict) or "alg" not in header:
        return {}
    claims = _b64url_json(m.group(2))
    return claims if isinstance(claims, dict) else {}


def _b64url_json(part: str):
    try:
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (binascii.Error, ValueError):
        return None


def host_of(url: str) -> str:
    """A URL's host; Google's popup flows send redirect_uri=storagerelay://https/www.example.com?id=..."""
    parts = urlsplit(url if "//" in url else f"//{url}")
    if parts.scheme == "storagerelay":
        return parts.path.strip("/").split("/")[0].lower()
    return (parts.hostname or "").lower()
