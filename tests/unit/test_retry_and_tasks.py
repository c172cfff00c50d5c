from __future__ import annotations

import uuid

import pytest

from functions.core.errors import UnknownTask
from functions.core.retry import RetryPolicy
from functions.core.tasks import TaskContext, TaskRegistry, kind_of, registry


def test_backoff_doubles_up_to_the_ceiling() -> None:
    policy = RetryPolicy(max_attempts=5, base_delay_s=2, max_delay_s=10)
    assert [policy.delay_after(n) for n in (1, 2, 3, 4)] == [2, 4, 8, 10]
    assert [policy.should_retry(n) for n in (1, 4, 5)] == [True, True, False]


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


def test_kind_defaults_to_simulate() -> None:
    assert kind_of({}) == "simulate"
    assert kind_of({"kind": "noop"}) == "noop"
    assert kind_of({"kind": 3}) == "simulate"


def test_simulate_names_the_time_it_took() -> None:
    ctx = TaskContext(
        uuid.uuid4(), "Report", {"seconds": 0.01}, 1, {"min_seconds": 0, "max_seconds": 1}
    )
    result = registry.resolve("simulate")(ctx)
    assert result.startswith("Task 'Report' completed in 0.0")
    assert result.endswith(" seconds")
