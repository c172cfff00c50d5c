"""The worker loop against the in-memory queue: no I/O, a fake clock where time matters."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from functions.core.models import Outcome
from functions.core.retry import RetryPolicy
from functions.core.tasks import TaskContext, TaskRegistry
from functions.core.worker import Worker, WorkerSettings
from functions.testing import InMemoryWorkQueue


def make_worker(queue: InMemoryWorkQueue, registry: TaskRegistry, **settings: float) -> Worker:
    return Worker(
        queue=queue,
        registry=registry,
        policy=RetryPolicy(max_attempts=3, base_delay_s=0),
        settings=WorkerSettings(batch_size=4, visibility_s=30, **settings),  # type: ignore[arg-type]
    )


def tasks() -> TaskRegistry:
    registry = TaskRegistry()
    calls: dict[str, int] = {}

    @registry.task("ok")
    def ok(ctx: TaskContext) -> str:
        return f"done {ctx.task_name}"

    @registry.task("boom")
    def boom(ctx: TaskContext) -> str:
        raise ValueError("nope")

    @registry.task("second_time")
    def second_time(ctx: TaskContext) -> str:
        calls[ctx.task_name] = calls.get(ctx.task_name, 0) + 1
        if ctx.attempt == 1:
            raise ValueError("first")
        return "second"

    return registry


def test_a_backlog_drains_in_batches() -> None:
    queue = InMemoryWorkQueue()
    ids = [queue.submit(f"job{i}", {"kind": "ok"}) for i in range(10)]
    report = make_worker(queue, tasks()).drain(time.monotonic() + 10)
    assert report.completed == 10
    assert all(queue.jobs[i].result == f"done job{n}" for n, i in enumerate(ids))
    assert not queue.queue and len(queue.archive) == 10


def test_failures_retry_then_fail_with_the_error() -> None:
    queue = InMemoryWorkQueue()
    job_id = queue.submit("bad", {"kind": "boom"})
    report = make_worker(queue, tasks()).drain(time.monotonic() + 10)
    job = queue.jobs[job_id]
    assert (job.status, job.attempts, job.error) == ("failed", 3, "ValueError: nope")
    assert (report.retried, report.failed) == (2, 1)
    assert job.writes == 1


def test_a_retry_that_succeeds_clears_the_error() -> None:
    queue = InMemoryWorkQueue()
    job_id = queue.submit("x", {"kind": "second_time"})
    make_worker(queue, tasks()).drain(time.monotonic() + 10)
    job = queue.jobs[job_id]
    assert (job.status, job.attempts, job.result, job.error) == ("completed", 2, "second", None)


def test_a_finished_job_is_archived_without_running_again() -> None:
    queue = InMemoryWorkQueue()
    job_id = queue.submit("once", {"kind": "ok"})
    make_worker(queue, tasks()).drain(time.monotonic() + 10)
    # A duplicate message for the same job (a redelivery) must not run it again.
    queue.queue[99] = type(queue.archive[1])(99, job_id, "once", 0.0)
    report = make_worker(queue, tasks()).drain(time.monotonic() + 10)
    assert (report.skipped, report.completed) == (1, 0)
    assert queue.jobs[job_id].writes == 1 and 99 in queue.archive


def test_a_task_past_its_time_limit_counts_as_a_failed_attempt() -> None:
    queue = InMemoryWorkQueue()
    release = threading.Event()
    registry = TaskRegistry()

    @registry.task("hang")
    def hang(ctx: TaskContext) -> str:
        release.wait(10)
        return "too late"

    job_id = queue.submit("slow", {"kind": "hang"})
    try:
        make_worker(queue, registry, task_timeout_s=0.05).drain(time.monotonic() + 10)
    finally:
        release.set()
    job = queue.jobs[job_id]
    assert (job.status, job.attempts) == ("failed", 3)
    assert job.error == "timed out after 0.05 s"


def test_attempts_lost_to_crashes_end_in_failure_without_running() -> None:
    queue = InMemoryWorkQueue()
    job_id = queue.submit("crashy", {"kind": "ok"})
    queue.jobs[job_id].attempts = 3  # three earlier claims that never reported back
    report = make_worker(queue, tasks()).drain(time.monotonic() + 10)
    job = queue.jobs[job_id]
    assert report.failed == 1
    assert (job.status, job.result) == ("failed", None)
    assert "gave up after 3 attempts" in (job.error or "")


def test_a_quick_job_is_recorded_before_its_slow_batch_mate_finishes() -> None:
    quick_recorded = threading.Event()

    class WatchedQueue(InMemoryWorkQueue):
        def finish(self, outcomes: Sequence[Outcome]) -> set[int]:
            recorded = super().finish(outcomes)
            if any(o.claim.task_name == "quick" for o in outcomes):
                quick_recorded.set()
            return recorded

    queue = WatchedQueue()
    registry = TaskRegistry()

    @registry.task("slow")
    def slow(ctx: TaskContext) -> str:
        # Finishes only once the quick job's result is written (or gives up after 5 s).
        return "saw quick recorded" if quick_recorded.wait(5) else "quick was not recorded"

    @registry.task("quick")
    def quick(ctx: TaskContext) -> str:
        return "quick"

    slow_id = queue.submit("slow", {"kind": "slow"})
    queue.submit("quick", {"kind": "quick"})
    make_worker(queue, registry).drain(time.monotonic() + 10)
    assert queue.jobs[slow_id].result == "saw quick recorded"
