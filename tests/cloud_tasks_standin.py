"""A stand-in for Google Cloud Tasks on loopback: the REST ``CreateTask`` call as the Cloud Tasks
API v2 answers it, and the dispatch of each HTTP task as Cloud Tasks makes it, with an OIDC ID
token signed by a key whose certificates the same server publishes (Google's v1 certs format).

What it holds to, from the API reference and the client's REST transport:
- ``POST /v2/{parent=projects/*/locations/*/queues/*}/tasks`` with ``{"task": ...}``; the queue
  must exist (404 NOT_FOUND); a task name must be ``{parent}/tasks/{id}`` with an ID of
  letters, digits, ``-`` and ``_`` (at most 500), or the call is refused (400 INVALID_ARGUMENT).
- A name in use, or used by a task that ran or was deleted (Cloud Tasks keeps the ID for up to
  24 hours), is refused with 409 ALREADY_EXISTS.
- An HTTP task needs a URL (http or https, at most 2083 characters); a body only with POST, PUT
  or PATCH; an OIDC token needs a service account email; its audience defaults to the URL; the
  dispatch deadline must be 15 s to 30 min (default 10 min).
- Errors are ``{"error": {"code", "message", "status"}}``; a created task is answered in the
  BASIC view (no body).
- Dispatch: the task's headers (Content-Type defaults to application/octet-stream), the
  ``X-CloudTasks-*`` headers, ``User-Agent: Google-Cloud-Tasks`` and ``Authorization: Bearer``
  the ID token; a 2xx within the dispatch deadline ends the task, anything else is retried
  with backoff until the queue's attempts run out (then the task is dropped: no dead letters).

Not modelled: the caller's own credentials (the invoker uses anonymous ones against a stand-in,
as with Google's emulators), rate limits, schedule times in the future.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.google_tokens import SigningKey, id_token_claims, make_key

TASKS_PATH = re.compile(r"/v2/(projects/[^/]+/locations/[^/]+/queues/[^/]+)/tasks")
TASK_ID = re.compile(r"[A-Za-z0-9_-]{1,500}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
DURATION = re.compile(r"(\d+)(?:\.(\d{1,9}))?s")
# google.cloud.tasks.v2.HttpMethod, as the REST transport sends enums (as numbers).
METHODS = {1: "POST", 2: "GET", 3: "HEAD", 4: "PUT", 5: "DELETE", 6: "PATCH", 7: "OPTIONS"}
BODY_METHODS = {"POST", "PUT", "PATCH"}
CERTS_PATH = "/oauth2/v1/certs"


class ApiError(Exception):
    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.code, self.status, self.message = code, status, message


@dataclass
class Dispatch:
    """One attempt of one task."""

    task: str
    status: int  # 0: no answer (connection refused, or past the dispatch deadline)
    headers: dict[str, str]


@dataclass
class Queue:
    max_attempts: int = 3
    min_backoff_s: float = 0.05


@dataclass
class StandIn:
    key: SigningKey
    queues: dict[str, Queue] = field(default_factory=dict)
    created: list[dict[str, Any]] = field(default_factory=list)  # each CreateTask body
    dispatches: list[Dispatch] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    # Scripted answers to the next CreateTask calls: (status code, status, created anyway).
    faults: list[tuple[int, str, bool]] = field(default_factory=list)
    calls: int = 0  # every POST, refused or not
    requests: int = 0  # CreateTask calls past validation
    certs_fetches: int = 0
    certs_status: int = 200
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    pending: int = 0  # tasks created and not yet done or dropped
    _threads: list[threading.Thread] = field(default_factory=list)
    _stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def certs_url(self) -> str:
        return self.endpoint + CERTS_PATH

    def add_queue(self, path: str, **settings: Any) -> str:
        self.queues[path] = Queue(**settings)
        return path

    def fail_next(self, code: int, status: str, times: int = 1, created: bool = False) -> None:
        """Answer the next ``times`` CreateTask calls with this error; ``created``: make the
        task first, as when the answer is lost on its way back."""
        with self.lock:
            self.faults.extend([(code, status, created)] * times)

    def idle(self) -> bool:
        with self.lock:
            return self.pending == 0

    def snapshot(self) -> list[Dispatch]:
        with self.lock:
            return list(self.dispatches)

    # -- CreateTask -------------------------------------------------------------------------

    def create(self, path: str, document: Any) -> dict[str, Any]:
        match = TASKS_PATH.fullmatch(path)
        if match is None:
            raise ApiError(404, "NOT_FOUND", f"no such method {path}")
        parent = match.group(1)
        if parent not in self.queues:
            raise ApiError(404, "NOT_FOUND", "Requested entity was not found.")
        if not isinstance(document, dict) or not isinstance(document.get("task"), dict):
            raise ApiError(400, "INVALID_ARGUMENT", "task is required")
        task = document["task"]
        name = task.get("name") or f"{parent}/tasks/{uuid.uuid4().int % 10**19}"
        prefix = f"{parent}/tasks/"
        if not name.startswith(prefix) or not TASK_ID.fullmatch(name[len(prefix) :]):
            raise ApiError(400, "INVALID_ARGUMENT", f"Task name is invalid: {name!r}")
        http = _http_request(task)
        deadline_s = _deadline(task.get("dispatchDeadline", "600s"))
        with self.lock:
            self.requests += 1
            fault = self.faults.pop(0) if self.faults else None
            if fault is not None and not fault[2]:
                raise ApiError(fault[0], fault[1], "scripted failure")
            if name in self.names:
                raise ApiError(409, "ALREADY_EXISTS", "Requested entity already exists")
            self.names.add(name)
            self.created.append(document)
            self.pending += 1
        queue = self.queues[parent]
        thread = threading.Thread(
            target=self._dispatch, args=(name, parent, queue, http, deadline_s), daemon=True
        )
        self._threads.append(thread)
        thread.start()
        if fault is not None:
            raise ApiError(fault[0], fault[1], "scripted failure after the task was made")
        basic = {k: v for k, v in task.items() if k != "httpRequest"}
        return {
            **basic,
            "name": name,
            "createTime": _now(),
            "scheduleTime": _now(),
            "dispatchDeadline": f"{deadline_s}s",
            "view": "BASIC",
        }

    # -- dispatch ---------------------------------------------------------------------------

    def _dispatch(
        self, name: str, parent: str, queue: Queue, http: dict[str, Any], deadline_s: int
    ) -> None:
        try:
            for attempt in range(queue.max_attempts):
                if self._stopping.is_set():
                    return
                headers = {
                    **http["headers"],
                    "User-Agent": "Google-Cloud-Tasks",
                    "X-CloudTasks-QueueName": parent.rsplit("/", 1)[1],
                    "X-CloudTasks-TaskName": name.rsplit("/", 1)[1],
                    "X-CloudTasks-TaskRetryCount": str(attempt),
                    "X-CloudTasks-TaskExecutionCount": str(attempt),
                }
                oidc = http.get("oidcToken")
                if oidc is not None:
                    audience = oidc.get("audience") or http["url"]
                    claims = id_token_claims(audience, oidc["serviceAccountEmail"])
                    headers["Authorization"] = f"Bearer {self.key.sign(claims)}"
                status = _send(http, headers, deadline_s)
                with self.lock:
                    self.dispatches.append(Dispatch(name, status, headers))
                if 200 <= status < 300:
                    return
                self._stopping.wait(queue.min_backoff_s * 2**attempt)
        finally:
            with self.lock:
                self.pending -= 1


def _http_request(task: dict[str, Any]) -> dict[str, Any]:
    http = task.get("httpRequest")
    if not isinstance(http, dict):
        raise ApiError(400, "INVALID_ARGUMENT", "an HTTP task needs httpRequest")
    url = http.get("url", "")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")) or len(url) > 2083:
        raise ApiError(400, "INVALID_ARGUMENT", "HttpRequest.url must be an http(s) URL")
    raw_method = http.get("httpMethod", 1) or 1
    method = METHODS.get(raw_method) if isinstance(raw_method, int) else raw_method
    if method not in METHODS.values():
        raise ApiError(400, "INVALID_ARGUMENT", f"unknown httpMethod {raw_method!r}")
    body = base64.b64decode(http.get("body", "")) if http.get("body") else b""
    if body and method not in BODY_METHODS:
        raise ApiError(400, "INVALID_ARGUMENT", "a body is allowed only with POST, PUT or PATCH")
    headers = dict(http.get("headers") or {})
    if any(h.lower() in ("host", "content-length") for h in headers):
        raise ApiError(400, "INVALID_ARGUMENT", "Host and Content-Length cannot be set")
    if body and not any(h.lower() == "content-type" for h in headers):
        headers["Content-Type"] = "application/octet-stream"
    oidc = http.get("oidcToken")
    if oidc is not None and not EMAIL.fullmatch(str(oidc.get("serviceAccountEmail", ""))):
        raise ApiError(400, "INVALID_ARGUMENT", "OidcToken.service_account_email is required")
    return {"url": url, "method": method, "body": body, "headers": headers, "oidcToken": oidc}


def _deadline(raw: Any) -> int:
    match = DURATION.fullmatch(str(raw))
    if match is None:
        raise ApiError(400, "INVALID_ARGUMENT", f"bad duration {raw!r}")
    seconds = int(match.group(1))
    if not 15 <= seconds <= 1800:
        raise ApiError(
            400, "INVALID_ARGUMENT", "dispatch_deadline must be between 15 seconds and 30 minutes"
        )
    return seconds


def _send(http: dict[str, Any], headers: dict[str, str], deadline_s: int) -> int:
    request = urllib.request.Request(
        http["url"], data=http["body"] or None, method=http["method"], headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=deadline_s) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.read()
        return int(error.code)
    except OSError:
        return 0


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@contextmanager
def cloud_tasks_standin() -> Iterator[StandIn]:
    standin = StandIn(key=make_key("standin-key-1"))

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, document: Any) -> None:
            data = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path != CERTS_PATH:
                self._answer(404, {"error": {"code": 404, "message": "not found"}})
                return
            with standin.lock:
                standin.certs_fetches += 1
                status = standin.certs_status
            if status != 200:
                self._answer(status, {"error": "unavailable"})
                return
            self._answer(200, {standin.key.key_id: standin.key.certificate_pem})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            path = self.path.split("?", 1)[0]
            with standin.lock:
                standin.calls += 1
            try:
                try:
                    document = json.loads(raw)
                except ValueError:
                    raise ApiError(400, "INVALID_ARGUMENT", "Invalid JSON payload") from None
                self._answer(200, standin.create(path, document))
            except ApiError as error:
                body = {"code": error.code, "message": error.message, "status": error.status}
                self._answer(error.code, {"error": body})

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    standin.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield standin
    finally:
        standin._stopping.set()
        server.shutdown()
        server.server_close()
        for dispatcher in standin._threads:
            dispatcher.join(timeout=30)
