"""functions-framework hands a Flask request to each target; map it to and from our types."""

from __future__ import annotations

from typing import TYPE_CHECKING

from functions.core.validation import MAX_BODY_BYTES
from functions.http.types import HttpRequest, HttpResponse, error_response

if TYPE_CHECKING:
    import flask


def to_request(request: flask.Request) -> HttpRequest | HttpResponse:
    """Our request, or a 413 response when the body is over the limit (never read whole)."""
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        return error_response(
            "payload_too_large", f"the body is {length} bytes; the limit is {MAX_BODY_BYTES}", 413
        )
    body = request.stream.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return error_response(
            "payload_too_large", f"the body is over the limit of {MAX_BODY_BYTES} bytes", 413
        )
    return HttpRequest(
        method=request.method,
        path=request.path,
        headers={k.lower(): v for k, v in request.headers.items()},
        query={k: v for k, v in request.args.items()},
        body=body,
    )


def to_flask(response: HttpResponse) -> tuple[bytes, int, dict[str, str]]:
    return response.encoded_body(), response.status, response.all_headers()
