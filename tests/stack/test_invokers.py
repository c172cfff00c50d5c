"""The invokers retry what may pass on a second try, against real HTTP servers on loopback:
process_job answering 503 (its database restarting) or not listening at all, and a Lambda API
that throttles (botocore speaking to a loopback server that answers as Lambda does)."""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from devstack.postgres.embedded import free_port
from devstack.services import function_process
from functions import once, webhook
from functions.core.signatures import parse_secret, sign
from functions.invokers import LAMBDA_MAX_ATTEMPTS, HttpInvoker, LambdaInvoker, RetrySchedule
from functions.invokers import lambda_client as make_lambda_client
from tests.scripted_http import Reply, scripted_server
from tests.sql.test_lambda import SECRET, body_of, load_event, signed
from tests.waiting import wait_for

FAST = RetrySchedule(pauses_s=(0.05, 0.1, 0.2))
WAKE_ID = "wake_5b0c2a4e8d1f4c6a9e3b7f2d1a0c9b41"
MESSAGE = {"wake_id": WAKE_ID}


def http_invoker(url: str) -> HttpInvoker:
    return HttpInvoker(url, "s3cret", schedule=FAST)


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "functions.invokers"]


# -- the schedule ------------------------------------------------------------------------------


def test_the_schedule_pauses_a_little_longer_each_time_then_stops() -> None:
    schedule = RetrySchedule(pauses_s=(0.2, 0.5, 1.0))
    assert schedule.tries == 4
    assert [schedule.pause(n, rand=lambda: 0.0) for n in (1, 2, 3, 4)] == [0.1, 0.25, 0.5, None]
    assert schedule.pause(1, rand=lambda: 0.999) == pytest.approx(0.2, abs=1e-3)


# -- HTTP (local functions-framework) ----------------------------------------------------------


def test_a_503_is_retried_until_process_job_takes_the_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "functions.invokers")
    with scripted_server(Reply(503), Reply(503), Reply(200)) as server:
        invoker = http_invoker(server.url)
        invoker.invoke(MESSAGE)
        invoker.close()
        assert server.count() == 3
        gaps = [b - a for a, b in zip(server.times, server.times[1:], strict=False)]
    assert gaps[0] >= FAST.pauses_s[0] / 2 and gaps[1] >= FAST.pauses_s[1] / 2
    logged = messages(caplog)
    assert logged[0].startswith(f"process_job call for {WAKE_ID} failed (HTTP 503); retrying in")
    assert logged[-1] == f"process_job call for {WAKE_ID} answered on try 3"


def test_a_429_is_retried_too() -> None:
    with scripted_server(Reply(429), Reply(202)) as server:
        invoker = http_invoker(server.url)
        invoker.invoke(MESSAGE)
        invoker.close()
        assert server.count() == 2


def test_a_4xx_is_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    with scripted_server(Reply(401)) as server:
        invoker = http_invoker(server.url)
        invoker.invoke(MESSAGE)
        invoker.close()
        assert server.count() == 1
    assert "process_job refused the call with HTTP 401" in messages(caplog)


def test_a_process_job_that_is_down_is_tried_a_bounded_number_of_times_then_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    invoker = http_invoker(f"http://127.0.0.1:{free_port()}/")
    invoker.invoke(MESSAGE)
    invoker.close()
    logged = messages(caplog)
    assert sum("retrying in" in line for line in logged) == FAST.tries - 1
    assert logged[-1].startswith(f"process_job call for {WAKE_ID} failed {FAST.tries} times")
    assert "ConnectionRefusedError" in logged[-1]
    assert logged[-1].endswith("the sweep will wake a worker")
    assert [r.levelno for r in caplog.records][-1] == logging.ERROR


def test_one_invoker_keeps_working_after_a_failed_call() -> None:
    with scripted_server(Reply(500), Reply(500), Reply(500), Reply(500), Reply(200)) as server:
        invoker = http_invoker(server.url)
        invoker.invoke(MESSAGE)  # four 500s: gives up after its four tries
        invoker.invoke({"wake_id": WAKE_ID[:-2] + "42"})  # the server answers 200 by then
        invoker.close()
        assert server.count() >= 5


# -- Lambda --------------------------------------------------------------------------------------

FUNCTION = "process-job-fn"
THROTTLED = Reply(
    429,
    json.dumps(
        {
            "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
            "Type": "User",
            "message": "Rate Exceeded.",
        }
    ).encode(),
    (("Content-Type", "application/json"), ("x-amzn-ErrorType", "TooManyRequestsException")),
)
ACCEPTED = Reply(202, b"", (("x-amzn-RequestId", "6f1b5c2e-0000-4000-8000-000000000001"),))
BAD_PAYLOAD = Reply(
    400,
    b'{"Type": "User", "message": "Could not parse request body into json"}',
    (("Content-Type", "application/json"), ("x-amzn-ErrorType", "InvalidRequestContentException")),
)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")


def lambda_invoker(url: str) -> LambdaInvoker:
    return LambdaInvoker(FUNCTION, make_lambda_client(endpoint_url=url))


def test_a_throttled_event_invocation_is_retried(aws_env: None) -> None:
    with scripted_server(THROTTLED, ACCEPTED) as server:
        lambda_invoker(server.url).invoke(MESSAGE)
        assert server.count() == 2
        assert server.paths[0] == f"/2015-03-31/functions/{FUNCTION}/invocations"


def test_throttling_that_lasts_raises_after_the_configured_attempts(aws_env: None) -> None:
    with scripted_server(THROTTLED) as server:
        with pytest.raises(ClientError) as raised:
            lambda_invoker(server.url).invoke(MESSAGE)
        assert raised.value.response["Error"]["Code"] == "TooManyRequestsException"
        assert server.count() == LAMBDA_MAX_ATTEMPTS


def test_a_5xx_from_lambda_is_retried_and_a_4xx_is_not(aws_env: None) -> None:
    with scripted_server(Reply(503, b"{}"), ACCEPTED) as server:
        lambda_invoker(server.url).invoke(MESSAGE)
        assert server.count() == 2
    with scripted_server(BAD_PAYLOAD) as server:
        with pytest.raises(ClientError):
            lambda_invoker(server.url).invoke(MESSAGE)
        assert server.count() == 1


@pytest.fixture
def throttled_webhook(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The webhook as deployed (its own Lambda client), against a Lambda that always throttles."""
    with scripted_server(THROTTLED) as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", server.url)
        monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
        monkeypatch.setenv("PROCESS_JOB_FUNCTION_NAME", FUNCTION)
        monkeypatch.delenv("PROCESS_JOB_URL", raising=False)
        once.reset_all()
        yield server
        once.reset_all()


def test_the_webhook_answers_503_when_lambda_keeps_throttling(throttled_webhook: Any) -> None:
    response = webhook.handler(signed(load_event("http_post_webhook")), None)
    assert response["statusCode"] == 503
    assert body_of(response)["error"]["code"] == "unavailable"
    assert throttled_webhook.count() == LAMBDA_MAX_ATTEMPTS


def test_the_webhook_function_answers_at_once_and_retries_process_job_in_the_background() -> None:
    # process_job answers 503 while its database restarts, then takes the call.
    with scripted_server(Reply(503), Reply(503), Reply(200)) as process_job:
        port = free_port()
        env = {"WEBHOOK_SECRET": SECRET, "PROCESS_JOB_URL": process_job.url}
        webhook_process = function_process("webhook", port, env).start()
        try:
            body = json.dumps(MESSAGE).encode()
            now = int(time.time())
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/",
                data=body,
                headers={
                    "Content-Type": "application/json",
                    "webhook-id": WAKE_ID,
                    "webhook-timestamp": str(now),
                    "webhook-signature": sign([parse_secret(SECRET)], WAKE_ID, now, body),
                },
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 202
            wait_for(lambda: process_job.count() == 3, timeout=30, what="the third try")
        finally:
            webhook_process.stop()
