"""The part of Supabase Auth (GoTrue) the page needs, for the local stack: anonymous sign-in,
token refresh, the current user and sign-out, with GoTrue's request and response shapes so
supabase-js's ``auth.signInAnonymously()`` works unchanged.

Routes (under ``/auth/v1``, as Supabase's API gateway serves them):

- ``POST /signup`` with no email and no phone: a new anonymous user and a session;
- ``POST /token?grant_type=refresh_token`` ``{"refresh_token"}``: a new session; the refresh
  token is used up (GoTrue's rotation; its short reuse interval is not reproduced);
- ``GET /user`` with ``Authorization: Bearer <access token>``: the user;
- ``POST /logout``: the session's refresh tokens are revoked (204);
- ``GET /.well-known/jwks.json``: the public signing keys, open to anyone (no ``apikey``), as
  on Supabase.

Access tokens are signed as the project's signing keys say (devstack.auth.signing): ES256 with a
``kid`` by default, as new Supabase projects do, or HS256 with the legacy JWT secret.
Every other request needs one of the project's API keys as ``apikey`` (as Supabase's gateway
requires): a legacy JWT key (anon, service_role) or an opaque one (``sb_publishable_…``,
``sb_secret_…``). Users and
refresh tokens live in memory: a restart signs everyone out at their next refresh, while the
access tokens already issued stay valid until they expire, as stateless JWTs do.
Email, phone, OAuth and everything else answer 422/404 with GoTrue's error shape.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jwt

from devstack.auth.signing import SigningKeys

PREFIX = "/auth/v1"
ACCESS_TOKEN_TTL_S = 3600  # GoTrue's default JWT_EXP
API_KEY_ROLES = ("anon", "service_role")
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": (
        "authorization, apikey, content-type, x-client-info, x-supabase-api-version"
    ),
    "Access-Control-Max-Age": "600",
}


@dataclass(frozen=True)
class AuthResponse:
    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        return b"" if self.body is None else json.dumps(self.body).encode("utf-8")


def _error(status: int, code: str, message: str) -> AuthResponse:
    # GoTrue's error document (auth-js reads error_code and msg).
    return AuthResponse(status, {"code": status, "error_code": code, "msg": message})


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")


@dataclass
class _User:
    id: str
    created_at: float
    user_metadata: dict[str, Any]
    last_sign_in_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "aud": "authenticated",
            "role": "authenticated",
            "email": "",
            "phone": "",
            "last_sign_in_at": _iso(self.last_sign_in_at),
            "app_metadata": {},
            "user_metadata": self.user_metadata,
            "identities": [],
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.last_sign_in_at),
            "is_anonymous": True,
        }


@dataclass
class AuthApi:
    """Anonymous users for the local stack, signed with the project's signing keys."""

    keys: SigningKeys
    issuer: str = "http://127.0.0.1/auth/v1"
    api_keys: Mapping[str, str] = field(default_factory=dict)  # opaque key -> role
    clock: Callable[[], float] = time.time
    _users: dict[str, _User] = field(default_factory=dict)
    # refresh token -> (user id, session id)
    _refresh: dict[str, tuple[str, str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> AuthResponse:
        """``headers`` with lower-case names; ``path`` from ``/auth/v1`` on."""
        response = self._route(method, path.removeprefix(PREFIX).rstrip("/"), query, headers, body)
        return AuthResponse(response.status, response.body, {**CORS, **response.headers})

    def _route(
        self,
        method: str,
        route: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> AuthResponse:
        if method == "OPTIONS":
            return AuthResponse(204)
        if (method, route) == ("GET", "/.well-known/jwks.json"):
            # Public, and cached by clients (Supabase serves it with a 10-minute max-age).
            return AuthResponse(200, self.keys.jwks(), {"Cache-Control": "public, max-age=600"})
        if not self._valid_api_key(headers.get("apikey")):
            # What Supabase's gateway answers before the request reaches Auth.
            return AuthResponse(401, {"message": "Invalid API key"})
        if (method, route) == ("POST", "/signup"):
            return self._signup(body)
        if (method, route) == ("POST", "/token"):
            if query.get("grant_type") != "refresh_token":
                return _error(400, "validation_failed", "unsupported_grant_type")
            return self._refresh_session(body)
        if (method, route) == ("GET", "/user"):
            return self._user(headers.get("authorization"))
        if (method, route) == ("POST", "/logout"):
            return self._logout(headers.get("authorization"))
        return _error(404, "not_found", "the local Auth serves anonymous sign-in only")

    def _valid_api_key(self, key: str | None) -> bool:
        if not key:
            return False
        if any(hmac.compare_digest(key, opaque) for opaque in self.api_keys):
            return True
        try:
            # The legacy API keys are HS256 JWTs of the JWT secret, whatever signs sessions.
            claims = jwt.decode(
                key, self.keys.jwt_secret, algorithms=["HS256"], options={"verify_aud": False}
            )
        except jwt.InvalidTokenError:
            return False
        return claims.get("role") in API_KEY_ROLES

    def _json(self, body: bytes) -> dict[str, Any] | None:
        try:
            document = json.loads(body or b"{}")
        except ValueError:
            return None
        return document if isinstance(document, dict) else None

    def _signup(self, body: bytes) -> AuthResponse:
        document = self._json(body)
        if document is None:
            return _error(400, "bad_json", "Could not parse request body as JSON")
        if document.get("email") or document.get("phone") or document.get("password"):
            return _error(
                422,
                "email_provider_disabled",
                "the local Auth supports anonymous sign-ins only (no email or phone)",
            )
        data = document.get("data") or {}
        if not isinstance(data, dict):
            return _error(400, "validation_failed", "data must be an object")
        now = self.clock()
        user = _User(str(uuid.uuid4()), now, dict(data), now)
        with self._lock:
            self._users[user.id] = user
        return AuthResponse(200, self._session(user, str(uuid.uuid4())))

    def _session(self, user: _User, session_id: str) -> dict[str, Any]:
        now = int(self.clock())
        claims = {
            "iss": self.issuer,
            "sub": user.id,
            "aud": "authenticated",
            "exp": now + ACCESS_TOKEN_TTL_S,
            "iat": now,
            "email": "",
            "phone": "",
            "app_metadata": {},
            "user_metadata": user.user_metadata,
            "role": "authenticated",
            "aal": "aal1",
            "amr": [{"method": "anonymous", "timestamp": now}],
            "session_id": session_id,
            "is_anonymous": True,
        }
        refresh_token = secrets.token_urlsafe(24)
        with self._lock:
            self._refresh[refresh_token] = (user.id, session_id)
        return {
            "access_token": self.keys.sign(claims),
            "token_type": "bearer",
            "expires_in": ACCESS_TOKEN_TTL_S,
            "expires_at": now + ACCESS_TOKEN_TTL_S,
            "refresh_token": refresh_token,
            "user": user.to_json(),
        }

    def _refresh_session(self, body: bytes) -> AuthResponse:
        document = self._json(body) or {}
        token = document.get("refresh_token")
        with self._lock:
            held = self._refresh.pop(token, None) if isinstance(token, str) else None
            user = self._users.get(held[0]) if held else None
        if held is None or user is None:
            return _error(
                400, "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found"
            )
        return AuthResponse(200, self._session(user, held[1]))

    def _claims(self, authorization: str | None) -> dict[str, Any] | None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            claims = self.keys.verify(token.strip(), audience="authenticated")
        except jwt.InvalidTokenError:
            return None
        return claims

    def _user(self, authorization: str | None) -> AuthResponse:
        claims = self._claims(authorization)
        if claims is None:
            return _error(403, "bad_jwt", "invalid JWT: unable to parse or verify signature")
        with self._lock:
            user = self._users.get(str(claims.get("sub")))
        if user is None:
            return _error(403, "user_not_found", "User from sub claim in JWT does not exist")
        return AuthResponse(200, user.to_json())

    def _logout(self, authorization: str | None) -> AuthResponse:
        claims = self._claims(authorization)
        if claims is None:
            return _error(403, "bad_jwt", "invalid JWT: unable to parse or verify signature")
        session_id = claims.get("session_id")
        with self._lock:
            for token, (_, session) in list(self._refresh.items()):
                if session == session_id:
                    del self._refresh[token]
        return AuthResponse(204)
