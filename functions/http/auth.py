"""Bearer-secret checks, in constant time."""

from __future__ import annotations

import hmac

from functions.core.errors import Unauthorized


def require_bearer(authorization: str | None, secret: str) -> None:
    """Raise Unauthorized unless ``authorization`` is ``Bearer <secret>``; the message never
    echoes what was sent."""
    scheme, _, token = (authorization or "").partition(" ")
    presented = token.strip().encode("utf-8") if scheme.lower() == "bearer" else b""
    # compare_digest runs in time independent of where the first difference is.
    if not secret or not hmac.compare_digest(presented, secret.encode("utf-8")):
        raise Unauthorized("missing or wrong bearer secret")
