"""The placeholder client certificate: made once, cached, presented to nobody."""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from credplugin.credential import Credential
from credplugin.providers import base
from credplugin.providers.base import FetchContext

PLACEHOLDER_DAYS = 365


class Fetcher(base.Fetcher):
    def fetch(self, ctx: FetchContext) -> Credential:
        certificate, key = _placeholder_pair()
        now = ctx.now()
        return Credential(
            client_certificate_data=certificate,
            client_key_data=key,
            issued_at=now,
            expires_at=now + PLACEHOLDER_DAYS * 86400,
            identity="whatever identity the kubectl proxy has",
        )


def _placeholder_pair() -> tuple[str, str]:
    """A self-signed EC certificate and key that authenticate nothing anywhere."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "credplugin placeholder")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=PLACEHOLDER_DAYS + 1))
        .sign(key, hashes.SHA256())
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return cert_pem, key_pem
