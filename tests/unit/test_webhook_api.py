"""WebhookApi on the recording Invoker: authentication, body checks, hand-off and its failure,
each error as JSON, with no server."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from functions.fakes import RecordingInvoker
from functions.http.types import HttpRequest, HttpResponse
from functions.http.webhook_api import WebhookApi

SECRET = "a-long-random-test-secret"


def authorized(body: bytes) -> dict[str, str]:
    """The headers the database's call carries (the one place that knows how it signs)."""
    return {"authorization": f"Bearer {SECRET}", "content-type": "application/json"}


def call(api: WebhookApi, body: bytes, headers: dict[str, str], method: str = "POST") -> Any:
    response: HttpResponse = api.handle(HttpRequest(method, "/", headers, {}, body))
    return response


def wake_up() -> dict[str, Any]:
    return {"msg_id": 7, "job_id": str(uuid.uuid4()), "task_name": "t"}


@pytest.fixture
def invoker() -> RecordingInvoker:
    return RecordingInvoker()


@pytest.fixture
def api(invoker: RecordingInvoker) -> WebhookApi:
    return WebhookApi(SECRET, invoker)


def test_a_wake_up_is_handed_to_process_job_and_answered_202(
    api: WebhookApi, invoker: RecordingInvoker
) -> None:
    message = wake_up()
    body = json.dumps(message).encode()
    response = call(api, body, authorized(body))
    assert response.status == 202
    assert response.body == {"accepted": True, "msg_id": 7}
    assert invoker.calls == [message]
    assert "Access-Control-Allow-Origin" not in response.headers  # not for browsers


def assert_error(response: HttpResponse, status: int, code: str) -> None:
    assert response.status == status, response.body
    assert response.body["error"]["code"] == code and response.body["error"]["message"]
    assert set(response.body["error"]) == {"code", "message"}


@pytest.mark.parametrize(
    "headers",
    [
        {"content-type": "application/json"},
        {"authorization": "Bearer wrong", "content-type": "application/json"},
        {"authorization": f"Basic {SECRET}", "content-type": "application/json"},
    ],
)
def test_a_caller_without_the_secret_is_401_and_nothing_is_invoked(
    api: WebhookApi, invoker: RecordingInvoker, headers: dict[str, str]
) -> None:
    response = call(api, json.dumps(wake_up()).encode(), headers)
    assert_error(response, 401, "unauthorized")
    assert SECRET not in json.dumps(response.body)
    assert invoker.calls == []


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"msg_id": NaN, "job_id": "x", "task_name": "t"}', "NaN"),
        (b'{"msg_id": 1, "msg_id": 2}', "repeats"),
        (b"[" * 5000, "limit is 64"),
        (b'{"msg_id": 1, "job_id": "\\ud800", "task_name": "t"}', "surrogate"),
        (b'{"msg_id": 0, "job_id": "x", "task_name": "t"}', "msg_id"),
        (b'{"msg_id": 9223372036854775808, "job_id": "x", "task_name": "t"}', "msg_id"),
        (b'{"msg_id": 1, "job_id": "nope", "task_name": "t"}', "job id"),
    ],
)
def test_a_bad_body_is_400_and_nothing_is_invoked(
    api: WebhookApi, invoker: RecordingInvoker, body: bytes, fragment: str
) -> None:
    response = call(api, body, authorized(body))
    assert_error(response, 400, "invalid_input")
    assert fragment in response.body["error"]["message"]
    assert invoker.calls == []


def test_only_post(api: WebhookApi) -> None:
    assert_error(call(api, b"", {}, method="GET"), 405, "method_not_allowed")


def test_a_failed_hand_off_is_503_so_the_caller_knows(
    api: WebhookApi, invoker: RecordingInvoker
) -> None:
    invoker.failure = ConnectionRefusedError("process_job is down")
    body = json.dumps(wake_up()).encode()
    response = call(api, body, authorized(body))
    assert_error(response, 503, "unavailable")
    assert "process_job is down" not in response.body["error"]["message"]
