"""The running proxy takes a renewed intermediate without a restart: a real EmbeddedProxy (mitmproxy's DumpMaster
with the PostGuard addon) signs with the intermediate the trust server issued at enrolment; the forwarder renews it
(the real server app answering) and tells the proxy; the next TLS handshake through the proxy, by a client that
trusts only the trust's root, shows a leaf signed by the new intermediate."""
from __future__ import annotations

import asyncio
import socket
import ssl

import pytest
from cryptography import x509

from local_service import forwarder, trust_ca
from proxy_addon.addon import PostGuard
from proxy_addon.runner import EmbeddedProxy
from rules import Engine
from rules.packs import load_pack
from tests.local_service.test_trust_ca_wiring import server  # noqa: F401  (the fixture)
from tests.local_service.test_trust_server import Laptop
from tests.proxy_addon.conftest import Upstream


class ToUpstream:
    """Every connection the proxy opens goes to the local upstream (the test has no DNS and no internet): the
    client still asks for, and the proxy still signs, the name it was given."""

    def __init__(self, port: int):
        self.port = port

    def server_connect(self, data):
        data.server.address = ("127.0.0.1", self.port)


def on_loop(proxy: EmbeddedProxy, fn):
    async def call():
        return fn()
    return asyncio.run_coroutine_threadsafe(call(), proxy._loop).result(10)


def start_proxy(tmp_path, confdir, upstream_port: int, scope: str = "pack") -> EmbeddedProxy:
    from rules.record.store import Store

    store = Store(f"sqlite:///{tmp_path / 'proxy-events.sqlite3'}")
    proxy = EmbeddedProxy(PostGuard(store=store, engine=Engine(pack=load_pack("default"))), str(confdir), 0, scope)
    proxy.start()
    # The upstream's certificate is self-signed; lazy: the client's handshake comes before the proxy connects
    # upstream, so the leaf names the host asked for and not the loopback address ToUpstream puts in its place
    # (an address, excluded by the intermediate's constraints).
    on_loop(proxy, lambda: (proxy.master.addons.add(ToUpstream(upstream_port)),
                            proxy.master.options.update(ssl_insecure=True, connection_strategy="lazy")))
    proxy.store = store
    return proxy


def leaf_through(proxy_port: int, host: str, root_pem: bytes) -> x509.Certificate:
    """CONNECT through the proxy and a TLS handshake with `host`, trusting only `root_pem`: the leaf the proxy
    showed (the handshake fails with ssl.SSLCertVerificationError when the chain does not hold)."""
    with socket.create_connection(("127.0.0.1", proxy_port), timeout=10) as sock:
        sock.sendall(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(1024)
            assert chunk, answer
            answer += chunk
        assert answer.split(b"\r\n")[0].split()[1] == b"200", answer
        context = ssl.create_default_context(cadata=root_pem.decode())
        with context.wrap_socket(sock, server_hostname=host) as tls:
            return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def _signed_by(leaf: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        leaf.verify_directly_issued_by(ca)
        return True
    except (ValueError, TypeError, Exception):
        return False


def test_a_renewed_intermediate_signs_the_next_handshake_without_a_restart(server, tmp_path):  # noqa: F811
    app, svc, net = server
    laptop = Laptop(tmp_path, "laptop", net)
    laptop.enrol()
    root = trust_ca.load_root(svc.config.data_dir)[1]
    folder = trust_ca.laptop_ca(laptop.config.data_dir)
    first = x509.load_pem_x509_certificate(trust_ca.laptop_intermediate(laptop.config.data_dir))
    upstream = Upstream(tmp_path)
    proxy = start_proxy(tmp_path, folder, upstream.port)
    try:
        before = leaf_through(proxy.port, "www.facebook.com", root)
        assert _signed_by(before, first)
        assert proxy.master.options.upstream_cert is False  # a constrained CA copies no upstream names
        f = forwarder.Forwarder(laptop.config, laptop.store, post=net, on_ca=proxy.load_ca)
        f.ca_loaded = trust_ca.describe(trust_ca.laptop_intermediate(laptop.config.data_dir))["fingerprint"]
        f.keep_ca()  # nothing due, nothing new: the proxy is not told anything
        assert leaf_through(proxy.port, "www.facebook.com", root).serial_number == before.serial_number
        f.renew_ca()
        f.keep_ca()  # the new intermediate on disk: the proxy swaps its store
        second = x509.load_pem_x509_certificate(trust_ca.laptop_intermediate(laptop.config.data_dir))
        after = leaf_through(proxy.port, "www.facebook.com", root)
        assert second.serial_number != first.serial_number
        assert _signed_by(after, second) and not _signed_by(after, first)
        assert after.serial_number != before.serial_number
        aki = after.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
        assert aki == second.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    finally:
        proxy.stop()
        proxy.store.close()
        upstream.stop()


def test_a_missing_ca_file_leaves_the_proxy_signing_as_before(server, tmp_path):  # noqa: F811
    app, svc, net = server
    laptop = Laptop(tmp_path, "laptop", net)
    laptop.enrol()
    root = trust_ca.load_root(svc.config.data_dir)[1]
    upstream = Upstream(tmp_path)
    proxy = start_proxy(tmp_path, trust_ca.laptop_ca(laptop.config.data_dir), upstream.port)
    try:
        before = leaf_through(proxy.port, "www.facebook.com", root)
        with pytest.raises(FileNotFoundError):
            proxy.load_ca(tmp_path / "nowhere")
        assert leaf_through(proxy.port, "www.facebook.com", root).serial_number == before.serial_number
    finally:
        proxy.stop()
        proxy.store.close()
        upstream.stop()


def test_the_laptops_own_ca_is_not_the_trusts(tmp_path):
    """Without a server the proxy signs with the laptop's own CA (as before): a client trusting only a trust root
    refuses it."""
    own = tmp_path / "own"
    upstream = Upstream(tmp_path)
    proxy = start_proxy(tmp_path, own, upstream.port)
    root_key, root = trust_ca.make_root("Another trust")
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            leaf_through(proxy.port, "www.facebook.com", root)
        own_cert = (own / "mitmproxy-ca-cert.pem").read_bytes()
        assert proxy.master.options.upstream_cert is True  # mitmproxy's default, as before
        assert leaf_through(proxy.port, "www.facebook.com", own_cert)
    finally:
        proxy.stop()
        proxy.store.close()
        upstream.stop()
