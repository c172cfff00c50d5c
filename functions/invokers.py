"""Ways to start process_job without waiting for it: Lambda's async Invoke, or an HTTP call
made in the background (local functions-framework emulation)."""

from __future__ import annotations

import http.client
import json
import logging
import threading
import urllib.parse
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

    Each thread keeps one keep-alive connection, so a wake-up costs no TCP handshake. The call's
    outcome is only logged: like a lost async invocation, a failed one leaves the message in the
    queue for the sweeper.
    """

    def __init__(
        self, url: str, secret: str, max_in_flight: int = 16, timeout_s: float = 900
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"PROCESS_JOB_URL must be an http(s) URL, not {url!r}")
        self._parts = parts
        self._path = parts.path or "/"
        self._headers = {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {secret}",
        }
        self._timeout_s = timeout_s
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(max_in_flight, thread_name_prefix="invoke")

    def invoke(self, message: dict[str, Any]) -> None:
        self._pool.submit(self._post, message)

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            kind = (
                http.client.HTTPSConnection
                if self._parts.scheme == "https"
                else http.client.HTTPConnection
            )
            conn = kind(self._parts.hostname or "", self._parts.port, timeout=self._timeout_s)
            self._local.conn = conn
        return conn

    def _post(self, message: dict[str, Any]) -> None:
        body = json.dumps(message).encode("utf-8")
        # A kept-alive connection the server has since closed fails once; a fresh one is tried.
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request("POST", self._path, body=body, headers=self._headers)
                conn.getresponse().read()
                return
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    log.warning(
                        "process_job call for message %s failed: %s", message.get("msg_id"), exc
                    )
