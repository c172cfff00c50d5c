"""Request authentication, in constant time: bearer secrets and Standard Webhooks signatures."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Sequence

from functions.core import signatures
from functions.core.errors import Unauthorized
from functions.http.types import HttpRequest

log = logging.getLogger("functions.auth")

# One answer for every failed check, so a caller learns nothing about which one failed.
UNVERIFIED = "the request's signature could not be verified"


def require_bearer(authorization: str | None, secret: str) -> None:
    """Raise Unauthorized unless ``authorization`` is ``Bearer <secret>``; the message never
    echoes what was sent."""
    scheme, _, token = (authorization or "").partition(" ")
    presented = token.strip().encode("utf-8") if scheme.lower() == "bearer" else b""
    # compare_digest runs in time independent of where the first difference is.
    if not secret or not hmac.compare_digest(presented, secret.encode("utf-8")):
        raise Unauthorized("missing or wrong bearer secret")


def require_signature(
    request: HttpRequest, keys: Sequence[bytes], now: float, tolerance_s: float
) -> None:
    """Raise Unauthorized unless ``request`` carries a Standard Webhooks signature of its exact
    body by one of ``keys``, timestamped within ``tolerance_s`` of ``now``."""
    try:
        signatures.verify(
            keys,
            request.header("webhook-id"),
            request.header("webhook-timestamp"),
            request.header("webhook-signature"),
            request.body,
            now=now,
            tolerance_s=tolerance_s,
        )
    except signatures.SignatureError as exc:
        log.warning("rejected an unverified webhook call: %s", exc)
        raise Unauthorized(UNVERIFIED) from None
