"""The webhook the database calls when a message is enqueued: verify, hand off, answer."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from functions.core import validation
from functions.core.errors import MethodNotAllowed, Unavailable
from functions.core.ports import Invoker
from functions.core.signatures import DEFAULT_TOLERANCE_S
from functions.http.auth import require_signature
from functions.http.types import HttpRequest, HttpResponse, guarded

log = logging.getLogger("functions.webhook")


class WebhookApi:
    def __init__(
        self,
        keys: Sequence[bytes],
        invoker: Invoker,
        tolerance_s: float = DEFAULT_TOLERANCE_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = tuple(keys)
        self._invoker = invoker
        self._tolerance_s = tolerance_s
        self._clock = clock
        self.handle = guarded(self._handle)

    def _handle(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            raise MethodNotAllowed("the webhook accepts POST only")
        # The signature covers the raw body, so it is checked before anything parses it.
        require_signature(request, self._keys, self._clock(), self._tolerance_s)
        wake_up = validation.parse_wake_up(
            validation.parse_json_body(request.body, request.header("content-type"))
        )
        try:
            self._invoker.invoke(wake_up.to_json())
        except Exception as exc:
            log.warning("invoking process_job failed for %s: %s", wake_up.wake_id, exc)
            raise Unavailable("could not invoke process_job; the sweep will wake one") from None
        log.info("%s handed to process_job", wake_up.wake_id)
        return HttpResponse(202, {"accepted": True, "wake_id": wake_up.wake_id})
