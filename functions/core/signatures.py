"""Standard Webhooks signatures (https://www.standardwebhooks.com): sign and verify, pure.

A message is signed as ``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`` with a secret
written ``whsec_<base64 key>``. The ``webhook-signature`` header is a space-separated list, so a
sender can sign with an old and a new key during a rotation and a receiver can accept either.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Iterable, Sequence

SECRET_PREFIX = "whsec_"  # noqa: S105  # the format's marker, not a secret
VERSION = "v1"
# The specification's bounds for a symmetric key: 24 to 64 bytes.
MIN_KEY_BYTES, MAX_KEY_BYTES = 24, 64
DEFAULT_TOLERANCE_S = 300.0
# Bounds on what a caller may make us parse and hash; far above any honest request.
MAX_ID_CHARS = 256
MAX_SIGNATURES = 16


class SignatureError(Exception):
    """The request is not signed by a key we hold, or not within the tolerance window.

    The reason is for logs and tests only; callers answer every case the same way.
    """


def parse_secret(secret: str) -> bytes:
    """The key inside ``whsec_<base64>``; ValueError names what is wrong, never the value."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret starts with {SECRET_PREFIX!r}")
    encoded = secret[len(SECRET_PREFIX) :]
    try:
        # Unpadded base64 is accepted, as the reference libraries do.
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook secret is whsec_ followed by standard base64") from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise ValueError(
            f"a webhook secret's key is {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes, not {len(key)}"
        )
    return key


def parse_secrets(raw: str) -> tuple[bytes, ...]:
    """Every key in a whitespace- or comma-separated list of secrets (old and new in a
    rotation); ValueError when the list is empty or any secret is malformed."""
    parts = raw.replace(",", " ").split()
    if not parts:
        raise ValueError("no webhook secret given")
    return tuple(parse_secret(part) for part in parts)


def generate_secret(key_bytes: int = 32) -> str:
    """A new random secret in ``whsec_`` form."""
    return SECRET_PREFIX + base64.b64encode(os.urandom(key_bytes)).decode("ascii")


def _mac(key: bytes, msg_id: str, timestamp: str, body: bytes) -> bytes:
    signed = msg_id.encode("utf-8") + b"." + timestamp.encode("ascii") + b"." + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def sign(keys: Iterable[bytes], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value: one ``v1`` signature per key."""
    return " ".join(
        f"{VERSION},{base64.b64encode(_mac(key, msg_id, str(timestamp), body)).decode('ascii')}"
        for key in keys
    )


def _presented(header: str) -> list[bytes]:
    found = []
    for entry in header.split(" ")[:MAX_SIGNATURES]:
        version, comma, encoded = entry.partition(",")
        if version != VERSION or not comma:
            continue  # another scheme (v1a) or noise: not ours to check
        try:
            found.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    return found


def verify(
    keys: Sequence[bytes],
    msg_id: str | None,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> None:
    """Return if ``signature`` holds a ``v1`` signature of ``body`` by one of ``keys`` and
    ``timestamp`` is within ``tolerance_s`` of ``now`` (either side); else SignatureError."""
    if not keys:
        raise SignatureError("no key configured")
    if not msg_id or not timestamp or not signature:
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    if len(msg_id) > MAX_ID_CHARS:
        raise SignatureError("webhook-id too long")
    # Integer seconds only (the specification's form), so "+1e3" or " 12" never parses.
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise SignatureError("webhook-timestamp is not integer seconds")
    if abs(now - int(timestamp)) > tolerance_s:
        raise SignatureError("webhook-timestamp outside the tolerance window")
    expected = [_mac(key, msg_id, timestamp, body) for key in keys]
    matched = False
    for candidate in _presented(signature):
        for mac in expected:
            # Every pair is compared, so the time taken does not tell which key matched.
            matched |= hmac.compare_digest(candidate, mac)
    if not matched:
        raise SignatureError("no matching signature")
