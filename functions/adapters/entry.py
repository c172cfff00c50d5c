"""One deployable function: its handler is built on first use (once per cold start) and served
to both platforms."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from functions import logs
from functions.adapters import flask_adapter, lambda_adapter
from functions.http.types import Handler, HttpRequest, HttpResponse, response_for

if TYPE_CHECKING:
    import flask


class Entry:
    def __init__(self, build: Callable[[], Handler]) -> None:
        self._build = build
        self._handler: Handler | None = None
        self._lock = threading.Lock()

    def handler(self) -> Handler:
        if self._handler is None:
            with self._lock:
                if self._handler is None:
                    logs.configure()
                    self._handler = self._build()
        return self._handler

    def reset(self) -> None:
        """Build the handler afresh on next use (tests that change the environment)."""
        with self._lock:
            self._handler = None

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
