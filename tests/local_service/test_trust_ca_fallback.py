"""The intermediate a running proxy signs with expires while renewal keeps failing: the laptop's proxy goes back to its
own CA (as `postguard run` does at start for an expired one) instead of signing leaves no browser accepts, and the
record says so once, for the reviewers; when renewal succeeds again the proxy signs with the new intermediate. A real
EmbeddedProxy, the real trust server app, real TLS handshakes through the proxy."""
from __future__ import annotations

import ssl
import threading

import pytest
from cryptography import x509
from mitmproxy.certs import CertStore

from local_service import forwarder, trust_ca
from tests.local_service.test_trust_ca_proxy import _signed_by, leaf_through, start_proxy
from tests.local_service.test_trust_ca_wiring import server  # noqa: F401  (the fixture)
from tests.local_service.test_trust_server import Laptop
from tests.proxy_addon.conftest import Upstream

SECONDS = 1 / 86400  # issue_intermediate counts in days


def _short_lived(svc, laptop, seconds: float) -> x509.Certificate:
    """The laptop's proxy CA replaced by an intermediate from the trust's root that ends in `seconds`."""
    key_pem, public = trust_ca.laptop_key()
    root_key, root_cert = trust_ca.load_root(svc.config.data_dir)
    pem = trust_ca.issue_intermediate(root_key, root_cert, public, svc.engine.pack.hosts, device="d",
                                      days=seconds * SECONDS)
    trust_ca.write_laptop_ca(laptop.config.data_dir, key_pem, pem, root_cert)
    return x509.load_pem_x509_certificate(pem)


def _unreachable(*_args, **_kwargs):
    raise forwarder.Unreachable("http://trust.test: connection refused")


def _fallbacks(store) -> list[dict]:
    return [r for r in store.iter_all() if r["rule"] == "ca.fallback"]


def test_an_expired_intermediate_sends_the_running_proxy_back_to_the_laptops_own_ca(server, tmp_path):  # noqa: F811
    app, svc, net = server
    laptop = Laptop(tmp_path, "laptop", net)
    laptop.enrol()
    root = trust_ca.load_root(svc.config.data_dir)[1]
    own = tmp_path / "own-ca"
    upstream = Upstream(tmp_path)
    short = _short_lived(svc, laptop, 4)
    proxy = start_proxy(tmp_path, trust_ca.laptop_ca(laptop.config.data_dir), upstream.port)
    try:
        CertStore.from_store(own, "mitmproxy", 2048)  # the laptop's own CA, as proxy_addon.ca.ensure_ca makes it
        own_cert = (own / "mitmproxy-ca-cert.pem").read_bytes()
        assert _signed_by(leaf_through(proxy.port, "www.facebook.com", root), short)
        f = forwarder.Forwarder(laptop.config, laptop.store, post=_unreachable, on_ca=proxy.load_ca, own_ca=own)
        f.ca_loaded = trust_ca.describe(trust_ca.laptop_intermediate(laptop.config.data_dir))["fingerprint"]
        f.keep_ca()  # still valid (renewal due and failing): the proxy keeps it
        assert f.ca_loaded is not None and not _fallbacks(laptop.store)
        assert 0 < f._wait_s() <= 4.5  # the forwarding thread looks again when it ends, not an interval later
        ended = threading.Event()
        while trust_ca.laptop_ca(laptop.config.data_dir) is not None:
            ended.wait(0.2)
        f._ca_next_try = 0.0  # renewal is asked for again, and fails again
        f.keep_ca()
        # the proxy now signs with the laptop's own CA: a client trusting only the trust's root refuses it, one
        # trusting the laptop's own CA accepts it; no leaf from the expired intermediate
        with pytest.raises(ssl.SSLCertVerificationError):
            leaf_through(proxy.port, "www.facebook.com", root)
        leaf = leaf_through(proxy.port, "www.facebook.com", own_cert)
        assert _signed_by(leaf, x509.load_pem_x509_certificate(own_cert)) and not _signed_by(leaf, short)
        assert proxy.master.options.upstream_cert is True and f.ca_loaded is None
        events = _fallbacks(laptop.store)
        assert len(events) == 1, events
        assert events[0]["decision"] == "recorded" and events[0]["source"] == "service"
        assert format(short.serial_number, "x") in events[0]["message"] and "own CA" in events[0]["message"]
        f.keep_ca()  # still expired, still failing: said once
        assert len(_fallbacks(laptop.store)) == 1
        # the trust server answers again: a new intermediate, and the proxy signs with it
        f.post, f._ca_next_try = net, 0.0
        f.keep_ca()
        renewed = x509.load_pem_x509_certificate(trust_ca.laptop_intermediate(laptop.config.data_dir))
        after = leaf_through(proxy.port, "www.facebook.com", root)
        assert _signed_by(after, renewed) and f.ca_loaded is not None
        assert proxy.master.options.upstream_cert is False
        assert len(_fallbacks(laptop.store)) == 1
    finally:
        proxy.stop()
        proxy.store.close()
        upstream.stop()


def test_a_laptop_that_started_on_its_own_ca_records_why_once(server, tmp_path):  # noqa: F811
    """`postguard run` after the intermediate expired starts on the laptop's own CA (composition.py): the forwarding
    thread's first round records it, once, and tells the proxy nothing (it is not signing with the intermediate)."""
    app, svc, net = server
    laptop = Laptop(tmp_path, "laptop", net)
    laptop.enrol()
    _short_lived(svc, laptop, -60)
    assert trust_ca.laptop_ca(laptop.config.data_dir) is None
    told = []
    f = forwarder.Forwarder(laptop.config, laptop.store, post=_unreachable, on_ca=told.append,
                            own_ca=tmp_path / "own")
    f.keep_ca()
    f.keep_ca()
    assert told == [] and len(_fallbacks(laptop.store)) == 1


def test_no_intermediate_ever_issued_is_no_fallback(tmp_path):
    """A laptop with no trust server signs with its own CA as it always did: nothing to record."""
    laptop = Laptop(tmp_path, "laptop", network=None)
    told = []
    f = forwarder.Forwarder(laptop.config, laptop.store, on_ca=told.append, own_ca=tmp_path / "own")
    f.keep_ca()
    assert told == [] and not _fallbacks(laptop.store)
