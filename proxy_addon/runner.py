"""Run mitmproxy with the PostGuard addon inside another program (`postguard run`): its own thread and loop."""
from __future__ import annotations

import asyncio
import threading
from pathlib import Path

CA_FILE = "mitmproxy-ca.pem"  # what mitmproxy's certificate store reads in a confdir


def name_constrained(confdir: str | Path) -> bool:
    """Whether the CA in `confdir` carries name constraints (a trust's intermediate, local_service/trust_ca.py).
    Such a CA must not copy the upstream certificate's names into its leaves (mitmproxy's upstream_cert): a real
    site's certificate names hosts outside the scope (facebook.com's names fbcdn.net, messenger.com, ...), and one
    name outside the permitted subtrees makes the browser refuse the whole leaf. The leaf then names what the
    browser asked for (SNI) and the host it connected to."""
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificates((Path(confdir) / CA_FILE).read_bytes())[0]
        cert.extensions.get_extension_for_class(x509.NameConstraints)
        return True
    except (OSError, ValueError, IndexError, x509.ExtensionNotFound):
        return False


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

        opts = options.Options(listen_host="127.0.0.1", listen_port=self.requested_port, confdir=self.confdir,
                               upstream_cert=not name_constrained(self.confdir))
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

    def load_ca(self, confdir: str | Path, timeout: float = 10) -> None:
        """Sign with the CA in `confdir` from the next connection on, without a restart (a renewed intermediate).

        mitmproxy 11's TlsConfig builds its CertStore from the confdir when the option changes (configure) and
        reads `certstore` on every handshake, so a new store is made here, on the proxy's loop, and put in its
        place: connections already open keep their certificates, new ones get leaves from the new CA (the old
        store's cached leaves go with it). The new store is read before anything is replaced, so a bad file
        leaves the proxy signing as before and raises here."""
        from mitmproxy.certs import CertStore

        folder = Path(confdir)
        if not (folder / CA_FILE).is_file():
            raise FileNotFoundError(f"no CA file in {folder}")

        async def swap() -> None:
            store = CertStore.from_store(folder, "mitmproxy", self.master.options.key_size)
            self.master.options.update(upstream_cert=not name_constrained(folder))
            self.master.addons.get("tlsconfig").certstore = store
            self.confdir = str(folder)

        asyncio.run_coroutine_threadsafe(swap(), self._loop).result(timeout)

    def stop(self, timeout: float = 10) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self.master.shutdown)
            self._thread.join(timeout)
