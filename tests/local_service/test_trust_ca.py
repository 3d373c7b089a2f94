"""One CA per trust: a laptop's intermediate, in mitmproxy's CA file, makes leaf certificates that a client trusting
only the trust's root accepts for an in-scope host and rejects for any other host or an address (the name
constraints hold), checked by cryptography's verifier and by a real OpenSSL handshake."""
from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
from mitmproxy.certs import CertStore

from local_service import trust_ca

SCOPE = ["facebook.com", "*.x.com", "wordpress.com:443", "127.0.0.1", "[::1]:8765"]


@pytest.fixture(scope="module")
def trust(tmp_path_factory):
    root_key, root_cert = trust_ca.make_root("Test Trust")
    key_pem, public = trust_ca.laptop_key()
    inter = trust_ca.issue_intermediate(root_key, root_cert, public, SCOPE, device="laptop-1")
    folder = tmp_path_factory.mktemp("mitm")
    (folder / "mitmproxy-ca.pem").write_bytes(trust_ca.mitmproxy_ca_file(key_pem, inter, root_cert))
    store = CertStore.from_store(folder, "mitmproxy", 2048)  # what the proxy loads from its confdir
    return root_cert, inter, store, folder


def test_scope_names_are_dns_names_only():
    assert trust_ca.scope_names(SCOPE) == ["facebook.com", "wordpress.com", "x.com"]
    with pytest.raises(ValueError):
        trust_ca.scope_names(["10.0.0.1", "[::1]"])


def test_intermediate_is_short_lived_and_constrained(trust):
    _, inter, store, _ = trust
    cert = x509.load_pem_x509_certificate(inter)
    nc = cert.extensions.get_extension_for_class(x509.NameConstraints)
    assert nc.critical
    assert [n.value for n in nc.value.permitted_subtrees] == ["facebook.com", "wordpress.com", "x.com"]
    assert {str(n.value) for n in nc.value.excluded_subtrees} == {"0.0.0.0/0", "::/0"}
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime <= dt.timedelta(days=trust_ca.INTERMEDIATE_DAYS, hours=1)
    assert store.default_ca._cert == cert  # mitmproxy signs with the intermediate, not the root


def _leaf(store, host):
    try:
        san = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        san = x509.DNSName(host)
    entry = store.get_cert(host, [san])
    return entry, san


@pytest.mark.parametrize("host,accepted", [("www.facebook.com", True), ("facebook.com", True),
                                           ("upload.x.com", True), ("www.bank.example", False),
                                           ("facebook.com.evil.example", False), ("notfacebook.com", False),
                                           ("10.0.0.1", False)])
def test_root_only_verifier_accepts_scope_and_rejects_the_rest(trust, host, accepted):
    root_cert, inter, store, _ = trust
    entry, san = _leaf(store, host)
    verifier = PolicyBuilder().store(Store([x509.load_pem_x509_certificate(root_cert)])) \
        .build_server_verifier(san)
    chain = [x509.load_pem_x509_certificate(inter)]
    if accepted:
        verifier.verify(entry.cert._cert, chain)
    else:
        with pytest.raises(VerificationError):
            verifier.verify(entry.cert._cert, chain)


def _handshake(store, host, root_cert, tmp_path) -> str | None:
    """A real TLS handshake on loopback: the server shows the proxy's leaf and chain, the client trusts only the
    root. None when it succeeds, else OpenSSL's reason."""
    entry, _ = _leaf(store, host)
    chain = tmp_path / f"{host}.pem"
    key = entry.privatekey.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption())
    chain.write_bytes(entry.cert.to_pem() + store.default_ca.to_pem() + key)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(chain)
    client_ctx = ssl.create_default_context(cadata=root_cert.decode())
    a, b = socket.socketpair()
    errors = []

    def serve():
        try:
            with server_ctx.wrap_socket(a, server_side=True):
                pass
        except (ssl.SSLError, OSError) as exc:
            errors.append(exc)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        with client_ctx.wrap_socket(b, server_hostname=host):
            return None
    except ssl.SSLCertVerificationError as exc:
        return exc.verify_message
    finally:
        t.join(5)


def test_openssl_handshake_holds_the_name_constraints(trust, tmp_path):
    root_cert, _, store, _ = trust
    assert _handshake(store, "www.facebook.com", root_cert, tmp_path) is None
    assert _handshake(store, "www.bank.example", root_cert, tmp_path) == "permitted subtree violation"
    assert _handshake(store, "10.0.0.1", root_cert, tmp_path) == "excluded subtree violation"


def test_renewal_is_due_three_days_before_expiry(trust):
    _, inter, _, _ = trust
    cert = x509.load_pem_x509_certificate(inter)
    assert not trust_ca.needs_renewal(inter)
    assert trust_ca.needs_renewal(inter, cert.not_valid_after_utc - dt.timedelta(days=2))
