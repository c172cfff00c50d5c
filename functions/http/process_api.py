"""process_job over HTTP: the local functions-framework emulation of an async invocation, and
the Google Cloud target Cloud Tasks and Cloud Scheduler call."""

from __future__ import annotations

from collections.abc import Callable

from functions.core import validation
from functions.core.errors import MethodNotAllowed
from functions.core.models import DrainReport, WakeUp
from functions.http.auth import require_bearer
from functions.http.types import HttpRequest, HttpResponse, guarded


class ProcessJobApi:
    def __init__(
        self,
        secret: str,
        drain: Callable[[WakeUp | None], DrainReport],
        authorize: Callable[[str | None], object] | None = None,
    ) -> None:
        """``authorize`` checks the ``Authorization`` header instead of the bearer ``secret``
        (on Google Cloud: an ID token); it raises Unauthorized to refuse."""
        self._secret = secret
        self._drain = drain
        self._authorize = authorize
        self.handle = guarded(self._handle)

    def _handle(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            raise MethodNotAllowed("process_job accepts POST only")
        if self._authorize is not None:
            self._authorize(request.header("authorization"))
        else:
            require_bearer(request.header("authorization"), self._secret)
        return HttpResponse(200, self._drain(wake_up_of(request)).to_json())


def wake_up_of(request: HttpRequest) -> WakeUp | None:
    """The wake-up this invocation answers (honoured once), or None for a direct call (no body,
    or an object naming no wake-up: a scheduler's) that drains whatever is visible."""
    if not request.body.strip():
        return None
    body = validation.parse_json_body(request.body, request.header("content-type"))
    if isinstance(body, dict) and "wake_id" not in body:
        return None
    return validation.parse_wake_up(body)
