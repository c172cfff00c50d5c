from __future__ import annotations

import random
import uuid

import pytest

from functions.core.errors import UnknownTask
from functions.core.models import Failure
from functions.core.retry import Fail, HandBack, Retry, RetryPolicy, next_step
from functions.core.tasks import DEFAULT_KIND, TaskContext, TaskRegistry, TaskSettings, registry


def test_backoff_doubles_up_to_the_ceiling() -> None:
    policy = RetryPolicy(max_attempts=5, base_delay_s=2, max_delay_s=10)
    assert [policy.delay_after(n) for n in (1, 2, 3, 4)] == [2, 4, 8, 10]
    assert [policy.should_retry(n) for n in (1, 4, 5)] == [True, True, False]


def test_equal_jitter_keeps_half_the_delay_and_spreads_the_rest() -> None:
    policy = RetryPolicy(max_attempts=5, base_delay_s=2, max_delay_s=10)
    assert [policy.jittered_delay(3, d) for d in (0.0, 0.5, 0.75)] == [4.0, 6.0, 7.0]
    assert policy.jittered_delay(9, 0.0) == 5.0  # half the ceiling, not half the raw doubling
    # Jobs failed by one blip, drawn from one seeded source: none in lockstep, none too soon.
    draw = random.Random(7).random
    delays = [policy.jittered_delay(1, draw()) for _ in range(200)]
    assert min(delays) >= 1.0 and max(delays) < 2.0
    assert len({round(d, 3) for d in delays}) > 150


def test_next_step_retries_raised_and_timed_out_attempts_until_the_last() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay_s=2)
    half = lambda: 0.5  # noqa: E731
    for failure in (Failure.RAISED, Failure.TIMED_OUT):
        assert next_step(1, failure, policy, half) == Retry(1.5)
        assert next_step(2, failure, policy, half) == Retry(3.0)
        assert next_step(3, failure, policy, half) == Fail()


def test_next_step_fails_what_a_retry_cannot_fix_and_hands_back_interruptions() -> None:
    policy = RetryPolicy(max_attempts=3)
    never = lambda: pytest.fail("no backoff is drawn here")  # noqa: E731
    assert next_step(1, Failure.PERMANENT, policy, never) == Fail()
    # Cut short by the invocation, not by its own limit: back at once, whatever the attempt.
    assert next_step(1, Failure.INTERRUPTED, policy, never) == HandBack()
    assert next_step(3, Failure.INTERRUPTED, policy, never) == HandBack()


def test_a_policy_needs_one_attempt() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


def test_registry_resolves_and_names_what_it_knows() -> None:
    local = TaskRegistry()

    @local.task("double")
    def double(ctx: TaskContext) -> int:
        return 2 * int(ctx.payload["n"])

    ctx = TaskContext(uuid.uuid4(), "label", {"n": 21}, attempt=1)
    assert local.resolve("double")(ctx) == 42
    with pytest.raises(UnknownTask, match="unknown task 'triple'; known tasks: double"):
        local.resolve("triple")


def test_declared_time_limits_and_the_default() -> None:
    local = TaskRegistry()
    settings = TaskSettings(simulate_min_s=1, simulate_max_s=7)

    @local.task("thumbnail", time_limit_s=60)
    @local.task("undeclared")
    @local.task("follows_settings", time_limit_s=lambda s: s.simulate_max_s * 2)
    def work(ctx: TaskContext) -> None:
        return None

    assert local.time_limit("thumbnail", settings, default_s=600) == 60
    assert local.time_limit("undeclared", settings, default_s=600) == 600
    assert local.time_limit("follows_settings", settings, default_s=600) == 14
    assert local.time_limit("unknown", settings, default_s=600) == 0  # fails without running
    assert local.shortest_limit(settings, default_s=600) == 14
    assert TaskRegistry().shortest_limit(settings, default_s=600) == 600
    assert registry.time_limit("simulate", settings, default_s=600) == 8  # its max, and 1 s
    with pytest.raises(ValueError, match="positive"):
        local.task("never", time_limit_s=0)


def test_the_default_kind_is_a_registered_task() -> None:
    assert DEFAULT_KIND in registry.names()


def test_simulate_names_the_time_it_took() -> None:
    settings = TaskSettings(simulate_min_s=0, simulate_max_s=1)
    ctx = TaskContext(uuid.uuid4(), "Report", {"seconds": 0.01}, 1, settings)
    result = registry.resolve("simulate")(ctx)
    assert result.startswith("Task 'Report' completed in 0.0")
    assert result.endswith(" seconds")
