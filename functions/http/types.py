"""Framework-free HTTP request and response values, and the one place errors become responses."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from functions.core import errors

log = logging.getLogger("functions.http")

STATUS_FOR_ERROR: dict[type[errors.JobSystemError], int] = {
    errors.InvalidInput: 400,
    errors.Unauthorized: 401,
    errors.NotFound: 404,
    errors.MethodNotAllowed: 405,
    errors.PayloadTooLarge: 413,
    errors.UnsupportedMediaType: 415,
    errors.Unavailable: 503,
}


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    headers: Mapping[str, str]  # keys lower-cased by the adapter
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


def error_response(code: str, message: str, status: int) -> HttpResponse:
    return HttpResponse(status, {"error": {"code": code, "message": message}})


Handler = Callable[[HttpRequest], HttpResponse]


def guarded(handler: Handler) -> Handler:
    """Run ``handler``; a JobSystemError becomes its JSON error, anything else a 500 that
    carries no detail (the traceback goes to the log, never to the caller)."""

    def run(request: HttpRequest) -> HttpResponse:
        try:
            return handler(request)
        except errors.JobSystemError as exc:
            return error_response(exc.code, exc.message, STATUS_FOR_ERROR.get(type(exc), 500))
        except Exception:
            log.exception("unhandled error for %s %s", request.method, request.path)
            return error_response("internal", "an internal error occurred", 500)

    return run
