"""PostGuard's mitmproxy addon: every outgoing post goes through the policy engine before it leaves the laptop.

Load with `mitmdump -s proxy_addon/addon.py` (default pack and config), or embedded by `postguard run`. Adapter only,
and only the policy flow: hooks -> extract (extract.py) -> engine (rules) -> act. What it answers instead of a site
is in responses.py, process tuning (memory, garbage collection) in tuning.py, the record in rules.record.
"""
from __future__ import annotations

import asyncio
import getpass
import logging
import os
import socket
import sys
import time
from typing import NamedTuple

if __package__ in (None, ""):  # loaded as a script by `mitmdump -s`: make the project importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mitmproxy import ctx, exceptions, http

from proxy_addon import responses, sign_in, tuning
from proxy_addon.budget import Inspectors, OverBudget
from proxy_addon.extract import Extracted, ExtractError, extract, rebuild, saves_on_get
from proxy_addon.service_client import ServiceClient
from rules import Engine, Submission, Verdict, load_config, load_pack
from rules.platforms import get_hosts, host_regexes, in_scope
from rules.record.events import Event, from_verdict
from rules.record.hold import HEARTBEAT_S, Holder, fingerprint
from rules.record.keys import TOKEN_FILE, read_secret
from rules.record.outcomes import removal_events, removed_anyway
from rules.record.store import Store, open_store
from rules.vocabulary import Choice, Decision, Outcome

log = logging.getLogger("postguard.proxy")
BODY_METHODS = {"POST", "PUT", "PATCH"}
GET_HOSTS = get_hosts()
# The Referer is the page a post is made from: an Apple or Microsoft sign-in form's destination, an official account's
# page (extract.py reads it; without it here the live proxy never saw either, while scan-har did).
EXTRACT_HEADERS = frozenset([b"content-type", b"content-encoding", b"content-disposition", b"x-file-name",
                             b"x-goog-upload-file-name", b"tus-resumable", b"upload-offset",
                             b"x-goog-upload-command", b"content-range", b"referer"])
SCOPES = ("pack", "all")
# The engine's readers stop this long before the proxy's budget ends, so what they read before stopping (and their
# own error) is what the record says, rather than the budget's "abandoned".
READER_MARGIN_S = 0.25


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
    def __init__(self, store: Store | None = None, broker: Holder | None = None, engine: Engine | None = None,
                 user: str | None = None, device: str | None = None):
        """Embedded (`postguard run`): the service's store, its in-process broker, its engine, and its user and
        device. Standalone (`mitmdump -s`): none given; the options say where the config, the store and the service
        are. The proxy runs as the person's own OS account on their laptop, so every event it records names that
        account and this machine (and so appears on the person's own page)."""
        self.store, self.broker, self.engine = store, broker, engine
        self.user = user or _os_user()
        self.device = device or socket.gethostname()
        self._own_store = store is None
        self.max_body = 64 << 20
        self.inspect_all = False  # postguard_scope, parsed: every host, or only the pack's
        self.hosts = frozenset(engine.pack.hosts if engine else ())
        self.memory = tuning.Collector()
        self._heartbeat: asyncio.Task | None = None
        self._writes: dict[str, asyncio.Future] = {}  # flow id -> its events being written while it goes on
        self.inspectors = Inspectors()  # every post is inspected there, within the config's proxy budget
        self.sign_ins = sign_in.SignIns()  # sign-ins held with a page that lets the person continue (warn)

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
        if "postguard_scope" in updated:
            if ctx.options.postguard_scope not in SCOPES:
                raise exceptions.OptionsError("postguard_scope must be 'pack' or 'all'")
            self.inspect_all = ctx.options.postguard_scope == "all"
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
                self.store = open_store(config, ctx.options.postguard_database or None)
                self.broker = self._service_client(config)

    def _service_client(self, config) -> ServiceClient | None:
        try:
            return ServiceClient(ctx.options.postguard_service, read_secret(config, TOKEN_FILE))
        except OSError as exc:
            log.warning("no token for the local service (%s): warnings fall back to the pack's choice", exc)
            return None

    def running(self):
        """Decrypt only in-scope hosts: banking and health sites are never intercepted. Everything loaded by now
        (mitmproxy, the engine, the store) lives as long as the proxy: frozen, the collector never scans it again."""
        tuning.settle_start_up()
        if not self.inspect_all and not ctx.options.allow_hosts and not ctx.options.ignore_hosts:
            ctx.options.update(allow_hosts=host_regexes(sorted(self.hosts)))
        if self.broker is not None and self._heartbeat is None:
            self._heartbeat = asyncio.get_running_loop().create_task(self._beat())

    async def _beat(self) -> None:
        """Tell the service the proxy is running, now and every HEARTBEAT_S seconds, so the extension can say
        protection is on (and off, within a minute of the proxy stopping)."""
        while True:
            try:
                await asyncio.to_thread(self.broker.heartbeat)
            except Exception as exc:  # the service is down: it will hear from us when it is back
                log.debug("heartbeat not delivered: %s", exc)
            await asyncio.sleep(HEARTBEAT_S)

    def done(self):
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        if self._own_store and self.store is not None:
            self.store.close()
        self.inspectors.close()

    # -- the hook ------------------------------------------------------------------------------------------------

    def request(self, flow: http.HTTPFlow):
        """What has to wait (the inspection on a worker thread, the person's answer, the log write) is handed back as
        a coroutine, which mitmproxy awaits before the request goes on; a request with nothing to inspect costs
        none."""
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
        if flow.response is None and all(e.decision == Outcome.SANITISED for e in events):
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
        if req.method == "POST" and req.path == sign_in.CONTINUE_PATH:
            return self._continue_sign_in(flow)
        if req.method not in BODY_METHODS or not req.raw_content:
            if req.method != "GET" or "?" not in req.path:
                return None
            if in_scope(req.pretty_host, GET_HOSTS):
                self._check_get(flow)
                return None
            if not saves_on_get(req.path) or not (self.inspect_all or in_scope(req.pretty_host, self.hosts)):
                return None
            # A wiki's rollback link saves on the GET itself: inspected and acted on (held, logged) as a post is.
        elif not self.inspect_all and not in_scope(req.pretty_host, self.hosts):
            return None
        url = req.pretty_url
        if len(req.raw_content) > self.max_body:
            return self._record_error(flow, url, f"body of {len(req.raw_content)} bytes is over the inspection limit")
        return self._inspect_off_loop(flow, url, time.perf_counter())

    def _budget_s(self) -> float:  # a method: mitmproxy reads every attribute of an addon when it loads it
        return self.engine.config.proxy.inspection_budget_s

    async def _inspect_off_loop(self, flow: http.HTTPFlow, url: str, started: float) -> None:
        """Every post, small ones too, is inspected on a worker thread within the budget: a small body can hold a
        file that is slow to read, and the event loop carries everyone else's requests. The hand-off costs about
        57 us a post (a 2-core machine; the engine's own work on a 1 KB post is 134-207 us), and only posts to the
        inspected hosts pay it. An inspection past the budget is abandoned: the post goes on as one that could not
        be inspected (the pack's fail_mode), logged, never as clean."""
        req = flow.request
        headers = _headers(req)
        small = Inspectors.small(req.raw_content, any(k.lower() == "content-encoding" for k, _ in headers))
        budget = self._budget_s()
        try:
            done = await self.inspectors.run(self._inspect, req.method, url, headers, req.raw_content,
                                             time.monotonic() + budget - min(READER_MARGIN_S, budget / 10),
                                             budget_s=budget, small=small)
        except OverBudget as exc:
            done = Inspection(failure=str(exc))
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
            self._record(flow, self._events(verdict, url=url, decision=Outcome.INSPECTION_ERROR))
        if not verdict.findings:
            return None
        if verdict.decision == Decision.ALLOW:
            self._record(flow, self._events(verdict, url=url, decision=Outcome.ALLOWED))
        elif verdict.decision == Decision.SANITISE:
            self._sanitised(flow, verdict, url, done.cleanup)
        elif verdict.decision == Decision.BLOCK:
            self._refuse(flow, verdict, responses.BLOCKED)
            self._record(flow, self._events(verdict, url=url, decision=Outcome.BLOCKED))
        elif verdict.decision == Decision.WARN:
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
        if verdict.decision == Decision.WARN:  # a warning has a way on: a page that asks, then lets it continue
            if self.sign_ins.passes(url):
                return None  # continued from that page a moment ago, and recorded with the reason then
            self._hold_sign_in(flow, verdict, self.sign_ins.hold(url, verdict))
            self._record(flow, self._events(verdict, url=url, decision=Outcome.WARNED))
        elif verdict.decision == Decision.BLOCK:
            self._refuse(flow, verdict, responses.SIGN_IN)
            self._record(flow, self._events(verdict, url=url, decision=Outcome.BLOCKED))
        elif verdict.findings:
            self._record(flow, self._events(verdict, url=url, decision=Outcome.ALLOWED))

    def _hold_sign_in(self, flow, verdict, token: str, error: str = "") -> None:
        reasons = list(self.engine.pack.settings.get("override_reasons", []))
        status, body, headers = responses.sign_in_hold(flow.request.headers, [f.to_dict() for f in verdict.findings],
                                                       token, reasons, sign_in.CONTINUE_PATH, error)
        flow.response = http.Response.make(status, body, headers)

    def _continue_sign_in(self, flow) -> None:
        """The hold page's answer (never sent on to the site): back to the sign-in, which then goes through once."""
        form = dict(flow.request.urlencoded_form.items())
        held = self.sign_ins.held(form.get("token", ""))
        if held is None:
            return self._refuse(flow, Verdict(), responses.SIGN_IN_EXPIRED)
        reason = sign_in.reason_of(form)
        if not reason:
            return self._hold_sign_in(flow, held.verdict, form["token"], "Please choose or write a short reason.")
        self.sign_ins.answer(form["token"])
        flow.response = http.Response.make(303, b"", {"Location": held.url, "Cache-Control": "no-store"})
        self._record(flow, self._events(held.verdict, url=held.url, decision=Outcome.OVERRIDDEN, reason=reason))

    def _inspect(self, method, url, headers, body, deadline: float | None = None) -> Inspection:
        """The extraction, the verdict and, when the verdict is to sanitise, the clean-up: one trip to a worker
        thread for all three. Never raises: a post that cannot be inspected says why. `deadline` (monotonic) goes to
        the engine as the submission's context["deadline"]: a detector with a clock of its own (a document's
        reader, 10 s) stops there, so it ends as an inspection error inside the budget and frees its worker."""
        try:
            ex = extract(method, url, headers, body)
            if deadline is not None:
                ex.submission.context["deadline"] = deadline
            verdict = self.engine.evaluate(ex.submission)
            return Inspection(ex, verdict, self._clean(ex) if verdict.decision == Decision.SANITISE else None)
        except ExtractError as exc:
            return Inspection(failure=str(exc))
        except Exception as exc:  # a bug in PostGuard never breaks someone's browsing
            log.exception("inspection failed for %s", url)
            return Inspection(failure=f"{type(exc).__name__}: {exc}")

    def _clean(self, ex, rules: set[str] | None = None) -> Cleanup:
        """Every attachment cleaned in place (of what `rules` find, or every sanitisable rule of the pack) and the
        body rebuilt around them, or why that cannot be done safely."""
        cleaned, removed = {}, []
        try:
            for i, att in enumerate(ex.submission.files):
                if i in ex.parts:
                    new, what = self.engine.sanitise(att, rules)
                    if what:
                        cleaned[i] = new.data
                        removed.append(f"{', '.join(what)} from {att.name}")
            return Cleanup(rebuild(ex, cleaned) if cleaned else None, removed)
        except ValueError as exc:  # StripError: location found, but not removable without risk
            return Cleanup(None, [], str(exc))

    def response(self, flow: http.HTTPFlow):
        self.memory.after(flow)
        return self._writes.get(flow.id)  # the log write still under way, if any: mitmproxy awaits it first

    def error(self, flow: http.HTTPFlow):
        self.memory.after(flow)
        return self._writes.get(flow.id)

    def _sanitised(self, flow, verdict, url, cleanup: Cleanup, record: bool = True) -> None:
        """The cleaned body goes on in place of the original, and the person is told what was removed."""
        if cleanup.error:  # cannot clean safely: the pack's stronger action applies
            self._refuse(flow, verdict, responses.CANNOT_CLEAN)
            self._record(flow, self._events(verdict, url=url, decision=Outcome.BLOCKED,
                                            reason=cleanup.error))
            return
        removed = cleanup.removed
        if cleanup.body is not None:
            flow.request.content = cleanup.body  # mitmproxy re-encodes and fixes Content-Length
        if record:  # per finding: what the clean-up removed "sanitised", anything else that went out "allowed"
            self._record(flow, removal_events(verdict, reason="; ".join(removed), url=url, user=self.user,
                                              device=self.device, source="proxy"))
        if removed:  # (a post the page cleaned already has nothing left to remove, nor to tell)
            self._notify({"kind": "sanitised", "url": url, "removed": removed, "message": responses.removed(removed)})

    async def _hold(self, flow, ex, verdict, url) -> None:
        settings = self.engine.pack.settings
        timeout = float(settings.get("warn_timeout_s", 120))
        answer = None
        if self.broker is not None:
            answer = self.broker.answer_for([fingerprint(f.data) for f in ex.submission.files])
            if answer is not None and answer.choice == Choice.POST_ANYWAY:  # answered in the page a moment ago,
                return await self._post_anyway(flow, ex, verdict, url)  # and logged there with the reason
            if answer is not None and answer.choice == Choice.FIX:  # the page removed the location: anything
                return await self._fix(flow, ex, verdict, url)  # left (a pupil photo) was answered there too
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
        if choice == Choice.POST_ANYWAY:
            return await self._post_anyway(flow, ex, verdict, url)
        if choice == Choice.FIX:
            return await self._fix(flow, ex, verdict, url)
        if choice == Choice.CANCEL:
            self._refuse(flow, verdict, responses.CANCELLED)
            return
        # Nobody answered: the record says so ("unanswered", never "blocked" or "allowed"), and its reason says which
        # of the pack's fallbacks was applied to the post.
        fallback = settings.get("warn_fallback", "block")
        why = "no answer in time" if self.broker is not None else "no way to ask (local service not running)"
        if fallback == "allow":
            reason = f"{why}; the pack's warn_fallback let it go (allowed)"
        else:
            reason = f"{why}; the pack's warn_fallback refused it (blocked)"
            self._refuse(flow, verdict, responses.WAITING)
        self._record(flow, self._events(verdict, url=url, decision=Outcome.UNANSWERED, reason=reason))

    async def _post_anyway(self, flow, ex, verdict, url) -> None:
        """The person's "Post anyway" answers what they were asked; what the pack removes whatever is decided (a
        location under action "sanitise" beside a pupil photo) still goes, as the page's Post anyway removes it
        first, and the service records it "sanitised" (rules/record/outcomes.py override_events). Without it, a held
        post went out with the location the pack says must never leave."""
        rules = {f.rule for f in removed_anyway(verdict)}
        if not rules:
            return
        try:
            cleanup = await self.inspectors.run(self._clean, ex, rules, budget_s=self._budget_s())
        except OverBudget as exc:
            cleanup = Cleanup(None, [], f"removing the location: {exc}")
        self._sanitised(flow, verdict, url, cleanup, record=False)

    async def _fix(self, flow, ex, verdict, url) -> None:
        """The person chose "Remove location" (logged by the service when it got the answer): what is left of the
        location goes, in one hop and within the same budget as an inspection, and the post goes on."""
        try:
            cleanup = await self.inspectors.run(self._clean, ex, budget_s=self._budget_s())  # a photo: large lane
        except OverBudget as exc:
            cleanup = Cleanup(None, [], f"removing the location: {exc}")
        self._sanitised(flow, verdict, url, cleanup, record=False)

    # -- helpers -------------------------------------------------------------------------------------------------

    def _refuse(self, flow, verdict, why: responses.Refusal) -> None:
        status, body, headers = responses.refusal(flow.request.headers, why, [f.to_dict() for f in verdict.findings])
        flow.response = http.Response.make(status, body, headers)

    def _fail(self, flow, url: str, why: str) -> None:
        if self.engine.pack.settings.get("fail_mode", "open") == "closed":
            flow.response = http.Response.make(403, responses.FAIL_CLOSED, {"Content-Type": "text/plain; charset=utf-8"})
            self._record_error(flow, url, why, decision=Outcome.BLOCKED)
        else:
            self._record_error(flow, url, why)

    def _record_error(self, flow, url: str, why: str, decision: Outcome = Outcome.INSPECTION_ERROR) -> None:
        self._record(flow, [Event(rule="inspection.error", severity="low", decision=decision, path=url, reason=why,
                                  source="proxy", user=self.user, device=self.device)])

    def _events(self, verdict, *, url: str, decision: str | None = None, reason: str = "") -> list[Event]:
        """The verdict as events of this proxy: its person and its device on each."""
        return from_verdict(verdict, url=url, user=self.user, device=self.device, source="proxy",
                            decision=decision, reason=reason)

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


def _os_user() -> str:
    """The OS account running the proxy: whose posts it sees."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (a bare container)
        return str(os.getuid()) if hasattr(os, "getuid") else ""


def _headers(req) -> list[tuple[str, str]]:
    """Only the headers extraction reads (type, encoding, file name), not every cookie and client hint: picked
    from the raw fields by name, and only those decoded (as mitmproxy decodes them)."""
    return [(k.decode("utf-8", "surrogateescape"), v.decode("utf-8", "surrogateescape"))
            for k, v in req.headers.fields if k.lower() in EXTRACT_HEADERS]


addons = [PostGuard()]
tuning.answer_every_hook(globals())  # mitmdump -s asks this module for every hook on every event: see there
