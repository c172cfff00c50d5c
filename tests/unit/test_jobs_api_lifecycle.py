"""The lifecycle routes of SubmitApi on the in-memory JobStore: cancel, retry, the status
filter, events in a job, delayed start; every refusal a 4xx that names the problem."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.core.models import JobStatus
from functions.http.submit_api import SubmitApi
from functions.http.types import HttpRequest
from tests.inmemory import InMemoryDatabase, MemoryJobStore, MemoryKindCatalog

JSON = {"content-type": "application/json"}
NOW = 1_800_000_000.0


@pytest.fixture
def store() -> MemoryJobStore:
    return MemoryJobStore(InMemoryDatabase(wall=lambda: NOW))


@pytest.fixture
def api(store: MemoryJobStore) -> SubmitApi:
    return SubmitApi(store, kinds=MemoryKindCatalog.builtin(store.db))


def call(
    api: SubmitApi,
    method: str,
    path: str,
    document: Any = None,
    query: dict[str, str] | None = None,
) -> tuple[int, Any]:
    body = b"" if document is None else json.dumps(document).encode()
    response = api.handle(HttpRequest(method, path, JSON, query or {}, body))
    return response.status, json.loads(response.encoded_body() or b"null")


def submit(api: SubmitApi, **fields: Any) -> str:
    status, body = call(api, "POST", "/jobs", {"task_name": "t", **fields})
    assert status == 202, body
    return str(body["job_id"])


def test_a_delayed_submission_answers_scheduled(api: SubmitApi) -> None:
    status, body = call(api, "POST", "/jobs", {"task_name": "t", "delay_seconds": 90})
    assert (status, body["status"]) == (202, "scheduled")
    status, body = call(api, "POST", "/jobs", {"task_name": "t", "run_at": "2027-01-15T10:00:00Z"})
    assert (status, body["status"]) == (202, "scheduled")
    job = call(api, "GET", f"/jobs/{body['job_id']}")[1]
    assert job["run_at"] == "2027-01-15T10:00:00+00:00"


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"delay_seconds": -1}, "delay_seconds"),
        ({"delay_seconds": "10"}, "delay_seconds"),
        ({"delay_seconds": True}, "delay_seconds"),
        ({"delay_seconds": 1e12}, "delay_seconds"),
        ({"run_at": "tomorrow"}, "run_at"),
        ({"run_at": "2027-01-15T10:00:00"}, "run_at"),  # no zone
        ({"run_at": "2027-02-30T10:00:00Z"}, "run_at"),
        ({"run_at": "2099-01-01T00:00:00Z"}, "run_at"),  # past 30 days
        ({"run_at": "2027-01-15T10:00:00Z", "delay_seconds": 5}, "not both"),
    ],
)
def test_bad_start_times_are_400s_naming_the_field(
    api: SubmitApi, store: MemoryJobStore, fields: dict[str, Any], named: str
) -> None:
    status, body = call(api, "POST", "/jobs", {"task_name": "t", **fields})
    assert status == 400 and named in body["error"]["message"]
    assert not store.jobs and not store.messages


def test_cancel_a_pending_job_then_retry_it(api: SubmitApi, store: MemoryJobStore) -> None:
    job_id = submit(api)
    status, body = call(api, "POST", f"/jobs/{job_id}/cancel")
    assert (status, body["status"]) == (200, "cancelled")
    assert not store.messages
    assert call(api, "POST", f"/jobs/{job_id}/cancel")[0] == 200  # again: no change
    status, body = call(api, "POST", f"/jobs/{job_id}/retry")
    assert (status, body["status"], body["run"]) == (202, "pending", 2)
    status, body = call(api, "POST", f"/jobs/{job_id}/retry")
    assert status == 409 and body["error"]["code"] == "wrong_job_state"
    detail = call(api, "GET", f"/jobs/{job_id}")[1]
    assert [(e["run"], e["event"]) for e in detail["events"]] == [
        (1, "submitted"),
        (1, "cancelled"),
        (2, "retried"),
    ]


@pytest.mark.parametrize("finished", [JobStatus.COMPLETED, JobStatus.FAILED])
def test_cancelling_a_finished_job_is_409(
    api: SubmitApi, store: MemoryJobStore, finished: JobStatus
) -> None:
    job_id = submit(api)
    key = uuid.UUID(job_id)
    store.jobs[key] = replace(store.jobs[key], status=finished)
    status, body = call(api, "POST", f"/jobs/{job_id}/cancel")
    assert status == 409 and finished.value in body["error"]["message"]
    assert store.jobs[key].status == finished


def test_cancelling_a_running_job_asks_its_worker(api: SubmitApi, store: MemoryJobStore) -> None:
    job_id = submit(api)
    key = uuid.UUID(job_id)
    store.jobs[key] = replace(store.jobs[key], status=JobStatus.RUNNING)
    status, body = call(api, "POST", f"/jobs/{job_id}/cancel")
    assert (status, body["status"]) == (202, "running")
    assert body["cancel_requested_at"] == datetime.fromtimestamp(NOW, UTC).isoformat()


def test_routes_refuse_unknown_jobs_methods_and_parameters(api: SubmitApi) -> None:
    missing = uuid.uuid4()
    assert call(api, "POST", f"/jobs/{missing}/cancel")[0] == 404
    assert call(api, "POST", f"/jobs/{missing}/retry")[0] == 404
    assert call(api, "GET", f"/jobs/{missing}/cancel")[0] == 405
    assert call(api, "POST", "/jobs/not-a-uuid/retry")[0] == 400
    assert call(api, "POST", f"/jobs/{missing}/pause")[0] == 404
    status, body = call(api, "POST", f"/jobs/{missing}/cancel", query={"force": "1"})
    assert status == 400 and "force" in body["error"]["message"]


def test_the_list_filters_by_status_and_names_a_bad_one(api: SubmitApi) -> None:
    cancelled = submit(api)
    call(api, "POST", f"/jobs/{cancelled}/cancel")
    pending = submit(api)
    listed = call(api, "GET", "/jobs", query={"status": "cancelled"})[1]["jobs"]
    assert [j["job_id"] for j in listed] == [cancelled]
    listed = call(api, "GET", "/jobs", query={"status": "pending", "limit": "5"})[1]["jobs"]
    assert [j["job_id"] for j in listed] == [pending]
    status, body = call(api, "GET", "/jobs", query={"status": "dead"})
    assert status == 400 and "status" in body["error"]["message"]
    assert "failed" in body["error"]["message"]  # it lists the accepted values
