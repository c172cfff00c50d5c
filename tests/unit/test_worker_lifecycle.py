"""Progress and cancellation in the worker, against the in-memory queue and a clock the tests
move: the heartbeat writes the latest progress and passes a cancel request to the task."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import pytest

from functions.core.models import JobStatus, ProgressReport
from functions.core.retry import RetryPolicy
from functions.core.tasks import TaskContext, TaskRegistry
from functions.worker import CONTROL_TICK_S, Worker, WorkerSettings
from tests.inmemory import FakeClock, MemoryWorkQueue

HOUR = 3600.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def make_worker(queue: MemoryWorkQueue, registry: TaskRegistry, clock: FakeClock) -> Worker:
    return Worker(
        queue=queue,
        registry=registry,
        policy=RetryPolicy(max_attempts=3, base_delay_s=0),
        settings=WorkerSettings(batch_size=4, visibility_s=30, task_timeout_s=60, retry_wait_s=0),
        clock=clock,
        draw=lambda: 0.5,
    )


class WatchedQueue(MemoryWorkQueue):
    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock=clock)
        self.progress_written = threading.Event()

    def report_progress(self, reports: Sequence[ProgressReport]) -> None:
        super().report_progress(reports)
        if reports:
            self.progress_written.set()


def beat(clock: FakeClock) -> None:
    """Let the heartbeat take its next beat."""
    until = clock.monotonic() + CONTROL_TICK_S
    clock.wait_for_waiter(until)
    clock.advance(CONTROL_TICK_S)


def test_progress_is_written_by_the_heartbeat_latest_report_winning(clock: FakeClock) -> None:
    queue = WatchedQueue(clock)
    registry = TaskRegistry()

    @registry.task("steps")
    def steps(ctx: TaskContext) -> str:
        for done in range(1, 5):
            ctx.progress(done, 4, f"step {done}")
        beat(clock)
        return "written" if queue.progress_written.wait(5) else "never written"

    job_id = queue.submit("x", kind="steps")
    make_worker(queue, registry, clock).drain(HOUR)
    job = queue.jobs[job_id]
    assert job.result == "written"
    assert (job.progress, job.progress_total, job.progress_message) == (4.0, 4.0, "step 4")
    assert job.progress_writes == 1  # four reports within one beat: one write


def test_progress_refuses_what_is_not_a_count() -> None:
    ctx = TaskContext(job_id=__import__("uuid").uuid4(), task_name="t", payload={}, attempt=1)
    for done, total in [(float("nan"), None), (-1, None), (1, float("inf")), (True, None)]:
        with pytest.raises(ValueError):
            ctx.progress(done, total)
    ctx.progress(3, None, "x" * 500)
    assert ctx.control.take_progress() == (3.0, None, "x" * 200)
    assert ctx.control.take_progress() is None  # taken once


def test_a_cancelled_task_that_checks_ends_cancelled_without_retry(clock: FakeClock) -> None:
    queue = MemoryWorkQueue(clock=clock)
    registry = TaskRegistry()

    @registry.task("patient")
    def patient(ctx: TaskContext) -> str:
        queue.request_cancel(ctx.job_id)
        assert not ctx.cancelled  # not until the heartbeat has looked
        beat(clock)
        ctx.sleep(30)  # real seconds: returns early by raising once the flag is set
        return "not stopped"

    job_id = queue.submit("x", kind="patient")
    report = make_worker(queue, registry, clock).drain(HOUR)
    job = queue.jobs[job_id]
    assert (job.status, job.error, job.attempts) == (JobStatus.CANCELLED, "cancelled on request", 1)
    assert (report.cancelled, report.retried, report.failed) == (1, 0, 0)
    assert not queue.queue  # the message is archived


def test_a_task_that_ignores_the_cancel_is_stopped_at_its_deadline(
    clock: FakeClock, release: threading.Event
) -> None:
    queue = MemoryWorkQueue(clock=clock)
    registry = TaskRegistry()
    seen = threading.Event()

    @registry.task("stubborn", time_limit_s=20)
    def stubborn(ctx: TaskContext) -> str:
        queue.request_cancel(ctx.job_id)
        beat(clock)
        if ctx.control.cancel_event.wait(5):
            seen.set()
        release.wait(60)  # ignores it
        return "too late"

    job_id = queue.submit("x", kind="stubborn")
    worker = make_worker(queue, registry, clock)
    drainer = threading.Thread(target=worker.drain, args=(HOUR,))
    drainer.start()
    assert seen.wait(10)
    assert queue.jobs[job_id].status == JobStatus.RUNNING  # it runs on to its limit
    clock.advance(20)
    drainer.join(10)
    assert not drainer.is_alive()
    assert queue.jobs[job_id].status == JobStatus.CANCELLED


def test_a_cancel_the_worker_has_not_seen_still_prevents_the_retry(clock: FakeClock) -> None:
    queue = MemoryWorkQueue(clock=clock)
    registry = TaskRegistry()

    @registry.task("flaky")
    def flaky(ctx: TaskContext) -> str:
        queue.request_cancel(ctx.job_id)
        raise ValueError("blip")  # before any beat: the worker schedules a retry

    job_id = queue.submit("x", kind="flaky")
    make_worker(queue, registry, clock).drain(HOUR)
    job = queue.jobs[job_id]
    assert (job.status, job.attempts) == (JobStatus.CANCELLED, 1)


def test_a_result_produced_after_the_request_still_completes(clock: FakeClock) -> None:
    queue = MemoryWorkQueue(clock=clock)
    registry = TaskRegistry()

    @registry.task("quick")
    def quick(ctx: TaskContext) -> str:
        queue.request_cancel(ctx.job_id)
        beat(clock)
        ctx.control.cancel_event.wait(5)
        return "done anyway"

    job_id = queue.submit("x", kind="quick")
    make_worker(queue, registry, clock).drain(HOUR)
    assert queue.jobs[job_id].status == JobStatus.COMPLETED


def test_a_pending_job_is_cancelled_at_once(clock: FakeClock) -> None:
    queue = MemoryWorkQueue(clock=clock)
    job_id = queue.submit("x", kind="ok")
    assert queue.request_cancel(job_id) == JobStatus.CANCELLED
    assert not queue.queue
    report = make_worker(queue, TaskRegistry(), clock).drain(HOUR)
    assert report.handled == 0
