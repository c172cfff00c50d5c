"""WebhookApi on the recording Invoker: authentication, body checks, hand-off and its failure,
each error as JSON, with no server."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.core import signatures
from functions.http.types import HttpRequest, HttpResponse
from functions.http.webhook_api import WebhookApi
from tests.inmemory import RecordingInvoker

KEY = b"k" * 32
NOW = 1_800_000_000


WAKE_ID = "wake_" + "0123456789abcdef" * 2


def authorized(body: bytes, key: bytes = KEY, at: int = NOW) -> dict[str, str]:
    """The headers the database's call carries: a Standard Webhooks signature of ``body``."""
    return {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(at),
        "webhook-signature": signatures.sign([key], "msg_1", at, body),
        "content-type": "application/json",
    }


def call(api: WebhookApi, body: bytes, headers: dict[str, str], method: str = "POST") -> Any:
    response: HttpResponse = api.handle(HttpRequest(method, "/", headers, {}, body))
    return response


def wake_up() -> dict[str, Any]:
    return {"wake_id": WAKE_ID}


@pytest.fixture
def invoker() -> RecordingInvoker:
    return RecordingInvoker()


@pytest.fixture
def api(invoker: RecordingInvoker) -> WebhookApi:
    return WebhookApi([KEY], invoker, clock=lambda: NOW)


def test_a_wake_up_is_handed_to_process_job_and_answered_202(
    api: WebhookApi, invoker: RecordingInvoker
) -> None:
    message = wake_up()
    body = json.dumps(message).encode()
    response = call(api, body, authorized(body))
    assert response.status == 202
    assert response.body == {"accepted": True, "wake_id": WAKE_ID}
    assert invoker.calls == [message]
    assert "Access-Control-Allow-Origin" not in response.headers  # not for browsers


def test_a_replayed_wake_up_is_answered_but_not_handed_on_again(
    api: WebhookApi, invoker: RecordingInvoker
) -> None:
    body = json.dumps(wake_up()).encode()
    headers = authorized(body)
    responses = [call(api, body, headers) for _ in range(20)]
    assert [r.status for r in responses] == [202] * 20
    assert [r.body.get("replay", False) for r in responses] == [False] + [True] * 19
    assert len(invoker.calls) == 1


def assert_error(response: HttpResponse, status: int, code: str) -> None:
    assert response.status == status, response.body
    assert response.body["error"]["code"] == code and response.body["error"]["message"]
    assert set(response.body["error"]) == {"code", "message"}


def unsigned_variants(body: bytes) -> list[dict[str, str]]:
    good = authorized(body)
    return [
        {"content-type": "application/json"},
        authorized(body, key=b"x" * 32),
        authorized(body, at=NOW - 3600),
        {**good, "webhook-id": "msg_2"},
        {**good, "webhook-signature": "v1,not-base64!"},
    ]


@pytest.mark.parametrize("variant", range(5))
def test_a_call_not_signed_by_our_key_now_is_401_and_nothing_is_invoked(
    api: WebhookApi, invoker: RecordingInvoker, variant: int
) -> None:
    body = json.dumps(wake_up()).encode()
    response = call(api, body, unsigned_variants(body)[variant])
    assert_error(response, 401, "unauthorized")
    assert invoker.calls == []


def test_a_signed_body_changed_in_transit_is_401(
    api: WebhookApi, invoker: RecordingInvoker
) -> None:
    body = json.dumps(wake_up()).encode()
    response = call(api, body.replace(b"7", b"8"), authorized(body))
    assert_error(response, 401, "unauthorized")
    assert invoker.calls == []


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"wake_id": NaN}', "NaN"),
        (b'{"wake_id": "a", "wake_id": "b"}', "repeats"),
        (b"[" * 5000, "limit is 64"),
        (b'{"wake_id": "\\ud800"}', "surrogate"),
        (b'{"wake_id": 7}', "wake_id"),
        (b'{"wake_id": "wake_nothex"}', "wake_id"),
        (b'{"msg_id": 1}', "wake_id"),
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
    # Not remembered as handed on: the same call again is tried again.
    invoker.failure = None
    assert call(api, body, authorized(body)).status == 202
    assert len(invoker.calls) == 1
