"""The webhook the database calls when a message is enqueued: verify, hand off, answer."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from functions.core import validation
from functions.core.errors import MethodNotAllowed, Unavailable
from functions.core.models import WakeUp
from functions.core.ports import Invoker
from functions.core.signatures import DEFAULT_TOLERANCE_S
from functions.http.auth import require_signature
from functions.http.types import HttpRequest, HttpResponse, guarded
from functions.tracing import Tracer, traceparent_of

log = logging.getLogger("functions.webhook")

# Wake-up ids remembered at most: about 1,000 wake-ups a minute for the 5-minute window.
MAX_REMEMBERED = 5000


class WebhookApi:
    def __init__(
        self,
        keys: Sequence[bytes],
        invoker: Invoker,
        tolerance_s: float = DEFAULT_TOLERANCE_S,
        clock: Callable[[], float] = time.time,
        tracer: Tracer | None = None,
    ) -> None:
        self._keys = tuple(keys)
        self._tracer = tracer or Tracer(on=False)
        self._invoker = invoker
        self._tolerance_s = tolerance_s
        self._clock = clock
        # Wake-ups this instance handed on, by id, within the signature's window: a replay of
        # one costs no invocation. The database refuses a second drain for it either way
        # (private.take_wake_up), across instances too.
        self._handed: dict[str, float] = {}
        self._handed_lock = threading.Lock()
        self.handle = guarded(self._handle)

    def _first_time(self, wake_id: str) -> bool:
        now = self._clock()
        with self._handed_lock:
            if len(self._handed) >= MAX_REMEMBERED:
                cutoff = now - self._tolerance_s
                self._handed = {k: at for k, at in self._handed.items() if at >= cutoff}
            if wake_id in self._handed:
                return False
            if len(self._handed) < MAX_REMEMBERED:
                self._handed[wake_id] = now
            return True

    def _handle(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            raise MethodNotAllowed("the webhook accepts POST only")
        # The signature covers the raw body, so it is checked before anything parses it.
        require_signature(request, self._keys, self._clock(), self._tolerance_s)
        wake_up = validation.parse_wake_up(
            validation.parse_json_body(request.body, request.header("content-type"))
        )
        if not self._first_time(wake_up.wake_id):
            log.info("%s seen before: a replay, not handed on", wake_up.wake_id)
            return HttpResponse(202, {"accepted": True, "wake_id": wake_up.wake_id, "replay": True})
        # The delivery span: the parent of the drain this wake-up starts, whichever way
        # process_job is invoked (the message carries it).
        with self._tracer.span(
            "wake-up delivery",
            traceparent_of(request.header("traceparent")),
            server=True,
            wake_id=wake_up.wake_id,
        ) as span:
            return self._hand_on(WakeUp(wake_up.wake_id, span.traceparent))

    def _hand_on(self, wake_up: WakeUp) -> HttpResponse:
        try:
            self._invoker.invoke(wake_up.to_json())
        except Exception as exc:
            with self._handed_lock:
                self._handed.pop(wake_up.wake_id, None)  # pg_net never retries, but a person may
            log.warning("invoking process_job failed for %s: %s", wake_up.wake_id, exc)
            raise Unavailable("could not invoke process_job; the sweep will wake one") from None
        log.info("%s handed to process_job", wake_up.wake_id)
        return HttpResponse(202, {"accepted": True, "wake_id": wake_up.wake_id})
