"""Who may call process_job on Google Cloud: Cloud Tasks and Cloud Scheduler, each sending an
OIDC ID token minted for a service account, with process_job's URL as the audience.

Two modes, chosen at deploy time (``PROCESS_JOB_AUTH``):

- ``google-id-token``: the function checks the token itself with google-auth: Google's
  signature (keys from ``GOOGLE_CERTS_URL``), the issuer, expiry, audience, and that the
  service account is one allowed and verified.
- ``cloud-run-iam``: Cloud Run's front end checks the token and the caller's ``run.invoker``
  role before the request arrives (``--no-allow-unauthenticated``) and then replaces the
  token's signature, so the function cannot verify it again; it checks only that the claims
  name the audience and an allowed service account, so a broader invoker binding added later
  does not open process_job.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from functions.core.errors import Unauthorized, Unavailable

log = logging.getLogger("functions.id_tokens")

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
GOOGLE_ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})
# Google's key set changes daily and is served with a max-age of hours; keys are published
# well before use, so a copy this old is safe and a cold instance fetches once.
CERTS_MAX_AGE_S = 3600.0
CLOCK_SKEW_S = 10
# google-auth's transport waits 120 s by default; a caller (Cloud Tasks) would give up first.
CERTS_TIMEOUT_S = 5.0
# One answer for every failed check, as with the other credentials.
REFUSED = "missing or unverified ID token"


@dataclass(frozen=True)
class IdTokenPolicy:
    """What a caller's token must say."""

    audience: str
    service_accounts: frozenset[str]
    verify_signature: bool = True  # False: Cloud Run IAM verified it and stripped it
    certs_url: str = GOOGLE_CERTS_URL


class _CachedCerts:
    """google-auth's transport request, with GETs of the certificate URL kept for a while."""

    def __init__(self, inner: Callable[..., Any], clock: Callable[[], float]) -> None:
        self._inner = inner
        self._clock = clock
        self._lock = threading.Lock()
        self._kept: dict[str, tuple[float, Any]] = {}

    def __call__(self, url: str, method: str = "GET", **kwargs: Any) -> Any:
        now = self._clock()
        with self._lock:
            kept = self._kept.get(url)
            if method == "GET" and kept is not None and now - kept[0] < CERTS_MAX_AGE_S:
                return kept[1]
        kwargs.setdefault("timeout", CERTS_TIMEOUT_S)
        response = self._inner(url, method=method, **kwargs)
        if method == "GET" and response.status == 200:
            with self._lock:
                self._kept[url] = (now, response)
        return response


class IdTokenVerifier:
    """Checks ``Authorization: Bearer <ID token>`` against a policy; raises Unauthorized (401)
    for any token that does not pass, and Unavailable (503) when Google's keys cannot be had."""

    def __init__(self, policy: IdTokenPolicy, clock: Callable[[], float] = time.time) -> None:
        import google.auth.transport.requests  # google-auth: only process_job loads it

        self._policy = policy
        self._request = _CachedCerts(google.auth.transport.requests.Request(), clock)

    def require(self, authorization: str | None) -> Mapping[str, Any]:
        """The verified claims of the request's token."""
        from google.auth import exceptions, jwt
        from google.oauth2 import id_token

        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized(REFUSED)
        try:
            if self._policy.verify_signature:
                claims = id_token.verify_token(
                    token,
                    cast(Any, self._request),  # google-auth calls it as its transport Request
                    audience=self._policy.audience,
                    certs_url=self._policy.certs_url,
                    clock_skew_in_seconds=CLOCK_SKEW_S,
                )
            else:
                claims = jwt.decode(token, verify=False)  # type: ignore[no-untyped-call]
        except exceptions.TransportError as exc:
            log.warning("could not fetch the ID token keys: %s", exc)
            raise Unavailable("the ID token keys could not be fetched; try again") from None
        except (ValueError, exceptions.GoogleAuthError) as exc:
            # google-auth's messages may quote the token ("Wrong number of segments in token:
            # b'...'"), which could be a credential sent to the wrong place: only the reason.
            log.warning("refused an ID token: %s", str(exc).split(":")[0][:80])
            raise Unauthorized(REFUSED) from None
        self._check_claims(claims)
        return claims

    def _check_claims(self, claims: Mapping[str, Any]) -> None:
        problem = None
        if claims.get("iss") not in GOOGLE_ISSUERS:
            problem = "issuer"
        elif claims.get("aud") != self._policy.audience:
            problem = "audience"
        elif claims.get("email") not in self._policy.service_accounts:
            problem = "service account"
        elif claims.get("email_verified") is not True:
            problem = "unverified email"
        if problem is not None:
            log.warning("refused an ID token: wrong %s", problem)
            raise Unauthorized(REFUSED)
