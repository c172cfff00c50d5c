"""The worker's side of coalesced wake-ups, against the in-memory queue and a clock the tests
move: it holds the lease while it drains and lingers, picks up work that arrives while it
lingers, and leaves so that whatever is left gets a wake-up."""

from __future__ import annotations

import threading

from functions.core.retry import RetryPolicy
from functions.core.tasks import TaskContext, TaskRegistry
from functions.core.worker import DrainReport, Worker, WorkerSettings
from functions.testing import FakeClock, InMemoryWorkQueue
from tests.waiting import wait_for


def registry() -> TaskRegistry:
    tasks = TaskRegistry()

    @tasks.task("ok", time_limit_s=5)
    def ok(ctx: TaskContext) -> str:
        return "done"

    return tasks


def worker(queue: InMemoryWorkQueue, clock: FakeClock, linger_s: float) -> Worker:
    return Worker(
        queue=queue,
        registry=registry(),
        policy=RetryPolicy(max_attempts=3, base_delay_s=0),
        settings=WorkerSettings(batch_size=4, visibility_s=30, idle_linger_s=linger_s),
        clock=clock,
    )


def live_leases(queue: InMemoryWorkQueue, clock: FakeClock) -> list[str]:
    return [h for h, expiry in queue.leases.items() if expiry > clock.monotonic()]


def test_a_drain_leaves_no_lease_behind_and_the_next_job_wakes_a_worker() -> None:
    clock = FakeClock()
    queue = InMemoryWorkQueue(clock=clock)
    queue.submit("a", {"kind": "ok"})
    assert queue.wakeups == 1
    report = worker(queue, clock, linger_s=0).drain(clock.monotonic() + 600)
    assert report.completed == 1
    assert live_leases(queue, clock) == []
    queue.submit("b", {"kind": "ok"})
    assert queue.wakeups == 2


def test_a_lingering_worker_takes_new_work_without_a_wake_up() -> None:
    clock = FakeClock()
    queue = InMemoryWorkQueue(clock=clock)
    first = queue.submit("a", {"kind": "ok"})
    w = worker(queue, clock, linger_s=5)
    reports: list[DrainReport] = []
    thread = threading.Thread(target=lambda: reports.append(w.drain(clock.monotonic() + 600)))
    thread.start()
    try:
        wait_for(lambda: queue.jobs[first].status.is_terminal, what="the first job")
        second = queue.submit("b", {"kind": "ok"})  # while the worker lingers
        wait_for(lambda: queue.jobs[second].status.is_terminal, what="the second job")
        assert queue.wakeups == 1  # the second saw the lease
        assert live_leases(queue, clock)
        clock.advance(6)  # past the linger
        thread.join(timeout=30)
        assert not thread.is_alive()
    finally:
        clock.advance(600)
        thread.join(timeout=30)
    assert reports[0].completed == 2
    assert live_leases(queue, clock) == []


def test_a_worker_out_of_time_leaves_a_wake_up_for_what_is_visible() -> None:
    clock = FakeClock()
    queue = InMemoryWorkQueue(clock=clock)
    queue.submit("a", {"kind": "ok"})
    assert queue.wakeups == 1
    report = worker(queue, clock, linger_s=5).drain(clock.monotonic() + 1)  # no room for 5 s
    assert report.handled == 0
    assert queue.wakeups == 2  # leaving, it had the database wake another worker
    assert live_leases(queue, clock) == ["wake-up"]
