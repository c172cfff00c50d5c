"""Ways to start process_job without waiting for it: Lambda's async Invoke, or an HTTP call
made in the background (local functions-framework emulation)."""

from __future__ import annotations

import json
import logging
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger("functions.invokers")


class LambdaInvoker:
    """``Invoke`` with ``InvocationType="Event"``: Lambda queues it and answers 202 at once."""

    def __init__(self, function_name: str, client: Any | None = None) -> None:
        self._function_name = function_name
        self._client = client

    def _lambda(self) -> Any:
        if self._client is None:
            import boto3  # only here, so the webhook's cold start does not pay for it elsewhere

            self._client = boto3.client("lambda")
        return self._client

    def invoke(self, message: dict[str, Any]) -> None:
        response = self._lambda().invoke(
            FunctionName=self._function_name,
            InvocationType="Event",
            Payload=json.dumps(message).encode("utf-8"),
        )
        status = response.get("StatusCode")
        if status != 202:
            raise RuntimeError(f"Lambda answered {status} to an Event invocation")


class HttpInvoker:
    """POSTs the message to process_job's URL from a background thread and returns at once.

    The call's outcome is only logged: like a lost async invocation, a failed one leaves the
    message in the queue for the sweeper.
    """

    def __init__(
        self, url: str, secret: str, max_in_flight: int = 16, timeout_s: float = 900
    ) -> None:
        self._url = url
        self._secret = secret
        self._timeout_s = timeout_s
        self._pool = ThreadPoolExecutor(max_in_flight, thread_name_prefix="invoke")

    def invoke(self, message: dict[str, Any]) -> None:
        self._pool.submit(self._post, message)

    def _post(self, message: dict[str, Any]) -> None:
        request = urllib.request.Request(  # noqa: S310  # the URL is our own configuration
            self._url,
            data=json.dumps(message).encode("utf-8"),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self._secret}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310
                response.read()
        except Exception as exc:
            log.warning("process_job call for message %s failed: %s", message.get("msg_id"), exc)
