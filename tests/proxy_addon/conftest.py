"""A real mitmproxy (DumpMaster) on loopback with the PostGuard addon, and a local HTTP/HTTPS upstream site."""
import asyncio
import http.server
import ssl
import threading

import pytest

from rules.record.store import Store
from tests.tls import self_signed


class Upstream:
    """The 'site': records every request it receives."""

    def __init__(self, tls_dir=None):
        self.received: list[tuple[str, str, dict, bytes]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                outer.received.append((self.command, self.path, dict(self.headers), body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "11")
                self.end_headers()
                self.wfile.write(b'{"ok":true}')

            do_POST = do_PUT = do_PATCH = do_GET = _any

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.scheme = "http"
        if tls_dir is not None:
            cert, key = self_signed(tls_dir)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Proxy:
    """mitmproxy's DumpMaster on 127.0.0.1, port 0, in its own thread and event loop."""

    def __init__(self, confdir, addon):
        from mitmproxy import options
        from mitmproxy.tools.dump import DumpMaster

        self.confdir, self.addon, self.port = confdir, addon, None
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def main():
            opts = options.Options(listen_host="127.0.0.1", listen_port=0, confdir=str(confdir), ssl_insecure=True)
            self.master = DumpMaster(opts, loop=self.loop, with_termlog=False, with_dumper=False)
            self.master.addons.add(addon)
            self.master.options.update(postguard_scope="all")  # the test site is 127.0.0.1, not a social network
            task = asyncio.ensure_future(self.master.run())
            for _ in range(200):
                addrs = self.master.addons.get("proxyserver").listen_addrs()
                if addrs:
                    self.port = addrs[0][1]
                    break
                await asyncio.sleep(0.02)
            ready.set()
            await task

        self.thread = threading.Thread(target=lambda: self.loop.run_until_complete(main()), daemon=True)
        self.thread.start()
        ready.wait(15)
        assert self.port, "mitmproxy did not start"
        self.ca = confdir / "mitmproxy-ca-cert.pem"

    def opener(self):
        import urllib.request
        context = ssl.create_default_context(cafile=str(self.ca))
        proxy = f"http://127.0.0.1:{self.port}"
        return urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy, "https": proxy}),
                                           urllib.request.HTTPSHandler(context=context))

    def stop(self):
        self.loop.call_soon_threadsafe(self.master.shutdown)
        self.thread.join(10)


@pytest.fixture
def store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'events.sqlite3'}")
    yield s
    s.close()


@pytest.fixture
def e2e_store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'e2e.sqlite3'}")
    yield s
    s.close()


@pytest.fixture(params=["http", "https"])
def upstream(request, tmp_path):
    site = Upstream(tmp_path if request.param == "https" else None)
    yield site
    site.stop()


@pytest.fixture
def proxy(tmp_path, e2e_store):
    from proxy_addon.addon import PostGuard
    from rules import Engine
    p = Proxy(tmp_path / "mitm", PostGuard(store=e2e_store, engine=Engine()))
    yield p
    p.stop()
