"""The worker's side of coalesced wake-ups, against the in-memory queue and a clock the tests
move: it holds the lease while it drains and lingers, picks up work that arrives while it
lingers, and leaves so that whatever is left gets a wake-up."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from uuid import UUID

from functions.core.retry import RetryPolicy
from functions.core.tasks import TaskContext, TaskRegistry
from functions.worker import CONTROL_TICK_S, DrainReport, Worker, WorkerSettings
from tests.inmemory import FakeClock, MemoryWorkQueue
from tests.waiting import wait_for


def registry() -> TaskRegistry:
    tasks = TaskRegistry()

    @tasks.task("ok", time_limit_s=5)
    def ok(ctx: TaskContext) -> str:
        return "done"

    return tasks


def worker(queue: MemoryWorkQueue, clock: FakeClock, idle_linger_s: float) -> Worker:
    return Worker(
        queue=queue,
        registry=registry(),
        policy=RetryPolicy(max_attempts=3, base_delay_s=0),
        settings=WorkerSettings(batch_size=4, visibility_s=30, idle_linger_s=idle_linger_s),
        clock=clock,
    )


def live_leases(queue: MemoryWorkQueue, clock: FakeClock) -> list[str]:
    return [h for h, expiry in queue.leases.items() if expiry > clock.monotonic()]


def test_a_drain_leaves_no_lease_behind_and_the_next_job_wakes_a_worker() -> None:
    clock = FakeClock()
    queue = MemoryWorkQueue(clock=clock)
    queue.submit("a", kind="ok")
    assert queue.wakeups == 1
    wake_id = queue.db.wake_ups[-1]["wake_id"]
    report = worker(queue, clock, idle_linger_s=0).drain(clock.monotonic() + 600, wake_id)
    assert report.completed == 1
    assert live_leases(queue, clock) == []
    queue.submit("b", kind="ok")
    assert queue.wakeups == 2


def test_a_lingering_worker_takes_new_work_without_a_wake_up() -> None:
    clock = FakeClock()
    queue = MemoryWorkQueue(clock=clock)
    first = queue.submit("a", kind="ok")
    w = worker(queue, clock, idle_linger_s=5)
    reports: list[DrainReport] = []
    thread = threading.Thread(target=lambda: reports.append(w.drain(clock.monotonic() + 600)))
    thread.start()
    try:
        wait_for(lambda: queue.jobs[first].status.is_terminal, what="the first job")
        second = queue.submit("b", kind="ok")  # while the worker lingers
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


def test_a_drain_that_finds_nothing_answers_without_lingering() -> None:
    """Issue 24: process_job's first request after a cold start (and a sweep's tick) found an
    empty queue and then waited out the whole linger (2 s locally) before answering."""
    clock = FakeClock()
    queue = MemoryWorkQueue(clock=clock)
    w = worker(queue, clock, idle_linger_s=5)
    reports: list[DrainReport] = []
    thread = threading.Thread(target=lambda: reports.append(w.drain(clock.monotonic() + 600)))
    thread.start()
    try:
        # The fake clock never moves here: a lingering drain would never return.
        wait_for(lambda: not thread.is_alive(), what="the drain to return without lingering")
    finally:
        clock.advance(600)
        thread.join(timeout=30)
    assert reports[0].handled == 0
    assert live_leases(queue, clock) == []


def test_a_worker_out_of_time_leaves_a_wake_up_for_what_is_visible() -> None:
    clock = FakeClock()
    queue = MemoryWorkQueue(clock=clock)
    queue.submit("a", kind="ok")
    assert queue.wakeups == 1
    woken_by = queue.db.wake_ups[-1]["wake_id"]
    w = worker(queue, clock, idle_linger_s=5)
    report = w.drain(clock.monotonic() + 1, woken_by)  # no room for a 5 s task
    assert report.handled == 0
    assert queue.wakeups == 2  # leaving, it had the database wake another worker
    [on_its_way] = live_leases(queue, clock)
    assert on_its_way == queue.db.wake_ups[-1]["wake_id"] != woken_by


class CountingQueue(MemoryWorkQueue):
    """Notes when the heartbeat thread renews the lease, extends visibility and looks for
    cancel requests (fake times, from the start)."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock=clock)
        self.beats: dict[str, list[float]] = {"hold": [], "extend": [], "control": []}

    def _note(self, what: str) -> None:
        if threading.current_thread().name == "visibility-heartbeat":
            self.beats[what].append(self.clock.monotonic())

    def hold(self, holder: str, lease_s: float) -> None:
        self._note("hold")
        super().hold(holder, lease_s)

    def extend(self, msg_ids: Sequence[int], visibility_s: int) -> None:
        self._note("extend")
        super().extend(msg_ids, visibility_s)

    def cancel_requested(self, job_ids: Sequence[UUID]) -> set[UUID]:
        self._note("control")
        return super().cancel_requested(job_ids)


def test_one_heartbeat_ticks_control_and_renews_the_lease_and_visibility_on_their_periods() -> None:
    clock = FakeClock()
    queue = CountingQueue(clock)
    tasks = TaskRegistry()

    @tasks.task("long", time_limit_s=60)
    def long(ctx: TaskContext) -> str:
        for _ in range(42):  # 21 s, one beat at a time
            until = clock.monotonic() + CONTROL_TICK_S
            clock.wait_for_waiter(until)
            clock.advance(CONTROL_TICK_S)
        wait_for(lambda: len(queue.beats["control"]) >= 42 or None, timeout=10, what="42 beats")
        return "done"

    queue.submit("x", kind="long")
    worker = Worker(
        queue=queue,
        registry=tasks,
        policy=RetryPolicy(max_attempts=1, base_delay_s=0),
        settings=WorkerSettings(batch_size=1, visibility_s=30, lease_s=6),
        clock=clock,
    )
    assert worker.drain(3600).completed == 1
    assert queue.beats["hold"] == [2.0 * n for n in range(1, 11)]  # a third of the 6 s lease
    assert queue.beats["extend"] == [10.0, 20.0]  # a third of the 30 s visibility
    assert queue.beats["control"] == [CONTROL_TICK_S * n for n in range(1, 43)]
