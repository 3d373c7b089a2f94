"""One CA per trust (issue 17 item 3), its certificate pieces: the trust's root, and for each laptop a short-lived
intermediate that can only vouch for the hosts in the policy's scope.

MDM trusts the root once (postguard deploy's [deploy] ca_cert). Each laptop's proxy signs with its own intermediate:
mitmproxy reads a CA file holding the intermediate's key and certificate followed by the root's certificate, and
sends the chain in the handshake. The intermediate carries name constraints: DNS names in the scope (a constraint
covers the name and every name under it, RFC 5280 4.2.1.10) are permitted, every IPv4 and IPv6 address excluded, so a
stolen laptop key cannot impersonate a bank, a mail server or an address. It lives days, not years: it is renewed
while the laptop is in contact, and a laptop that stops talking to the server stops being able to sign soon after.

Not wired into enrolment yet: the trust server (local_service/trust.py) has to issue it at enrolment and renewal,
and the forwarder to write it in the laptop's CA folder. A laptop with no server keeps its own CA (proxy_addon/ca.py).
"""
from __future__ import annotations

import datetime as dt
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT_DAYS = 3650
INTERMEDIATE_DAYS = 7
RENEW_WHEN_LEFT = dt.timedelta(days=3)
BACKDATE = dt.timedelta(hours=1)  # a laptop whose clock is a little behind still accepts a fresh certificate


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
