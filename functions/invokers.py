"""Ways to start process_job without waiting for it: Lambda's async Invoke, or an HTTP call
made in the background (local functions-framework emulation). Both retry what may pass on a
second try (a refused connection, a 5xx, a 429 or AWS throttling) a few times with backoff."""

from __future__ import annotations

import http.client
import json
import logging
import random
import threading
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("functions.invokers")

# Lambda: botocore's "standard" retry mode retries throttling (TooManyRequestsException,
# EC2ThrottledException...), 500/502/503/504 and connection errors with jittered exponential
# backoff (up to 1 s, then 2 s for throttling), and stops early when its retry quota is spent.
# Three attempts with short timeouts keep the webhook's answer inside pg_net's 5 s timeout in the
# usual case; a call that still fails is raised, and the webhook answers 503.
LAMBDA_MAX_ATTEMPTS = 3  # the first call included
LAMBDA_CONNECT_TIMEOUT_S = 1
LAMBDA_READ_TIMEOUT_S = 3


def retryable_status(status: int) -> bool:
    """A status worth another try: the server is overloaded, restarting or briefly unable."""
    return status == 429 or status >= 500


@dataclass(frozen=True)
class RetrySchedule:
    """The pauses before each retry of a failed call: ``len(pauses_s) + 1`` tries in all.

    Each pause is scaled by a random factor in [0.5, 1) so that the wake-ups failed by one
    database restart do not all come back in the same instant.
    """

    pauses_s: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0)

    def pause(self, failed_tries: int, rand: Callable[[], float] = random.random) -> float | None:
        """How long to wait after ``failed_tries`` failures; None when no try is left."""
        if failed_tries > len(self.pauses_s):
            return None
        return self.pauses_s[failed_tries - 1] * (0.5 + rand() / 2)

    @property
    def tries(self) -> int:
        return len(self.pauses_s) + 1


def lambda_client(**options: Any) -> Any:
    """A Lambda client with the retry and timeout settings above (``options``: region, endpoint)."""
    import boto3  # only here, so the webhook's cold start does not pay for it elsewhere
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "total_max_attempts": LAMBDA_MAX_ATTEMPTS},
        connect_timeout=LAMBDA_CONNECT_TIMEOUT_S,
        read_timeout=LAMBDA_READ_TIMEOUT_S,
    )
    return boto3.client("lambda", config=config, **options)


class LambdaInvoker:
    """``Invoke`` with ``InvocationType="Event"``: Lambda queues it and answers 202 at once.

    The call is short, so it is made (and retried, see LAMBDA_MAX_ATTEMPTS) while the webhook
    waits: one that still fails raises, the webhook answers 503, and pg_net records the failure.
    """

    def __init__(self, function_name: str, client: Any | None = None) -> None:
        self._function_name = function_name
        self._client = client

    def _lambda(self) -> Any:
        if self._client is None:
            self._client = lambda_client()
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

    process_job answers only when its drain ends (minutes, for long tasks), so its status
    cannot be the webhook's answer: the webhook answers 202 at once, and the background thread
    retries a call that failed (connection error, 5xx, 429: process_job answers 503 while its
    database is restarting) on ``schedule``, then logs an error naming the message and leaves it
    to the sweeper. Each thread keeps one keep-alive connection, so a wake-up costs no TCP
    handshake.
    """

    def __init__(
        self,
        url: str,
        secret: str,
        max_in_flight: int = 64,
        timeout_s: float = 900,
        schedule: RetrySchedule | None = None,
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
        self._schedule = schedule or RetrySchedule()
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(max_in_flight, thread_name_prefix="invoke")

    def invoke(self, message: dict[str, Any]) -> None:
        self._pool.submit(self._post, message)

    def close(self) -> None:
        """Wait for the calls (and their retries) under way, then stop the threads."""
        self._pool.shutdown(wait=True)

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
        msg_id = message.get("wake_id")
        failed = 0
        while True:
            problem = self._try(body)
            if problem is None:
                if failed:
                    log.info("process_job call for %s answered on try %d", msg_id, failed + 1)
                return
            failed += 1
            pause = self._schedule.pause(failed)
            if pause is None:
                log.error(
                    "process_job call for %s failed %d times (last: %s); the sweep will wake"
                    " a worker",
                    msg_id,
                    failed,
                    problem,
                )
                return
            log.warning(
                "process_job call for %s failed (%s); retrying in %.2fs",
                msg_id,
                problem,
                pause,
            )
            time.sleep(pause)  # this is the background thread: the webhook has answered

    def _try(self, body: bytes) -> str | None:
        """One call; None when it went through, else what went wrong (a status or an error)."""
        for _ in (1, 2):
            reused = getattr(self._local, "conn", None) is not None
            conn = self._connection()
            try:
                conn.request("POST", self._path, body=body, headers=self._headers)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                self._local.conn = None
                if reused:
                    continue  # a kept-alive connection the server had closed: a fresh one, now
                return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if retryable_status(response.status):
                return f"HTTP {response.status}"
            if response.status >= 400:
                # 4xx (a wrong secret, say) will not pass on a retry: said once, loudly.
                log.error("process_job refused the call with HTTP %d", response.status)
            return None
        return "the connection closed twice"
