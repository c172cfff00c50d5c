"""Who a client is: its JWT verified with the project's signing keys (ES256 by ``kid``, or the
legacy HS256 secret), or one of its opaque API keys, reduced to a Postgres role and the claims
that row-level security policies read."""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

from devstack.auth.signing import SigningKeys

DEFAULT_ROLES = frozenset({"anon", "authenticated", "service_role"})


class AuthError(Exception):
    """A token the gateway refuses; ``code`` is the Realtime server's name for the reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def reason(self) -> str:
        """As the Realtime server words a refused join: ``Code: message``."""
        return f"{self.code}: {self.message}"


@dataclass(frozen=True)
class Identity:
    """A verified token: the role to query as and the claims for ``request.jwt.claims``."""

    token: str
    role: str
    expires_at: int
    claims: dict[str, Any] = field(compare=False, hash=False)
    claims_json: str = ""

    @property
    def key(self) -> tuple[str, str]:
        """Subscribers with the same key see the same rows."""
        return (self.role, self.claims_json)

    def expired(self, now: float | None = None) -> bool:
        return self.expires_at <= (time.time() if now is None else now)


@dataclass(frozen=True)
class Verifier:
    """Checks tokens against the project's keys and a set of roles the gateway may act as.
    Without ``signing``, HS256 tokens of ``jwt_secret`` only. ``api_keys`` maps the project's
    opaque keys (``sb_publishable_…``, ``sb_secret_…``) to the role each stands for, as
    Supabase's API gateway turns them into a short JWT of that role."""

    jwt_secret: str
    roles: Collection[str] = DEFAULT_ROLES
    signing: SigningKeys | None = None
    api_keys: Mapping[str, str] = field(default_factory=dict)

    def _opaque(self, token: str, now: float) -> Identity | None:
        role = next(
            (r for key, r in self.api_keys.items() if hmac.compare_digest(key, token)), None
        )
        if role is None:
            if token.startswith("sb_"):
                raise AuthError("Unauthorized", "The API key is not one of this project's")
            return None
        exp = int(now) + 3600
        claims = {"role": role, "iss": "supabase", "exp": exp}
        return Identity(token, role, exp, claims, json.dumps(claims, sort_keys=True))

    def _decode(self, token: str) -> dict[str, Any]:
        options: Any = {"verify_aud": False, "verify_exp": False, "verify_iat": False}
        if self.signing is not None:
            return self.signing.verify(token, options=options)
        claims: dict[str, Any] = jwt.decode(
            token, self.jwt_secret, algorithms=["HS256"], options=options
        )
        return claims

    def verify(self, token: str | None, now: float | None = None) -> Identity:
        """The identity in ``token``, or :class:`AuthError`."""
        if not token:
            raise AuthError("MalformedJWT", "The token provided is not a valid JWT")
        opaque = self._opaque(token, time.time() if now is None else now)
        if opaque is not None:
            return opaque
        try:
            claims = self._decode(token)
        except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError):
            raise AuthError("JwtSignatureError", "Failed to validate JWT signature") from None
        except jwt.InvalidTokenError:
            raise AuthError("MalformedJWT", "The token provided is not a valid JWT") from None
        role, exp = claims.get("role"), claims.get("exp")
        if not isinstance(role, str) or not isinstance(exp, int) or isinstance(exp, bool):
            raise AuthError("InvalidJWTToken", "Fields `role` and `exp` are required in JWT")
        current = time.time() if now is None else now
        if exp <= current:
            ago = int(current - exp)
            raise AuthError("InvalidJWTToken", f"Token has expired {ago} seconds ago")
        if role not in self.roles:
            raise AuthError("Unauthorized", f"The role {role!r} may not use Realtime here")
        return Identity(
            token=token,
            role=role,
            expires_at=exp,
            claims=claims,
            claims_json=json.dumps(claims, sort_keys=True, separators=(",", ":")),
        )
