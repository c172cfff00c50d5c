"""The webhook function as a real server: authentication, validation, and the hand-off."""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from devstack.postgres import free_port
from devstack.services import ManagedProcess, function_process
from tests.http_recorder import Recorder, recording_server
from tests.waiting import wait_for

SECRET = secrets.token_urlsafe(24)


@pytest.fixture(scope="module")
def process_job_stand_in() -> Iterator[Recorder]:
    with recording_server(status=200) as recorder:
        yield recorder


@pytest.fixture(scope="module")
def webhook(process_job_stand_in: Recorder) -> Iterator[ManagedProcess]:
    process = function_process(
        "webhook",
        free_port(),
        {"WEBHOOK_SECRET": SECRET, "PROCESS_JOB_URL": process_job_stand_in.url},
    ).start()
    yield process
    process.stop()


def post(
    process: ManagedProcess, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{process.port}/", data=body, method="POST", headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wake_up() -> dict[str, Any]:
    return {"msg_id": 41, "job_id": str(uuid.uuid4()), "task_name": "t"}


@pytest.mark.parametrize(
    "authorization", [None, "", "Bearer", "Bearer wrong", f"Basic {SECRET}", f"Bearer {SECRET}x"]
)
def test_a_missing_or_wrong_secret_gets_401_and_invokes_nothing(
    webhook: ManagedProcess, process_job_stand_in: Recorder, authorization: str | None
) -> None:
    before = len(process_job_stand_in.snapshot())
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    status, body = post(webhook, json.dumps(wake_up()).encode(), headers)
    assert status == 401
    assert body == {"error": {"code": "unauthorized", "message": "missing or wrong bearer secret"}}
    # A correct call made afterwards arrives alone: the rejected one invoked nothing.
    good = wake_up()
    status, _ = post(
        webhook,
        json.dumps(good).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {SECRET}"},
    )
    assert status == 202
    arrived = wait_for(
        lambda: len(process_job_stand_in.snapshot()) > before and process_job_stand_in.snapshot(),
        what="the good invocation",
    )
    assert [r.json() for r in arrived[before:]] == [good]


def test_the_right_secret_hands_the_message_to_process_job(
    webhook: ManagedProcess, process_job_stand_in: Recorder
) -> None:
    message = wake_up()
    before = len(process_job_stand_in.snapshot())
    status, body = post(
        webhook,
        json.dumps(message).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {SECRET}"},
    )
    assert (status, body) == (202, {"accepted": True, "msg_id": 41})
    arrived = wait_for(lambda: process_job_stand_in.snapshot()[before:], what="the invocation")
    assert arrived[0].json() == message
    assert arrived[0].headers["Authorization"] == f"Bearer {SECRET}"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"not json", "application/json", 400, "invalid_input"),
        (b"[]", "application/json", 400, "invalid_input"),
        (
            b'{"msg_id": "1", "job_id": "x", "task_name": "t"}',
            "application/json",
            400,
            "invalid_input",
        ),
        (
            b'{"msg_id": 1, "job_id": "nope", "task_name": "t"}',
            "application/json",
            400,
            "invalid_input",
        ),
        (b"msg_id=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ],
)
def test_a_bad_body_gets_a_clear_error(
    webhook: ManagedProcess, body: bytes, content_type: str, status: int, code: str
) -> None:
    got_status, got = post(
        webhook, body, {"Content-Type": content_type, "Authorization": f"Bearer {SECRET}"}
    )
    assert got_status == status
    assert got["error"]["code"] == code
    assert got["error"]["message"]
