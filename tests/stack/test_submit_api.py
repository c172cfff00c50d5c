"""The submit function as a real functions-framework server on a real database."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from devstack.postgres.embedded import free_port
from devstack.services import ManagedProcess, function_process
from tests.db_state import jobs_and_messages

# A fixed id, not uuid4(): pytest-xdist workers must collect the same test ids.
NO_SUCH_JOB = uuid.UUID("5b0e6a3c-2f1d-4c8e-9a7b-3d2c1b0a9f8e")


@pytest.fixture(scope="module")
def submit(module_db_url: str) -> Iterator[ManagedProcess]:
    process = function_process("submit", free_port(), {"DATABASE_URL": module_db_url}).start()
    yield process
    process.stop()


def call(
    process: ManagedProcess,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{process.port}{path}", data=body, method=method, headers=headers or {}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, dict(response.headers), json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, dict(error.headers), json.loads(raw) if raw else None


def post_json(process: ManagedProcess, document: Any, **headers: str) -> tuple[int, Any]:
    status, _, body = call(
        process,
        "POST",
        "/jobs",
        json.dumps(document).encode(),
        {"Content-Type": "application/json", **headers},
    )
    return status, body


def test_post_returns_202_with_the_job_id_and_get_finds_it(
    submit: ManagedProcess, module_db_url: str
) -> None:
    status, body = post_json(submit, {"task_name": "Report", "payload": {"n": 1}})
    assert status == 202
    assert body["status"] == "pending"
    job_id = body["job_id"]
    status, headers, job = call(submit, "GET", f"/jobs/{job_id}")
    assert status == 200
    assert (job["job_id"], job["task_name"], job["payload"], job["status"]) == (
        job_id,
        "Report",
        {"n": 1},
        "pending",
    )
    assert headers["Access-Control-Allow-Origin"] == "*"


def test_list_is_newest_first_and_limited(submit: ManagedProcess) -> None:
    ids = [post_json(submit, {"task_name": f"n{i}"})[1]["job_id"] for i in range(3)]
    status, _, body = call(submit, "GET", "/jobs?limit=2")
    assert status == 200
    assert [job["job_id"] for job in body["jobs"]] == ids[::-1][:2]


def test_idempotency_key_returns_the_same_job(submit: ManagedProcess, module_db_url: str) -> None:
    key = str(uuid.uuid4())
    before = jobs_and_messages(module_db_url)
    first = post_json(submit, {"task_name": "once"}, **{"Idempotency-Key": key})
    second = post_json(submit, {"task_name": "once"}, **{"Idempotency-Key": key})
    assert first == second and first[0] == 202
    assert jobs_and_messages(module_db_url) == (before[0] + 1, before[1] + 1)
    status, body = post_json(submit, {"task_name": "twice"}, **{"Idempotency-Key": key})
    assert status == 422 and body["error"]["code"] == "idempotency_key_reused"
    assert jobs_and_messages(module_db_url) == (before[0] + 1, before[1] + 1)


def test_a_key_whose_first_request_is_in_flight_is_409(
    submit: ManagedProcess, module_db_url: str
) -> None:
    key = str(uuid.uuid4())
    with psycopg.connect(module_db_url) as first:
        # The first request with the key: inside submit_job, its transaction not yet committed.
        first.execute("select submit_job('slow', '{}', %s)", (key,))
        before = jobs_and_messages(module_db_url)
        status, body = post_json(submit, {"task_name": "slow"}, **{"Idempotency-Key": key})
        assert status == 409 and body["error"]["code"] == "idempotency_key_in_flight"
        assert jobs_and_messages(module_db_url) == before
        first.commit()
    status, _ = post_json(submit, {"task_name": "slow"}, **{"Idempotency-Key": key})
    assert status == 202


def test_cors_preflight(submit: ManagedProcess) -> None:
    status, headers, body = call(submit, "OPTIONS", "/jobs", headers={"Origin": "http://x"})
    assert status == 204 and body is None
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert "Idempotency-Key" in headers["Access-Control-Allow-Headers"]


@pytest.mark.parametrize(
    ("method", "path", "body", "content_type", "status", "code"),
    [
        ("POST", "/jobs", b"{bad", "application/json", 400, "invalid_input"),
        ("POST", "/jobs", b'{"task_name": "x", "payload": {"n": NaN}}', None, 400, "invalid_input"),
        (
            "POST",
            "/jobs",
            b'{"task_name": "x", "payload": {"n": 1e400}}',
            None,
            400,
            "invalid_input",
        ),
        ("POST", "/jobs", b'{"task_name": "\\ud800"}', "application/json", 400, "invalid_input"),
        ("POST", "/jobs", b"[" * 200_000, "application/json", 400, "invalid_input"),
        ("POST", "/jobs", b'{"task_name": "a", "task_name": "b"}', None, 400, "invalid_input"),
        ("GET", "/jobs?limit=1&limit=2", None, None, 400, "invalid_input"),
        ("GET", "/jobs?offset=3", None, None, 400, "invalid_input"),
        ("POST", "/jobs", b'{"task_name": ""}', "application/json", 400, "invalid_input"),
        ("POST", "/jobs", b'{"task_name": "a\\u0000b"}', "application/json", 400, "invalid_input"),
        (
            "POST",
            "/jobs",
            b'{"task_name": "x", "payload": 3}',
            "application/json",
            400,
            "invalid_input",
        ),
        (
            "POST",
            "/jobs",
            b"task_name=x",
            "application/x-www-form-urlencoded",
            415,
            "unsupported_media_type",
        ),
        (
            "POST",
            "/jobs",
            b"{" + b" " * 300_000 + b"}",
            "application/json",
            413,
            "payload_too_large",
        ),
        ("GET", "/jobs/not-a-uuid", None, None, 400, "invalid_input"),
        ("GET", f"/jobs/{NO_SUCH_JOB}", None, None, 404, "not_found"),
        ("GET", "/jobs?limit=0", None, None, 400, "invalid_input"),
        ("DELETE", "/jobs", None, None, 405, "method_not_allowed"),
        ("GET", "/elsewhere", None, None, 404, "not_found"),
    ],
)
def test_bad_requests_get_a_json_error_and_store_nothing(
    submit: ManagedProcess,
    module_db_url: str,
    method: str,
    path: str,
    body: bytes | None,
    content_type: str | None,
    status: int,
    code: str,
) -> None:
    before = jobs_and_messages(module_db_url)
    if body is not None and content_type is None:
        content_type = "application/json"
    headers = {"Content-Type": content_type} if content_type else {}
    got_status, _, got = call(submit, method, path, body, headers)
    assert got_status == status
    assert got["error"]["code"] == code and got["error"]["message"]
    assert "Traceback" not in got["error"]["message"]
    assert jobs_and_messages(module_db_url) == before


def test_strange_but_valid_names_are_stored_exactly(submit: ManagedProcess) -> None:
    name = "Robert'); DROP TABLE job_results;-- <img src=x onerror=alert(1)> 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ‮"
    status, body = post_json(submit, {"task_name": name})
    assert status == 202
    _, _, job = call(submit, "GET", f"/jobs/{body['job_id']}")
    assert job["task_name"] == name


def test_a_database_that_is_down_gives_503_not_a_hang() -> None:
    dead_url = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    process = function_process("submit", free_port(), {"DATABASE_URL": dead_url}).start()
    try:
        status, body = post_json(process, {"task_name": "nowhere"})
        assert status == 503
        assert body["error"]["code"] == "unavailable"
        assert "database" in body["error"]["message"]
        status, _, body = call(process, "GET", "/jobs")
        assert status == 503
    finally:
        process.stop()
