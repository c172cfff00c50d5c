"""Supabase user access tokens: verified into the caller they name, or Unauthorized.

A token is an HS256 JWT signed with the project's JWT secret; it must carry ``aud``
"authenticated", an ``exp`` still ahead and a ``sub`` that is a user id. PyJWT checks the
signature with ``hmac.compare_digest`` (constant time) and refuses every other algorithm,
``none`` included.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import jwt

from functions.core.errors import Unauthorized
from functions.core.models import Caller

AUDIENCE = "authenticated"
# One answer for every bad token, so a caller learns nothing about which check failed.
REFUSED = "the access token is not valid (expired, or not from this project); sign in again"
# Clocks of the Auth server and the function may differ a little.
LEEWAY_S = 10


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; None when there is no header."""
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send the access token as Authorization: Bearer <token>")
    return token.strip()


def verify(token: str, secret: str, now: float) -> Caller:
    """The user a token names, when its signature, audience and expiry (at ``now``) hold."""
    if not secret:
        raise Unauthorized("this API does not accept user tokens; send the request without one")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
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
