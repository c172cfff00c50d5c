"""API Gateway HTTP API (payload format 2.0) events to our types and back."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from functions.core.errors import InvalidInput
from functions.http.types import HttpRequest, HttpResponse


def to_request(event: dict[str, Any]) -> HttpRequest:
    """Our request; InvalidInput when the event's body is not what it claims to be. The body
    size rule is validation's (API Gateway has already capped the event at 10 MB)."""
    http = event.get("requestContext", {}).get("http", {})
    raw_body = event.get("body") or ""
    try:
        body = (
            base64.b64decode(raw_body, validate=True)
            if event.get("isBase64Encoded")
            else raw_body.encode("utf-8")
        )
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise InvalidInput("the request body could not be decoded") from None
    return HttpRequest(
        method=str(http.get("method", "GET")).upper(),
        path=str(event.get("rawPath") or http.get("path") or "/"),
        headers={str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()},
        query={str(k): str(v) for k, v in (event.get("queryStringParameters") or {}).items()},
        body=body,
    )


def to_lambda(response: HttpResponse) -> dict[str, Any]:
    return {
        "statusCode": response.status,
        "headers": response.all_headers(),
        "body": response.encoded_body().decode("utf-8"),
        "isBase64Encoded": False,
    }


def is_http_event(event: Any) -> bool:
    return isinstance(event, dict) and "requestContext" in event and "rawPath" in event
