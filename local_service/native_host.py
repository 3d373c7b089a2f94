"""`postguard native-host`: the browser extension's way to the local service with no token to paste.

Chrome, Edge and Firefox start this program for PostGuard's extension only: the host's manifest (written by
postguard deploy) names the extension in `allowed_origins` (Chrome, Edge) or `allowed_extensions` (Firefox), and the
browser passes the caller as the first argument (Chrome: `chrome-extension://<id>/`; Firefox: the manifest's path,
then the extension's id), which is checked again here against [deploy] extension_id. The protocol is Chrome's native
messaging: each message is a 4-byte length in native byte order, then that many bytes of UTF-8 JSON, both ways.

    {"type": "hello"}  ->  {"ok": true, "serviceUrl": "http://127.0.0.1:8765", "token": "...", "version": "..."}

The token is this account's (the browser runs as the person, and so does this host): the same file the service
reads, in the account's data folder.
"""
from __future__ import annotations

import json
import struct
import sys
from typing import BinaryIO

from rules import load_config
from rules.record.keys import TOKEN_FILE, read_secret

from .about import version
from .deploy import FIREFOX_ID

MAX_IN = 64 << 10  # the extension sends a few bytes; a larger length is not PostGuard's extension talking
HEADER = struct.Struct("=I")


class ProtocolError(ValueError):
    """The browser's side broke the protocol: a short header, a length over MAX_IN, or a body that is not JSON."""


def read_message(stream: BinaryIO) -> dict | None:
    """One message, or None at the end of the stream (the browser closed the port)."""
    header = stream.read(HEADER.size)
    if not header:
        return None
    if len(header) < HEADER.size:
        raise ProtocolError("short message header")
    (length,) = HEADER.unpack(header)
    if length > MAX_IN:
        raise ProtocolError(f"message of {length} bytes (at most {MAX_IN})")
    body = stream.read(length)
    if len(body) < length:
        raise ProtocolError("message cut short")
    try:
        message = json.loads(body.decode("utf-8"))
    except (UnicodeError, ValueError):
        raise ProtocolError("message is not JSON") from None
    if not isinstance(message, dict):
        raise ProtocolError("message is not a JSON object")
    return message


def write_message(stream: BinaryIO, message: dict) -> None:
    body = json.dumps(message, separators=(",", ":")).encode("utf-8")
    stream.write(HEADER.pack(len(body)) + body)
    stream.flush()


def caller_allowed(config, caller: list[str]) -> str | None:
    """None when the caller may have the token; else why not. The browser names the caller: Chrome and Edge the
    extension's origin, Firefox the manifest's path and the extension's id."""
    expected = config.deploy.extension_id
    if caller and caller[0].startswith("chrome-extension://"):
        origin_id = caller[0][len("chrome-extension://"):].rstrip("/")
        if expected and origin_id != expected:
            return f"{caller[0]} is not PostGuard's extension"
        if not expected:
            return "no [deploy] extension_id is configured: which extension may have the token is unknown"
        return None
    if len(caller) >= 2 and caller[1] == FIREFOX_ID:
        return None
    return "started by something other than PostGuard's extension"


def answer(config, message: dict, refused: str | None) -> dict:
    if refused:
        return {"ok": False, "error": refused}
    if message.get("type") != "hello":
        return {"ok": False, "error": f"unknown message type {message.get('type')!r}"}
    return {"ok": True, "serviceUrl": f"http://127.0.0.1:{config.deploy.service_port}",
            "token": read_secret(config, TOKEN_FILE), "version": version()}


def serve(config, caller: list[str], stdin: BinaryIO, stdout: BinaryIO) -> int:
    """Answer messages until the browser closes the port; 0 then, 1 when the protocol was broken."""
    refused = caller_allowed(config, caller)
    while True:
        try:
            message = read_message(stdin)
        except ProtocolError as exc:
            print(f"postguard native-host: {exc}", file=sys.stderr)
            return 1
        if message is None:
            return 0
        write_message(stdout, answer(config, message, refused))


def cmd_native_host(args) -> int:
    config = load_config(args.config)
    return serve(config, list(args.caller), sys.stdin.buffer, sys.stdout.buffer)


def add_parsers(sub, common) -> None:
    p = sub.add_parser("native-host", parents=[common], help="the browser extension's native messaging host (the "
                                                             "browser starts it; it gives the extension the service's "
                                                             "address and token)")
    p.add_argument("caller", nargs="*", help="what the browser passes: the extension's origin (Chrome, Edge), or the "
                                             "manifest's path and the extension's id (Firefox)")
    p.add_argument("--parent-window", help="passed by Chrome on Windows; unused")
    p.set_defaults(func=cmd_native_host)
