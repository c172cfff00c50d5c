"""process_job over HTTP (local functions-framework emulation of an async invocation)."""

from __future__ import annotations

from collections.abc import Callable

from functions.core.errors import MethodNotAllowed
from functions.core.worker import DrainReport
from functions.http.auth import require_bearer
from functions.http.types import HttpRequest, HttpResponse, guarded


class ProcessJobApi:
    def __init__(self, secret: str, drain: Callable[[], DrainReport]) -> None:
        self._secret = secret
        self._drain = drain
        self.handle = guarded(self._handle)

    def _handle(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            raise MethodNotAllowed("process_job accepts POST only")
        require_bearer(request.header("authorization"), self._secret)
        # The body (a wake-up) is not needed: any invocation drains whatever is visible.
        return HttpResponse(200, self._drain().to_json())
