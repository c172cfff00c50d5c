"""Supabase user access tokens: verified into the caller they name, or Unauthorized.

A token is verified by its header: ``alg`` ES256 or RS256 with the project's signing key of
that ``kid`` (its JWKS), HS256 with the legacy JWT secret; any other ``alg`` (``none``
included) is refused before a key is looked at, and a key is used only with its own algorithm,
so a public key can never be taken for an HMAC secret. The token must carry ``aud``
"authenticated", an ``exp`` still ahead, ``role`` "authenticated" and a ``sub`` that is a user
id. PyJWT checks HMAC signatures with ``hmac.compare_digest`` (constant time).

PyJWT (and, through it, cryptography) is imported on the first token, not with the module:
a function serving only the public demo mode never pays for it at cold start.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Protocol
from uuid import UUID

from functions.core.errors import Unauthorized
from functions.core.models import Caller

AUDIENCE = "authenticated"
ASYMMETRIC = ("ES256", "RS256")
LEGACY = "HS256"
# One answer for every bad token, so a caller learns nothing about which check failed.
REFUSED = "the access token is not valid (expired, or not from this project); sign in again"
NOT_ACCEPTED = "this API does not accept user tokens; send the request without one"
# Clocks of the Auth server and the function may differ a little.
LEEWAY_S = 10


class SigningKeys(Protocol):
    """Where the keys that verify user tokens come from."""

    def key_for(self, alg: str, kid: str | None) -> Any:
        """The key verifying ``alg`` tokens of ``kid``; Unauthorized when there is none."""
        ...


class LegacySecret:
    """The project's legacy JWT secret: HS256 tokens only."""

    def __init__(self, secret: str) -> None:
        self._secret = secret

    def key_for(self, alg: str, kid: str | None) -> Any:
        if alg != LEGACY or not self._secret:
            raise Unauthorized(REFUSED)
        return self._secret


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; None when there is no header."""
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send the access token as Authorization: Bearer <token>")
    return token.strip()


def header(token: str) -> dict[str, Any]:
    """The token's JOSE header, unverified (it only chooses the key); Unauthorized if garbled."""
    encoded = token.split(".", 1)[0]
    try:
        decoded = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (ValueError, UnicodeDecodeError):
        raise Unauthorized(REFUSED) from None
    if not isinstance(decoded, dict):
        raise Unauthorized(REFUSED)
    return decoded


def verify(token: str, keys: SigningKeys | None, now: float) -> Caller:
    """The user a token names, when its signature, audience and expiry (at ``now``) hold."""
    if keys is None:
        raise Unauthorized(NOT_ACCEPTED)
    head = header(token)
    alg, kid = head.get("alg"), head.get("kid")
    if alg not in (*ASYMMETRIC, LEGACY) or not (kid is None or isinstance(kid, str)):
        raise Unauthorized(REFUSED)
    key = keys.key_for(alg, kid)
    import jwt

    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[alg],
            audience=AUDIENCE,
            # Expiry is judged below at ``now``, the caller's clock (a test's may be fixed).
            options={"require": ["exp", "sub", "aud"], "verify_exp": False},
        )
        exp = claims["exp"]
        if isinstance(exp, bool) or not isinstance(exp, int | float) or exp + LEEWAY_S <= now:
            raise Unauthorized(REFUSED)
        user_id = UUID(str(claims["sub"]))
    except (jwt.InvalidTokenError, ValueError):
        raise Unauthorized(REFUSED) from None
    if claims.get("role") != AUDIENCE:
        raise Unauthorized(REFUSED)
    return Caller(user_id=user_id, claims_json=json.dumps(claims, separators=(",", ":")))
