"""The local project's JWT signing keys, as Supabase Auth's: an asymmetric ES256 key (the
default of new projects, published as a JWKS) or the legacy HS256 JWT secret.

``SigningKeys`` signs the access tokens the local Auth issues and verifies tokens for the
local services (Realtime, Auth's own ``/user``): a token is checked by its header's ``alg`` and
``kid`` with the key of that algorithm, and any other ``alg`` is refused, as Supabase's
services do. The public half of the ES256 key is served at ``/auth/v1/.well-known/jwks.json``.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ES256 = "ES256"
HS256 = "HS256"
ALGORITHMS = (ES256, HS256)


def generate_es256_pem() -> str:
    """A new P-256 private key, PEM (PKCS#8), to keep with the stack's other secrets."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def new_kid() -> str:
    return secrets.token_hex(8)


@dataclass(frozen=True)
class SigningKeys:
    """``algorithm`` signs new tokens; both the ES256 key and the secret verify."""

    jwt_secret: str
    es256_pem: str
    kid: str
    algorithm: str = ES256

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"the signing algorithm must be one of {ALGORITHMS}")
        if not self.jwt_secret:
            raise ValueError("the legacy JWT secret is needed (it signs the legacy API keys)")

    @classmethod
    def generate(cls, jwt_secret: str, algorithm: str = ES256) -> SigningKeys:
        return cls(jwt_secret, generate_es256_pem(), new_kid(), algorithm)

    def _private(self) -> Any:
        return serialization.load_pem_private_key(self.es256_pem.encode("ascii"), None)

    def sign(self, claims: dict[str, Any]) -> str:
        if self.algorithm == HS256:
            return jwt.encode(claims, self.jwt_secret, algorithm=HS256)
        return jwt.encode(claims, self._private(), algorithm=ES256, headers={"kid": self.kid})

    def jwks(self) -> dict[str, Any]:
        """The public keys, as Supabase publishes them (no symmetric key is ever listed)."""
        public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self._private().public_key()))
        public.update({"kid": self.kid, "alg": ES256, "use": "sig", "key_ops": ["verify"]})
        return {"keys": [public]}

    def verify(self, token: str, **options: Any) -> dict[str, Any]:
        """The token's claims once its signature holds; ``jwt.InvalidTokenError`` if not.
        ``options`` go to ``jwt.decode`` (audience, options)."""
        header = jwt.get_unverified_header(token)
        alg = header.get("alg")
        if alg == HS256:
            key: Any = self.jwt_secret
        elif alg == ES256 and header.get("kid") == self.kid:
            key = self._private().public_key()
        else:
            raise jwt.InvalidAlgorithmError(f"tokens signed with {alg!r} are not accepted")
        claims: dict[str, Any] = jwt.decode(token, key, algorithms=[alg], **options)
        return claims
