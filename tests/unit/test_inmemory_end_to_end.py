"""The whole path on one in-memory database, with the real API, webhook and Worker: submit ->
the queue trigger's wake-up -> the webhook hands it to the invoker -> a drain -> the result and
the job's events, read back through the API."""

from __future__ import annotations

import json
import uuid
from typing import Any

from functions.core import signatures
from functions.core.retry import RetryPolicy
from functions.core.tasks import registry
from functions.http.submit_api import SubmitApi
from functions.http.types import HttpRequest, HttpResponse
from functions.http.webhook_api import WebhookApi
from functions.worker import Worker, WorkerSettings
from tests.inmemory import (
    FakeClock,
    InMemoryDatabase,
    MemoryJobStore,
    MemoryKindCatalog,
    MemoryWorkQueue,
    RecordingInvoker,
)

KEY = b"k" * 32
NOW = 1_800_000_000
JSON = {"content-type": "application/json"}


class World:
    """The three functions wired to one database, as the composition modules wire them to
    Postgres."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.db = InMemoryDatabase(clock=self.clock, wall=lambda: NOW)
        store = MemoryJobStore(self.db)
        self.api = SubmitApi(store, kinds=MemoryKindCatalog.builtin(self.db))
        self.invoker = RecordingInvoker()
        self.webhook = WebhookApi([KEY], self.invoker, clock=lambda: NOW)
        self.worker = Worker(
            MemoryWorkQueue(self.db),
            registry,
            RetryPolicy(max_attempts=2, base_delay_s=0),
            WorkerSettings(batch_size=4, retry_wait_s=0, idle_linger_s=0),
            clock=self.clock,
            draw=lambda: 0.0,
        )

    def call(self, method: str, path: str, document: Any = None) -> HttpResponse:
        body = json.dumps(document).encode() if document is not None else b""
        return self.api.handle(HttpRequest(method, path, JSON, {}, body))

    def deliver_wake_ups(self) -> list[HttpResponse]:
        """What pg_net does: POST each wake-up the trigger sent, signed, to the webhook."""
        answers = []
        for wake_up in self.db.wake_ups:
            body = json.dumps(wake_up).encode()
            wake_id = wake_up["wake_id"]
            headers = {
                **JSON,
                "webhook-id": wake_id,
                "webhook-timestamp": str(NOW),
                "webhook-signature": signatures.sign([KEY], wake_id, NOW, body),
            }
            answers.append(self.webhook.handle(HttpRequest("POST", "/", headers, {}, body)))
        self.db.wake_ups.clear()
        return answers


def events(job: dict[str, Any]) -> list[tuple[int, str, str]]:
    return [(e["attempt"], e["event"], e["status"]) for e in job["events"]]


def test_a_submitted_job_is_woken_for_drained_and_read_back_with_its_history() -> None:
    world = World()
    submitted = world.call("POST", "/jobs", {"task_name": "Greeting", "kind": "echo"})
    assert submitted.status == 202, submitted.body
    job_id = submitted.body["job_id"]

    (answer,) = world.deliver_wake_ups()
    assert answer.status == 202
    (invocation,) = world.invoker.calls
    assert set(invocation) == {"wake_id"}  # the id its worker takes, nothing it would ignore

    report = world.worker.drain(world.clock.monotonic() + 60, invocation["wake_id"])
    assert report.to_json()["completed"] == 1
    # The same wake-up again (a replay, or Lambda delivering an event twice) runs nothing.
    again = world.worker.drain(world.clock.monotonic() + 60, invocation["wake_id"])
    assert again.to_json()["completed"] == 0

    job = world.call("GET", f"/jobs/{job_id}").body
    assert (job["status"], job["kind"], job["attempts"]) == ("completed", "echo", 1)
    assert job["result"] is not None
    assert events(job) == [
        (0, "submitted", "pending"),
        (1, "started", "running"),
        (1, "completed", "completed"),
    ]
    assert not world.db.queue and len(world.db.archive) == 1
    assert not world.db.wake_ups  # leaving an empty queue wakes nobody


def test_a_burst_wakes_once_and_one_drain_runs_it_all_a_failure_retried_in_place() -> None:
    world = World()
    good = {"task_name": "ok", "kind": "noop"}
    bad = {"task_name": "bad", "kind": "fail"}
    ids = world.call("POST", "/jobs", [good, good, bad]).body["job_ids"]
    later = world.call("POST", "/jobs", good).body["job_id"]

    assert len(world.deliver_wake_ups()) == 1  # one call for the burst (the wake-up window)
    assert len(world.invoker.calls) == 1
    report = world.worker.drain(world.clock.monotonic() + 60)
    assert report.to_json() == {
        "completed": 3,
        "failed": 1,
        "retried": 1,
        "skipped": 0,
        "handed_back": 0,
        "cancelled": 0,
    }

    statuses = {i: world.call("GET", f"/jobs/{i}").body for i in [*ids, later]}
    assert [statuses[i]["status"] for i in [*ids, later]] == [
        "completed",
        "completed",
        "failed",
        "completed",
    ]
    failed = statuses[ids[2]]
    assert failed["attempts"] == 2
    assert [e for _, e, _ in events(failed)] == [
        "submitted",
        "started",
        "retrying",
        "started",
        "failed",
    ]


def test_a_cancelled_job_is_never_run_and_a_retried_one_runs_again() -> None:
    world = World()
    job_id = world.call("POST", "/jobs", {"task_name": "t", "kind": "noop"}).body["job_id"]
    assert world.call("POST", f"/jobs/{job_id}/cancel").status == 200
    assert world.worker.drain(world.clock.monotonic() + 60).completed == 0

    assert world.call("POST", f"/jobs/{job_id}/retry").status == 202
    assert world.worker.drain(world.clock.monotonic() + 60).completed == 1
    job = world.call("GET", f"/jobs/{job_id}").body
    assert (job["status"], job["run"]) == ("completed", 2)
    assert [e for _, e, _ in events(job)] == [
        "submitted",
        "cancelled",
        "retried",
        "started",
        "completed",
    ]
    assert uuid.UUID(job_id) in world.db.jobs
