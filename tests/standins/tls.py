"""Throw-away TLS material for the test stand-ins: a CA, a server cert and a client cert.

Everything is EC P-256, valid from one hour ago until one day from now.  The certificates
carry the extensions that strict verifiers (Go's crypto/x509, OpenSSL with
``VERIFY_X509_STRICT`` as enabled by Python >= 3.13) insist on: a critical basicConstraints,
keyUsage, subject/authority key identifiers, and SANs on the server certificate.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CLIENT_CN", "CLIENT_ORG", "TLSMaterial", "make_tls"]

CLIENT_CN = "credplugin-test-client"
CLIENT_ORG = "system:masters"

CA_FILE = "ca.crt"
SERVER_CERT_FILE = "server.crt"
SERVER_KEY_FILE = "server.key"


@dataclass(frozen=True)
class TLSMaterial:
    """PEM material for one stand-in server (and a client certificate it will trust)."""

    ca_cert_pem: bytes
    ca_path: Path
    server_cert_path: Path
    server_key_path: Path
    client_cert_pem: bytes
    client_key_pem: bytes

    @property
    def ca_b64(self) -> str:
        """Standard base64 of the CA PEM, as kubeconfig ``certificate-authority-data`` wants."""
        return base64.b64encode(self.ca_cert_pem).decode("ascii")


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes: list[x509.NameAttribute[str]] = []
    if organization is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _leaf_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600 (also when the file already existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(data)


def make_tls(directory: Path) -> TLSMaterial:
    """Create a CA, a 127.0.0.1/localhost server cert and a client cert.

    Writes ``ca.crt``, ``server.crt`` and ``server.key`` (mode 0600) into ``directory``
    (created if missing).  The client certificate (CN ``credplugin-test-client``,
    O ``system:masters``, EKU clientAuth) is only returned in memory.
    """
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    not_before = now - datetime.timedelta(hours=1)
    not_after = now + datetime.timedelta(days=1)

    ca_key = _new_key()
    ca_name = _name("credplugin-test-ca", "credplugin tests")
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(
        key: ec.EllipticCurvePrivateKey,
        subject: x509.Name,
        eku: x509.ObjectIdentifier,
        san: x509.SubjectAlternativeName | None,
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_leaf_key_usage(), critical=True)
            .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(ca_aki, critical=False)
        )
        if san is not None:
            builder = builder.add_extension(san, critical=False)
        return builder.sign(ca_key, hashes.SHA256())

    server_key = _new_key()
    server_cert = leaf(
        server_key,
        _name("127.0.0.1"),
        ExtendedKeyUsageOID.SERVER_AUTH,
        x509.SubjectAlternativeName(
            [
                x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
                x509.DNSName("localhost"),
            ]
        ),
    )

    client_key = _new_key()
    client_cert = leaf(
        client_key, _name(CLIENT_CN, CLIENT_ORG), ExtendedKeyUsageOID.CLIENT_AUTH, None
    )

    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    ca_path = directory / CA_FILE
    server_cert_path = directory / SERVER_CERT_FILE
    server_key_path = directory / SERVER_KEY_FILE
    _write_private(ca_path, ca_pem)
    _write_private(server_cert_path, server_cert.public_bytes(serialization.Encoding.PEM))
    _write_private(server_key_path, _key_pem(server_key))

    return TLSMaterial(
        ca_cert_pem=ca_pem,
        ca_path=ca_path,
        server_cert_path=server_cert_path,
        server_key_path=server_key_path,
        client_cert_pem=client_cert.public_bytes(serialization.Encoding.PEM),
        client_key_pem=_key_pem(client_key),
    )
