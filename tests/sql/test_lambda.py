"""The Lambda handlers, called in-process with real event payloads (tests/events/*.json): API
Gateway HTTP API v2 requests, an EventBridge schedule, an async invocation. AWS is moto."""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
from moto import mock_aws

from functions import once, process_job, submit, webhook
from functions.core.signatures import parse_secret, sign
from functions.invokers import LambdaInvoker

EVENTS = Path(__file__).resolve().parents[1] / "events"
REGION = "eu-central-1"
FUNCTION = "process-job-fn"
SECRET = "whsec_bGFtYmRhLXRlc3Qtd2ViaG9vay1zZWNyZXQtMzItYnl0ZXM="
OTHER_SECRET = "whsec_YW5vdGhlci1zZWNyZXQtbm9ib2R5LWdhdmUtdGhlLWRi"


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event


def with_body(event: dict[str, Any], body: str) -> dict[str, Any]:
    changed = copy.deepcopy(event)
    changed["body"] = body
    changed["headers"]["content-length"] = str(len(body.encode()))
    return changed


def signed(
    event: dict[str, Any], secret: str = SECRET, at: float | None = None, body: str | None = None
) -> dict[str, Any]:
    """``event`` with Standard Webhooks headers signing ``body`` (default: the event's own) by
    ``secret`` at ``at`` (default: now); the event keeps its own body."""
    changed = copy.deepcopy(event)
    timestamp = int(time.time() if at is None else at)
    content = (changed["body"] if body is None else body).encode()
    changed["headers"]["webhook-timestamp"] = str(timestamp)
    changed["headers"]["webhook-signature"] = sign(
        [parse_secret(secret)], changed["headers"]["webhook-id"], timestamp, content
    )
    return changed


def get_job_event(job_id: str) -> dict[str, Any]:
    event = load_event("http_get_job")
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/jobs/{job_id}"
    event["pathParameters"] = {"job_id": job_id}
    return event


def body_of(response: dict[str, Any]) -> Any:
    assert response["isBase64Encoded"] is False
    return json.loads(response["body"])


@dataclass(frozen=True)
class InvokeCall:
    function_name: str
    invocation_type: str
    payload: Any


@pytest.fixture
def lambda_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[InvokeCall]]:
    """Lambda on moto; yields each Invoke call as boto3 made it.

    The hook sits on boto3's default session, so clients made later (the webhook's, built on
    first use) report their calls too.
    """
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    calls: list[InvokeCall] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append(
            InvokeCall(
                function_name=params["FunctionName"],
                invocation_type=params.get("InvocationType", "RequestResponse"),
                payload=json.loads(params["Payload"]),
            )
        )

    # Without Docker moto answers 202 to any Event invocation, of a function that exists or
    # not, and runs nothing: the calls the hook records are what the tests look at.
    with mock_aws(config={"lambda": {"use_docker": False}}):
        session = boto3.Session(region_name=REGION)
        session.events.register("before-parameter-build.lambda.Invoke", record)
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", session)
        yield calls


# -- LambdaInvoker ------------------------------------------------------------------------------


def test_the_invoker_sends_one_event_invocation_with_the_message(
    lambda_calls: list[InvokeCall],
) -> None:
    message = {"wake_id": "wake_" + uuid.uuid4().hex}
    LambdaInvoker(FUNCTION, boto3.client("lambda")).invoke(message)
    assert lambda_calls == [InvokeCall(FUNCTION, "Event", message)]


# -- webhook ------------------------------------------------------------------------------------


@pytest.fixture
def webhook_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("PROCESS_JOB_FUNCTION_NAME", FUNCTION)
    monkeypatch.delenv("PROCESS_JOB_URL", raising=False)
    once.reset_all()
    yield
    once.reset_all()


def _unsigned(event: dict[str, Any]) -> dict[str, Any]:
    return event


def _stale(event: dict[str, Any]) -> dict[str, Any]:
    return signed(event, at=time.time() - 301)


def _other_key(event: dict[str, Any]) -> dict[str, Any]:
    return signed(event, secret=OTHER_SECRET)


def _other_body(event: dict[str, Any]) -> dict[str, Any]:
    return signed(event, body=event["body"].replace("9b8e", "9b8f"))


def _bearer_only(event: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(event)
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        del changed["headers"][name]
    changed["headers"]["authorization"] = f"Bearer {SECRET}"
    return changed


@pytest.mark.parametrize(
    "tamper",
    [_unsigned, _stale, _other_key, _other_body, _bearer_only],
    ids=["recorded-long-ago", "stale", "other-key", "other-body", "bearer-only"],
)
def test_the_webhook_rejects_an_unverified_call_and_invokes_nothing(
    webhook_env: None,
    lambda_calls: list[InvokeCall],
    tamper: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    event = load_event("http_post_webhook")
    response = webhook.handler(tamper(event), None)
    assert response["statusCode"] == 401
    assert response["headers"]["Content-Type"] == "application/json"
    assert body_of(response)["error"] == {
        "code": "unauthorized",
        "message": "the request's signature could not be verified",
    }
    assert lambda_calls == []


def test_the_webhook_hands_the_message_to_process_job_as_one_event_invocation(
    webhook_env: None, lambda_calls: list[InvokeCall]
) -> None:
    event = signed(load_event("http_post_webhook"))
    response = webhook.handler(event, None)
    assert response["statusCode"] == 202
    assert body_of(response) == {
        "accepted": True,
        "wake_id": "wake_5b0c2a4e8d1f4c6a9e3b7f2d1a0c9b8e",
    }
    assert lambda_calls == [InvokeCall(FUNCTION, "Event", json.loads(event["body"]))]


def test_a_malformed_secret_makes_the_webhook_answer_503_without_the_secret(
    webhook_env: None, lambda_calls: list[InvokeCall], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET", "not-a-whsec-secret")
    once.reset_all()
    response = webhook.handler(signed(load_event("http_post_webhook")), None)
    assert response["statusCode"] == 503
    assert body_of(response)["error"]["code"] == "misconfigured"
    assert "not-a-whsec-secret" not in response["body"]
    assert lambda_calls == []


# -- submit -------------------------------------------------------------------------------------


@pytest.fixture
def submit_env(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("DATABASE_URL", db_url)
    once.reset_all()
    yield db_url
    once.reset_all()


def test_post_jobs_accepts_the_job_and_stores_it(submit_env: str) -> None:
    response = submit.handler(load_event("http_post_jobs"), None)
    assert response["statusCode"] == 202
    body = body_of(response)
    assert body["status"] == "pending"
    assert response["headers"]["Location"] == f"/jobs/{body['job_id']}"
    assert response["headers"]["Access-Control-Allow-Origin"] == "*"
    with psycopg.connect(submit_env) as conn:
        row = conn.execute(
            "select task_name, kind, payload, status from job_results where job_id = %s",
            (body["job_id"],),
        ).fetchone()
    assert row == ("resize-avatar", "noop", {}, "pending")


def test_get_job_returns_the_stored_job(submit_env: str) -> None:
    created = body_of(submit.handler(load_event("http_post_jobs"), None))
    response = submit.handler(get_job_event(created["job_id"]), None)
    assert response["statusCode"] == 200
    job = body_of(response)
    assert job["job_id"] == created["job_id"]
    assert job["task_name"] == "resize-avatar"
    assert job["status"] == "pending"


def test_get_an_unknown_job_is_404(submit_env: str) -> None:
    response = submit.handler(get_job_event(str(uuid.uuid4())), None)
    assert response["statusCode"] == 404
    assert body_of(response)["error"]["code"] == "not_found"


@pytest.mark.parametrize("body", ['{"task_name": "x"', "not json", ""])
def test_a_body_that_is_not_json_is_400_with_an_error_object(submit_env: str, body: str) -> None:
    response = submit.handler(with_body(load_event("http_post_jobs"), body), None)
    assert response["statusCode"] == 400
    error = body_of(response)["error"]
    assert set(error) == {"code", "message"}
    assert error["code"] and error["message"]
    with psycopg.connect(submit_env) as conn:
        assert conn.execute("select count(*) from job_results").fetchone() == (0,)


# -- process_job --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LambdaContext:
    """The one part of Lambda's context object the handler reads."""

    remaining_ms: int

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def worker_env(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("DATABASE_URL", db_url)
    for name, value in {
        "TASK_MIN_SECONDS": "0",
        "TASK_MAX_SECONDS": "0",
        "RETRY_BASE_DELAY_SECONDS": "0",
        "VISIBILITY_TIMEOUT_SECONDS": "30",
        "PROCESS_JOB_MAX_SECONDS": "60",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TASK_MODULES", raising=False)
    once.reset_all()
    yield db_url
    once.reset_all()


def _submit_noop(db_url: str, kind: str = "noop") -> tuple[str, int]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute("select submit_job('x', '{}', kind => %s)", (kind,)).fetchone()
        assert row is not None
        job_id = str(row[0])
        msg = conn.execute(
            "select msg_id from pgmq.q_work_queue where message ->> 'job_id' = %s", (job_id,)
        ).fetchone()
        assert msg is not None
        return job_id, int(msg[0])


EventMaker = Callable[[str], tuple[dict[str, Any], Any]]


def _scheduled(db_url: str) -> tuple[dict[str, Any], Any]:
    return load_event("scheduled_event"), None


def _async_invocation(db_url: str) -> tuple[dict[str, Any], Any]:
    """The webhook's event for a wake-up the database sent (recorded as private.send_wakeup
    records it; no webhook is configured here to send one)."""
    event = load_event("async_invocation")
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "insert into private.wake_ups (wake_id, reason) values (%s, 'test')",
            (event["wake_id"],),
        )
    return event, LambdaContext(remaining_ms=900_000)


@pytest.mark.parametrize("make_event", [_scheduled, _async_invocation])
def test_process_job_drains_the_queue(worker_env: str, make_event: EventMaker) -> None:
    job_id, msg_id = _submit_noop(worker_env)
    event, context = make_event(worker_env)
    report = process_job.handler(event, context)
    assert report == {
        "completed": 1,
        "failed": 0,
        "retried": 0,
        "skipped": 0,
        "handed_back": 0,
        "cancelled": 0,
    }
    with psycopg.connect(worker_env) as conn:
        job = conn.execute(
            "select status, result from job_results where job_id = %s", (job_id,)
        ).fetchone()
        archived = conn.execute(
            "select count(*) from pgmq.a_work_queue where msg_id = %s", (msg_id,)
        ).fetchone()
        waiting = conn.execute("select count(*) from pgmq.q_work_queue").fetchone()
    assert job is not None and job[0] == "completed"
    assert archived == (1,)
    assert waiting == (0,)
    # The queue is empty now: another sweep finds nothing and returns at once.
    assert process_job.handler(load_event("scheduled_event"), None)["completed"] == 0


def test_a_repeated_async_event_drains_nothing_the_second_time(worker_env: str) -> None:
    """Lambda may deliver an asynchronous event twice, and a signed wake-up can be replayed:
    the wake-up is taken once, so the second invocation neither claims nor holds the queue."""
    event, context = _async_invocation(worker_env)
    assert process_job.handler(event, context)["completed"] == 0  # nothing queued yet
    job_id, _ = _submit_noop(worker_env)
    assert process_job.handler(event, context)["completed"] == 0  # the same wake-up again
    with psycopg.connect(worker_env) as conn:
        row = conn.execute("select status from job_results where job_id = %s", (job_id,)).fetchone()
        leases = conn.execute("select count(*) from private.queue_leases").fetchone()
    assert row == ("pending",)  # left for a wake-up of its own
    assert leases == (0,)


def test_one_process_job_invocation_holds_at_most_two_connections(
    worker_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However many tasks run side by side, an invocation uses one connection for claiming
    and recording and one for the visibility heartbeat (task threads never touch the
    database): the 2 of the README's connection formula."""
    monkeypatch.setenv("BATCH_SIZE", "8")
    monkeypatch.setenv("VISIBILITY_TIMEOUT_SECONDS", "3")  # a heartbeat every second
    monkeypatch.setenv("TASK_MAX_SECONDS", "10")
    once.reset_all()
    with psycopg.connect(worker_env, autocommit=True) as conn:
        for _ in range(8):
            conn.execute("""select submit_job('x', '{"seconds": 2.5}', kind => 'simulate')""")
    peak = 0
    finished = threading.Event()

    def sample() -> None:
        nonlocal peak
        with psycopg.connect(worker_env, autocommit=True) as conn:
            while not finished.wait(0.05):
                row = conn.execute(
                    "select count(*) from pg_stat_activity where datname = current_database()"
                    " and application_name like 'supajobs-%'"
                ).fetchone()
                assert row is not None
                peak = max(peak, int(row[0]))

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        report = process_job.handler(load_event("scheduled_event"), LambdaContext(900_000))
    finally:
        finished.set()
        sampler.join()
    assert report["completed"] == 8
    assert peak == 2


def test_a_warm_instance_keeps_one_connection_between_invocations(
    worker_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The heartbeat's connection ends with its invocation; only the claiming one stays open
    while the instance waits for the next event, however many invocations it has served."""
    monkeypatch.setenv("VISIBILITY_TIMEOUT_SECONDS", "3")  # a heartbeat every second
    monkeypatch.setenv("TASK_MAX_SECONDS", "10")
    once.reset_all()
    counts = []
    for _ in range(2):
        with psycopg.connect(worker_env, autocommit=True) as conn:
            conn.execute("""select submit_job('x', '{"seconds": 1.5}', kind => 'simulate')""")
        assert process_job.handler(load_event("scheduled_event"), None)["completed"] == 1
        with psycopg.connect(worker_env) as conn:
            row = conn.execute(
                "select count(*) from pg_stat_activity where datname = current_database()"
                " and application_name like 'supajobs-%'"
            ).fetchone()
        counts.append(row[0] if row else None)
    assert counts == [1, 1]


def test_submit_reads_its_database_url_from_an_ssm_securestring(
    submit_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As deployed: the environment names the parameter, the value comes from SSM (moto)."""
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.setenv("DATABASE_URL_SSM_PARAMETER", "/supajobs/test/database-url")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        boto3.client("ssm", region_name=REGION).put_parameter(
            Name="/supajobs/test/database-url", Value=submit_env, Type="SecureString"
        )
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", boto3.Session(region_name=REGION))
        once.reset_all()
        response = submit.handler(load_event("http_post_jobs"), None)
    assert response["statusCode"] == 202
    assert submit_env not in json.dumps(response)
    with psycopg.connect(submit_env) as conn:
        assert conn.execute("select count(*) from job_results").fetchone() == (1,)


def _untouched(db_url: str, job_id: str, msg_id: int) -> bool:
    """Pending with no attempt counted, its message visible now and never counted as read."""
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "select j.status, j.attempts, q.read_ct, q.vt <= clock_timestamp()"
            " from job_results j join pgmq.q_work_queue q on q.msg_id = %s"
            " where j.job_id = %s",
            (msg_id, job_id),
        ).fetchone()
    return row == ("pending", 0, 0, True)


def test_an_invocation_with_seconds_left_claims_nothing_it_cannot_finish(
    worker_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The case: simulate runs 5-10 s, and the invocation has 5 s left.
    monkeypatch.setenv("TASK_MIN_SECONDS", "5")
    monkeypatch.setenv("TASK_MAX_SECONDS", "10")
    once.reset_all()
    job_id, msg_id = _submit_noop(worker_env, kind="simulate")
    report = process_job.handler(load_event("scheduled_event"), LambdaContext(remaining_ms=5000))
    assert report == {
        "completed": 0,
        "failed": 0,
        "retried": 0,
        "skipped": 0,
        "handed_back": 0,
        "cancelled": 0,
    }
    assert _untouched(worker_env, job_id, msg_id)


def test_an_invocation_hands_back_at_once_what_it_claimed_but_cannot_finish(
    worker_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASK_MAX_SECONDS", "30")  # simulate may take 31 s; noop 5
    once.reset_all()
    noop_id, _ = _submit_noop(worker_env, kind="noop")
    long_id, long_msg = _submit_noop(worker_env, kind="simulate")
    report = process_job.handler(load_event("scheduled_event"), LambdaContext(remaining_ms=20_000))
    assert report == {
        "completed": 1,
        "failed": 0,
        "retried": 0,
        "skipped": 0,
        "handed_back": 1,
        "cancelled": 0,
    }
    assert _untouched(worker_env, long_id, long_msg)
    with psycopg.connect(worker_env) as conn:
        done = conn.execute("select status from job_results where job_id = %s", (noop_id,))
        assert done.fetchone() == ("completed",)
