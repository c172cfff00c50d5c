"""API Gateway HTTP API (payload format 2.0) events to our types and back."""

from __future__ import annotations

import base64
from typing import Any

from functions.core.validation import MAX_BODY_BYTES
from functions.http.types import HttpRequest, HttpResponse, error_response


def to_request(event: dict[str, Any]) -> HttpRequest | HttpResponse:
    http = event.get("requestContext", {}).get("http", {})
    raw_body = event.get("body") or ""
    body = base64.b64decode(raw_body) if event.get("isBase64Encoded") else raw_body.encode("utf-8")
    if len(body) > MAX_BODY_BYTES:
        return error_response(
            "payload_too_large",
            f"the body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}",
            413,
        )
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
