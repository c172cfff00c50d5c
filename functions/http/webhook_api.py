"""The webhook the database calls when a message is enqueued: check, hand off, answer."""

from __future__ import annotations

import logging

from functions.core import validation
from functions.core.errors import MethodNotAllowed, Unavailable
from functions.core.ports import Invoker
from functions.http.auth import require_bearer
from functions.http.types import HttpRequest, HttpResponse, guarded

log = logging.getLogger("functions.webhook")


class WebhookApi:
    def __init__(self, secret: str, invoker: Invoker) -> None:
        self._secret = secret
        self._invoker = invoker
        self.handle = guarded(self._handle)

    def _handle(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            raise MethodNotAllowed("the webhook accepts POST only")
        require_bearer(request.header("authorization"), self._secret)
        wake_up = validation.parse_wake_up(
            validation.parse_json_body(request.body, request.header("content-type"))
        )
        try:
            self._invoker.invoke(wake_up.to_json())
        except Exception as exc:
            log.warning("invoking process_job failed for message %s: %s", wake_up.msg_id, exc)
            raise Unavailable("could not invoke process_job; the sweeper will pick it up") from None
        log.info("job %s: message %s handed to process_job", wake_up.job_id, wake_up.msg_id)
        return HttpResponse(202, {"accepted": True, "msg_id": wake_up.msg_id})
