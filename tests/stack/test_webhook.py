"""The webhook function as a real server: signature checks, validation, and the hand-off."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from devstack.config import generate_webhook_secret
from devstack.postgres.embedded import free_port
from devstack.services import ManagedProcess, function_process
from functions.core.signatures import parse_secret, sign
from tests.http_recorder import Recorder, recording_server
from tests.waiting import wait_for

# A rotation under way: the webhook accepts the old secret and the new one.
OLD_SECRET, NEW_SECRET, UNKNOWN_SECRET = (generate_webhook_secret() for _ in range(3))
PROCESS_JOB_SECRET = "process-job-bearer-secret"
UNVERIFIED = {
    "error": {"code": "unauthorized", "message": "the request's signature could not be verified"}
}


@pytest.fixture(scope="module")
def process_job_stand_in() -> Iterator[Recorder]:
    with recording_server(status=200) as recorder:
        yield recorder


@pytest.fixture(scope="module")
def webhook(process_job_stand_in: Recorder) -> Iterator[ManagedProcess]:
    process = function_process(
        "webhook",
        free_port(),
        {
            "WEBHOOK_SECRET": f"{OLD_SECRET} {NEW_SECRET}",
            "PROCESS_JOB_SECRET": PROCESS_JOB_SECRET,
            "PROCESS_JOB_URL": process_job_stand_in.url,
        },
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


def signed_headers(
    body: bytes, secret: str = NEW_SECRET, at: float | None = None, msg_id: str | None = None
) -> dict[str, str]:
    """Signed as the database signs: the webhook-id is the wake-up's own id."""
    if msg_id is None:
        try:
            msg_id = str(json.loads(body).get("wake_id", "wake_test"))
        except (ValueError, AttributeError):
            msg_id = "wake_test"
    timestamp = int(time.time() if at is None else at)
    return {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign([parse_secret(secret)], msg_id, timestamp, body),
    }


def wake_up() -> bytes:
    """A wake-up of its own: the webhook hands each id on once."""
    return json.dumps({"wake_id": "wake_" + uuid.uuid4().hex}).encode()


def _unsigned(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, {"Content-Type": "application/json"}


def _bearer(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, {"Content-Type": "application/json", "Authorization": f"Bearer {NEW_SECRET}"}


def _unknown_secret(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, signed_headers(body, secret=UNKNOWN_SECRET)


def _stale(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, signed_headers(body, at=time.time() - 400)


def _from_the_future(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, signed_headers(body, at=time.time() + 400)


def _other_body(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body.replace(b'"}', b'0"}'), signed_headers(body)


def _other_id(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, {**signed_headers(body), "webhook-id": "msg_42"}


def _restamped(body: bytes) -> tuple[bytes, dict[str, str]]:
    headers = signed_headers(body, at=time.time() - 400)
    return body, {**headers, "webhook-timestamp": str(int(time.time()))}


@pytest.mark.parametrize(
    "forge",
    [
        _unsigned,
        _bearer,
        _unknown_secret,
        _stale,
        _from_the_future,
        _other_body,
        _other_id,
        _restamped,
    ],
)
def test_an_unverified_call_gets_401_without_detail_and_invokes_nothing(
    webhook: ManagedProcess, process_job_stand_in: Recorder, forge: Any
) -> None:
    before = len(process_job_stand_in.snapshot())
    body, headers = forge(wake_up())
    status, answer = post(webhook, body, headers)
    assert (status, answer) == (401, UNVERIFIED)
    # A correct call made afterwards arrives alone: the rejected one invoked nothing.
    good = wake_up()
    assert post(webhook, good, signed_headers(good))[0] == 202
    wait_for(lambda: len(process_job_stand_in.snapshot()) > before, what="the good invocation")
    assert [r.body for r in process_job_stand_in.snapshot()[before:]] == [good]


@pytest.mark.parametrize("secret", [OLD_SECRET, NEW_SECRET], ids=["previous", "current"])
def test_a_signed_call_hands_the_message_to_process_job(
    webhook: ManagedProcess, process_job_stand_in: Recorder, secret: str
) -> None:
    message = wake_up()
    before = len(process_job_stand_in.snapshot())
    status, body = post(webhook, message, signed_headers(message, secret=secret))
    assert (status, body) == (202, {"accepted": True, "wake_id": json.loads(message)["wake_id"]})
    arrived = wait_for(lambda: process_job_stand_in.snapshot()[before:], what="the invocation")
    assert arrived[0].json() == json.loads(message)
    # The local hand-off is a bearer call with process_job's own secret, never the signing key.
    assert arrived[0].headers["Authorization"] == f"Bearer {PROCESS_JOB_SECRET}"


def test_a_call_signed_by_both_rotation_secrets_and_another_scheme_is_accepted(
    webhook: ManagedProcess,
) -> None:
    message = wake_up()
    headers = signed_headers(message, secret=UNKNOWN_SECRET)
    own = signed_headers(message, secret=OLD_SECRET)
    # Same id and second, so both signatures cover the same content.
    headers["webhook-timestamp"] = own["webhook-timestamp"]
    headers["webhook-signature"] = f"v1a,bm90IG91cnM= {own['webhook-signature']} " + sign(
        [parse_secret(UNKNOWN_SECRET)],
        own["webhook-id"],
        int(own["webhook-timestamp"]),
        message,
    )
    assert post(webhook, message, headers)[0] == 202


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"not json", "application/json", 400, "invalid_input"),
        (b"[]", "application/json", 400, "invalid_input"),
        (
            b'{"wake_id": 1}',
            "application/json",
            400,
            "invalid_input",
        ),
        (
            b'{"wake_id": "wake_nope"}',
            "application/json",
            400,
            "invalid_input",
        ),
        (b"msg_id=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ],
)
def test_a_signed_bad_body_gets_a_clear_error(
    webhook: ManagedProcess, body: bytes, content_type: str, status: int, code: str
) -> None:
    headers = {**signed_headers(body), "Content-Type": content_type}
    got_status, got = post(webhook, body, headers)
    assert got_status == status
    assert got["error"]["code"] == code
    assert got["error"]["message"]
