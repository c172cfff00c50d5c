"""A Supabase project's signing keys: its JWKS (ES256/RS256) and its legacy JWT secret (HS256).

The JWKS (``{SUPABASE_URL}/auth/v1/.well-known/jwks.json``, public) is fetched with PyJWT's
``PyJWKClient`` on the first asymmetric token and kept for ``ttl_s`` (10 minutes, as long as
Supabase's own clients and its edge keep it). A ``kid`` it does not hold (a key rotated in
since) makes one refetch, and then no other for ``refetch_after_s``: tokens with made-up kids
cannot make this function fetch on every request. When a refetch fails, the keys already held
go on verifying; with none held, requests answer 503 (the token could not be checked) and the
JWKS is asked again only after ``refetch_after_s``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from functions.core.errors import Unauthorized, Unavailable
from functions.core.user_tokens import ASYMMETRIC, LEGACY, REFUSED

JWKS_PATH = "/auth/v1/.well-known/jwks.json"
TTL_S = 600.0
REFETCH_AFTER_S = 30.0
FETCH_TIMEOUT_S = 5


def jwks_url(supabase_url: str) -> str:
    return supabase_url.rstrip("/") + JWKS_PATH


def _fetch_with_pyjwt(url: str) -> dict[str, Any]:
    import jwt

    # The client's own cache is off: when to fetch again is decided here, with a clock.
    client = jwt.PyJWKClient(url, cache_jwk_set=False, cache_keys=False, timeout=FETCH_TIMEOUT_S)
    try:
        data = client.fetch_data()
    except jwt.PyJWKClientError as exc:
        raise Unavailable(f"the project's signing keys could not be fetched ({exc})") from None
    except ValueError:  # a body that is not JSON (a proxy's error page)
        raise Unavailable("the project's JWKS is not JSON") from None
    if not isinstance(data, dict):
        raise Unavailable("the project's JWKS is not a JSON object")
    return data


class ProjectKeys:
    """``key_for`` a token's ``alg`` and ``kid``; either source may be absent."""

    def __init__(
        self,
        jwks_url: str | None = None,
        legacy_secret: str = "",
        *,
        ttl_s: float = TTL_S,
        refetch_after_s: float = REFETCH_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
        fetch: Callable[[str], dict[str, Any]] = _fetch_with_pyjwt,
    ) -> None:
        self._url = jwks_url
        self._secret = legacy_secret
        self._ttl_s = ttl_s
        self._refetch_after_s = refetch_after_s
        self._clock = clock
        self._fetch = fetch
        self._keys: dict[str, Any] = {}  # kid -> PyJWK
        self._fetched_at: float | None = None
        self._unreachable_until = 0.0  # with no keys held: when the JWKS may be asked again
        self._lock = threading.Lock()
        self.fetches = 0  # how many times the JWKS was fetched (for tests and logs)

    def key_for(self, alg: str, kid: str | None) -> Any:
        if alg == LEGACY:
            if not self._secret:
                raise Unauthorized(REFUSED)
            return self._secret
        if alg not in ASYMMETRIC or self._url is None or kid is None:
            raise Unauthorized(REFUSED)
        jwk = self._find(kid)
        # A key verifies only tokens of its own algorithm (an RS256 key never an ES256 token).
        if jwk is None or jwk.algorithm_name != alg:
            raise Unauthorized(REFUSED)
        return jwk.key

    def _find(self, kid: str) -> Any:
        with self._lock:
            now = self._clock()
            if not self._keys and now < self._unreachable_until:
                raise Unavailable("user tokens cannot be checked now: the JWKS was unreachable")
            age = None if self._fetched_at is None else now - self._fetched_at
            stale = age is None or age >= self._ttl_s
            unknown = kid not in self._keys and (age is None or age >= self._refetch_after_s)
            if stale or unknown:
                self._refresh(now)
            return self._keys.get(kid)

    def _refresh(self, now: float) -> None:
        import jwt

        assert self._url is not None
        self.fetches += 1
        try:
            data = self._fetch(self._url)
            keys = jwt.PyJWKSet.from_dict(data).keys
        except (Unavailable, jwt.PyJWKSetError, jwt.InvalidKeyError) as exc:
            if not self._keys:
                self._unreachable_until = now + self._refetch_after_s
                raise Unavailable(f"user tokens cannot be checked now: {exc}") from None
            # Keep the keys held; try again after the refetch interval, not on every request.
            self._fetched_at = now - self._ttl_s + self._refetch_after_s
            return
        self._keys = {k.key_id: k for k in keys if k.key_id and k.public_key_use in (None, "sig")}
        self._fetched_at = now
