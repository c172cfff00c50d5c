"""Framework-free HTTP request and response values, and the one place errors become responses."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from functions.config import ConfigError
from functions.core import errors

log = logging.getLogger("functions.http")

STATUS_FOR_ERROR: dict[type[errors.JobSystemError], int] = {
    errors.InvalidInput: 400,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.MethodNotAllowed: 405,
    errors.IdempotencyKeyInFlight: 409,
    errors.WrongJobState: 409,
    errors.NameTaken: 409,
    errors.JobsChanged: 409,
    errors.PayloadTooLarge: 413,
    errors.UnsupportedMediaType: 415,
    errors.IdempotencyKeyReused: 422,
    errors.Misconfigured: 503,
    errors.Unavailable: 503,
}


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    headers: Mapping[str, str]  # keys lower-cased by the adapter
    # A parameter given more than once arrives as its values joined by "," (as API Gateway
    # v2 passes it), so a repeated parameter is malformed rather than silently the first.
    query: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def encoded_body(self) -> bytes:
        return b"" if self.body is None else json.dumps(self.body).encode("utf-8")

    def all_headers(self) -> dict[str, str]:
        base = {"Content-Type": "application/json"} if self.body is not None else {}
        return {**base, **self.headers}

    def with_headers(self, headers: Mapping[str, str]) -> HttpResponse:
        return HttpResponse(self.status, self.body, {**self.headers, **headers})


def error_response(code: str, message: str, status: int, field: str | None = None) -> HttpResponse:
    error = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return HttpResponse(status, {"error": error})


def _status_for(error: errors.JobSystemError) -> int:
    for kind in type(error).__mro__:
        if kind in STATUS_FOR_ERROR:
            return STATUS_FOR_ERROR[kind]
    return 500


def response_for(exc: Exception, request: HttpRequest | None = None) -> HttpResponse:
    """The response for an error raised anywhere while serving: a JobSystemError becomes its
    JSON error with a one-line log; anything else a 500 that carries no detail (the traceback
    goes to the log, never to the caller)."""
    where = f"{request.method} {request.path[:100]}" if request else "request"
    if isinstance(exc, ConfigError):
        # The detail (which setting, which parameter) is for the operator, not the caller.
        log.error("cannot start: %s", exc)
        exc = errors.Misconfigured("the function is misconfigured; see its logs")
    if isinstance(exc, errors.JobSystemError):
        status = _status_for(exc)
        level = logging.WARNING if status >= 500 else logging.INFO
        log.log(level, "%s -> %d %s: %s", where, status, exc.code, exc.message[:200])
        return error_response(exc.code, exc.message, status, exc.field)
    log.exception("unhandled error for %s", where)
    return error_response("internal", "an internal error occurred", 500)


Handler = Callable[[HttpRequest], HttpResponse]


def respond(
    handler: Handler, request: HttpRequest, headers: Mapping[str, str] | None = None
) -> HttpResponse:
    """``handler``'s response, or the one for what it raised; ``headers`` (CORS, for one) go
    on either."""
    try:
        response = handler(request)
    except Exception as exc:
        response = response_for(exc, request)
    return response.with_headers(headers) if headers else response


def guarded(handler: Handler, headers: Mapping[str, str] | None = None) -> Handler:
    """``handler`` made total: every response it gives, errors included, through ``respond``."""

    def run(request: HttpRequest) -> HttpResponse:
        return respond(handler, request, headers)

    return run
