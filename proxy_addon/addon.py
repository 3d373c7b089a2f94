"""PostGuard's mitmproxy addon: every outgoing post goes through the policy engine before it leaves the laptop.

Load with `mitmdump -s proxy_addon/addon.py` (default pack and config), or embedded by `postguard run`. Adapter only:
extraction lives in extract.py, decisions in the engine, the log in the local service's store module.
"""
from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import os
import sys
import time
from typing import NamedTuple

if __package__ in (None, ""):  # loaded as a script by `mitmdump -s`: make the project importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mitmproxy import ctx, exceptions, hooks, http

from local_service.events import Event, from_verdict
from proxy_addon.extract import Extracted, ExtractError, extract, rebuild
from proxy_addon.responses import refusal
from rules import Engine, Submission, Verdict, load_config, load_pack
from rules.platforms import get_hosts, host_regexes, in_scope

log = logging.getLogger("postguard.proxy")
BODY_METHODS = {"POST", "PUT", "PATCH"}
INLINE_BODY = 256 << 10  # bodies up to this size are inspected on the event loop
BIG_BODY = 4 << 20
GC_DELAY_S = 0.01  # after the response hook: the response is on its way, the flow is finished
KEEP_FREED = 64 << 20  # freed memory malloc keeps for the next upload instead of returning it (keep_freed_memory)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8  # glibc's mallopt parameters (malloc.h)
GET_HOSTS = get_hosts()
EXTRACT_HEADERS = frozenset([b"content-type", b"content-encoding", b"content-disposition", b"x-file-name",
                             b"x-goog-upload-file-name", b"tus-resumable", b"upload-offset",
                             b"x-goog-upload-command", b"content-range"])


class Cleanup(NamedTuple):
    body: bytes | None  # the cleaned body; None when nothing needed changing
    removed: list[str]  # what was removed, from which file
    error: str = ""  # why the location could not be removed safely (then body is None)


class Inspection(NamedTuple):
    ex: Extracted | None = None
    verdict: Verdict | None = None
    cleanup: Cleanup | None = None  # when the verdict is to sanitise
    failure: str = ""  # why the post could not be inspected: it goes on untouched, and that is logged


class PostGuard:
    def __init__(self, store=None, broker=None, engine: Engine | None = None):
        self.store, self.broker, self.engine = store, broker, engine
        self._own_store = store is None
        self.max_body = 64 << 20
        self.hosts = frozenset(engine.pack.hosts if engine else ())
        self._gc_pending = False
        self._writes: dict[str, asyncio.Future] = {}  # flow id -> its events being written while it goes on

    def load(self, loader):
        loader.add_option("postguard_config", str, "", "PostGuard config file (default: the user's config).")
        loader.add_option("postguard_pack", str, "", "Policy pack name or file (default: the config's pack).")
        loader.add_option("postguard_max_body", int, 64 << 20,
                          "Bodies larger than this many bytes pass uninspected, logged as an inspection error.")
        loader.add_option("postguard_scope", str, "pack",
                          "Which hosts to inspect: 'pack' (the packs' social, blog, wiki, sharing and webmail hosts; "
                          "TLS to every other host is passed through undecrypted) or 'all'.")
        loader.add_option("postguard_service", str, "http://127.0.0.1:8765",
                          "The local service, for asking the person (warn) when running without `postguard run`.")
        loader.add_option("postguard_database", str, "",
                          "Monitoring log database URL when running without `postguard run` (default: the "
                          "config's SQLite file).")

    def configure(self, updated):
        if "postguard_scope" in updated and ctx.options.postguard_scope not in ("pack", "all"):
            raise exceptions.OptionsError("postguard_scope must be 'pack' or 'all'")
        if "postguard_max_body" in updated:
            if ctx.options.postguard_max_body < 1024:
                raise exceptions.OptionsError("postguard_max_body must be at least 1024 bytes")
            self.max_body = ctx.options.postguard_max_body
        if updated & {"postguard_config", "postguard_pack", "postguard_database"} or self.engine is None:
            try:
                config = load_config(ctx.options.postguard_config or None)
                pack = load_pack(ctx.options.postguard_pack) if ctx.options.postguard_pack else None
                if self.engine is None or updated & {"postguard_config", "postguard_pack"}:
                    self.engine = Engine(config, pack)
            except ValueError as exc:  # ConfigError, PackError: loud at start-up
                raise exceptions.OptionsError(str(exc)) from None
            self.hosts = frozenset(self.engine.pack.hosts)
            if self._own_store:
                from local_service.commands import database_url
                from local_service.store import Store
                self.store = Store(database_url(config, ctx.options.postguard_database or None))
                self.broker = self._service_client(config)

    def _service_client(self, config):
        from local_service.keys import TOKEN_FILE, read_secret
        from proxy_addon.service_client import ServiceClient
        try:
            return ServiceClient(ctx.options.postguard_service, read_secret(config, TOKEN_FILE))
        except OSError as exc:
            log.warning("no token for the local service (%s): warnings fall back to the pack's choice", exc)
            return None

    def running(self):
        """Decrypt only in-scope hosts: banking and health sites are never intercepted. Everything loaded by now
        (mitmproxy, the engine, the store) lives as long as the proxy: frozen, the collector never scans it again."""
        gc.collect()
        gc.freeze()
        keep_freed_memory()
        if ctx.options.postguard_scope == "pack" and not ctx.options.allow_hosts and not ctx.options.ignore_hosts:
            ctx.options.update(allow_hosts=host_regexes(sorted(self.hosts)))

    def done(self):
        if self._own_store and self.store is not None:
            self.store.close()

    # -- the hook ------------------------------------------------------------------------------------------------

    def request(self, flow: http.HTTPFlow):
        """A small post is inspected and decided right here, and a clean one costs no coroutine. What has to wait
        (a photo's worker thread, the person's answer, the log write) is handed back as one, which mitmproxy awaits
        before the request goes on."""
        pending = self._handle(flow)
        if pending is None and "postguard_events" not in flow.metadata:
            return None
        return self._settle(flow, pending)

    async def _settle(self, flow: http.HTTPFlow, pending) -> None:
        if pending is not None:
            await pending
        events = flow.metadata.pop("postguard_events", None)
        if not events:
            return
        write = asyncio.ensure_future(asyncio.to_thread(self._append, events))  # off the event loop
        if flow.response is None and all(e.decision == "sanitised" for e in events):
            # What leaves is already clean: the upload goes on while its event is written, and the site's answer
            # waits for the write (`response`, `error`), so the person never sees a post the log has not got.
            self._writes[flow.id] = write
            write.add_done_callback(lambda _: self._writes.pop(flow.id, None))
        else:  # anything else is written before the request goes on, so a crash loses no decided post
            await write

    def _append(self, events: list[Event]) -> None:
        try:
            self.store.append(events)
        except Exception:  # the log being down must not break the post; say so loudly in the proxy's log
            log.exception("could not write %d events to the monitoring log", len(events))

    def _handle(self, flow: http.HTTPFlow):
        """Inspect and act; a coroutine when there is something to wait for, else None."""
        req = flow.request
        if flow.response is not None:
            return None
        if req.method not in BODY_METHODS or not req.raw_content:
            if req.method == "GET" and "?" in req.path and in_scope(req.pretty_host, GET_HOSTS):
                self._check_get(flow)
            return None
        if ctx.options.postguard_scope == "pack" and not in_scope(req.pretty_host, self.hosts):
            return None
        url = req.pretty_url
        if len(req.raw_content) > self.max_body:
            return self._record_error(flow, url, f"body of {len(req.raw_content)} bytes is over the inspection limit")
        started = time.perf_counter()
        if len(req.raw_content) <= INLINE_BODY:  # microseconds of work: a thread hand-off would cost more
            return self._act(flow, url, started, self._inspect(req.method, url, _headers(req), req.raw_content))
        return self._inspect_in_thread(flow, url, started)

    async def _inspect_in_thread(self, flow: http.HTTPFlow, url: str, started: float) -> None:
        """A photo or a video: the event loop stays free for everyone else's requests meanwhile."""
        req = flow.request
        done = await asyncio.to_thread(self._inspect, req.method, url, _headers(req), req.raw_content)
        pending = self._act(flow, url, started, done)
        if pending is not None:
            await pending

    def _act(self, flow: http.HTTPFlow, url: str, started: float, done: Inspection):
        """Do what the verdict says; a coroutine when it waits for the person (warn)."""
        if done.failure:
            return self._fail(flow, url, done.failure)
        ex, verdict = done.ex, done.verdict
        if not verdict.findings and not verdict.errors:
            return None  # a silent allow: nothing to keep, not even in mitmproxy's view of the flow
        flow.metadata["postguard"] = {"decision": verdict.decision, "ms": round(1000 * (time.perf_counter() -
                                                                                        started), 2)}
        if verdict.errors:
            self._record(flow, from_verdict(verdict, url=url, source="proxy", decision="inspection_error"))
        if not verdict.findings:
            return None
        if verdict.decision == "allow":
            self._record(flow, from_verdict(verdict, url=url, source="proxy", decision="allowed"))
        elif verdict.decision == "sanitise":
            self._sanitised(flow, verdict, url, done.cleanup)
        elif verdict.decision == "block":
            self._refuse(flow, verdict, "This post was blocked by your school's social media policy",
                         "Remove what is described above, or post through the school's official account.")
            self._record(flow, from_verdict(verdict, url=url, source="proxy", decision="blocked"))
        elif verdict.decision == "warn":
            return self._hold(flow, ex, verdict, url)
        return None

    def _check_get(self, flow) -> None:
        """A sign-in page's URL (login_hint, redirect_uri) is the submission; only warn or block apply."""
        url = flow.request.pretty_url
        try:
            verdict = self.engine.evaluate(Submission(url=url, method="GET"))
        except Exception as exc:
            log.exception("inspection failed for %s", url)
            return self._record_error(flow, url, f"{type(exc).__name__}: {exc}")
        if verdict.decision in ("warn", "block"):
            self._refuse(flow, verdict, "PostGuard stopped this sign-in",
                         "Sign in to personal accounts with a personal email address, not your school account.")
            self._record(flow, from_verdict(verdict, url=url, source="proxy", decision="blocked"))
        elif verdict.findings:
            self._record(flow, from_verdict(verdict, url=url, source="proxy", decision="allowed"))

    def _inspect(self, method, url, headers, body) -> Inspection:
        """The extraction, the verdict and, when the verdict is to sanitise, the clean-up: one trip to a worker
        thread for all three. Never raises: a post that cannot be inspected says why."""
        try:
            ex = extract(method, url, headers, body)
            verdict = self.engine.evaluate(ex.submission)
            return Inspection(ex, verdict, self._clean(ex) if verdict.decision == "sanitise" else None)
        except ExtractError as exc:
            return Inspection(failure=str(exc))
        except Exception as exc:  # a bug in PostGuard never breaks someone's browsing
            log.exception("inspection failed for %s", url)
            return Inspection(failure=f"{type(exc).__name__}: {exc}")

    def _clean(self, ex) -> Cleanup:
        """Every attachment cleaned in place and the body rebuilt around them, or why that cannot be done safely."""
        cleaned, removed = {}, []
        try:
            for i, att in enumerate(ex.submission.files):
                if i in ex.parts:
                    new, what = self.engine.sanitise(att)
                    if what:
                        cleaned[i] = new.data
                        removed.append(f"{', '.join(what)} from {att.name}")
            return Cleanup(rebuild(ex, cleaned) if cleaned else None, removed)
        except ValueError as exc:  # StripError: location found, but not removable without risk
            return Cleanup(None, [], str(exc))

    def response(self, flow: http.HTTPFlow):
        self._collect(flow)
        return self._writes.get(flow.id)  # the log write still under way, if any: mitmproxy awaits it first

    def error(self, flow: http.HTTPFlow):
        self._collect(flow)
        return self._writes.get(flow.id)

    def _collect(self, flow) -> None:
        """mitmproxy's flows sit in reference cycles (its protocol layers hold bound methods of themselves), so a
        finished upload's body is freed only when the garbage collector next runs: with large uploads, hundreds of
        megabytes later. After a big flow, a collection runs a moment later, once this flow is done too. The
        objects alive at start-up are frozen out of collections (see `running`), so one costs about a millisecond
        instead of tens."""
        if flow.request.raw_content and len(flow.request.raw_content) > BIG_BODY and not self._gc_pending:
            self._gc_pending = True
            asyncio.get_running_loop().call_later(GC_DELAY_S, self._gc)

    def _gc(self) -> None:
        self._gc_pending = False
        gc.collect()

    def _sanitised(self, flow, verdict, url, cleanup: Cleanup, record: bool = True) -> None:
        """The cleaned body goes on in place of the original, and the person is told what was removed."""
        if cleanup.error:  # cannot clean safely: the pack's stronger action applies
            self._refuse(flow, verdict, "PostGuard could not remove the location from this file safely",
                         "Save the photo without location (turn off location in the camera app) and try again.")
            self._record(flow, from_verdict(verdict, url=url, source="proxy", decision="blocked",
                                            reason=cleanup.error))
            return
        removed = cleanup.removed
        if cleanup.body is not None:
            flow.request.content = cleanup.body  # mitmproxy re-encodes and fixes Content-Length
        if record:
            self._record(flow, from_verdict(verdict, url=url, source="proxy", decision="sanitised",
                                            reason="; ".join(removed)))
        self._notify({"kind": "sanitised", "url": url, "removed": removed,
                      "message": f"PostGuard removed {'; '.join(removed)} before it was sent."})

    async def _hold(self, flow, ex, verdict, url) -> None:
        settings = self.engine.pack.settings
        timeout = float(settings.get("warn_timeout_s", 120))
        answer = None
        already = getattr(self.broker, "answer_for", None)
        if already is not None:
            from local_service.broker import fingerprint
            answer = already([fingerprint(f.data) for f in ex.submission.files])
            if answer is not None and answer.choice == "post_anyway":
                return  # answered in the page a moment ago, and logged there with the reason
        if self.broker is not None:
            summary = {"url": url, "method": flow.request.method, "decision": verdict.decision,
                       "findings": [f.to_dict() for f in verdict.findings]}
            try:
                pending = await asyncio.to_thread(self.broker.hold, summary, timeout)
                answer = await asyncio.to_thread(pending.wait, timeout)
            except Exception as exc:  # the service is down or full: the pack's fallback decides
                log.warning("could not ask about %s: %s", url, exc)
        choice = getattr(answer, "choice", None)
        # The service logged the person's answer (with their reason) when it received it; only act on it here.
        if choice == "post_anyway":
            return
        if choice == "fix":  # one hop for the whole clean-up
            self._sanitised(flow, verdict, url, await asyncio.to_thread(self._clean, ex), record=False)
            return
        if choice == "cancel":
            self._refuse(flow, verdict, "You cancelled this post", "Nothing was sent. Change the post and try "
                                                                  "again if you wish.", status=409)
            return
        fallback = settings.get("warn_fallback", "block")
        reason = "no answer in time" if self.broker is not None else "no way to ask (local service not running)"
        if fallback == "allow":
            self._record(flow, from_verdict(verdict, url=url, source="proxy", decision="allowed", reason=reason))
        else:
            self._refuse(flow, verdict, "This post is waiting for your decision",
                         "Open the page again and answer PostGuard's question, or ask your IT team.")
            self._record(flow, from_verdict(verdict, url=url, source="proxy", decision="blocked", reason=reason))

    # -- helpers -------------------------------------------------------------------------------------------------

    def _refuse(self, flow, verdict, title: str, what_to_do: str, status: int = 403) -> None:
        status, body, headers = refusal(flow.request.headers, title, [f.to_dict() for f in verdict.findings],
                                        what_to_do, status)
        flow.response = http.Response.make(status, body, headers)

    def _fail(self, flow, url: str, why: str) -> None:
        if self.engine.pack.settings.get("fail_mode", "open") == "closed":
            flow.response = http.Response.make(
                403, b"PostGuard could not inspect this post and the school's policy says not to send it.",
                {"Content-Type": "text/plain; charset=utf-8"})
            self._record_error(flow, url, why, decision="blocked")
        else:
            self._record_error(flow, url, why)

    def _record_error(self, flow, url: str, why: str, decision: str = "inspection_error") -> None:
        self._record(flow, [Event(rule="inspection.error", severity="low", decision=decision, path=url, reason=why,
                            source="proxy")])

    @staticmethod
    def _record(flow, events: list[Event]) -> None:
        flow.metadata.setdefault("postguard_events", []).extend(events)

    def _notify(self, notice: dict) -> None:
        if self.broker is not None:
            asyncio.get_running_loop().run_in_executor(None, self._send_notice, notice)  # never waited for

    def _send_notice(self, notice: dict) -> None:
        try:
            self.broker.notify(notice)
        except Exception:
            log.warning("could not pass a notice to the local service", exc_info=True)


def keep_freed_memory(limit: int = KEEP_FREED) -> bool:
    """Every upload is copied a few times (mitmproxy's buffers, the extraction, a cleaned body). glibc's malloc
    hands a freed multi-megabyte block straight back to the kernel (munmap, or trimming the heap), so the next
    upload's copies fault every page in again: about 2.5 ms per 5 MB here, more than the inspection itself. Raise
    the mmap and trim thresholds so freed blocks up to `limit` stay mapped and are reused, and keep one arena, so
    the worker threads reuse the blocks the event loop freed instead of each keeping its own (measured through 200
    uploads of 10 MB: peak RSS 179 MB, against 241 MB with an arena per thread and 178 MB untuned; the upload's
    p50 49 ms against 69 ms untuned). glibc only (mallopt); elsewhere nothing changes. Returns whether it did."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, 1) and mallopt(M_MMAP_THRESHOLD, min(limit, 32 << 20))
                and mallopt(M_TRIM_THRESHOLD, limit))


def _headers(req) -> list[tuple[str, str]]:
    """Only the headers extraction reads (type, encoding, file name), not every cookie and client hint: picked
    from the raw fields by name, and only those decoded (as mitmproxy decodes them)."""
    return [(k.decode("utf-8", "surrogateescape"), v.decode("utf-8", "surrogateescape"))
            for k, v in req.headers.fields if k.lower() in EXTRACT_HEADERS]


addons = [PostGuard()]

# `mitmdump -s` asks this module itself, not only its addons, for every hook on every event (addonmanager.traverse),
# and a module answers a name it lacks by formatting an AttributeError: six or so a request, about 80,000 CPU
# instructions (callgrind, a 2 KB JSON post: 8.60M -> 8.52M against plain mitmdump's 8.07M). So every other hook is
# None here: mitmproxy skips a hook that is None.
for _hook in hooks.all_hooks:
    globals().setdefault(_hook, None)
