"""The local stack's restart policy, and the supervisor's decisions on fake children and a fake
clock: no process, no timer."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pytest

from devstack.restarts import GiveUp, Restart, RestartPolicy
from devstack.services import ManagedProcess
from devstack.supervisor import Supervisor, describe_exit

POLICY = RestartPolicy(first_delay_s=0.5, max_delay_s=4.0, max_crashes=5, window_s=60.0)


def test_the_first_crash_restarts_after_the_first_delay() -> None:
    assert POLICY.decide([100.0], now=100.0) == Restart(delay_s=0.5, crash_count=1)


def test_the_delay_doubles_per_recent_crash_up_to_the_cap() -> None:
    crashes: list[float] = []
    delays = []
    for i in range(4):
        crashes.append(100.0 + i)
        decision = POLICY.decide(crashes, now=100.0 + i)
        assert isinstance(decision, Restart)
        delays.append(decision.delay_s)
    assert delays == [0.5, 1.0, 2.0, 4.0]
    capped = RestartPolicy(first_delay_s=1.0, max_delay_s=3.0, max_crashes=10)
    assert capped.decide([1.0, 2.0, 3.0, 4.0], now=4.0) == Restart(delay_s=3.0, crash_count=4)


def test_the_fifth_crash_within_the_window_gives_up() -> None:
    decision = POLICY.decide([0.0, 10.0, 20.0, 30.0, 59.0], now=59.0)
    assert isinstance(decision, GiveUp)
    assert "5 times within 60s" in decision.reason


def test_crashes_older_than_the_window_no_longer_count() -> None:
    # Four old crashes and a new one a minute later: a fresh start, not the end.
    assert POLICY.decide([0.0, 1.0, 2.0, 3.0, 63.5], now=63.5) == Restart(0.5, crash_count=1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"first_delay_s": 0},
        {"first_delay_s": 5, "max_delay_s": 1},
        {"max_crashes": 0},
        {"window_s": 0},
    ],
)
def test_a_policy_that_makes_no_sense_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RestartPolicy(**kwargs)  # type: ignore[arg-type]


def test_exit_statuses_read_as_people_say_them() -> None:
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(3) == "exit code 3"


# -- the supervisor's loop on fakes ---------------------------------------------------------------


@dataclass
class FakeChild(ManagedProcess):
    """Looks like a ManagedProcess; ``crash()`` ends it, ``start()`` revives it."""

    alive: bool = True
    code: int | None = None
    starts: int = 0
    fail_start: bool = False
    clock: list[float] = field(default_factory=lambda: [0.0])
    started_at: list[float] = field(default_factory=list)

    def start(self, timeout_s: float = 30.0) -> FakeChild:
        self.starts += 1
        self.started_at.append(self.clock[0])
        if self.fail_start:
            self.code = 1
            raise RuntimeError(f"{self.name} exited with 1 on start")
        self.alive, self.code = True, None
        return self

    def crash(self, code: int = -9) -> None:
        self.alive, self.code = False, code

    def running(self) -> bool:
        return self.alive

    @property
    def exit_code(self) -> int | None:
        return self.code

    def stop(self, timeout_s: float = 10.0) -> None:
        self.alive = False


Actions = Mapping[int, Callable[[], object]]


class Steps(threading.Event):
    """A stop event whose ``wait`` advances the fake clock and ends after ``steps`` polls."""

    def __init__(self, clock: list[float], steps: int, on_step: Actions) -> None:
        super().__init__()
        self.clock, self.left, self.on_step, self.step = clock, steps, on_step, 0

    def wait(self, timeout: float | None = None) -> bool:
        self.step += 1
        self.clock[0] += timeout or 0
        action = self.on_step.get(self.step)
        if action is not None:
            action()
        self.left -= 1
        if self.left <= 0:
            self.set()
        return self.is_set()


def supervise(
    children: list[FakeChild], steps: int, on_step: Actions
) -> tuple[int, Supervisor, list[str]]:
    clock = children[0].clock
    lines: list[str] = []
    supervisor = Supervisor(children, POLICY, clock=lambda: clock[0], say=lines.append)
    code = supervisor.run(Steps(clock, steps, on_step), poll_s=0.1)
    return code, supervisor, lines


def test_a_crashed_child_is_started_again_after_its_delay_and_the_others_are_left_alone() -> None:
    clock = [0.0]
    relay = FakeChild("relay", [], clock=clock)
    page = FakeChild("page", [], clock=clock)
    code, supervisor, lines = supervise([relay, page], 20, {2: relay.crash})
    assert code == 0 and supervisor.gave_up is None
    assert relay.starts == 1 and relay.alive
    assert page.starts == 0
    # Seen dead at t=0.2, restarted at the first poll at or after 0.2 + 0.5.
    assert relay.started_at == [pytest.approx(0.7)]
    assert lines[0] == (
        "relay stopped (killed by SIGKILL); restarting in 0.5s (crash 1 of 5 allowed within 60s)"
    )
    assert lines[1].startswith("relay restarted")


def test_a_child_that_keeps_crashing_stops_the_stack_with_a_reason() -> None:
    clock = [0.0]
    child = FakeChild("process_job", [], clock=clock)
    # Crash it again every time it comes back.
    on_step = {n: (lambda: child.crash(2) if child.alive else None) for n in range(1, 400)}
    code, supervisor, lines = supervise([child], 400, on_step)
    assert code == 1
    assert supervisor.gave_up == "process_job crashed 5 times within 60s (last: exit code 2)"
    assert child.starts == 4
    gaps = [b - a for a, b in zip(child.started_at, child.started_at[1:], strict=False)]
    assert gaps == sorted(gaps) and gaps[-1] > gaps[0]  # the pauses grow
    assert lines[-1].endswith("; stopping the stack")


def test_a_child_that_fails_to_start_counts_as_a_crash() -> None:
    clock = [0.0]
    child = FakeChild("webhook", [], clock=clock, fail_start=True)
    code, supervisor, lines = supervise([child], 2000, {1: child.crash})
    assert code == 1
    assert supervisor.gave_up is not None and "webhook crashed 5 times" in supervisor.gave_up
    assert any("did not come back" in line for line in lines)
