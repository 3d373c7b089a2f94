"""The local service's API as the proxy sees it when it runs in its own process (`mitmdump -s`): hold a post for
the person's decision, pass a notice, say it is running. A `rules.record.hold.Holder`, like the in-process broker,
so the addon does not care which."""
from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request

from rules.record.hold import Answer

log = logging.getLogger("postguard.proxy")


class ServiceClient:
    """The Holder that asks the local service over HTTP, with the per-install token."""

    def __init__(self, base_url: str, token: str, timeout: float = 5):
        self.base, self.token, self.timeout = base_url.rstrip("/"), token, timeout

    def _call(self, method: str, path: str, body: dict | None = None, timeout: float | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.base}/api/v1{path}", data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
            return json.loads(resp.read() or b"{}")

    def hold(self, summary: dict, timeout_s: float) -> "RemoteHold":
        reply = self._call("POST", "/pending", {"summary": summary, "timeout_s": timeout_s})
        return RemoteHold(self, reply["pending_id"])

    def answer_for(self, fingerprints: list[str]) -> Answer | None:
        """Answers given in the page live in the service's memory; over HTTP the proxy asks the person instead."""
        return None

    def notify(self, notice: dict) -> None:
        self._call("POST", "/notices", {"notice": notice})

    def heartbeat(self) -> None:
        self._call("POST", "/proxy/heartbeat", {})


class RemoteHold:
    def __init__(self, client: ServiceClient, pending_id: str):
        self.client, self.id = client, pending_id

    def wait(self, timeout: float) -> Answer | None:
        """Long-poll in rounds of at most 25 s until decided, expired, or `timeout` passes."""
        end = time.monotonic() + timeout
        while (left := end - time.monotonic()) > 0:
            try:
                reply = self.client._call("GET", f"/pending/{self.id}/wait?timeout={min(25, left):.1f}",
                                          timeout=min(25, left) + 10)
            except (OSError, urllib.error.URLError, ValueError) as exc:
                log.warning("lost the local service while waiting for a decision: %s", exc)
                return None
            if reply.get("decision"):
                return Answer(reply["decision"]["choice"], reply["decision"].get("reason", ""))
            if reply.get("state") != "pending":
                return None
        return None
