"""One deployable function: its handler is built once per process (functions.once) and served
to both platforms."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from functions import logs
from functions.adapters import flask_adapter, lambda_adapter
from functions.config import ConfigError
from functions.http.types import Handler, HttpRequest, HttpResponse, error_response
from functions.once import PerProcess

if TYPE_CHECKING:
    import flask

log = logging.getLogger("functions.entry")


def _logged(build: Callable[[], Handler]) -> Callable[[], Handler]:
    def build_with_logs() -> Handler:
        logs.configure()
        return build()

    return build_with_logs


class Entry:
    def __init__(self, build: Callable[[], Handler]) -> None:
        self._handler = PerProcess(_logged(build))

    def handler(self) -> Handler:
        return self._handler.get()

    def serve(self, request: HttpRequest | HttpResponse) -> HttpResponse:
        if isinstance(request, HttpResponse):
            return request
        try:
            handler = self.handler()
        except ConfigError as exc:
            # The detail (which setting, which parameter) is for the operator, not the caller.
            log.error("cannot start: %s", exc)
            return error_response(
                "misconfigured", "the function is misconfigured; see its logs", 503
            )
        return handler(request)

    def flask(self, request: flask.Request) -> tuple[bytes, int, dict[str, str]]:
        return flask_adapter.to_flask(self.serve(flask_adapter.to_request(request)))

    def lambda_http(self, event: dict[str, Any]) -> dict[str, Any]:
        return lambda_adapter.to_lambda(self.serve(lambda_adapter.to_request(event)))
