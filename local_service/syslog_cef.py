"""Events to a SIEM: syslog (RFC 5424) carrying CEF, over UDP (a datagram a message, RFC 5426), TCP (octet
counting, RFC 6587: `LEN SP MESSAGE`) or TLS (RFC 5425, octet counting too), as Microsoft Sentinel's
CommonSecurityLog and Splunk read it.

CEF is `CEF:0|PostGuard|PostGuard|<version>|<rule>|<name>|<severity 0-10>|<extension>`: in the header `\\` and `|`
are escaped with a backslash; in the extension `\\`, `=` and newlines (`\\n`, `\\r`). The extension carries only
what the record keeps (already redacted): never a post or an image.
"""
from __future__ import annotations

import os
import socket
import ssl
import time
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import urlsplit

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

FACILITY = 20  # local4: the facility SIEM collectors are usually told to take CEF from
SYSLOG_SEVERITY = {"high": 3, "medium": 4, "low": 5, "info": 6}  # err, warning, notice, informational
CEF_SEVERITY = {"high": 8, "medium": 5, "low": 3, "info": 1}  # CEF 0-10: 7-8 high, 4-6 medium, 0-3 low
MAX_VALUE = 1000  # characters of one extension value (a message or a reason), so a line stays a few KB
TIMEOUT_S = 10
ATTEMPTS = 3


def _version() -> str:
    try:
        return version("postguard")
    except PackageNotFoundError:
        return "0"


VERSION = _version()


def header_escape(value: str) -> str:
    return " ".join(str(value).replace("\\", "\\\\").replace("|", "\\|").splitlines())


def ext_escape(value) -> str:
    text = str(value)[:MAX_VALUE]
    return (text.replace("\\", "\\\\").replace("=", "\\=").replace("\r\n", "\\n").replace("\n", "\\n")
            .replace("\r", "\\r"))


def cef(event: dict, name: str) -> str:
    """One event (a record row or an Event's to_dict()) as a CEF line; `name` is its rule in words."""
    t = event.get("time")
    if isinstance(t, str):
        t = datetime.fromisoformat(t.replace("Z", "+00:00"))
    ms = int(t.timestamp() * 1000) if isinstance(t, datetime) else int(time.time() * 1000)
    ext = [("rt", ms), ("externalId", event.get("id", "")), ("act", event.get("decision", "")),
           ("suser", event.get("user") or ""), ("shost", event.get("device") or ""),
           ("dhost", event.get("host") or ""),
           ("request", f"https://{event['host']}{event.get('path') or ''}" if event.get("host") else ""),
           ("msg", event.get("message") or ""), ("reason", event.get("reason") or ""),
           ("cat", event.get("severity", ""))]
    clauses = "; ".join(c.get("ref", "") for c in event.get("clauses") or [])
    for n, (label, value) in enumerate((("policyClauses", clauses), ("school", event.get("school") or "")), 1):
        if value:
            ext += [(f"cs{n}Label", label), (f"cs{n}", value)]
    head = ["CEF:0", "PostGuard", "PostGuard", VERSION, event.get("rule", ""), name,
            str(CEF_SEVERITY.get(event.get("severity", ""), 1))]
    return "|".join([head[0], *(header_escape(h) for h in head[1:])]) + "|" + \
        " ".join(f"{k}={ext_escape(v)}" for k, v in ext if v != "")


def rfc5424(message: str, severity: str, hostname: str | None = None, now: datetime | None = None) -> bytes:
    """`<PRI>1 TIMESTAMP HOSTNAME postguard PROCID cef - MSG`: MSG in UTF-8 (no BOM: CEF collectors read it
    as plain text)."""
    pri = FACILITY * 8 + SYSLOG_SEVERITY.get(severity, 6)
    stamp = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat(timespec="milliseconds")
    host = "".join(c for c in (hostname or socket.gethostname()) if 33 <= ord(c) <= 126)[:255] or "-"
    return f"<{pri}>1 {stamp.replace('+00:00', 'Z')} {host} postguard {os.getpid()} cef - {message}".encode()


def octet_frame(message: bytes) -> bytes:
    return str(len(message)).encode() + b" " + message


class SyslogSender:
    """Sends messages to `udp://host:port`, `tcp://host:port` (default port 514) or `tls://host:port` (RFC 5425,
    default 6514: the certificate checked against `ca_file` or the system's CAs, and its name against the host);
    TCP and TLS are retried with backoff."""

    def __init__(self, url: str, attempts: int = ATTEMPTS, wait_s: float = 1.0, timeout_s: float = TIMEOUT_S,
                 ca_file: str = ""):
        parts = urlsplit(url)
        if parts.scheme not in ("udp", "tcp", "tls") or not parts.hostname:
            raise ValueError(f"not udp://, tcp:// or tls://HOST[:PORT]: {url!r}")
        self.url, self.proto, self.host = url, parts.scheme, parts.hostname
        self.port = parts.port or (6514 if parts.scheme == "tls" else 514)
        self.attempts, self.wait_s, self.timeout_s = max(1, attempts), wait_s, timeout_s
        self.context = ssl.create_default_context(cafile=ca_file or None) if self.proto == "tls" else None

    def send(self, messages: list[bytes], attempts: int | None = None) -> None:
        if not messages:
            return
        retrying = Retrying(stop=stop_after_attempt(attempts or self.attempts),
                            wait=wait_exponential(multiplier=self.wait_s, max=30),
                            retry=retry_if_exception_type(OSError), reraise=True)
        for attempt in retrying:
            with attempt:
                self._send(messages)

    def _send(self, messages: list[bytes]) -> None:
        family = socket.getaddrinfo(self.host, self.port)[0][0]
        if self.proto == "udp":
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                for m in messages:
                    s.sendto(m, (self.host, self.port))
            return
        with socket.create_connection((self.host, self.port), timeout=self.timeout_s) as raw:
            s = self.context.wrap_socket(raw, server_hostname=self.host) if self.context else raw
            with s:
                s.sendall(b"".join(octet_frame(m) for m in messages))
