"""The local stack's JWT secret and the API keys minted from it, as ``supabase start`` does.

The keys are HS256 JWTs carrying the Postgres role they act as; the Realtime gateway (and
anything else playing a Supabase service locally) verifies them with the same secret.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

ISSUER = "supabase-demo"
ALGORITHM = "HS256"
# The API keys are configuration, not sessions: a fixed, distant expiry (2100-01-01) and no
# issue time make them a function of the secret alone, so every run mints the same keys.
API_KEY_EXPIRES_AT = 4_102_444_800
TOKEN_LIFETIME_S = 3600


@dataclass(frozen=True)
class ApiKeys:
    """The public (``anon``) and the privileged (``service_role``) key of a project."""

    anon_key: str
    service_role_key: str


def generate_jwt_secret() -> str:
    """A new random JWT secret (64 URL-safe characters, well above HS256's 32-byte minimum)."""
    return secrets.token_urlsafe(48)


def mint_token(
    jwt_secret: str,
    role: str,
    *,
    lifetime_s: float = TOKEN_LIFETIME_S,
    claims: Mapping[str, Any] | None = None,
    now: float | None = None,
) -> str:
    """A session-like JWT for ``role`` (tests, user tokens); ``claims`` adds or overrides."""
    issued = int(time.time() if now is None else now)
    body: dict[str, Any] = {
        "iss": ISSUER,
        "role": role,
        "iat": issued,
        "exp": issued + int(lifetime_s),
        **(claims or {}),
    }
    return jwt.encode(body, jwt_secret, algorithm=ALGORITHM)


def mint_api_key(jwt_secret: str, role: str) -> str:
    """The project's API key for ``role``: always the same for the same secret."""
    claims = {"iss": ISSUER, "role": role, "exp": API_KEY_EXPIRES_AT}
    return jwt.encode(claims, jwt_secret, algorithm=ALGORITHM)


def mint_keys(jwt_secret: str) -> ApiKeys:
    """The ``anon`` and ``service_role`` keys for ``jwt_secret``."""
    return ApiKeys(
        anon_key=mint_api_key(jwt_secret, "anon"),
        service_role_key=mint_api_key(jwt_secret, "service_role"),
    )
