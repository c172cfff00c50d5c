"""One deployable function: its handler is built once per process (functions.once) and served
to both platforms."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from functions import logs
from functions.adapters import flask_adapter, lambda_adapter
from functions.http.types import Handler, HttpRequest, HttpResponse, response_for
from functions.once import PerProcess

if TYPE_CHECKING:
    import flask


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

    def serve(self, read: Callable[[], HttpRequest]) -> HttpResponse:
        """The handler's response to the request ``read`` gives; what building the handler or
        reading the request raises (ConfigError, an adapter's typed error) goes through the
        same mapper as the handler's own errors."""
        try:
            return self.handler()(read())
        except Exception as exc:
            return response_for(exc)

    def flask(self, request: flask.Request) -> tuple[bytes, int, dict[str, str]]:
        return flask_adapter.to_flask(self.serve(lambda: flask_adapter.to_request(request)))

    def lambda_http(self, event: dict[str, Any]) -> dict[str, Any]:
        return lambda_adapter.to_lambda(self.serve(lambda: lambda_adapter.to_request(event)))
