"""The worker loop against the in-memory queue and a clock the tests move: no I/O, no waiting
on real time."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator, Sequence
from uuid import UUID

import pytest

from functions.core.models import Claim, JobStatus, Outcome, QueueMessage
from functions.core.retry import RetryPolicy
from functions.core.tasks import TaskContext, TaskRegistry
from functions.worker import DrainReport, Worker, WorkerSettings
from tests.inmemory import FakeClock, MemoryWorkQueue

HOLDER = "test-worker"  # the lease holder these claims are made for

HOUR = 3600.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at the end of a test, so tasks left hanging past their limit end too."""
    event = threading.Event()
    yield event
    event.set()


def make_worker(
    queue: MemoryWorkQueue,
    registry: TaskRegistry,
    clock: FakeClock,
    base_delay_s: float = 0,
    batch_size: int = 4,
    retry_wait_s: float = 30,
) -> Worker:
    return Worker(
        queue=queue,
        registry=registry,
        policy=RetryPolicy(max_attempts=3, base_delay_s=base_delay_s),
        settings=WorkerSettings(
            batch_size=batch_size, visibility_s=30, task_timeout_s=60, retry_wait_s=retry_wait_s
        ),
        clock=clock,
        draw=lambda: 0.5,
    )


def tasks() -> TaskRegistry:
    registry = TaskRegistry()

    @registry.task("ok")
    def ok(ctx: TaskContext) -> str:
        return f"done {ctx.task_name}"

    @registry.task("boom")
    def boom(ctx: TaskContext) -> str:
        raise ValueError("nope")

    @registry.task("second_time")
    def second_time(ctx: TaskContext) -> str:
        if ctx.attempt == 1:
            raise ValueError("first")
        return "second"

    return registry


def drain(worker: Worker, seconds: float = HOUR) -> DrainReport:
    return worker.drain(worker.clock.monotonic() + seconds)


def test_a_backlog_drains_in_batches(clock: FakeClock) -> None:
    queue = MemoryWorkQueue(clock=clock)
    ids = [queue.submit(f"job{i}", kind="ok") for i in range(10)]
    report = drain(make_worker(queue, tasks(), clock))
    assert report.completed == 10
    assert all(queue.jobs[i].result == f"done job{n}" for n, i in enumerate(ids))
    assert not queue.queue and len(queue.archive) == 10


def test_failures_retry_then_fail_with_the_error(clock: FakeClock) -> None:
    queue = MemoryWorkQueue(clock=clock)
    job_id = queue.submit("bad", kind="boom")
    report = drain(make_worker(queue, tasks(), clock))
    job = queue.jobs[job_id]
    assert (job.status, job.attempts, job.error) == ("failed", 3, "ValueError: nope")
    assert (report.retried, report.failed) == (2, 1)
    assert job.writes == 1


def test_a_retry_that_succeeds_clears_the_error(clock: FakeClock) -> None:
    queue = MemoryWorkQueue(clock=clock)
    job_id = queue.submit("x", kind="second_time")
    drain(make_worker(queue, tasks(), clock))
    job = queue.jobs[job_id]
    assert (job.status, job.attempts, job.result, job.error) == ("completed", 2, "second", None)


def test_a_finished_job_is_archived_without_running_again(clock: FakeClock) -> None:
    queue = MemoryWorkQueue(clock=clock)
    job_id = queue.submit("once", kind="ok")
    drain(make_worker(queue, tasks(), clock))
    # A duplicate message for the same job (a redelivery) must not run it again.
    queue.queue[99] = type(queue.archive[1])(99, job_id, 0.0)
    report = drain(make_worker(queue, tasks(), clock))
    assert (report.skipped, report.completed) == (1, 0)
    assert queue.jobs[job_id].writes == 1 and 99 in queue.archive


def test_a_task_past_its_own_limit_counts_as_a_failed_attempt(
    clock: FakeClock, release: threading.Event
) -> None:
    queue = MemoryWorkQueue(clock=clock)
    registry = TaskRegistry()

    @registry.task("hang", time_limit_s=10)
    def hang(ctx: TaskContext) -> str:
        clock.advance(11)
        release.wait(30)
        return "too late"

    job_id = queue.submit("slow", kind="hang")
    report = drain(make_worker(queue, registry, clock))
    job = queue.jobs[job_id]
    assert (job.status, job.attempts, job.error) == ("failed", 3, "timed out after 10 s")
    assert (report.retried, report.failed, report.handed_back) == (2, 1, 0)


def test_attempts_lost_to_crashes_end_in_failure_without_running(clock: FakeClock) -> None:
    queue = MemoryWorkQueue(clock=clock)
    job_id = queue.submit("crashy", kind="ok")
    queue.jobs[job_id].attempts = 3  # three earlier claims that never reported back
    report = drain(make_worker(queue, tasks(), clock))
    job = queue.jobs[job_id]
    assert report.failed == 1
    assert (job.status, job.result) == ("failed", None)
    assert "gave up after 3 attempts" in (job.error or "")


def test_a_quick_job_is_recorded_before_its_slow_batch_mate_finishes(clock: FakeClock) -> None:
    quick_recorded = threading.Event()

    class WatchedQueue(MemoryWorkQueue):
        def finish(self, outcomes: Sequence[Outcome]) -> set[int]:
            recorded = super().finish(outcomes)
            if any(o.claim.task_name == "quick" for o in outcomes):
                quick_recorded.set()
            return recorded

    queue = WatchedQueue(clock=clock)
    registry = TaskRegistry()

    @registry.task("slow")
    def slow(ctx: TaskContext) -> str:
        # Finishes only once the quick job's result is written (or gives up after 5 s).
        return "saw quick recorded" if quick_recorded.wait(5) else "quick was not recorded"

    @registry.task("quick")
    def quick(ctx: TaskContext) -> str:
        return "quick"

    slow_id = queue.submit("slow", kind="slow")
    queue.submit("quick", kind="quick")
    drain(make_worker(queue, registry, clock))
    assert queue.jobs[slow_id].result == "saw quick recorded"


# -- deadlines ----------------------------------------------------------------------------------


def limited_tasks(clock: FakeClock, release: threading.Event) -> TaskRegistry:
    registry = TaskRegistry()

    @registry.task("short", time_limit_s=2)
    def short(ctx: TaskContext) -> str:
        clock.advance(1)
        return "short done"

    @registry.task("thumbnail", time_limit_s=60)
    def thumbnail(ctx: TaskContext) -> str:
        return "thumbnail done"

    @registry.task("steady", time_limit_s=10)
    def steady(ctx: TaskContext) -> str:
        clock.advance(10)  # uses its whole limit
        release.wait(30)
        return "steady done"

    return registry


def assert_untouched(queue: MemoryWorkQueue, job_id: UUID) -> None:
    """The job waits as if no worker had seen it: pending, no attempt, its message visible
    now and not counted as delivered."""
    job = queue.jobs[job_id]
    (message,) = [m for m in queue.queue.values() if m.job_id == job_id]
    assert (job.status, job.attempts) == (JobStatus.PENDING, 0)
    assert (message.read_count, message.visible_at <= queue.clock.monotonic()) == (0, True)


def test_an_invocation_with_too_little_time_claims_nothing(clock: FakeClock) -> None:
    registry = TaskRegistry()

    @registry.task("simulate", time_limit_s=11)  # runs 5-10 s
    @registry.task("thumbnail", time_limit_s=60)
    def work(ctx: TaskContext) -> str:
        return "ran"

    queue = MemoryWorkQueue(clock=clock)
    job_id = queue.submit("report", kind="simulate")
    # The case: five seconds left, and no task that could finish in them.
    report = drain(make_worker(queue, registry, clock), seconds=5)
    assert report == DrainReport()
    assert_untouched(queue, job_id)


def test_claimed_work_that_cannot_finish_in_time_is_handed_back_at_once(
    clock: FakeClock, release: threading.Event
) -> None:
    queue = MemoryWorkQueue(clock=clock)
    short_id = queue.submit("a", kind="short")
    long_id = queue.submit("b", kind="thumbnail")
    later_id = queue.submit("c", kind="short")
    worker = make_worker(queue, limited_tasks(clock, release), clock, batch_size=2)
    report = drain(worker, seconds=5)
    # The batch held a task that fits and one that does not: the first ran, the second went
    # back at once and the drain stopped claiming (it would only fetch it again).
    assert (report.completed, report.handed_back) == (1, 1)
    assert queue.jobs[short_id].result == "short done"
    assert_untouched(queue, long_id)
    assert_untouched(queue, later_id)
    # The next invocation, with time enough, runs both as first deliveries.
    report = drain(worker, seconds=HOUR)
    assert (report.completed, report.handed_back) == (2, 0)
    assert {queue.jobs[i].attempts for i in (long_id, later_id)} == {1}


def test_redeliveries_left_when_time_runs_out_go_back_unstarted(
    clock: FakeClock, release: threading.Event
) -> None:
    queue = MemoryWorkQueue(clock=clock)
    ids = [queue.submit(f"j{i}", kind="short") for i in range(3)]
    queue.claim(HOLDER, 10, 0)  # a worker that died: all three come back as redeliveries
    report = drain(make_worker(queue, limited_tasks(clock, release), clock), seconds=3.5)
    # One a claim and one at a time, a second each: two fit in 3.5 s with a 2 s limit; the
    # third is not even claimed, so it waits untouched for a worker with time.
    assert (report.completed, report.handed_back) == (2, 0)
    left = queue.jobs[ids[2]]
    (message,) = queue.queue.values()
    assert (left.status, left.attempts) == (JobStatus.RUNNING, 1)  # the dead worker's start
    assert (message.read_count, message.visible_at <= clock.monotonic()) == (1, True)


def test_a_task_cut_short_by_the_invocation_goes_back_uncounted(
    clock: FakeClock, release: threading.Event
) -> None:
    class SlowDatabase(MemoryWorkQueue):
        def hand_back(self, claims: Sequence[Claim], unstarted: Sequence[QueueMessage]) -> set[int]:
            clock.advance(3)  # the statement takes 3 s, eating into the next task's time
            return super().hand_back(claims, unstarted)

    queue = SlowDatabase(clock=clock)
    steady_id = queue.submit("a", kind="steady")
    long_id = queue.submit("b", kind="thumbnail")
    # At 0 both are claimed; steady fits (10 s of 12), thumbnail is handed back, taking 3 s,
    # so steady starts at 3 and the invocation's deadline stops it at 12, before its own 13.
    report = drain(make_worker(queue, limited_tasks(clock, release), clock), seconds=12)
    assert (report.completed, report.failed, report.retried, report.handed_back) == (0, 0, 0, 2)
    assert_untouched(queue, steady_id)
    assert_untouched(queue, long_id)
    assert queue.jobs[steady_id].error is None


def test_a_long_task_keeps_its_claim(clock: FakeClock) -> None:
    extended = threading.Event()

    class WatchedQueue(MemoryWorkQueue):
        def extend(self, msg_ids: Sequence[int], visibility_s: int) -> None:
            super().extend(msg_ids, visibility_s)
            extended.set()

    queue = WatchedQueue(clock=clock)
    registry = TaskRegistry()

    @registry.task("long", time_limit_s=100)
    def long(ctx: TaskContext) -> str:
        clock.wait_for_waiter(0.5)  # the heartbeat's first beat (it extends every 10 s)
        clock.advance(25)  # past the 10 s heartbeat, within the 30 s visibility
        return "kept" if extended.wait(5) else "never extended"

    job_id = queue.submit("x", kind="long")
    drain(make_worker(queue, registry, clock))
    assert queue.jobs[job_id].result == "kept"


def test_a_retry_waits_out_its_jittered_delay(clock: FakeClock) -> None:
    queue = MemoryWorkQueue(clock=clock)
    registry = tasks()
    ran_at: list[float] = []

    @registry.task("flaky")
    def flaky(ctx: TaskContext) -> str:
        ran_at.append(clock.monotonic())
        if ctx.attempt == 1:
            raise ValueError("blip")
        return "fine"

    job_id = queue.submit("x", kind="flaky")
    # Base 4 s, draw 0.5: equal jitter gives 2 + 1 = 3 s, within the 30 s linger.
    worker = make_worker(queue, registry, clock, base_delay_s=4)
    reports: list[DrainReport] = []
    drainer = threading.Thread(target=lambda: reports.append(drain(worker)))
    drainer.start()
    clock.wait_for_waiter(3.05)  # the worker waits for the retry (and a hair for the clocks)
    clock.advance(3.05)
    drainer.join(10)
    assert not drainer.is_alive()
    assert ran_at == [0.0, 3.05]
    assert queue.jobs[job_id].status == JobStatus.COMPLETED
    assert (reports[0].retried, reports[0].completed) == (1, 1)


def test_a_retry_due_after_the_linger_is_left_to_the_next_invocation(clock: FakeClock) -> None:
    queue = MemoryWorkQueue(clock=clock)
    job_id = queue.submit("bad", kind="boom")
    report = drain(make_worker(queue, tasks(), clock, base_delay_s=100, retry_wait_s=10))
    (message,) = queue.queue.values()
    assert (report.retried, clock.monotonic()) == (1, 0.0)
    assert message.visible_at == 75.0  # 50 s, plus 25 s from the draw of 0.5
    assert (queue.jobs[job_id].status, queue.jobs[job_id].error) == ("pending", "ValueError: nope")


def test_jobs_failed_together_come_back_spread_out(clock: FakeClock) -> None:
    queue = MemoryWorkQueue(clock=clock)
    for i in range(8):
        queue.submit(f"j{i}", kind="boom")  # one blip fails them all at once
    worker = Worker(
        queue=queue,
        registry=tasks(),
        policy=RetryPolicy(max_attempts=3, base_delay_s=10),
        settings=WorkerSettings(batch_size=8, retry_wait_s=0),
        clock=clock,
        draw=random.Random(3).random,
    )
    assert drain(worker).retried == 8
    due = sorted(m.visible_at for m in queue.queue.values())
    assert len(set(due)) == 8  # no two in lockstep
    assert due[0] >= 5 and due[-1] < 10  # none sooner than half the delay, none later than it
