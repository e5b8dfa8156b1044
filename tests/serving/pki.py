"""Certificates and keys for TLS tests, made with `cryptography` (importable as `pki` from tests).

`make_pki(folder)` writes two independent CAs and, signed by the first, a server certificate for
`localhost` and 127.0.0.1 plus a client certificate; signed by the second ("other"), a client
certificate the server must refuse. Every file is PEM; `ssl_config(...)` writes TF Serving's
SSLConfig text proto holding them.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclasses.dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path
    other_client_cert: Path
    other_client_key: Path
    wrong_host_cert: Path  # signed by `ca`, for the name "elsewhere.example" only
    wrong_host_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject, key, issuer, issuer_key, *, ca=False, hosts=(), usage=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if hosts:
        names = [
            x509.IPAddress(ipaddress.ip_address(h)) if h[0].isdigit() else x509.DNSName(h)
            for h in hosts
        ]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if ca:
        usage_bits = dict.fromkeys(
            [
                "digital_signature",
                "content_commitment",
                "key_encipherment",
                "data_encipherment",
                "key_agreement",
                "encipher_only",
                "decipher_only",
            ],
            False,
        )
        builder = builder.add_extension(
            x509.KeyUsage(key_cert_sign=True, crl_sign=True, **usage_bits), critical=True
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(folder: Path, stem: str, cert, key) -> tuple[Path, Path]:
    cert_path, key_path = folder / f"{stem}.crt", folder / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def make_pki(folder: Path) -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    authorities = {}
    for ca_name in ("ca", "other_ca"):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(f"test {ca_name}", key, f"test {ca_name}", key, ca=True)
        authorities[ca_name] = (cert, key)
        paths[ca_name] = _write(folder, ca_name, cert, key)[0]
    leaves = [
        ("server", "ca", ("localhost", "127.0.0.1"), ExtendedKeyUsageOID.SERVER_AUTH),
        ("client", "ca", (), ExtendedKeyUsageOID.CLIENT_AUTH),
        ("other_client", "other_ca", (), ExtendedKeyUsageOID.CLIENT_AUTH),
        ("wrong_host", "ca", ("elsewhere.example",), ExtendedKeyUsageOID.SERVER_AUTH),
    ]
    for stem, ca_name, hosts, usage in leaves:
        ca_cert, ca_key = authorities[ca_name]
        key = ec.generate_private_key(ec.SECP256R1())
        issuer = ca_cert.subject.rfc4514_string().removeprefix("CN=")
        cert = _certificate(stem, key, issuer, ca_key, hosts=hosts, usage=usage)
        paths[f"{stem}_cert"], paths[f"{stem}_key"] = _write(folder, stem, cert, key)
    return Pki(**paths)


def ssl_config(path: Path, cert: Path, key: Path, ca: Path | None, client_verify: bool) -> Path:
    """TF Serving's SSLConfig text proto: the PEM text itself in each field."""

    def quoted(file: Path) -> str:
        return '"' + file.read_text().replace("\n", "\\n") + '"'

    lines = [f"server_key: {quoted(key)}", f"server_cert: {quoted(cert)}"]
    if ca is not None:
        lines.append(f"custom_ca: {quoted(ca)}")
    lines.append(f"client_verify: {'true' if client_verify else 'false'}")
    path.write_text("\n".join(lines) + "\n")
    return path
