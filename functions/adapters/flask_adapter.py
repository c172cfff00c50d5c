"""functions-framework hands a Flask request to each target; map it to and from our types."""

from __future__ import annotations

from typing import TYPE_CHECKING

from functions.core.defaults import MAX_BODY_BYTES
from functions.http.types import HttpRequest, HttpResponse

if TYPE_CHECKING:
    import flask


def to_request(request: flask.Request) -> HttpRequest:
    """Our request. The body is read to at most one byte past the limit, never whole: that is
    enough for validation to refuse it (413) with the API's own headers."""
    return HttpRequest(
        method=request.method,
        path=request.path,
        headers={k.lower(): v for k, v in request.headers.items()},
        # Repeated parameters joined as API Gateway v2 joins them, so both platforms agree.
        query={k: ",".join(request.args.getlist(k)) for k in request.args},
        body=request.stream.read(MAX_BODY_BYTES + 1),
    )


def to_flask(response: HttpResponse) -> tuple[bytes, int, dict[str, str]]:
    return response.encoded_body(), response.status, response.all_headers()
