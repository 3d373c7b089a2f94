"""One CA per trust (issue 17 item 3), its certificate pieces: the trust's root, and for each laptop a short-lived
intermediate that can only vouch for the hosts in the policy's scope.

MDM trusts the root once (postguard deploy's [deploy] ca_cert). Each laptop's proxy signs with its own intermediate:
mitmproxy reads a CA file holding the intermediate's key and certificate followed by the root's certificate, and
sends the chain in the handshake. The intermediate carries name constraints: DNS names in the scope (a constraint
covers the name and every name under it, RFC 5280 4.2.1.10) are permitted, every IPv4 and IPv6 address excluded, so a
stolen laptop key cannot impersonate a bank, a mail server or an address. It lives days, not years: it is renewed
while the laptop is in contact, and a laptop that stops talking to the server stops being able to sign soon after.

Where they live: the root's key in the trust server's data folder (ROOT_KEY_FILE, 0600, beside the checkpoint
key; never in the database, never logged), its certificate beside it (`postguard server ca show` prints it for MDM).
The server issues an intermediate at enrolment and at renewal (local_service/trust.py), for a public key the laptop
made (the private key never leaves the laptop), constrained to the server's own scope (its pack's hosts: the
platform registry plus the pack's changes), never to hosts a laptop asks for. The laptop writes mitmproxy's CA file
in its own folder (LAPTOP_DIR in its data folder, atomically, 0600) and the running proxy swaps its certificate store
(local_service/composition.py, proxy_addon/runner.py). A laptop with no server keeps its own CA (proxy_addon/ca.py).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

ROOT_DAYS = 3650
INTERMEDIATE_DAYS = 7
RENEW_WHEN_LEFT = dt.timedelta(days=3)
BACKDATE = dt.timedelta(hours=1)  # a laptop whose clock is a little behind still accepts a fresh certificate
ROOT_KEY_FILE, ROOT_CERT_FILE = "trust_root_key", "trust_root.pem"  # in the server's data folder
LAPTOP_DIR = "trust-ca"  # in the laptop's data folder: a mitmproxy confdir of its own
LAPTOP_CA_FILE = "mitmproxy-ca.pem"  # what mitmproxy reads in a confdir (its basename "mitmproxy")
MAX_KEY_PEM = 1000  # a P-384 or RSA-4096 public key in PEM is well under this


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def scope_names(hosts) -> list[str]:
    """The DNS names a constraint can hold, from the pack's hosts: lower case, no port, no leading wildcard or dot;
    addresses are dropped (every address is excluded). ValueError when nothing is left."""
    names = set()
    for raw in hosts:
        host = str(raw).strip().lower().removeprefix("*.").lstrip(".")
        if host.startswith("[") or host.count(":") > 1:
            continue  # an IPv6 address
        host = host.split(":", 1)[0].rstrip(".")
        try:
            ipaddress.ip_address(host)
            continue
        except ValueError:
            pass
        if host and all(part and len(part) <= 63 for part in host.split(".")):
            names.add(host)
    if not names:
        raise ValueError("no host names in scope: an intermediate would vouch for nothing")
    return sorted(names)


def make_root(name: str) -> tuple[bytes, bytes]:
    """A new trust root: (private key PEM, certificate PEM). The key stays on the trust server."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "PostGuard"),
                         x509.NameAttribute(NameOID.COMMON_NAME, f"PostGuard trust root: {name}"[:64])])
    now = _now()
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE).not_valid_after(now + dt.timedelta(days=ROOT_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return _key_pem(key), _pem(cert)


def issue_intermediate(root_key_pem: bytes, root_cert_pem: bytes, public_key, hosts, device: str,
                       days: int = INTERMEDIATE_DAYS) -> bytes:
    """A laptop's intermediate for its public key: CA for leaf certificates only (path length 0), name-constrained
    to the hosts in scope, valid for `days`. Returns its certificate (PEM)."""
    root_key = serialization.load_pem_private_key(root_key_pem, None)
    root = x509.load_pem_x509_certificate(root_cert_pem)
    permitted = [x509.DNSName(n) for n in scope_names(hosts)]
    excluded = [x509.IPAddress(ipaddress.ip_network("0.0.0.0/0")), x509.IPAddress(ipaddress.ip_network("::/0"))]
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "PostGuard"),
                         x509.NameAttribute(NameOID.COMMON_NAME, f"PostGuard laptop {device}"[:64])])
    now = _now()
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(root.subject).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=excluded),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    return _pem(cert)


def laptop_key() -> tuple[bytes, object]:
    """The laptop's own intermediate key pair: (private key PEM, public key for the request). The private key never
    leaves the laptop."""
    key = ec.generate_private_key(ec.SECP256R1())
    return _key_pem(key), key.public_key()


def mitmproxy_ca_file(key_pem: bytes, intermediate_pem: bytes, root_cert_pem: bytes) -> bytes:
    """What mitmproxy's CA file holds to sign with an intermediate: its key, its certificate, then the root's."""
    return key_pem + intermediate_pem + root_cert_pem


def needs_renewal(cert_pem: bytes, now: dt.datetime | None = None) -> bool:
    cert = x509.load_pem_x509_certificate(cert_pem)
    return cert.not_valid_after_utc - (now or _now()) < RENEW_WHEN_LEFT


def fingerprint(cert_pem: bytes) -> str:
    """SHA-256 of the certificate (DER), as an MDM console shows it."""
    return x509.load_pem_x509_certificate(cert_pem).fingerprint(hashes.SHA256()).hex(":").upper()


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write `path` whole or not at all: a temporary file beside it (created owner-only), flushed, then renamed
    over it. The folder is made owner-only if it is new. A reader never sees half a key or a key without its
    certificate."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- the trust server's root -------------------------------------------------------------------------------------

def root_paths(data_dir: Path) -> tuple[Path, Path]:
    return Path(data_dir) / ROOT_KEY_FILE, Path(data_dir) / ROOT_CERT_FILE


def load_root(data_dir: Path) -> tuple[bytes, bytes] | None:
    """(key PEM, certificate PEM), or None when the server has no root."""
    key, cert = root_paths(data_dir)
    if not key.exists() or not cert.exists():
        return None
    return key.read_bytes(), cert.read_bytes()


def ensure_root(data_dir: Path, name: str) -> bool:
    """Make the trust's root when the server has none; True when it made one."""
    if load_root(data_dir) is not None:
        return False
    key_pem, cert_pem = make_root(name)
    _keep_root(data_dir, key_pem, cert_pem)
    return True


def _keep_root(data_dir: Path, key_pem: bytes, cert_pem: bytes) -> None:
    key, cert = root_paths(data_dir)
    write_atomic(key, key_pem, 0o600)
    write_atomic(cert, cert_pem, 0o644)


def check_root(cert_pem: bytes, key_pem: bytes):
    """The trust's own root, before it is used: a CA certificate that may sign an intermediate, not expired, an RSA
    (2048 bits or more) or EC key, and the key its certificate names. ValueError saying what is wrong."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise ValueError("the certificate is not a PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(key_pem, None)
    except (ValueError, TypeError):
        raise ValueError("the key is not an unencrypted PEM private key (decrypt it first: openssl pkey -in KEY "
                         "-out PLAIN)") from None
    try:
        basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        basic = None
    if basic is None or not basic.ca:
        raise ValueError("the certificate is not a CA certificate (basicConstraints CA:TRUE)")
    if basic.path_length == 0:
        raise ValueError("the certificate's path length is 0: it cannot sign the laptops' intermediates")
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if not usage.key_cert_sign:
            raise ValueError("the certificate's key usage does not allow signing certificates (keyCertSign)")
    except x509.ExtensionNotFound:
        pass
    if cert.not_valid_after_utc <= _now():
        raise ValueError(f"the certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}")
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)) or \
            (isinstance(key, rsa.RSAPrivateKey) and key.key_size < 2048):
        raise ValueError("the key must be RSA (2048 bits or more) or EC: browsers accept no other for a root")
    if key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) \
            != cert.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo):
        raise ValueError("the key does not match the certificate")
    return cert


def import_root(data_dir: Path, cert_pem: bytes, key_pem: bytes) -> None:
    """Keep the trust's own root (checked first) as the server's root."""
    check_root(cert_pem, key_pem)
    key = serialization.load_pem_private_key(key_pem, None)
    _keep_root(data_dir, _key_pem(key), _pem(x509.load_pem_x509_certificate(cert_pem)))


def public_key_pem(public) -> str:
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_public_key(pem: str):
    """A laptop's intermediate public key from its request: EC P-256/P-384 or RSA of 2048 bits or more.
    ValueError otherwise."""
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError):
        raise ValueError("ca_key is not a PEM public key") from None
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, (ec.SECP256R1, ec.SECP384R1)):
        return key
    if isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048:
        return key
    raise ValueError("ca_key must be an EC P-256 or P-384 key, or RSA of 2048 bits or more")


# -- the laptop's intermediate -----------------------------------------------------------------------------------

def laptop_dir(data_dir: Path) -> Path:
    return Path(data_dir) / LAPTOP_DIR


def write_laptop_ca(data_dir: Path, key_pem: bytes, intermediate_pem: bytes, root_cert_pem: bytes) -> Path:
    """mitmproxy's CA file in the laptop's trust CA folder, atomically and owner-only; returns the folder (a
    confdir). The certificate must be for this key: a mismatched pair would make the proxy fail every handshake."""
    key = serialization.load_pem_private_key(key_pem, None)
    cert = x509.load_pem_x509_certificate(intermediate_pem)
    x509.load_pem_x509_certificate(root_cert_pem)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, spki) != \
            cert.public_key().public_bytes(serialization.Encoding.DER, spki):
        raise ValueError("the server's certificate is not for this laptop's key")
    folder = laptop_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.name == "posix":
        os.chmod(folder, 0o700)
    write_atomic(folder / LAPTOP_CA_FILE, mitmproxy_ca_file(key_pem, intermediate_pem, root_cert_pem), 0o600)
    return folder


def laptop_intermediate(data_dir: Path) -> bytes | None:
    """The intermediate's certificate (PEM) in the laptop's CA file, or None when it has none."""
    try:
        certs = x509.load_pem_x509_certificates((laptop_dir(data_dir) / LAPTOP_CA_FILE).read_bytes())
    except (OSError, ValueError):
        return None
    return _pem(certs[0]) if certs else None


def laptop_ca(data_dir: Path, now: dt.datetime | None = None) -> Path | None:
    """The folder the proxy signs from when the laptop holds an intermediate that is still valid; None: the
    laptop's own CA (no server, or a certificate that expired while the laptop was away)."""
    cert = laptop_intermediate(data_dir)
    if cert is None or x509.load_pem_x509_certificate(cert).not_valid_after_utc <= (now or _now()):
        return None
    return laptop_dir(data_dir)


def describe(cert_pem: bytes) -> dict:
    """What `postguard enrol --status` says about an intermediate: expiry, serial, issuer, hosts in scope."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    try:
        nc = cert.extensions.get_extension_for_class(x509.NameConstraints).value
        scope = len(nc.permitted_subtrees or [])
    except x509.ExtensionNotFound:
        scope = 0
    return {"expires": cert.not_valid_after_utc, "serial": format(cert.serial_number, "x"),
            "issuer": cert.issuer.rfc4514_string(), "scope": scope,
            "fingerprint": hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()}
