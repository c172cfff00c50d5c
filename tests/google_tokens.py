"""Google-style OIDC ID tokens signed by a key the test makes, and its certificates served as
Google serves them (``{key id: PEM X.509 certificate}``, the v1 certs format google-auth reads).
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt


@dataclass(frozen=True)
class SigningKey:
    key_id: str
    private_pem: bytes
    certificate_pem: str

    def sign(self, claims: dict[str, Any]) -> str:
        signer = crypt.RSASigner.from_string(self.private_pem, key_id=self.key_id)  # type: ignore[no-untyped-call]
        token: bytes = jwt.encode(signer, claims)  # type: ignore[no-untyped-call]
        return token.decode("ascii")


def make_key(key_id: str) -> SigningKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-google-signer")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return SigningKey(
        key_id,
        private_pem,
        certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    )


def id_token_claims(audience: str, email: str, lifetime_s: int = 3600) -> dict[str, Any]:
    """The claims Google puts in a service account's OIDC token (as Cloud Tasks mints it)."""
    now = int(time.time())
    return {
        "iss": "https://accounts.google.com",
        "aud": audience,
        "azp": "101234567890123456789",
        "sub": "101234567890123456789",
        "email": email,
        "email_verified": True,
        "iat": now,
        "exp": now + lifetime_s,
    }


def strip_signature(token: str) -> str:
    """The token as Cloud Run passes it on after checking it (its signature replaced)."""
    header, payload, _ = token.split(".")
    return f"{header}.{payload}.SIGNATURE_REMOVED_BY_GOOGLE"
