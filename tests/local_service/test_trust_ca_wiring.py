"""One CA per trust, wired: the real trust server app issues a laptop's intermediate at enrolment and at renewal,
constrained to the server's own scope (never one a laptop asks for), refuses a revoked device and a request not
signed by the device's key; the laptop writes mitmproxy's CA file owner-only; the commands make, import and show the
root and say what the laptop holds."""
from __future__ import annotations

import datetime as dt
import json
import stat
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from local_service import forwarder, trust_ca
from local_service.server import create_server_app
from local_service.services import Services
from rules.config import parse_config
from tests.local_service.test_trust_server import Laptop, Network


@pytest.fixture
def server(tmp_path):
    config = parse_config({"data_dir": str(tmp_path / "server")})
    svc = Services.open(config, database=f"sqlite:///{tmp_path / 'server.sqlite3'}", token="-", user="server")
    app = create_server_app(svc, {"TESTING": True, "SECRET_KEY": "t"})
    svc.store.school_add("St Mary", "s" * 43)
    trust_ca.ensure_root(config.data_dir, "Test Trust")
    yield app, svc, Network(app)
    svc.store.close()


def _names(cert) -> list[str]:
    cert = cert if isinstance(cert, x509.Certificate) else x509.load_pem_x509_certificate(cert)
    return [n.value for n in cert.extensions.get_extension_for_class(x509.NameConstraints).value.permitted_subtrees]


def _chain(laptop) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates((trust_ca.laptop_dir(laptop.config.data_dir) /
                                            trust_ca.LAPTOP_CA_FILE).read_bytes())


def test_enrolment_issues_an_intermediate_for_the_servers_scope(server, tmp_path):
    app, svc, net = server
    a = Laptop(tmp_path, "a", net)
    a.enrol()
    folder = trust_ca.laptop_ca(a.config.data_dir)
    assert folder == a.config.data_dir / trust_ca.LAPTOP_DIR
    ca_file = folder / trust_ca.LAPTOP_CA_FILE
    assert stat.S_IMODE(ca_file.stat().st_mode) == 0o600 and stat.S_IMODE(folder.stat().st_mode) == 0o700
    inter, root = _chain(a)
    server_root = x509.load_pem_x509_certificate(trust_ca.load_root(svc.config.data_dir)[1])
    assert root == server_root and inter.issuer == server_root.subject
    inter.verify_directly_issued_by(server_root)
    # the server's pack decides the scope: the platform registry's hosts, as the proxy inspects them
    assert _names(inter) == \
        trust_ca.scope_names(svc.engine.pack.hosts)
    assert "facebook.com" in _names(_chain(a)[0])
    # the key in the file is the laptop's own, and the certificate is for it
    key = serialization.load_pem_private_key(ca_file.read_bytes(), None)
    assert key.public_key() == inter.public_key()


def test_a_laptop_cannot_ask_for_a_bank(server, tmp_path):
    """The enrolment body has no field for hosts: a laptop naming its own scope is refused, and what it is issued
    is the server's scope whatever it sends."""
    app, svc, net = server
    a = Laptop(tmp_path, "a", net)
    from rules.record import seal as sealing
    from rules.record.store import verify_key_path
    starts = sealing.read_verify_key(verify_key_path(a.config))
    _, public = trust_ca.laptop_key()
    body = {"secret": "s" * 43, "name": "a", "public_key": "ab" * 32,
            "verify": {"start": starts["events"].seq, "key": starts["events"].key.hex()},
            "ca_key": trust_ca.public_key_pem(public)}
    r = net.client.post("/device/v1/enrol", json={**body, "hosts": ["bank.example"]})
    assert r.status_code == 400 and "hosts" in r.get_json()["error"]
    r = net.client.post("/device/v1/enrol", json=body)
    assert r.status_code == 201
    names = _names(r.get_json()["ca"]["certificate"].encode())
    assert "bank.example" not in names and r.get_json()["ca"]["scope"] == len(names) > 10


def test_a_weak_or_broken_key_is_refused(server, tmp_path):
    app, svc, net = server
    bad = trust_ca.public_key_pem(ec.generate_private_key(ec.SECP256K1()).public_key())
    r = net.client.post("/device/v1/enrol", json={"secret": "s" * 43, "name": "a", "public_key": "ab" * 32,
                                                  "verify": {"start": 1, "key": "cd" * 32}, "ca_key": bad})
    assert r.status_code == 400 and "P-256" in r.get_json()["error"]
    assert svc.store.devices() == []  # refused before anything was stored


def test_renewal_gives_a_new_intermediate_for_a_new_key(server, tmp_path):
    app, svc, net = server
    a = Laptop(tmp_path, "a", net)
    a.enrol()
    before = _chain(a)[0]
    f = forwarder.Forwarder(a.config, a.store, post=net)
    assert not f.ca_due()
    told = []
    f.on_ca = told.append
    f.keep_ca()  # not due: no request, but the proxy is told which CA to sign with
    assert told == [trust_ca.laptop_dir(a.config.data_dir)] and net.sent == 1
    f.renew_ca()
    after = _chain(a)[0]
    assert after.serial_number != before.serial_number and after.public_key() != before.public_key()
    f.keep_ca()
    assert len(told) == 2  # told again: a different intermediate is on disk


def test_renewal_is_asked_for_when_due(server, tmp_path, monkeypatch):
    app, svc, net = server
    a = Laptop(tmp_path, "a", net)
    a.enrol()
    before = _chain(a)[0]
    f = forwarder.Forwarder(a.config, a.store, post=net)
    later = before.not_valid_after_utc - dt.timedelta(days=1)
    monkeypatch.setattr(trust_ca, "_now", lambda: later)
    assert f.ca_due()
    f.keep_ca()
    assert _chain(a)[0].serial_number != before.serial_number


def test_a_revoked_device_gets_no_certificate(server, tmp_path):
    app, svc, net = server
    a = Laptop(tmp_path, "a", net)
    e = a.enrol()
    before = _chain(a)[0]
    svc.store.device_revoke(e.device)
    f = forwarder.Forwarder(a.config, a.store, post=net)
    with pytest.raises(forwarder.ForwardError, match="revoked"):
        f.renew_ca()
    assert _chain(a)[0] == before  # the laptop's file untouched


def test_a_request_not_signed_by_the_device_is_refused(server, tmp_path):
    app, svc, net = server
    a, b = Laptop(tmp_path, "a", net), Laptop(tmp_path, "b", net)
    ea, eb = a.enrol(), b.enrol()
    # b's key signing a request in a's name
    b.store.set_setting(forwarder.ENROLMENT, {**eb.__dict__, "device": ea.device})
    with pytest.raises(forwarder.ForwardError, match="not signed"):
        forwarder.Forwarder(b.config, b.store, post=net).renew_ca()
    # a batch's signature is not a renewal's: the same key, the events prefix
    _, public = trust_ca.laptop_key()
    raw = json.dumps({"ca_key": trust_ca.public_key_pem(public), "sent_at": "2026-12-03T00:00:00+00:00"}).encode()
    f = forwarder.Forwarder(a.config, a.store, post=net)
    sig = f._key().sign(forwarder.SIGNED_PREFIX + ea.device.encode() + b"\n" + raw).hex()
    r = net.client.post("/device/v1/ca", data=raw, headers={"Content-Type": "application/json",
                                                            "X-PostGuard-Device": ea.device,
                                                            "X-PostGuard-Signature": sig})
    assert r.status_code == 401
    sig = f._key().sign(forwarder.CA_PREFIX + ea.device.encode() + b"\n" + raw).hex()
    r = net.client.post("/device/v1/ca", data=raw, headers={"Content-Type": "application/json",
                                                            "X-PostGuard-Device": ea.device,
                                                            "X-PostGuard-Signature": sig})
    assert r.status_code == 200 and r.get_json()["ca"]["certificate"].startswith("-----BEGIN CERTIFICATE")


def test_a_server_without_a_root_leaves_the_laptop_its_own_ca(server, tmp_path):
    app, svc, net = server
    for path in trust_ca.root_paths(svc.config.data_dir):
        path.unlink()
    a = Laptop(tmp_path, "a", net)
    a.enrol()
    assert trust_ca.laptop_ca(a.config.data_dir) is None
    f = forwarder.Forwarder(a.config, a.store, post=net)
    with pytest.raises(forwarder.ForwardError, match="no trust CA"):
        f.renew_ca()


# -- the commands ------------------------------------------------------------------------------------------------

def postguard(*args, check=True):
    r = subprocess.run([sys.executable, "-m", "local_service.cli", *args], capture_output=True, text=True,
                       timeout=120)
    if check:
        assert r.returncode == 0, r.stderr + r.stdout
    return r


def test_server_init_makes_the_root_once_and_show_prints_it(tmp_path):
    conf = tmp_path / "server.toml"
    conf.write_text(f'data_dir = "{tmp_path / "srv"}"\n')
    db = f"sqlite:///{tmp_path / 'srv.sqlite3'}"
    out = postguard("server", "init", "--config", str(conf), "--database", db).stdout
    assert "root CA" in out
    key, cert = trust_ca.root_paths(tmp_path / "srv")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    first = cert.read_bytes()
    assert "root CA" not in postguard("server", "init", "--config", str(conf), "--database", db).stdout
    assert cert.read_bytes() == first  # kept, not made anew
    shown = postguard("server", "ca", "show", "--config", str(conf), "--database", db)
    assert shown.stdout.encode() == first and "-----BEGIN" not in shown.stderr
    assert b"PRIVATE" not in shown.stdout.encode() + shown.stderr.encode()
    # the key is in the file, not in the database
    assert key.read_bytes().split(b"\n")[1] not in (tmp_path / "srv.sqlite3").read_bytes()


def _own_root(tmp_path, *, ca=True, path_length=None):
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Trust's own root")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), True)
            .sign(key, hashes.SHA256()))
    enc = serialization
    return (cert.public_bytes(enc.Encoding.PEM),
            key.private_bytes(enc.Encoding.PEM, enc.PrivateFormat.PKCS8, enc.NoEncryption()))


def test_import_refuses_a_non_ca_or_a_key_that_does_not_match(tmp_path):
    conf = tmp_path / "server.toml"
    conf.write_text(f'data_dir = "{tmp_path / "srv"}"\n')
    db = f"sqlite:///{tmp_path / 'srv.sqlite3'}"
    good_cert, good_key = _own_root(tmp_path)
    leaf_cert, leaf_key = _own_root(tmp_path, ca=False)
    _, other_key = _own_root(tmp_path)
    files = {}
    for name, data in {"good.pem": good_cert, "good.key": good_key, "leaf.pem": leaf_cert, "leaf.key": leaf_key,
                       "other.key": other_key}.items():
        (tmp_path / name).write_bytes(data)
        files[name] = str(tmp_path / name)

    def imp(cert, key, *extra):
        return postguard("server", "ca", "import", "--cert", files[cert], "--key", files[key], "--config",
                         str(conf), "--database", db, *extra, check=False)

    r = imp("leaf.pem", "leaf.key")
    assert r.returncode == 2 and "not a CA" in r.stderr
    r = imp("good.pem", "other.key")
    assert r.returncode == 2 and "does not match" in r.stderr
    assert trust_ca.load_root(tmp_path / "srv") is None
    r = imp("good.pem", "good.key")
    assert r.returncode == 0, r.stderr
    key, cert = trust_ca.root_paths(tmp_path / "srv")
    assert cert.read_bytes() == good_cert and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert good_key.split(b"\n")[1] not in (r.stdout + r.stderr).encode()  # never printed
    # init keeps an imported root; a second import needs --replace
    postguard("server", "init", "--config", str(conf), "--database", db)
    assert cert.read_bytes() == good_cert
    assert imp("good.pem", "good.key").returncode == 2
    assert imp("good.pem", "good.key", "--replace").returncode == 0
    # and it issues: an intermediate under the imported root
    inter = trust_ca.issue_intermediate(*trust_ca.load_root(tmp_path / "srv"), trust_ca.laptop_key()[1],
                                        ["facebook.com"], device="d")
    x509.load_pem_x509_certificate(inter).verify_directly_issued_by(x509.load_pem_x509_certificate(good_cert))


def test_enrol_status_shows_the_certificates_expiry_and_scope(server, tmp_path):
    app, svc, net = server
    a = Laptop(tmp_path, "a", net)
    r = postguard("enrol", "--status", "--config", str(a.config_file), check=False)
    assert r.returncode == 1 and "not enrolled" in r.stdout
    a.enrol()
    a.store.close()
    out = postguard("enrol", "--status", "--config", str(a.config_file)).stdout
    inter = _chain(a)[0]
    assert f"expires {inter.not_valid_after_utc:%Y-%m-%d %H:%M} UTC" in out
    assert f"{len(_names(inter))} hosts in scope" in out
    assert "in use" in out


def test_postguard_ca_says_when_the_proxy_signs_with_the_trusts_intermediate(server, tmp_path):
    app, svc, net = server
    a = Laptop(tmp_path, "a", net)
    before = postguard("ca", "--config", str(a.config_file)).stdout
    assert "trust's intermediate" not in before
    a.enrol()
    after = postguard("ca", "--config", str(a.config_file)).stdout
    assert f"trust's intermediate ({trust_ca.laptop_dir(a.config.data_dir)})" in after
