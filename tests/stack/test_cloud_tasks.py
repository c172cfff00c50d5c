"""The Cloud Tasks invoker against a stand-in of the Cloud Tasks REST API on loopback (the real
client library on its REST transport): the task it creates, one task per wake-up, what happens
on 409 and 5xx, and the stand-in then calling a real process_job-like endpoint as Cloud Tasks
would, with an ID token the verifier accepts."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from google.api_core import exceptions

from devstack.postgres.embedded import free_port
from functions.cloud_tasks import (
    CREATE_BUDGET_S,
    CREATE_MAX_BACKOFF_S,
    CloudTasksInvoker,
    TaskTarget,
    task_id,
)
from functions.core.signatures import sign
from functions.http.id_tokens import IdTokenPolicy, IdTokenVerifier
from functions.http.types import HttpRequest
from functions.http.webhook_api import WebhookApi
from tests.cloud_tasks_standin import StandIn, cloud_tasks_standin
from tests.http_recorder import Recorder, recording_server
from tests.waiting import wait_for

QUEUE = "projects/demo-project/locations/europe-west1/queues/supajobs-wakeups"
INVOKER = "supajobs-invoker@demo-project.iam.gserviceaccount.com"
WAKE_ID = "wake_5b0c2a4e8d1f4c6a9e3b7f2d1a0c9b41"
MESSAGE = {"wake_id": WAKE_ID}


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with cloud_tasks_standin() as running:
        running.add_queue(QUEUE, max_attempts=3, min_backoff_s=0.05)
        yield running


@pytest.fixture
def target() -> Iterator[Recorder]:
    with recording_server(200) as recorder:
        yield recorder


def invoker(standin: StandIn, url: str) -> CloudTasksInvoker:
    return CloudTasksInvoker(
        TaskTarget(QUEUE, url, INVOKER, dispatch_deadline_s=1800), endpoint=standin.endpoint
    )


def test_the_task_names_the_queue_url_body_oidc_token_and_deadline(
    standin: StandIn, target: Recorder
) -> None:
    invoker(standin, target.url).invoke(MESSAGE)

    assert len(standin.created) == 1
    task = standin.created[0]["task"]
    assert task["name"] == f"{QUEUE}/tasks/{task_id(WAKE_ID)}"
    assert task_id(WAKE_ID).endswith(f"-{WAKE_ID}")
    http = task["httpRequest"]
    assert http["url"] == target.url
    assert http["httpMethod"] == 1  # POST, as the REST transport encodes the enum
    assert http["headers"] == {"Content-Type": "application/json"}
    assert json.loads(base64.b64decode(http["body"])) == MESSAGE
    assert http["oidcToken"] == {"serviceAccountEmail": INVOKER, "audience": target.url}
    assert task["dispatchDeadline"] == "1800s"


def test_the_standin_calls_the_target_as_cloud_tasks_does_with_a_verifiable_token(
    standin: StandIn, target: Recorder
) -> None:
    invoker(standin, target.url).invoke(MESSAGE)
    wait_for(standin.idle, timeout=10, what="the task to be dispatched")

    [call] = target.snapshot()
    assert call.method == "POST" and json.loads(call.body) == MESSAGE
    headers = {name.lower(): value for name, value in call.headers.items()}
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "Google-Cloud-Tasks"
    assert headers["x-cloudtasks-queuename"] == "supajobs-wakeups"
    verifier = IdTokenVerifier(
        IdTokenPolicy(target.url, frozenset({INVOKER}), certs_url=standin.certs_url)
    )
    claims = verifier.require(headers["authorization"])
    assert claims["email"] == INVOKER and claims["aud"] == target.url


def test_one_wake_up_makes_one_task_however_often_it_is_handed_off(
    standin: StandIn, target: Recorder
) -> None:
    handoff = invoker(standin, target.url)
    for _ in range(3):
        handoff.invoke(MESSAGE)  # a duplicate is ALREADY_EXISTS, which is success

    assert len(standin.created) == 1 and standin.requests == 3
    wait_for(standin.idle, timeout=10, what="the task to be dispatched")
    assert len(target.snapshot()) == 1


def test_another_wake_up_is_another_task_and_the_same_one_again_is_not(
    standin: StandIn, target: Recorder
) -> None:
    invoker(standin, target.url).invoke(MESSAGE)
    invoker(standin, target.url).invoke({"wake_id": WAKE_ID[:-2] + "42"})
    invoker(standin, target.url).invoke(MESSAGE)  # a replay: ALREADY_EXISTS, a success
    assert len(standin.created) == 2


def test_a_5xx_is_retried_until_the_task_exists(standin: StandIn, target: Recorder) -> None:
    standin.fail_next(503, "UNAVAILABLE", times=2)
    invoker(standin, target.url).invoke(MESSAGE)
    assert standin.requests == 3 and len(standin.created) == 1


def test_a_lost_answer_then_already_exists_counts_as_made(
    standin: StandIn, target: Recorder
) -> None:
    # The first try made the task but its answer was a 500; the retry meets ALREADY_EXISTS.
    standin.fail_next(500, "INTERNAL", created=True)
    invoker(standin, target.url).invoke(MESSAGE)
    assert standin.requests == 2 and len(standin.created) == 1


def test_an_aborted_409_is_not_taken_for_an_existing_task(
    standin: StandIn, target: Recorder
) -> None:
    standin.fail_next(409, "ABORTED")
    invoker(standin, target.url).invoke(MESSAGE)
    assert standin.requests == 2 and len(standin.created) == 1


def test_a_5xx_that_lasts_raises_within_the_budget(standin: StandIn, target: Recorder) -> None:
    standin.fail_next(503, "UNAVAILABLE", times=1000)
    started = time.monotonic()
    with pytest.raises(exceptions.RetryError):
        invoker(standin, target.url).invoke(MESSAGE)
    took = time.monotonic() - started
    # Inside pg_net's 5 s timeout, so the webhook can still answer 503 to the database; api_core
    # stops once the next pause would pass the budget, so at most a pause early.
    assert CREATE_BUDGET_S - CREATE_MAX_BACKOFF_S <= took < 5.0
    assert standin.requests > 2 and standin.created == []


def test_an_unreachable_api_is_retried_within_the_budget_then_raised(target: Recorder) -> None:
    closed = CloudTasksInvoker(
        TaskTarget(QUEUE, target.url, INVOKER), endpoint=f"http://127.0.0.1:{free_port()}"
    )
    started = time.monotonic()
    with pytest.raises(exceptions.RetryError):
        closed.invoke(MESSAGE)
    assert CREATE_BUDGET_S - CREATE_MAX_BACKOFF_S <= time.monotonic() - started < 5.0


def test_a_4xx_is_raised_at_once(standin: StandIn, target: Recorder) -> None:
    missing = CloudTasksInvoker(
        TaskTarget("projects/p/locations/l/queues/nope", target.url, INVOKER),
        endpoint=standin.endpoint,
    )
    with pytest.raises(exceptions.NotFound):
        missing.invoke(MESSAGE)
    assert standin.calls == 1 and standin.created == []


def test_a_failing_target_is_retried_by_the_queue_then_dropped(standin: StandIn) -> None:
    with recording_server(503) as failing:
        invoker(standin, failing.url).invoke(MESSAGE)
        wait_for(standin.idle, timeout=10, what="the task's retries to run out")
        assert [d.status for d in standin.snapshot()] == [503, 503, 503]
        assert [d.headers["X-CloudTasks-TaskRetryCount"] for d in standin.snapshot()] == [
            "0",
            "1",
            "2",
        ]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"queue": "queues/q"}, "projects/PROJECT/locations/LOCATION/queues/QUEUE"),
        ({"url": "ftp://x"}, "http(s)"),
        ({"service_account_email": "nobody"}, "email"),
        ({"dispatch_deadline_s": 1801}, "15-1800"),
        ({"dispatch_deadline_s": 14}, "15-1800"),
    ],
)
def test_a_target_cloud_tasks_would_refuse_is_refused_at_cold_start(
    change: dict[str, object], problem: str
) -> None:
    fields: dict[str, object] = {
        "queue": QUEUE,
        "url": "https://x.a.run.app",
        "service_account_email": INVOKER,
        "dispatch_deadline_s": 600,
        **change,
    }
    with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        TaskTarget(**fields)  # type: ignore[arg-type]


def test_importing_the_google_source_root_loads_no_google_client_library() -> None:
    # Building submit's handler loads none either: tests/test_gcp_build.py checks that in the
    # built function after it has answered.
    probe = (
        "import sys, main;"
        " print(sorted(m for m in sys.modules"
        " if m.split('.')[:2] in (['google', 'auth'], ['google', 'api_core'])"
        " or m.startswith(('google.cloud.tasks', 'grpc'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


def test_the_webhook_answers_503_when_cloud_tasks_keeps_failing(
    standin: StandIn, target: Recorder
) -> None:
    key = b"k" * 32
    api = WebhookApi([key], invoker(standin, target.url), clock=lambda: 1_800_000_000)
    body = json.dumps(MESSAGE).encode()
    headers = {
        "webhook-id": "msg_41",
        "webhook-timestamp": "1800000000",
        "webhook-signature": sign([key], "msg_41", 1_800_000_000, body),
        "content-type": "application/json",
    }
    standin.fail_next(503, "UNAVAILABLE", times=1000)
    refused = api.handle(HttpRequest("POST", "/", headers, {}, body))
    assert refused.status == 503 and refused.body["error"]["code"]
    standin.faults.clear()
    accepted = api.handle(HttpRequest("POST", "/", headers, {}, body))
    assert accepted.status == 202 and len(standin.created) == 1
