"""functions.once: one build per process under concurrent first calls, no memory of a failed
build, and one reset for tests that closes what it forgets."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from functions.once import PerProcess, reset_all


def test_concurrent_first_calls_build_once_and_share_the_value() -> None:
    builds: list[object] = []
    gate = threading.Event()

    def build() -> object:
        gate.wait(5)  # every caller is inside get() before the first build ends
        builds.append(value := object())
        return value

    holder = PerProcess(build)
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(holder.get) for _ in range(8)]
        gate.set()
        values = {id(f.result()) for f in futures}
    assert len(builds) == 1
    assert values == {id(builds[0])}
    reset_all()


def test_a_failed_build_is_tried_again_on_the_next_call() -> None:
    attempts: list[int] = []

    def build() -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("secret store unreachable")
        return 42

    holder = PerProcess(build)
    with pytest.raises(RuntimeError):
        holder.get()
    assert holder.get() == 42
    assert holder.get() == 42
    assert len(attempts) == 2
    reset_all()


def test_reset_all_closes_built_values_and_rebuilds_on_next_use() -> None:
    closed: list[list[int]] = []
    counter = iter(range(100))
    holder = PerProcess(lambda: [next(counter)], close=closed.append)
    PerProcess(lambda: [-1], close=closed.append)  # never built: nothing to close
    first = holder.get()
    reset_all()
    assert closed == [first]
    assert holder.get() == [first[0] + 1]
    reset_all()
