"""Hand-off to process_job through Google Cloud Tasks: one named HTTP task per wake-up, with an
OIDC token for process_job, created before the webhook answers (Cloud Run throttles the CPU of
an instance once its response is sent, so nothing may be left to do after it)."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("functions.cloud_tasks")

QUEUE_PATH = re.compile(r"projects/[^/]+/locations/[^/]+/queues/[A-Za-z0-9-]{1,100}")
# Cloud Tasks takes an HTTP task's dispatch deadline between 15 seconds and 30 minutes.
MIN_DISPATCH_DEADLINE_S = 15
MAX_DISPATCH_DEADLINE_S = 1800
# A create that failed on the server side is tried again within this many seconds in all, and
# no single try waits longer than CREATE_CALL_TIMEOUT_S: the last try starts before the budget
# ends, so the webhook answers within about 4.5 s, inside pg_net's 5-second timeout.
CREATE_BUDGET_S = 3.0
CREATE_CALL_TIMEOUT_S = 1.5
CREATE_MAX_BACKOFF_S = 1.0


def task_id(wake_id: str) -> str:
    """The task ID for the wake-up ``wake_id``: each wake-up the database sends has an id of its
    own, so a replay of it names the same task and Cloud Tasks refuses the second.

    Cloud Tasks spreads tasks by ID and asks for a hashed prefix (sequential IDs raise latency
    and error rates), so the readable part follows a hash of it.
    """
    digest = hashlib.sha256(wake_id.encode("ascii")).hexdigest()[:12]
    return f"{digest}-{wake_id}"


@dataclass(frozen=True)
class TaskTarget:
    """Where and as whom Cloud Tasks calls process_job."""

    queue: str  # projects/P/locations/L/queues/Q
    url: str  # process_job's URL, also the ID token's audience
    service_account_email: str  # the identity the OIDC token is minted for
    dispatch_deadline_s: int = MAX_DISPATCH_DEADLINE_S

    def __post_init__(self) -> None:
        if not QUEUE_PATH.fullmatch(self.queue):
            raise ValueError(
                "the Cloud Tasks queue must be projects/PROJECT/locations/LOCATION/queues/QUEUE,"
                f" not {self.queue!r}"
            )
        if not self.url.startswith(("https://", "http://")):
            raise ValueError(f"process_job's URL must be http(s), not {self.url!r}")
        if "@" not in self.service_account_email:
            raise ValueError("the OIDC service account must be an email address")
        if not MIN_DISPATCH_DEADLINE_S <= self.dispatch_deadline_s <= MAX_DISPATCH_DEADLINE_S:
            raise ValueError(
                f"the dispatch deadline must be {MIN_DISPATCH_DEADLINE_S}-"
                f"{MAX_DISPATCH_DEADLINE_S} s, not {self.dispatch_deadline_s}"
            )


def tasks_client(endpoint: str | None = None) -> Any:
    """A Cloud Tasks client on the REST transport (no gRPC channel to set up at cold start).

    ``endpoint`` (``CLOUD_TASKS_ENDPOINT``) points it at a stand-in or emulator, which, as
    Google's emulators do, is called without credentials.
    """
    # Imported here, so neither submit nor process_job ever loads the client library.
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import tasks_v2

    if endpoint:
        return tasks_v2.CloudTasksClient(
            transport="rest",
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options=ClientOptions(api_endpoint=endpoint),
        )
    return tasks_v2.CloudTasksClient(transport="rest")


def _already_exists(exc: Exception) -> bool:
    """Whether Cloud Tasks refused the task because one of its name exists or ran recently.

    Over gRPC that is AlreadyExists; over REST every 409 is a Conflict, and only the error's
    status tells ALREADY_EXISTS from ABORTED (a concurrent change, worth another try).
    """
    from google.api_core import exceptions

    if isinstance(exc, exceptions.AlreadyExists):
        return True
    if not isinstance(exc, exceptions.Conflict):
        return False
    response = getattr(exc, "response", None)
    try:
        status = json.loads(response.content)["error"]["status"] if response is not None else ""
    except (ValueError, KeyError, TypeError, AttributeError):
        return False
    return bool(status == "ALREADY_EXISTS")


class CloudTasksInvoker:
    """Creates one named HTTP task per wake-up and returns once Cloud Tasks holds it.

    A create that fails on the server side (5xx, 429, ABORTED, a timeout) is tried again with
    backoff within CREATE_BUDGET_S; a try that meets ALREADY_EXISTS succeeded (an earlier try
    or a duplicate wake-up made the task). What still fails is raised, and the webhook answers
    503: the database's call fails visibly and the sweep wakes a worker.
    """

    def __init__(
        self,
        target: TaskTarget,
        client: Any | None = None,
        endpoint: str | None = None,
    ) -> None:
        self._target = target
        self._client = client
        self._endpoint = endpoint

    def _tasks(self) -> Any:
        if self._client is None:
            self._client = tasks_client(self._endpoint)
        return self._client

    def task_for(self, message: dict[str, Any]) -> dict[str, Any]:
        """The task (as the client's dict form) that wakes process_job for ``message``."""
        return {
            "name": f"{self._target.queue}/tasks/{task_id(str(message['wake_id']))}",
            "http_request": {
                "url": self._target.url,
                "http_method": "POST",
                "headers": {"Content-Type": "application/json"},
                "body": json.dumps(message).encode("utf-8"),
                "oidc_token": {
                    "service_account_email": self._target.service_account_email,
                    "audience": self._target.url,
                },
            },
            "dispatch_deadline": {"seconds": self._target.dispatch_deadline_s},
        }

    def invoke(self, message: dict[str, Any]) -> None:
        import requests
        from google.api_core import exceptions, retry

        task = self.task_for(message)
        transient = retry.if_exception_type(
            exceptions.ServerError,
            exceptions.TooManyRequests,
            exceptions.DeadlineExceeded,
            exceptions.Aborted,
            # A 409 that is not ALREADY_EXISTS (ABORTED over REST) passes on a second try.
            exceptions.Conflict,
            # The REST transport lets the HTTP library's own errors through unwrapped.
            requests.ConnectionError,
            requests.Timeout,
        )
        policy = retry.Retry(
            predicate=lambda exc: transient(exc) and not _already_exists(exc),
            initial=0.1,
            maximum=CREATE_MAX_BACKOFF_S,
            multiplier=2.0,
            timeout=CREATE_BUDGET_S,
        )
        try:
            self._tasks().create_task(
                request={"parent": self._target.queue, "task": task},
                retry=policy,
                timeout=CREATE_CALL_TIMEOUT_S,
            )
        except Exception as exc:
            if not _already_exists(exc):
                raise
            log.info("task %s exists already: this wake-up was handed off", task["name"])
