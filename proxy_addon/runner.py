"""Run mitmproxy with the PostGuard addon inside another program (`postguard run`): its own thread and loop."""
from __future__ import annotations

import asyncio
import threading


class EmbeddedProxy:
    def __init__(self, addon, confdir: str, port: int, scope: str = "pack"):
        self.addon, self.confdir, self.requested_port, self.scope = addon, confdir, port, scope
        self.port: int | None = None
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name="postguard-proxy", daemon=True)

    def start(self, timeout: float = 20) -> int:
        self._thread.start()
        self._ready.wait(timeout)
        if self.error:
            raise RuntimeError(f"the proxy did not start: {self.error}") from self.error
        if not self.port:
            raise RuntimeError("the proxy did not start in time")
        return self.port

    def _main(self) -> None:
        try:
            self._loop.run_until_complete(self._run())
        except BaseException as exc:  # surfaced by start()
            self.error = exc
            self._ready.set()

    async def _run(self) -> None:
        from mitmproxy import options
        from mitmproxy.tools.dump import DumpMaster

        opts = options.Options(listen_host="127.0.0.1", listen_port=self.requested_port, confdir=self.confdir)
        self.master = DumpMaster(opts, loop=self._loop, with_termlog=False, with_dumper=False)
        self.master.addons.add(self.addon)
        self.master.options.update(postguard_scope=self.scope)
        task = asyncio.ensure_future(self.master.run())
        for _ in range(500):
            if task.done():
                task.result()  # raises the start-up error
            addrs = self.master.addons.get("proxyserver").listen_addrs()
            if addrs:
                self.port = addrs[0][1]
                break
            await asyncio.sleep(0.02)
        self._ready.set()
        await task

    def stop(self, timeout: float = 10) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self.master.shutdown)
            self._thread.join(timeout)
